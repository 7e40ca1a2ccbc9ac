"""Corruption injection: realistic ways a day's log goes wrong, for tests and demos.

Each kind breaks exactly one thing the validation suite must catch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _missing_column(table: pa.Table, rng) -> pa.Table:
    return table.drop_columns(["user_id"])


def _wrong_dtype(table: pa.Table, rng) -> pa.Table:
    i = table.schema.get_field_index("price")
    return table.set_column(i, "price", pc.cast(table["price"], pa.string()))


def _nulls(table: pa.Table, rng) -> pa.Table:
    mask = pa.array(rng.random(table.num_rows) < 0.02)
    i = table.schema.get_field_index("price")
    return table.set_column(
        i, "price", pc.if_else(mask, pa.scalar(None, pa.float32()), table["price"])
    )


def _conversion_without_click(table: pa.Table, rng) -> pa.Table:
    conversion = table["conversion"].to_numpy().copy()
    unclicked = np.flatnonzero(table["click"].to_numpy() == 0)
    conversion[rng.choice(unclicked, min(50, unclicked.size), replace=False)] = 1
    i = table.schema.get_field_index("conversion")
    return table.set_column(i, "conversion", pa.array(conversion))


def _impossible_label_rate(table: pa.Table, rng) -> pa.Table:
    # a logging bug that marks 60% of impressions as clicks (funnel still consistent)
    click = (table["click"].to_numpy() | (rng.random(table.num_rows) < 0.6)).astype(np.int8)
    i = table.schema.get_field_index("click")
    return table.set_column(i, "click", pa.array(click))


def _duplicate_request_ids(table: pa.Table, rng) -> pa.Table:
    ids = table["request_id"].to_numpy().copy()
    ids[1::97] = ids[0:-1:97][: ids[1::97].size]  # a retrying logger writes rows twice
    i = table.schema.get_field_index("request_id")
    return table.set_column(i, "request_id", pa.array(ids))


def _empty_day(table: pa.Table, rng) -> pa.Table:
    return table.slice(0, 0)


def _wrong_day(table: pa.Table, rng) -> pa.Table:
    i = table.schema.get_field_index("day")
    return table.set_column(i, "day", pa.array(["1999-01-01"] * table.num_rows))


TABLE_CORRUPTIONS = {
    "missing_column": _missing_column,
    "wrong_dtype": _wrong_dtype,
    "nulls": _nulls,
    "conversion_without_click": _conversion_without_click,
    "impossible_label_rate": _impossible_label_rate,
    "duplicate_request_ids": _duplicate_request_ids,
    "empty_day": _empty_day,
    "wrong_day": _wrong_day,
}
FILE_CORRUPTIONS = ("truncated_file",)
KINDS = (*TABLE_CORRUPTIONS, *FILE_CORRUPTIONS)


def corrupt_table(table: pa.Table, kind: str, seed: int) -> pa.Table:
    """The table with one corruption applied (file-level kinds leave it as is)."""
    if kind not in KINDS:
        raise ValueError(f"unknown corruption {kind!r}; choose from {', '.join(KINDS)}")
    if kind in FILE_CORRUPTIONS:
        return table
    return TABLE_CORRUPTIONS[kind](table, np.random.default_rng([seed, 99]))


def corrupt_files(folder: Path, kind: str) -> None:
    """Apply a file-level corruption to a written partition (a copy cut off mid-write)."""
    if kind == "truncated_file":
        for f in folder.glob("*.parquet"):
            data = f.read_bytes()
            f.write_bytes(data[: len(data) // 2])
