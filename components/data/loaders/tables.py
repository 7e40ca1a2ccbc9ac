"""Turning a loaded frame into a contract-shaped Arrow table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from components.data.contract import Contract


class LoaderError(ValueError):
    """A public-dataset file that does not have the expected layout."""


def require_columns(frame: pd.DataFrame, needed: list[str], source: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise LoaderError(f"{source}: missing column(s) {', '.join(missing[:5])}")


def to_table(frame: pd.DataFrame, contract: Contract, day: dt.date) -> pa.Table:
    """Add request id and day, drop impossible funnels, cast to the contract's schema."""
    frame = frame[~((frame["click"] == 0) & (frame["conversion"] == 1))]
    frame = frame.reset_index(drop=True)
    frame["request_id"] = np.arange(len(frame), dtype=np.int64)
    frame["day"] = day.isoformat()
    schema = contract.schema()
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
