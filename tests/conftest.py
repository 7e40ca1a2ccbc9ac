"""Shared fixtures: a small simulated world in a temporary workspace."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from components.config import Config
from tests.helpers import dvc_workspace, write_params

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return write_params(tmp_path / "ws")


@pytest.fixture
def make_dvc_workspace(tmp_path: Path) -> Callable[[str], Path]:
    """make_dvc_workspace(name): a git + DVC workspace like the repo's at tmp_path/name."""
    return lambda name="ws": dvc_workspace(tmp_path / name)


@pytest.fixture(scope="session")
def sim_days(tmp_path_factory) -> Config:
    """A workspace with 6 simulated days written (shared: treat it as read-only).

    The small world, with enough rows that a day holds a few hundred conversions: model
    behaviour tests compare AUCs, which are noise on fewer positives.
    """
    from components.data.simulator import simulate

    more_rows = {"simulator": {"rows_per_day": 60000}}
    cfg = write_params(tmp_path_factory.mktemp("sim_days"), more_rows)
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 6)
    return cfg
