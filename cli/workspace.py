"""The embedded defaults: Prefect's API and home live inside the workspace; tools stay quiet.

Prefect reads its settings when it is first imported, so this runs before any flow
module is imported. Settings already in the environment win: pointing PREFECT_API_URL
at a real server (or PREFECT_HOME elsewhere) is configuration, not code.
"""

from __future__ import annotations

import logging
import os

from components.config import Config


def use_workspace(cfg: Config, quiet: bool = True) -> None:
    if cfg.shared.prefect_api:  # a team's Prefect server (PREFECT_API_URL still wins)
        os.environ.setdefault("PREFECT_API_URL", cfg.shared.prefect_api)
    os.environ.setdefault("PREFECT_HOME", str(cfg.path("prefect")))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Prefect waits 20 s for its temporary API; on a busy 2-core host it took longer
    # ("Timed out while attempting to connect to ephemeral Prefect API server"). The one
    # `mtms run` starts itself (cli/prefect_api.py) waits as long.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if quiet:  # the CLI prints its own tables; INFO lines would bury them
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # parallel.scenes: dask


class _OurErrors(logging.Filter):
    """Drops Prefect's log records about an mtms error (one defined in components/ or
    flows/) or an error a daily step raised (flows.steps.timed marks it): the CLI prints
    those as one line, the day's record keeps the reason. Any other exception keeps its
    traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:  # a library's error inside a step: the flow records it in a line
            ours = type(exc).__module__.startswith(("components.", "flows.", "cli."))
            return not (ours or hasattr(exc, "mtms_step"))
        return not (record.levelno >= logging.ERROR and "Failed(" in record.getMessage())


def hide_error_tracebacks() -> None:
    """Call after Prefect is imported (its logging config is applied at import)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_OurErrors())
