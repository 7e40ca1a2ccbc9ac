"""One Prefect test harness per session (~20 s to start): flows run against it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from components.config import Config
from tests.helpers import daily_workspace

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


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
