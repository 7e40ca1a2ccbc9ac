"""Issue 11: kill -9 at named points of a daily run (components/failpoints.py), then a
plain rerun: the champion loads, no duplicate version, nothing left behind, no orphan.

The process is the real `mtms run` (a failpoint SIGKILLs it); benchmarks/fault_campaign.py
runs the same check at every point, this keeps two in CI: mid bundle write, and after
registering before the alias moves.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from components import atomic, doctor, runs
from components.config import load
from components.registry.mlflow_registry import Registry
from tests.helpers import TINY, mtms, write_params

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.slow]


def alive_in(root: Path) -> list[int]:
    """Processes whose environment or command line names the workspace."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            blob = (proc / "environ").read_bytes() + (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(root).encode() in blob:
            found.append(int(proc.name))
    return found


def test_kills_mid_bundle_write_and_before_the_alias_move_leave_nothing_behind(tmp_path):
    from components.data.simulator import simulate

    cfg = write_params(tmp_path / "ws", TINY)
    params = cfg.root / "params.yaml"
    sim = cfg.simulator.model_copy(update={"rows_per_day": 3000})
    simulate(sim, cfg.seed, cfg.path("raw"), cfg.simulator.start, 3)
    days = [cfg.simulator.start + dt.timedelta(days=i) for i in range(3)]
    assert mtms(params, "run").returncode == 0  # day 0: nothing to train on yet
    for day, point in zip(days[1:], ("atomic:rename.pt", "register:after"), strict=True):
        killed = mtms(params, "run", failpoint=point)
        assert killed.returncode == -9, killed.stderr[-2000:]
        assert runs.load_record(cfg, day) is None  # killed before the record
        rerun = mtms(params, "run")
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        record = runs.load_record(cfg, day)
        assert record.outcome in ("promoted", "rejected") and record.version, record
        registry = Registry(cfg)
        assert registry.verify(registry.champion())  # loads and scores
        trained = [v.trained_through for v in registry.versions()]
        assert len(trained) == len(set(trained))  # one version per trained day
        assert alive_in(tmp_path) == []  # the killed run's Prefect API died with it
    leftovers = [p for key in doctor.SWEPT for p in atomic.leftovers(cfg.path(key))]
    assert leftovers == [] and doctor.unpublished(runs.records(cfg), cfg) == []
    assert Registry(cfg).tidy() == []  # the reruns cleaned the registry already
    assert load(params).path("models").joinpath("mtms").is_dir()
