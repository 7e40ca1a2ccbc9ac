"""The embedded defaults: Prefect's API and home live inside the workspace; tools stay quiet.

Prefect reads its settings when it is first imported, so this runs before any flow
module is imported. Settings already in the environment win: pointing PREFECT_API_URL
at a real server (or PREFECT_HOME elsewhere) is configuration, not code.
"""

from __future__ import annotations

import os

from components.config import Config


def use_workspace(cfg: Config, quiet: bool = True) -> None:
    os.environ.setdefault("PREFECT_HOME", str(cfg.path("prefect")))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if quiet:  # the CLI prints its own tables; INFO lines would bury them
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
