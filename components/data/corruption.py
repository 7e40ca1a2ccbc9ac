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


def _unknown_scene(table: pa.Table, rng) -> pa.Table:
    # a logger release that upper-cases the scene: FEED is no scene of the model
    i = table.schema.get_field_index("scene")
    return table.set_column(i, "scene", pc.utf8_upper(table["scene"]))


def _rows(table: pa.Table, rng, share: float) -> np.ndarray:
    return np.flatnonzero(rng.random(table.num_rows) < share)


def _list_parts(table: pa.Table, name: str) -> tuple[np.ndarray, pa.Array]:
    """[N + 1] offsets from 0 and the items of a list column without nulls."""
    column = table[name].combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    return offsets - offsets[0], column.flatten()


def _with_list(table: pa.Table, name: str, offsets: np.ndarray, items: pa.Array) -> pa.Table:
    column = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), items)
    return table.set_column(table.schema.get_field_index(name), name, column)


def _null_in_list(table: pa.Table, rng) -> pa.Table:
    # an id that failed to resolve, logged as null inside the list: [null, 7]
    offsets, items = _list_parts(table, "ad_tags")  # simulator lists hold >= 1 id
    first = np.zeros(len(items), bool)
    first[offsets[_rows(table, rng, 0.02)]] = True
    items = pc.if_else(pa.array(first), pa.scalar(None, items.type), items)
    return _with_list(table, "ad_tags", offsets, items)


def _nonfinite_dense(table: pa.Table, rng) -> pa.Table:
    # a division by zero upstream: 1% of prices are inf (NaN would also read as a null,
    # -inf also break price >= 0; each kind breaks one thing)
    price = table["price"].to_numpy().copy()
    price[_rows(table, rng, 0.01)] = np.inf
    i = table.schema.get_field_index("price")
    return table.set_column(i, "price", pa.array(price))


def _long_lists(table: pa.Table, rng) -> pa.Table:
    # a logger that appends instead of replacing: 2% of rows carry 2,000 tags, far over
    # validation.max_list_length's default; the other rows keep theirs
    offsets, items = _list_parts(table, "ad_tags")
    long = np.zeros(table.num_rows, bool)
    long[_rows(table, rng, 0.02)] = True
    lengths = np.where(long, 2000, np.diff(offsets))
    new = np.concatenate([[0], np.cumsum(lengths)])
    row = np.repeat(np.arange(table.num_rows), lengths)
    at = np.arange(new[-1]) - new[row] + offsets[row]  # where a kept row's item was
    out = rng.integers(0, 300, new[-1]).astype(np.int32)
    kept = ~long[row]
    out[kept] = items.to_numpy()[at[kept]]
    return _with_list(table, "ad_tags", new, pa.array(out))


TABLE_CORRUPTIONS = {
    "missing_column": _missing_column,
    "wrong_dtype": _wrong_dtype,
    "nulls": _nulls,
    "conversion_without_click": _conversion_without_click,
    "impossible_label_rate": _impossible_label_rate,
    "duplicate_request_ids": _duplicate_request_ids,
    "empty_day": _empty_day,
    "wrong_day": _wrong_day,
    "unknown_scene": _unknown_scene,
    "null_in_list": _null_in_list,
    "nonfinite_dense": _nonfinite_dense,
    "long_lists": _long_lists,
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
