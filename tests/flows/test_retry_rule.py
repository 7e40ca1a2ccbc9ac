"""IO steps retry transient errors only; a bad input (a ValueError) fails at once."""

import sqlite3
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from components.data.partitions import PartitionError
from flows.steps import transient


def retried(data) -> bool:
    return transient(None, None, SimpleNamespace(data=data))  # the rule reads state.data only


@pytest.mark.parametrize(
    "err",
    [
        OSError("connection reset"),
        FileNotFoundError("data/raw/day=2026-01-05/part-0.parquet"),
        TimeoutError("socket timed out"),
        sqlite3.OperationalError("database is locked"),
        RuntimeError("database is locked"),
        SQLAlchemyOperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")),
    ],
    ids=repr,
)
def test_io_hiccups_are_retried(err):
    assert retried(err) is True


@pytest.mark.parametrize(
    "err",
    [
        ValueError("bad value"),
        PartitionError("data/raw/day=2026-01-05: no such partition (file missing)"),
        PartitionError("database is locked"),  # a ValueError is never retried, whatever it says
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        RuntimeError("boom"),
        KeyError("ctr"),
    ],
    ids=repr,
)
def test_bad_inputs_and_bugs_fail_at_once(err):
    assert retried(err) is False


@pytest.mark.parametrize("data", [None, "a result", {"passed": True}], ids=repr)
def test_a_state_without_an_exception_is_not_retried(data):
    assert retried(data) is False
