"""A registry that fails says so in one line: the store, and what went wrong there.

MLflow's own errors carry SQL statements, response bodies and retry histories (84 lines
for a corrupt mlflow.db); a dead tracking server retried for minutes. The adapter runs
each public call inside `guard`, with the exception types of the libraries it uses.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from components.registry import RegistryError

# MLflow's defaults (120 s timeout, 7 retries with backoff) let a dead server hang a
# command for minutes; values already in the environment win.
REMOTE_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
REMOTE = ("http://", "https://", "databricks")
UNREACHABLE = re.compile(r"\[Errno -?\d+\] ([^'\")]+)|(timed out)")
TRANSIENT = "database is locked"  # left as it is: the daily flow's IO steps retry it


def _not_retry_note(record: logging.LogRecord) -> bool:
    """urllib3 logs each retry as a warning; the failure itself is the one line that counts."""
    return not record.getMessage().startswith("Retrying (")


def one_line(err: BaseException) -> str:
    """The reason without SQL, response bodies or a retry history."""
    orig = getattr(err, "orig", None)  # SQLAlchemy's DBAPI error: its text, not the SQL
    text = str(orig if orig is not None else getattr(err, "message", err))
    if (found := UNREACHABLE.search(text)) and ("Max retries" in text or "timed out" in text):
        return f"cannot reach the server ({(found.group(1) or found.group(2)).strip()})"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    name = type(orig if orig is not None else err).__name__
    return f"{first[:300]} ({name})" if first else name


@contextmanager
def guard(uri: str, errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    """`errors` raised inside become one RegistryError line naming the store `uri`; a remote
    store gets short HTTP timeouts and few retries (MLflow reads them at each request)."""
    added = [key for key in REMOTE_LIMITS if uri.startswith(REMOTE) and key not in os.environ]
    os.environ.update({key: REMOTE_LIMITS[key] for key in added})
    retries = logging.getLogger("urllib3.connectionpool")
    retries.addFilter(_not_retry_note)
    try:
        yield
    except errors as err:
        if TRANSIENT in str(err):
            raise
        raise RegistryError(f"registry {uri}: {one_line(err)}") from err
    finally:
        retries.removeFilter(_not_retry_note)
        for key in added:
            os.environ.pop(key, None)
