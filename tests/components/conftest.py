"""Fixtures shared by the component tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from components.config import Config
from tests.helpers import write_params

# A world and model small enough to simulate and train two days in a few seconds.
TINY = {
    "simulator": {
        "days": 3, "horizon_days": 4, "rows_per_day": 4000, "n_users": 1000,
        "new_users_per_day": 10, "n_ads": 200, "n_advertisers": 30, "n_brands": 50,
    },
    "model": {"embedding_dim": 4, "tower": [8], "ranking": [8]},
    "validation": {"min_rows": 100},
    # calibrated, so scoring, the pyfunc and the server are checked through the maps
    "train": {"calibration": "platt", "calibration_holdout": 0.3, "calibration_min_positives": 10},
}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> tuple[Config, list[Path]]:
    """Three simulated days and the bundles of days 0 and 1 (day 1 warm-started, both with
    Platt maps on the scenes with enough held-out positives).

    Shared by the scoring and registry tests: treat the days and bundles as read-only.
    """
    from components.data.simulator import simulate
    from components.training.chain import train_day

    cfg = write_params(tmp_path_factory.mktemp("tiny") / "ws", TINY)
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 3)
    previous, paths = None, []
    for offset in (0, 1):
        day = cfg.simulator.start + dt.timedelta(days=offset)
        previous, trained = train_day(cfg, "mtms", day, previous)
        paths.append(trained.path)
    return cfg, paths
