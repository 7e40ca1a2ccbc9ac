"""Plain helpers and constants the tests share; fixtures live in the conftest.py files.

Not a test module: test modules import from here, never from each other or a conftest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import yaml

from components.config import Config, load

if TYPE_CHECKING:
    from components.models.bundle import Bundle

REPO = Path(__file__).resolve().parents[1]

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
UNSEEN = 10**12  # an id no vocabulary holds: it scores with the OOV row


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


def dvc_workspace(root: Path) -> Path:
    """A git + DVC workspace like the repo's: same .dvc/config and .dvcignore."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    for name in (".dvc/config", ".dvcignore"):  # data.dvc is created by the first track()
        shutil.copy(REPO / name, root / name)
    return root


def request_rows(bundle: Bundle, table: pa.Table, n: int) -> tuple[pa.Table, pd.DataFrame]:
    """n rows as a JSON client sends them: no labels, oracle or meta columns, lists as lists;
    the first row's user is unseen. Also the same rows as a table, labels kept."""
    contract = bundle.encoder.contract
    table = table.slice(0, n)
    users = table[contract.user].to_numpy().copy()
    users[0] = UNSEEN
    table = table.set_column(table.schema.get_field_index(contract.user), contract.user, [users])
    features = [contract.scene, *(c.name for c in contract.features)]
    records = json.loads(table.select(features).to_pandas().to_json(orient="records"))
    return table, pd.DataFrame.from_records(records)
