"""Scoring raw log rows with a bundle: the one code path behind every served prediction.

Requests arrive as a DataFrame (a JSON body, a batch file) without labels. The rows are
turned into an Arrow table with the data contract's types, exactly like a day partition,
so the encoder and the model see the same values in serving as in offline evaluation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from components.data.contract import Contract, Role
from components.evaluation.evaluate import predict
from components.models.bundle import Bundle

OUTPUTS = ("p_ctr", "p_cvr", "p_ctcvr")


class ScoringError(ValueError):
    """Rows that cannot be scored: a missing or malformed feature, or an unknown scene."""


def _inputs(contract: Contract) -> tuple[str, ...]:
    """The columns a request must carry: the scene and every feature, nothing else."""
    return (contract.scene, *(c.name for c in contract.features))


def _column(rows: pd.DataFrame, contract: Contract, name: str) -> pa.Array:
    """One column with its contract type; JSON ints for float columns and lists both work."""
    dtype = contract.column(name).dtype
    try:
        array = pa.array(rows[name], type=contract.column(name).arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        reason = str(err).splitlines()[0]
        raise ScoringError(f"column {name!r} is not {dtype}: {reason}") from None
    nulls = array.null_count
    if contract.column(name).role is Role.MULTI:
        nulls += pc.list_flatten(array).null_count
    if nulls:
        raise ScoringError(f"column {name!r} has {nulls} missing value(s)")
    return array


def to_table(contract: Contract, rows: pd.DataFrame) -> pa.Table:
    """The rows as the encoder reads a partition; labels (unknown at serving) are zeros."""
    missing = [name for name in _inputs(contract) if name not in rows.columns]
    if missing:
        raise ScoringError(f"missing feature column(s): {', '.join(missing)}")
    columns = {name: _column(rows, contract, name) for name in _inputs(contract)}
    zeros = pa.array(np.zeros(len(rows), np.int8))
    for label in contract.labels:  # the encoder reads them; the model never does
        columns[label] = zeros.cast(contract.column(label).arrow_type)
    return pa.table(columns)


def _check_scenes(bundle: Bundle, table: pa.Table) -> None:
    """Rows of a scene without heads would be dropped by the encoder: refuse them instead."""
    scenes = table[bundle.encoder.contract.scene]
    unknown = pc.filter(scenes, pc.invert(pc.is_in(scenes, pa.array(bundle.encoder.scenes))))
    if len(unknown):
        names = ", ".join(sorted(set(unknown.to_pylist())))
        known = ", ".join(bundle.encoder.scenes)
        raise ScoringError(f"unknown scene(s) {names}: the model has heads for {known}")


def score(bundle: Bundle, rows: pd.DataFrame) -> pd.DataFrame:
    """p_ctr, p_cvr and p_ctcvr of every row, in order; unseen ids score with the OOV row."""
    if len(rows) == 0:
        return pd.DataFrame(
            {name: pd.Series(dtype="float64") for name in OUTPUTS}, index=rows.index
        )
    table = to_table(bundle.encoder.contract, rows)
    _check_scenes(bundle, table)
    data, keep = bundle.encoder.encode(table)
    assert keep.all(), "every scene was checked"
    probs = predict(bundle.model, data)
    return pd.DataFrame(
        {f"p_{task}": probs[task].astype(np.float64) for task in ("ctr", "cvr", "ctcvr")},
        index=rows.index,
    )
