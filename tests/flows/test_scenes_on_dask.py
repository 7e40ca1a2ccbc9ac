"""Issue 16: a daily run with `parallel.scenes: dask` trains MTMS's scenes as Prefect
tasks on Dask workers, inside the day's flow run. (That the weights are the local run's,
bit for bit: tests/components/training/test_distributed.py.)"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from components.config import load
from components.runs import load_record
from tests.helpers import TINY, mtms, write_params

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def backfill(root, scenes: str):
    cfg = write_params(root, {**TINY, "parallel": {"scenes": scenes}})
    from components.data.simulator import simulate

    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    start = cfg.simulator.start
    days = [start.isoformat(), (start + dt.timedelta(days=1)).isoformat()]
    done = mtms(root / "params.yaml", "backfill", "--start", days[0], "--end", days[1])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Worker process still alive" not in done.stderr + done.stdout
    return load(root / "params.yaml"), start + dt.timedelta(days=1)


def test_a_daily_run_trains_the_scenes_as_prefect_tasks_on_dask_workers(tmp_path):
    dask, day = backfill(tmp_path, "dask")
    b = load_record(dask, day)
    assert b.outcome != "failed" and b.candidate, b.error
    db = sqlite3.connect(dask.path("prefect") / "prefect.db")
    names = sorted(n for (n,) in db.execute("select name from task_run") if "update" in n)
    assert names == ["embedding-update-feed", "embedding-update-search", "embedding-update-video"]
    assert [w.split()[0] for w in b.trained.stages[0]["workers"]] == ["feed", "search", "video"]
