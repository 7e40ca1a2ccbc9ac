"""Shared fixtures: a small simulated world in a temporary workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.config import Config, load

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

# A world small enough for tests, with the default's shape (heavy tails, 4 scenes).
SMALL = {
    "simulator": {
        "rows_per_day": 20000,
        "n_users": 4000,
        "new_users_per_day": 40,
        "n_ads": 600,
        "n_advertisers": 80,
        "n_brands": 200,
        "horizon_days": 30,
    },
    "validation": {"min_rows": 500},
    "train": {"batch_size": 1024},  # fewer rows than the default: keep some steps per day
}


def merge(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merge(base[key], value) if isinstance(value, dict) else value
    return out


def write_params(root: Path, overrides: dict | None = None) -> Config:
    """A params.yaml in `root`: the repo's, with the small world and any overrides."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw = merge(merge(raw, SMALL), overrides or {})
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load(root / "params.yaml")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return write_params(tmp_path / "ws")


def dvc_workspace(root: Path) -> Path:
    """A git + DVC workspace like the repo's: same .dvc/config and .dvcignore."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    for name in (".dvc/config", ".dvcignore"):  # data.dvc is created by the first track()
        shutil.copy(REPO / name, root / name)
    return root


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
