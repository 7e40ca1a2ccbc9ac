"""One Prefect test harness per session (~20 s to start): flows run against it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from components.config import Config
from components.data.partitions import partition_dir, read_partition, write_partition
from tests.helpers import write_params

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Judge the small world on its two major scenes' CTR: its CVR has too few conversions a day.
GATE = {
    "gate": {
        "focus": [
            {"scene": s, "task": "ctr", "auc_floor": 0.55, "min_rows": 2000, "max_auc_drop": 0.03}
            for s in ("feed", "search")
        ],
        "calibration_band": [0.3, 3.0],
    }
}


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect_home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def daily_params(tmp_path: Path, sim_days: Config) -> Callable[..., Path]:
    """daily_params(overrides): a fresh workspace at tmp_path/ws holding a copy of the
    session's simulated days, with the small world's gate; its params path."""
    return lambda overrides=None: daily_workspace(tmp_path / "ws", sim_days, overrides)


# Plain helpers: tests/flows/test_daily.py still imports these three from here.
def daily_workspace(root: Path, sim_days: Config, overrides: dict | None = None) -> Path:
    """A fresh workspace holding a copy of the session's simulated days; its params path."""
    cfg = write_params(root, {**GATE, "simulator": {"rows_per_day": 60000}, **(overrides or {})})
    shutil.copytree(sim_days.path("raw"), cfg.path("raw"))
    return root / "params.yaml"


def rewrite_day(cfg: Config, day: dt.date, change) -> None:
    """Replace a raw partition (tests only: raw data is otherwise immutable)."""
    table = change(read_partition(cfg.path("raw"), day))
    shutil.rmtree(partition_dir(cfg.path("raw"), day))
    write_partition(cfg.path("raw"), day, table)


def shuffle_labels(table: pa.Table) -> pa.Table:
    """Rows keep their features but get another row's labels (the funnel stays consistent)."""
    order = np.random.default_rng(0).permutation(table.num_rows)
    for name in ("click", "daction", "conversion"):
        column = table[name].take(pa.array(order))
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table
