"""Scoring raw log rows with a bundle: the one code path behind every served prediction.

Requests arrive as a DataFrame (a JSON body, a batch file) without labels. The rows are
turned into an Arrow table with the data contract's types, exactly like a day partition,
so the encoder and the model see the same values in serving as in offline evaluation.
Every check here guards the server and batch scoring alike: a row that would score
silently wrong (a `true` id, an infinite price, a scene the model never saw) is refused.
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
SHOWN = 80  # characters of a request's own text an error message may repeat


class ScoringError(ValueError):
    """Rows that cannot be scored: a missing or malformed feature, or an unknown scene."""


def shorten(text: str, limit: int = SHOWN) -> str:
    """`text` cut to `limit` characters: errors never echo a long value back."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def inputs(contract: Contract) -> tuple[str, ...]:
    """The columns a request must carry: the scene and every feature, nothing else."""
    return (contract.scene, *(c.name for c in contract.features))


def _has_bools(series: pd.Series) -> bool:
    """True/false in a numeric column: Arrow would read them as 1/0 (a JSON `true` id)."""
    if pd.api.types.is_bool_dtype(series):
        return True
    return series.dtype == object and any(isinstance(v, (bool, np.bool_)) for v in series)


def _column(rows: pd.DataFrame, contract: Contract, name: str) -> pa.Array:
    """One column with its contract type; JSON ints for float columns and lists both work."""
    column = contract.column(name)
    if column.role is not Role.SCENE and _has_bools(rows[name]):
        raise ScoringError(f"column {name!r} holds true/false where {column.dtype} is expected")
    try:
        array = pa.array(rows[name], type=column.arrow_type)
    except (pa.ArrowException, OverflowError, TypeError, ValueError) as err:
        reason = shorten(str(err).splitlines()[0] if str(err) else type(err).__name__)
        raise ScoringError(f"column {name!r} is not {column.dtype}: {reason}") from None
    nulls = array.null_count
    if column.role is Role.MULTI:
        nulls += pc.list_flatten(array).null_count
    if nulls:
        raise ScoringError(f"column {name!r} has {nulls} missing value(s)")
    if (
        column.role is Role.DENSE
    ):  # inf, or a finite value beyond float32 (1e308): inf after the cast
        bad = len(array) - pc.sum(pc.is_finite(array)).as_py()
        if bad:
            raise ScoringError(
                f"column {name!r} has {bad} non-finite value(s) (NaN, inf, or beyond float32)"
            )
    return array


def to_table(contract: Contract, rows: pd.DataFrame) -> pa.Table:
    """The rows as the encoder reads a partition; labels (unknown at serving) are zeros."""
    missing = [name for name in inputs(contract) if name not in rows.columns]
    if missing:
        raise ScoringError(f"missing feature column(s): {', '.join(missing)}")
    twice = sorted(
        {str(n) for n in rows.columns[rows.columns.duplicated()]} & set(inputs(contract))
    )
    if twice:
        raise ScoringError(f"column(s) given twice: {', '.join(twice)}")
    columns = {name: _column(rows, contract, name) for name in inputs(contract)}
    zeros = pa.array(np.zeros(len(rows), np.int8))
    for label in contract.labels:  # the encoder reads them; the model never does
        columns[label] = zeros.cast(contract.column(label).arrow_type)
    return pa.table(columns)


def trained_scenes(bundle: Bundle) -> tuple[str, ...]:
    """Scenes the model learned from: it (or a warm-start parent) trained on rows of them.

    A bundle has heads for every scene of model.scenes, rows or not (mall joins the
    simulator on day 7); an untrained head still answers, with numbers that mean nothing.
    Bundles saved before training recorded this trust every scene they have heads for.
    """
    seen = bundle.meta.get("trained_scenes")
    scenes = bundle.encoder.scenes
    return scenes if seen is None else tuple(s for s in scenes if s in seen)


def _names(values: pa.ChunkedArray | pa.Array) -> str:
    """The distinct scene names, sorted and cut short (a request may carry any string)."""
    names = sorted(set(values.to_pylist()))
    shown = ", ".join(shorten(str(n), 40) for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _check_scenes(bundle: Bundle, table: pa.Table) -> None:
    """Rows of a scene without heads would be dropped by the encoder, rows of a scene the
    model never trained on would score with untrained heads: refuse both instead."""
    scenes = table[bundle.encoder.contract.scene]
    unknown = pc.filter(scenes, pc.invert(pc.is_in(scenes, pa.array(bundle.encoder.scenes))))
    if len(unknown):
        known = ", ".join(bundle.encoder.scenes)
        raise ScoringError(f"unknown scene(s) {_names(unknown)}: the model has heads for {known}")
    trained = trained_scenes(bundle)
    untrained = pc.filter(scenes, pc.invert(pc.is_in(scenes, pa.array(trained, pa.string()))))
    if len(untrained):
        raise ScoringError(
            f"scene(s) {_names(untrained)}: the model never trained on rows of them "
            f"(trained on {', '.join(trained) or 'none'})"
        )


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


def example_row(contract: Contract, scene: str) -> dict:
    """One request row of the contract's inputs; its ids are unseen, so it scores as OOV
    (the path every request with a new user or ad takes)."""
    row: dict = {contract.scene: scene}
    for column in contract.features:
        if column.role is Role.MULTI:
            row[column.name] = [1]
        elif column.role is Role.DENSE:
            row[column.name] = 1.0
        else:
            row[column.name] = int(column.min or 1)
    return row
