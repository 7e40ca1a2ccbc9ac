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
from components.data.profile import summary
from components.data.simulator import simulate
from tests.helpers import REPO, rewrite_day, write_params


def per_day(series: str) -> list[dict]:
    """The rows of metrics/data_days.csv."""
    return list(csv.DictReader(io.StringIO(series)))


def test_profile_counts_rows_and_rates_per_day_and_scene(cfg):
    written = simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    metrics, series = summary(cfg.path("raw"), SIMULATOR)
    days = per_day(series)
    first = days[0]
    assert len(days) == 2 and int(first["rows"]) == written[0].rows
    assert abs(float(first["ctr"]) - written[0].ctr) < 1e-5
    assert sum(int(first[f"{s}_rows"]) for s in metrics["scenes"]) == int(first["rows"])


def test_the_summary_pools_the_days_and_the_series_has_a_row_per_day(cfg):
    """What dvc prints: data.json a few pooled numbers, data_days.csv one row per day with
    a column per scene and rate, empty where a scene had no rows that day."""
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    first, second = per_day(summary(cfg.path("raw"), SIMULATOR)[1])  # before the rewrite
    no_feed = lambda t: t.filter(pc.not_equal(t["scene"], "feed"))  # noqa: E731
    rewrite_day(cfg, cfg.simulator.start, no_feed)  # day 1 without feed
    metrics, series = summary(cfg.path("raw"), SIMULATOR)
    kept = int(first["rows"]) - int(first["feed_rows"])
    assert metrics["days"] == 2 and metrics["rows"] == kept + int(second["rows"])
    search = [(int(d["search_rows"]), float(d["search_ctr"])) for d in (first, second)]
    clicks = sum(round(n * ctr) for n, ctr in search)
    assert abs(metrics["scenes"]["search"]["ctr"] - clicks / sum(n for n, _ in search)) < 1e-5
    rows = per_day(series)
    assert [r["day"] for r in rows] == [first["day"], second["day"]]
    assert rows[0]["feed_rows"] == "" and rows[1]["feed_rows"] == second["feed_rows"]
    assert rows[1]["search_cvr"] == second["search_cvr"]


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
