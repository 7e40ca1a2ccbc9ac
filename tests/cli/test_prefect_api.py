"""`mtms run` owns its temporary Prefect API: no process outlives mtms (issue 11, item 7).

Each test starts the real `mtms run` as a process in a small workspace, finds the API child
in its process tree, and stops mtms: normally, with SIGTERM, with kill -9. Afterwards no
process started with this workspace's PREFECT_HOME may be alive and the port is closed.
(Before cli/prefect_api.py, Prefect's own temporary API survived 10 of 10 kills.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.helpers import write_params

pytestmark = [pytest.mark.faults, pytest.mark.server]

DAY0, DAY1 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
UP_S = 300.0  # the API's boot on a busy 2-core host; a bound, not a wait
GONE_S = 10.0


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace with two tiny simulated days; its params path."""
    from components.data.simulator import simulate

    cfg = write_params(tmp_path_factory.mktemp("prefect_api") / "ws")
    simulate(
        cfg.simulator.model_copy(update={"rows_per_day": 3000}), cfg.seed, cfg.path("raw"), DAY0, 2
    )
    return cfg.root / "params.yaml"


@pytest.fixture(autouse=True)
def no_leak(ws):
    """A failing test must not leave its processes running on the CI host."""
    yield
    for p in orphans(ws):
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()


def mtms(params: Path, *args: str, **env: str) -> subprocess.Popen:
    """The `mtms` command as a process in the workspace; its output in files beside it."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env = {
        **clean,
        "PREFECT_HOME": str(home(params)),
        "GX_ANALYTICS_ENABLED": "False",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **env,
    }
    cmd = [str(Path(sys.executable).parent / "mtms"), "--params", str(params), *args]
    with open(params.parent / "out.log", "w") as out, open(params.parent / "err.log", "w") as err:
        return subprocess.Popen(cmd, env=env, cwd=params.parent, stdout=out, stderr=err)


def output(params: Path) -> tuple[str, str]:
    return (params.parent / "out.log").read_text(), (params.parent / "err.log").read_text()


def home(params: Path) -> Path:
    return params.parent / ".prefect"


def api_child(proc: subprocess.Popen) -> tuple[psutil.Process, str]:
    """The descendant of `proc` listening on a TCP port, once its /api/health answers."""
    deadline = time.monotonic() + UP_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"mtms exited with {proc.returncode} before its API answered"
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                ports = [c.laddr.port for c in child.net_connections("tcp") if c.status == "LISTEN"]
            except psutil.NoSuchProcess:
                continue
            if ports and answers(f"http://127.0.0.1:{ports[0]}/api/health"):
                return child, f"http://127.0.0.1:{ports[0]}/api"
        time.sleep(0.2)
    raise AssertionError(f"no API child answered within {UP_S} s")


def answers(url: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def flow_running(proc: subprocess.Popen, api: str, since: dt.datetime) -> None:
    """Until the daily flow run `proc` started is RUNNING: a kill now interrupts it in the
    middle. Runs that started before `since` do not count: the workspace's Prefect database
    keeps the run an earlier test killed, RUNNING forever, and a signal sent on seeing it
    would land while `proc` is still starting up."""
    after = since.isoformat()
    running = {
        "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}, "start_time": {"after_": after}}
    }
    deadline = time.monotonic() + UP_S
    while not answers(f"{api}/flow_runs/filter", running):
        assert proc.poll() is None and time.monotonic() < deadline, "the flow never ran"
        time.sleep(0.2)


def orphans(params: Path) -> list[psutil.Process]:
    """Live processes started with this workspace's PREFECT_HOME (mtms and its children)."""
    found = []
    for p in psutil.process_iter():
        try:
            if (
                p.environ().get("PREFECT_HOME") == str(home(params))
                and p.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(p)
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
    return found


def closed(api: str) -> bool:
    port = int(api.split(":")[2].split("/")[0])
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def assert_nothing_left(params: Path, child: psutil.Process, api: str) -> None:
    gone, alive = psutil.wait_procs([child], timeout=GONE_S)
    assert not alive, f"the API child {child.pid} outlived mtms"
    assert orphans(params) == []
    assert closed(api)


def test_kill_9_takes_the_api_with_it(ws):
    proc = mtms(ws, "run", "--day", str(DAY1))
    child, api = api_child(proc)
    proc.kill()
    assert proc.wait(GONE_S) == -signal.SIGKILL
    assert_nothing_left(ws, child, api)


def test_sigterm_mid_flow_exits_143_and_stops_the_api(ws):
    since = dt.datetime.now(dt.timezone.utc)
    proc = mtms(ws, "run", "--day", str(DAY1))
    child, api = api_child(proc)
    flow_running(proc, api, since)
    proc.terminate()
    proc.wait(120)  # the step in progress ends at its next bytecode
    _, err = output(ws)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert_nothing_left(ws, child, api)


def test_a_normal_run_leaves_no_process_behind(ws):
    proc = mtms(ws, "run", "--day", str(DAY0))
    child, api = api_child(proc)
    proc.wait(600)
    out, err = output(ws)
    assert proc.returncode == 0, err
    assert "no-training-data" in out
    assert_nothing_left(ws, child, api)


def test_an_api_not_up_in_time_is_one_line_and_leaves_no_child(ws):
    proc = mtms(ws, "run", "--day", str(DAY1), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    proc.wait(300)
    _, err = output(ws)
    assert proc.returncode == 2, err
    assert err.count("\n") == 1, err
    assert err.startswith("mtms: error: the temporary Prefect API did not answer")
    assert str(home(ws) / "temporary-api.log") in err
    assert orphans(ws) == []
