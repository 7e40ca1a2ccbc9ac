"""The expectation suite, and the only module that imports Great Expectations (1.x).

The suite is derived from the data contract (columns, dtypes, nulls, id ranges) plus
statistical expectations from the validation config (row floor, label rates per
scene, unique request ids, funnel implications, the partition's day).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass

import pandas as pd

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
class Check:
    """One expectation's outcome, with a one-line reason."""

    expectation: str  # the GX expectation type
    what: str  # what it checks, in words
    success: bool
    detail: str  # what was observed when it failed

    @property
    def reason(self) -> str:
        return f"{self.expectation}: {self.what}: {self.detail}"


def _expectations(df: pd.DataFrame, contract: Contract, cfg: ValidationConfig, day: dt.date):
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


def _hashable(df: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """List columns as tuples: GX fingerprints each batch with hash_pandas_object and,
    on unhashable numpy arrays, falls back to pickling the whole frame (9 s on 1M rows)."""
    multi = [c.name for c in contract.by_role(Role.MULTI) if c.name in df.columns]
    if not multi:
        return df
    df = df.copy(deep=False)
    for name in multi:
        df[name] = [v if v is None else tuple(v) for v in df[name]]
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


def run_suite(
    df: pd.DataFrame, contract: Contract, cfg: ValidationConfig, day: dt.date
) -> list[Check]:
    """Validate one day's rows with Great Expectations; one Check per expectation."""
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
    for expectation, what in _expectations(df, contract, cfg, day):
        expectation.description = what
        suite.add_expectation(expectation)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="day", data=batch_def, suite=suite)
    )
    frame = _hashable(df, contract)
    results = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    return [
        Check(
            expectation=r.expectation_config.type,
            what=r.expectation_config.description,
            success=bool(r.success),
            detail="ok" if r.success else _detail(r),
        )
        for r in results.results
    ]
