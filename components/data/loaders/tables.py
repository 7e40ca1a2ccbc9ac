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
    """Add request id and day where the files have none, drop impossible funnels, cast to
    the contract's schema (a value that does not fit is one line naming its column)."""
    click, conversion = frame[contract.click], frame[contract.conversion]
    frame = frame[~((click == 0) & (conversion == 1))].reset_index(drop=True)
    if contract.request_id not in frame.columns:
        frame[contract.request_id] = np.arange(len(frame), dtype=np.int64)
    if contract.day not in frame.columns:
        frame[contract.day] = day.isoformat()
    schema = contract.schema()
    arrays = []
    for field in schema:
        try:
            arrays.append(pa.array(frame[field.name], type=field.type, from_pandas=True))
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as err:
            reason = (str(err).splitlines() or [type(err).__name__])[0][:100]
            dtype = contract.column(field.name).dtype
            raise LoaderError(f"column {field.name!r} does not fit {dtype}: {reason}") from None
    return pa.Table.from_arrays(arrays, schema=schema)
