"""The dashboards in a real browser: headless Chromium renders index.html and a day's report.

Needs the Debian packages chromium and chromium-driver (`make test` installs them when
missing). Screenshots go to the test's folder, and to $MTMS_SCREENSHOTS when set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cli.main import main
from components.config import load

# Chromium, the Evidently UI as a server process, and a backfill through Prefect.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.e2e,
    pytest.mark.usefixtures("prefect_api"),
]
SHOCK = {"simulator": {"rows_per_day": 60000, "shock": {"day": "2026-01-08", "days": 1}}}


def chromium(*args: str) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: apt-get install chromium chromium-driver"
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=20000", "--window-size=1400,2200"]  # fmt: skip
    proc = subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def shoot(page: Path, name: str, folder: Path) -> Path:
    png = folder / name
    chromium(f"--screenshot={png}", page.as_uri())
    assert png.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get("MTMS_SCREENSHOTS"):
        keep = Path(os.environ["MTMS_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, keep / name)
    return png


def test_index_and_a_drift_report_render_in_chromium(tmp_path, daily_params):
    from components.data.simulator import simulate

    params = daily_params(SHOCK)
    cfg = load(params)
    shocked = cfg.simulator.shock.day
    shutil.rmtree(cfg.path("raw") / f"day={shocked}")  # this world's copy of the day, shocked
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), shocked, 1)
    assert (
        main(["--params", str(params), "backfill", "--start", "2026-01-05", "--end", str(shocked)])
        == 0
    )

    index = cfg.path("dashboards") / "index.html"
    dom = chromium("--dump-dom", index.as_uri())
    for day in ("2026-01-05", "2026-01-06", "2026-01-07", str(shocked)):
        assert day in dom
    assert 'id="days"' in dom and "<svg" in dom and "DRIFT" in dom
    # every scene charted, the shock's reasons as text, the as-of line (issue 15)
    assert 'id="chart-auc-video-ctcvr"' in dom and 'id="chart-ctr-shift"' in dom
    assert 'id="as-of"' in dom and 'class="reason"' in dom
    shoot(index, "index.png", tmp_path)

    report = cfg.path("dashboards") / f"day={shocked}" / "drift.html"
    dom = chromium("--dump-dom", report.as_uri())
    assert "device_os" in dom and "price" in dom  # the shocked columns, rendered by the report's JS
    shoot(report, "drift-report.png", tmp_path)

    # the same workspace in the Evidently UI, as `mtms dashboard` serves it (loopback only)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "cli.main",
        "--params",
        str(params),
        "dashboard",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        projects = _get(f"http://127.0.0.1:{port}/api/projects", server)
        [project] = [p for p in projects if p["name"] == "mtms"]
        panels = _get(f"http://127.0.0.1:{port}/api/v2/dashboards/{project['id']}", server)[
            "panels"
        ]
        titles = {p["title"] for p in panels}
        assert {"Gate decisions", "CTR AUC per scene vs oracle"} <= titles
        assert any(t.startswith("Drift share") for t in titles)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def _get(url: str, server: subprocess.Popen, timeout: float = 60.0):
    """JSON from the UI once it answers (it takes a few seconds to start)."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, "mtms dashboard exited"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            assert time.monotonic() < deadline, f"no answer from {url}"
            time.sleep(0.5)
