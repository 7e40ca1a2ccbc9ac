import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest

from components.data.contract import SIMULATOR
from components.data.profile import profile, summary
from components.data.simulator import simulate
from tests.helpers import REPO, rewrite_day, write_params


def test_profile_counts_rows_and_rates_per_day_and_scene(cfg):
    written = simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    summary = profile(cfg.path("raw"), SIMULATOR)
    first = summary[cfg.simulator.start.isoformat()]
    assert len(summary) == 2 and first["rows"] == written[0].rows
    assert abs(first["ctr"] - written[0].ctr) < 1e-5
    assert sum(s["rows"] for s in first["scenes"].values()) == first["rows"]


def test_the_summary_pools_the_days_and_the_series_has_a_row_per_day(cfg):
    """What dvc prints: data.json a few pooled numbers, data_days.csv one row per day with
    a column per scene and rate, empty where a scene had no rows that day."""
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    days = profile(cfg.path("raw"), SIMULATOR)
    first, second = days.values()
    no_feed = lambda t: t.filter(pc.not_equal(t["scene"], "feed"))  # noqa: E731
    rewrite_day(cfg, cfg.simulator.start, no_feed)  # day 1 without feed
    metrics, series = summary(cfg.path("raw"), SIMULATOR)
    kept = first["rows"] - first["scenes"]["feed"]["rows"]
    assert metrics["days"] == 2 and metrics["rows"] == kept + second["rows"]
    search = [d["scenes"]["search"] for d in (first, second)]
    clicks = sum(round(s["rows"] * s["ctr"]) for s in search)
    assert abs(metrics["scenes"]["search"]["ctr"] - clicks / sum(s["rows"] for s in search)) < 1e-5
    rows = list(csv.DictReader(io.StringIO(series)))
    assert [r["day"] for r in rows] == list(days)
    assert (
        rows[0]["feed_rows"] == "" and int(rows[1]["feed_rows"]) == second["scenes"]["feed"]["rows"]
    )
    assert float(rows[1]["search_cvr"]) == second["scenes"]["search"]["cvr"]


@pytest.mark.e2e
def test_dvc_repro_writes_the_metrics(make_dvc_workspace):
    root = make_dvc_workspace()
    cfg = write_params(root)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    (root / "components/data").mkdir(parents=True)
    shutil.copy(REPO / "components/data/profile.py", root / "components/data/profile.py")
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
    # dvc.yaml runs `mtms`: the one installed beside the python running the tests
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "-q", "profile"], cwd=root, check=True, env=env
    )
    metrics = json.loads((root / "metrics/data.json").read_text())
    expected, series = summary(cfg.path("raw"), SIMULATOR)  # the stage runs the same summary
    assert metrics == expected and metrics["first_day"] == cfg.simulator.start.isoformat()
    assert (root / "metrics/data_days.csv").read_text() == series
