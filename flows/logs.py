"""mtms's own log records (the `components` and `flows` loggers) in the Prefect flow run's logs.

components/ logs through the standard logging module and never imports Prefect; the daily
flow attaches Prefect's API handler to those loggers for the length of the run. The handler
sits on the mtms loggers only (not on root, where the console is), so a record reaches the
console once, as before, and the run's logs once. `PREFECT_LOGGING_EXTRA_LOGGERS` would do
the same for every run of the process, but copies the handler at Prefect's import, before
the CLI or a test has chosen the loggers' levels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

LOGGERS = ("components", "flows")
LEVEL = logging.INFO  # step boundaries: validation, training rows and seconds, the gate
# set (True) on a record that says a step of the day starts: `mtms run` prints those lines
PROGRESS = "mtms_progress"


class _ThisRun(logging.Filter):
    """Stamp records with the flow run's id: a record logged from a thread Prefect did not
    start (a data loader, a library's pool) still lands in this run, never nowhere."""

    def __init__(self, flow_run_id: str) -> None:
        super().__init__()
        self.flow_run_id = flow_run_id

    def filter(self, record: logging.LogRecord) -> bool:
        """Inside a flow or task run Prefect's handler finds the run itself (a task's lines
        then show on the task run too); only a record from elsewhere is stamped."""
        from prefect.context import get_run_context
        from prefect.exceptions import MissingContextError

        if getattr(record, "flow_run_id", None) is None:
            try:
                get_run_context()
            except MissingContextError:
                record.flow_run_id = self.flow_run_id
        return True


@contextmanager
def to_run() -> Iterator[None]:
    """Within: INFO and up of the mtms loggers also go to the current flow run's logs. A
    logger nobody configured (level NOTSET) is raised to INFO meanwhile; its records still
    propagate to the handlers above, whose own levels decide what the console shows. Outside
    a flow run, nothing."""
    from prefect.logging.handlers import APILogHandler
    from prefect.runtime import flow_run

    if not flow_run.id:
        yield
        return
    handler = APILogHandler(level=LEVEL)
    handler.addFilter(_ThisRun(flow_run.id))
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(LEVEL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
