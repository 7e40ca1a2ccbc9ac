"""The expectation suite, and the only module that imports Great Expectations (1.x).

The suite is derived from the data contract (columns, dtypes, nulls, id ranges) plus
statistical expectations from the validation config (row floor, label rates per
scene, unique request ids, funnel implications, the partition's day, scenes the model
knows). What GX has no expectation for (finite dense values; nulls inside lists and
list lengths) is computed with pyarrow on the table as stored and reported as the
same `ExpectationResult`; GX sees list columns emptied, so a day of long lists costs no
Python objects.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from components.config import ValidationConfig
from components.data.contract import Contract, Role

# pandas dtype of each contract dtype after pyarrow's to_pandas()
PANDAS_DTYPES = {
    "int8": "int8",
    "int32": "int32",
    "int64": "int64",
    "float32": "float32",
    "string": "object",
    "list<int32>": "object",
    "list<int64>": "object",
}


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation's outcome, with a one-line reason."""

    expectation: str  # the GX expectation type, or the name of a pyarrow check
    what: str  # what it checks, in words
    success: bool
    detail: str  # what was observed when it failed

    @property
    def reason(self) -> str:
        return f"{self.expectation}: {self.what}: {self.detail}"


def _expectations(
    df: pd.DataFrame,
    contract: Contract,
    cfg: ValidationConfig,
    day: dt.date,
    scenes: tuple[str, ...],
):
    """(expectation, what it checks in words) pairs for one day's rows."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column as Where

    present = set(df.columns)
    yield gxe.ExpectTableRowCountToBeBetween(min_value=cfg.min_rows), f"rows >= {cfg.min_rows}"
    for col in contract.columns:
        name, dtype = col.name, PANDAS_DTYPES[col.dtype]
        if name not in present:
            yield gxe.ExpectColumnToExist(column=name), f"column {name} exists"
            continue
        yield gxe.ExpectColumnTypeToBe(column=name, type_=dtype), f"{name} is {col.dtype}"
        if str(df[name].dtype) != dtype:
            continue  # value checks on a mistyped column would only repeat the type failure
        if col.required:
            yield (
                gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=1 - cfg.max_null_rate),
                f"{name} has no nulls",
            )
        if col.role is not Role.MULTI:
            yield from _range(gxe, name, col.min, col.max)
    if contract.request_id in present:
        yield gxe.ExpectColumnValuesToBeUnique(column=contract.request_id), "request ids are unique"
    if contract.day in present:
        yield (
            gxe.ExpectColumnValuesToBeInSet(column=contract.day, value_set=[day.isoformat()]),
            f"day is {day.isoformat()} (the partition's day)",
        )
    scene_dtype = PANDAS_DTYPES[contract.column(contract.scene).dtype]
    if contract.scene in present and str(df[contract.scene].dtype) == scene_dtype:
        share = cfg.max_unknown_scene_share  # the encoder skips rows of other scenes
        yield (
            gxe.ExpectColumnValuesToBeInSet(
                column=contract.scene, value_set=list(scenes), mostly=1 - share
            ),
            f"{contract.scene} is one of model.scenes {list(scenes)}"
            + (f" (unknown in at most {share:.2%} of rows)" if share else ""),
        )
    click, conv = contract.click, contract.conversion
    for after in (conv, contract.daction):  # conversion and daction imply click
        if after and {click, after} <= present:
            yield (
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=click, column_B=after, or_equal=True
                ),
                f"{after} implies {click}",
            )
    if not {contract.scene, click, conv} <= present:
        return
    for scene, rows in df.groupby(contract.scene)[click].agg(["size", "sum"]).iterrows():
        if rows["size"] < cfg.min_scene_rows:
            continue
        in_scene = Where(contract.scene) == scene
        (lo, hi), (clo, chi) = cfg.ctr_band, cfg.cvr_band
        yield (
            gxe.ExpectColumnMeanToBeBetween(
                column=click, min_value=lo, max_value=hi, row_condition=in_scene
            ),
            f"CTR of scene {scene} in [{lo}, {hi}]",
        )
        if rows["sum"] >= cfg.min_scene_clicks:
            clicked = in_scene & (Where(click) == 1)
            yield (
                gxe.ExpectColumnMeanToBeBetween(
                    column=conv, min_value=clo, max_value=chi, row_condition=clicked
                ),
                f"CVR of scene {scene} in [{clo}, {chi}]",
            )


def _range(gxe, name: str, lo: float | None, hi: float | None):
    # min/max aggregates rather than ExpectColumnValuesToBeBetween: GX 1.24 vectorises
    # that one only for int64/float64 and maps a Python function over narrower dtypes
    # (14 s on 1M rows); the aggregates are vectorised for every dtype.
    if lo is not None:
        yield gxe.ExpectColumnMinToBeBetween(column=name, min_value=lo), f"{name} >= {lo}"
    if hi is not None:
        yield gxe.ExpectColumnMaxToBeBetween(column=name, max_value=hi), f"{name} <= {hi}"


def _lists(table: pa.Table | pa.RecordBatch, contract: Contract) -> list[str]:
    """The contract's list columns present with a list type (others fail GX's type check)."""
    names = table.column_names
    return [
        c.name
        for c in contract.by_role(Role.MULTI)
        if c.name in names and pa.types.is_list(table.schema.field(c.name).type)
    ]


@dataclass
class ListStats:
    """What validation needs of one list column, gathered chunk by chunk: GX sees only
    which lists are null, pyarrow checks the items. A day's lists are never all in memory."""

    nulls: list[np.ndarray] = field(default_factory=list)  # per chunk: null lists
    rows: int = 0
    null_item_rows: int = 0  # rows whose list holds a null
    null_item_example: str | None = None
    too_long: int = 0  # rows whose list is longer than the limit
    longest: int | None = None

    def add(self, chunk: pa.Array | pa.ChunkedArray, limit: int) -> None:
        if isinstance(chunk, pa.ChunkedArray):
            chunk = chunk.combine_chunks()
        self.nulls.append(chunk.is_null().to_numpy(zero_copy_only=False))
        self.rows += len(chunk)
        lengths = pc.list_value_length(chunk)  # null for a null list
        self.too_long += pc.sum(pc.greater(lengths, limit)).as_py() or 0
        longest = pc.max(lengths).as_py()
        if longest is not None:
            self.longest = max(self.longest or 0, longest)
        items = pc.list_flatten(chunk)  # skips null lists and honours slicing
        if items.null_count == 0:
            return
        ends = np.cumsum(lengths.fill_null(0).to_numpy())  # [N]
        at = pc.indices_nonzero(pc.is_null(items)).to_numpy()
        rows = np.unique(np.searchsorted(ends, at, side="right"))  # row of each null item
        self.null_item_rows += rows.size
        self.null_item_example = self.null_item_example or _shown(chunk[int(rows[0])].as_py())


def list_stats(
    chunks: Iterable[pa.Table | pa.RecordBatch], contract: Contract, limit: int
) -> tuple[pa.Table, dict[str, ListStats]]:
    """One pass over a day's rows: the columns that are not lists, as one table, and the
    list columns' statistics. Memory holds the scalar columns and one chunk of lists."""
    scalars, stats = [], None
    for chunk in chunks:
        if stats is None:
            stats = {name: ListStats() for name in _lists(chunk, contract)}
        for name, stat in stats.items():
            stat.add(chunk.column(name), limit)
        rest = chunk.drop_columns(list(stats))
        scalars.append(pa.Table.from_batches([rest]) if isinstance(rest, pa.RecordBatch) else rest)
    if stats is None:
        raise ValueError("no chunk: pass at least one, empty if need be (it gives the schema)")
    return pa.concat_tables(scalars), stats


def _frame(table: pa.Table, lists: dict[str, ListStats]) -> pd.DataFrame:
    """The rows as pandas for GX, each list an empty tuple (None where null).

    GX checks only a list column's dtype and nulls; the items are checked with pyarrow
    (ListStats). Items handed to GX as tuples (hashable: GX fingerprints each batch and
    pickles the whole frame on unhashable arrays, 9 s on 1M rows) took 4.4 GB on a
    30k-row day of 2,000 tags a row.
    """
    df = table.to_pandas()
    for name, stat in lists.items():
        nulls = np.concatenate(stat.nulls) if stat.nulls else np.zeros(0, bool)
        df[name] = pd.Series([None if n else () for n in nulls], index=df.index, dtype=object)
    return df


def _plain(value):
    """numpy scalars (also inside tuples) as plain Python values, for readable messages."""
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value.item() if hasattr(value, "item") else value


def _detail(result) -> str:
    """What was observed, in one line."""
    res = result.result or {}
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return "error: " + str(info.get("exception_message")).splitlines()[0]
    if "unexpected_count" in res:
        pct = res.get("unexpected_percent") or 0.0
        sample = [_plain(v) for v in (res.get("partial_unexpected_list") or [])[:3]]
        return f"{res['unexpected_count']} rows break it ({pct:.2f}%), e.g. {sample}"
    observed = res.get("observed_value")
    if observed is None:
        return "not met"
    return f"observed {observed:.4g}" if isinstance(observed, float) else f"observed {observed}"


def _failed(expectation: str, what: str, bad: int, rows: int, example) -> ExpectationResult:
    """A pyarrow check's outcome, worded like a GX one."""
    if not bad:
        return ExpectationResult(expectation, what, True, "ok")
    detail = f"{bad} rows break it ({100 * bad / rows:.2f}%), e.g. {example}"
    return ExpectationResult(expectation, what, False, detail)


def _shown(items: list) -> str:
    """A list for a message: its first items and its length when long."""
    return str(items) if len(items) <= 8 else f"[{str(items[:8])[1:-1]}, ...] ({len(items)} items)"


def _finite(column: pa.ChunkedArray, name: str) -> ExpectationResult:
    """No NaN or ±inf (nulls are the null check's); a float32 column holds no finite value
    the encoder's float32 cast could overflow (1e308 stored as float32 is already inf)."""
    broken = pc.invert(pc.is_finite(column))  # null where the value is null
    bad = pc.sum(broken).as_py() or 0
    example = pc.unique(pc.filter(column, broken)).to_pylist()[:3] if bad else None
    return _failed(
        "expect_column_values_to_be_finite", f"{name} is finite", bad, len(column), example
    )


def _arrow_checks(
    table: pa.Table, lists: dict[str, ListStats], contract: Contract, cfg: ValidationConfig
) -> Iterator[ExpectationResult]:
    """The checks GX has no expectation for, on the columns as stored."""
    for name, stat in lists.items():
        yield _failed("expect_list_items_to_not_be_null", f"{name} lists hold no nulls",
                      stat.null_item_rows, stat.rows, stat.null_item_example)  # fmt: skip
        yield _failed("expect_list_lengths_to_be_at_most",
                      f"{name} lists hold at most {cfg.max_list_length} items",
                      stat.too_long, stat.rows, f"{stat.longest} items (the longest)")  # fmt: skip
    for col in contract.by_role(Role.DENSE):
        if col.name in table.column_names and pa.types.is_floating(table[col.name].type):
            yield _finite(table[col.name], col.name)


def run_suite(
    table: pa.Table,
    contract: Contract,
    cfg: ValidationConfig,
    day: dt.date,
    scenes: tuple[str, ...],
    lists: dict[str, ListStats] | None = None,
) -> list[ExpectationResult]:
    """Validate one day's rows, one ExpectationResult per expectation; `scenes` are the model's.

    `table` holds every column, or (with `lists`, from list_stats) only the scalar ones."""
    if lists is None:
        table, lists = list_stats([table], contract, cfg.max_list_length)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # this GX module sets its own logger to INFO and logs a temp folder per context
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    batch_def = (
        context.data_sources.add_pandas("day")
        .add_dataframe_asset("impressions")
        .add_batch_definition_whole_dataframe("whole")
    )
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = context.suites.add(gx.ExpectationSuite(name=f"{contract.name}-{day.isoformat()}"))
    df = _frame(table, lists)
    for expectation, what in _expectations(df, contract, cfg, day, scenes):
        expectation.description = what
        suite.add_expectation(expectation)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="day", data=batch_def, suite=suite)
    )
    results = validation.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")
    checks = [
        ExpectationResult(
            expectation=r.expectation_config.type,
            what=r.expectation_config.description,
            success=bool(r.success),
            detail="ok" if r.success else _detail(r),
        )
        for r in results.results
    ]
    return checks + list(_arrow_checks(table, lists, contract, cfg))
