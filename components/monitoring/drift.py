"""Drift of day T against a reference: what moved in the features, the labels and the ids.

The pure part: frames, label rates, id statistics; the alert rules are in alerts.py.
Evidently (seconds to import) is reached only through evidently_report, imported when a
day is monitored. Label and id rates
use every row; Evidently compares seeded samples, so a rerun gives the same report.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from components.codec import encode, finite
from components.config import Config
from components.data.contract import Contract, Role
from components.data.labels import LabelCounts, scene_counts
from components.data.partitions import CHUNK_ROWS, partition_rows, stream_partition
from components.features.vocabulary import IdCounter
from components.monitoring.alerts import alert_limits, alerts
from components.validation.quarantine import dataset_contract

if TYPE_CHECKING:
    from components.models.bundle import Bundle

IdCounts = dict[str, tuple[np.ndarray, np.ndarray]]  # id column -> (sorted ids, their counts)


@dataclass(frozen=True)
class DriftSummary:
    day: str
    reference: list[str]  # reference days used
    rows: int
    reference_rows: int
    drift_share: float  # share of monitored columns that drifted
    drifted_columns: list[str]
    columns: dict[str, dict]  # column -> {"score", "method", "drifted"}
    label_rates: dict[str, dict]  # scene -> {"ctr": [ref, cur], "cvr": [...], "ctr_shift", ...}
    new_id_rate: dict[str, float]  # id column -> share of day-T rows with an id never seen
    top_k_share: dict[str, float]  # id column -> share of day-T rows with a reference top-k id
    alerts: list[str]
    seconds: float

    DERIVED = ("drifted",)  # written for readers of drift.json and the day record

    @property
    def drifted(self) -> bool:
        """Any alert: the day is marked for a human; promotion is never blocked by it."""
        return bool(self.alerts)

    def to_record(self) -> dict:
        """JSON-ready: a rate without a denominator (NaN) becomes null."""
        return encode(self)

    def mlflow_metrics(self) -> dict[str, float]:
        """Flat finite numbers named drift.*, so MLflow charts each one across days."""
        out = {
            "drift.share": self.drift_share,
            "drift.alerts": len(self.alerts),
            "drift.drifted_columns": len(self.drifted_columns),
        }
        out |= {f"drift.score.{c}": v["score"] for c, v in self.columns.items()}
        out |= {f"drift.new_id_rate.{c}": v for c, v in self.new_id_rate.items()}
        out |= {f"drift.top_k_share.{c}": v for c, v in self.top_k_share.items()}
        for scene, r in self.label_rates.items():
            out |= {f"drift.label_shift.{scene}.{t}": r[f"{t}_shift"] for t in ("ctr", "cvr")}
        return {k: float(v) for k, v in out.items() if finite(v) is not None}


@dataclass(frozen=True)
class Reference:
    """What drift needs of the reference days, gathered in one pass over their rows: the
    reference is streamed from its partitions chunk by chunk, never held whole."""

    rows: int
    counts: IdCounts  # every sparse field: its ids and their counts over every row
    rest: IdCounts  # the same over the rows outside the sample
    sample: pa.Table  # the seeded sample Evidently compares
    labels: dict[str, LabelCounts]  # rows, clicks and conversions per scene


def sample_size(cfg: Config, reference_rows: int) -> int:
    """Rows sampled from each side for Evidently."""
    return min(cfg.monitor.sample_rows, reference_rows // 2)


def _picks(rows: int, size: int, seed: int) -> np.ndarray:
    """The seeded sample's row numbers, sorted (every row when there are few)."""
    if rows <= size:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))


def summarize(
    chunks: Iterable[pa.Table | pa.RecordBatch], rows: int, contract: Contract, size: int, seed: int
) -> Reference:
    """The Reference of `rows` rows given in order, in chunks (tables or record batches)."""
    picks, sparse = _picks(rows, size, seed), [c.name for c in contract.by_role(Role.SPARSE)]
    counters = {name: IdCounter() for name in sparse}
    samples, labels, offset = [], {}, 0
    for chunk in chunks:
        if isinstance(chunk, pa.RecordBatch):
            chunk = pa.Table.from_batches([chunk])
        lo, hi = np.searchsorted(picks, [offset, offset + chunk.num_rows])
        samples.append(chunk.take(picks[lo:hi] - offset))
        for name in sparse:
            counters[name].add(chunk[name].to_numpy())
        for scene, c in scene_counts(chunk, contract).items():
            labels[scene] = labels.get(scene, LabelCounts(0, 0, 0)) + c
        offset += chunk.num_rows
    if offset != rows:
        raise ValueError(f"the reference has {offset} rows, not the {rows} it was sized for")
    sample = pa.concat_tables(samples)
    counts = {name: c.counts() for name, c in counters.items()}
    rest = {name: _minus(counts[name], sample[name].to_numpy()) for name in sparse}
    return Reference(rows, counts, rest, sample, dict(sorted(labels.items())))


def _minus(counts: tuple[np.ndarray, np.ndarray], values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Counts with `values` (a subset of the counted rows) taken out; ids left at 0 dropped."""
    ids, n = counts
    out = n.copy()
    taken, times = np.unique(values, return_counts=True)
    out[np.searchsorted(ids, taken)] -= times
    return ids[out > 0], out[out > 0]


def read_reference(cfg: Config, days: list[dt.date], contract: Contract) -> Reference:
    """The Reference of validated days' partitions, streamed: memory holds the distinct ids,
    the sample and one chunk, however many rows the days hold."""
    raw = cfg.path("raw")
    rows = sum(partition_rows(raw, d) for d in days)
    chunks = (chunk for d in days for chunk in stream_partition(raw, d, CHUNK_ROWS))
    return summarize(chunks, rows, contract, sample_size(cfg, rows), cfg.seed)


@dataclass(frozen=True)
class Sides:
    """What is compared: day T's rows and its reference days (their rows as a table, or
    summarised as they were streamed: read_reference)."""

    day: dt.date
    current: pa.Table
    reference: pa.Table | Reference
    reference_days: list[dt.date]


@dataclass(frozen=True)
class Fields:
    """How each monitored field is compared (split on the reference's cardinality)."""

    contract: Contract
    categorical: list[str]  # sparse fields with few values: compared as categories
    ids: list[str]  # sparse fields with many values: compared by frequency and new-id rate


@dataclass(frozen=True)
class Frames:
    current: pd.DataFrame
    reference: pd.DataFrame
    numerical: list[str]
    categorical: list[str]


def split_sparse(
    contract: Contract, reference: Reference, max_categories: int
) -> tuple[list, list]:
    """(categorical, id) sparse fields: few values compare as categories, ids by frequency."""
    categorical, ids = [], []
    for col in contract.by_role(Role.SPARSE):
        distinct = reference.counts[col.name][0].size
        (categorical if distinct <= max_categories else ids).append(col.name)
    return categorical, ids


def id_counts(reference: pa.Table, columns: list[str]) -> IdCounts:
    """How often each id occurs in the reference: sorted, so lookups are binary searches."""
    return {name: np.unique(reference[name].to_numpy(), return_counts=True) for name in columns}


def _lookup(counts: tuple[np.ndarray, np.ndarray], values: np.ndarray) -> np.ndarray:
    """Each value's count in the reference; 0 for an id the reference never saw."""
    ids, n = counts
    if ids.size == 0:
        return np.zeros(len(values), np.int64)
    pos = np.minimum(np.searchsorted(ids, values), ids.size - 1)
    return np.where(ids[pos] == values, n[pos], 0)


def id_stats(current: pa.Table, counts: IdCounts, top_k: int) -> tuple[dict, dict]:
    """(new-id rate, top-k share) of each id column over every row of day T; ties at the
    k-th count go to the smaller id, so the share is deterministic."""
    new, top = {}, {}
    for name, (ids, n) in counts.items():
        values = current[name].to_numpy()
        top_ids = ids[np.lexsort((ids, -n))[:top_k]]
        new[name] = float(np.mean(_lookup((ids, n), values) == 0)) if len(values) else math.nan
        top[name] = float(np.mean(np.isin(values, top_ids))) if len(values) else math.nan
    return new, top


def _side(
    contract: Contract, table: pa.Table, categorical: list[str], counts: IdCounts
) -> pd.DataFrame:
    """One side's columns: raw dense and categorical values; derived id and list columns."""
    out = {contract.scene: table[contract.scene].to_numpy().astype(str)}
    out |= {name: table[name].to_numpy() for name in categorical}
    for col in contract.by_role(Role.DENSE):
        out[col.name] = pc.cast(table[col.name], pa.float64()).to_numpy()
    for name, c in counts.items():  # log1p(count in the reference): 0 for a new id
        out[f"{name}__log_freq"] = np.log1p(_lookup(c, table[name].to_numpy()).astype(float))
    for col in contract.by_role(Role.MULTI):
        length = pc.fill_null(pc.list_value_length(table[col.name]), 0)
        out[f"{col.name}__len"] = length.to_numpy().astype(float)
    return pd.DataFrame(out)


def predictions(bundle: Bundle, contract: Contract, table: pa.Table) -> pd.DataFrame:
    """The model's pred_ctr and pred_cvr of each row (labels never reach it); rows of a scene
    it has no heads for, or never trained on, stay NaN rather than failing the day's monitoring
    (score() refuses them)."""
    from components.models.scoring import score, trained_scenes  # torch: only with a model

    out = pd.DataFrame({"pred_ctr": np.nan, "pred_cvr": np.nan}, index=range(table.num_rows))
    scenes = pa.array(trained_scenes(bundle), pa.string())
    known = pc.is_in(table[contract.scene], scenes).to_numpy()
    rows = table.select([contract.scene, *(c.name for c in contract.features)])
    rows = rows.filter(pa.array(known)).to_pandas().set_axis(np.flatnonzero(known))
    if len(rows):
        scored = score(bundle, rows)
        out.loc[rows.index, ["pred_ctr", "pred_cvr"]] = scored[["p_ctr", "p_cvr"]].to_numpy()
    return out


def _frames(cfg: Config, sides: Sides, fields: Fields, champion: Bundle | None) -> Frames:
    """Seeded samples of both sides as the same columns, typed for Evidently, plus the champion's
    predictions. Id frequencies count the reference rows outside its sample: a sampled row
    counting its own occurrence would lift every reference value, a drift on every normal day.
    A column constant on both sides is left out: a per-day constant (weekday) "drifts" daily."""
    table, reference, contract = sides.current, sides.reference, fields.contract
    size = sample_size(cfg, reference.rows)
    counts = {name: reference.rest[name] for name in fields.ids}
    samples = [table.take(_picks(table.num_rows, size, cfg.seed)), reference.sample]
    cur, ref = (_side(contract, t, fields.categorical, counts) for t in samples)
    keep = [c for c in cur.columns if cur[c].nunique() > 1 or ref[c].nunique() > 1]
    cats = {contract.scene, *fields.categorical}
    frames = Frames(
        cur[keep], ref[keep], [c for c in keep if c not in cats], [c for c in keep if c in cats]
    )
    if champion is None:
        return frames
    preds = [predictions(champion, contract, t) for t in samples]
    if any(p["pred_ctr"].isna().all() for p in preds):  # no row of a scene it knows: no drift
        logging.getLogger(__name__).warning(
            "the champion scores no row of one side: prediction drift left out"
        )
        return frames
    cur = pd.concat([frames.current, preds[0]], axis=1)
    ref = pd.concat([frames.reference, preds[1]], axis=1)
    return Frames(cur, ref, [*frames.numerical, "pred_ctr", "pred_cvr"], frames.categorical)


def label_rates(contract: Contract, current: pa.Table, reference: Reference) -> dict[str, dict]:
    """Per scene CTR (clicks/rows), CVR (conversions/clicks) and shift cur/ref - 1, on every
    row: labels are the drift that moves the models' targets themselves."""
    ref, cur = reference.labels, scene_counts(current, contract)
    empty = LabelCounts(0, 0, 0)
    out = {}
    for scene in sorted(set(cur) | set(ref)):
        r, c = ref.get(scene, empty), cur.get(scene, empty)
        pairs = {"ctr": [r.ctr, c.ctr], "cvr": [r.cvr, c.cvr]}
        shift = {f"{t}_shift": p[1] / p[0] - 1 if p[0] > 0 else math.nan for t, p in pairs.items()}
        out[scene] = {
            "rows": [r.rows, c.rows],
            "clicks": [r.clicks, c.clicks],
            "conversions": [r.conversions, c.conversions],
            **pairs,
            **shift,
        }
    return out


def monitor_day(cfg: Config, sides: Sides, champion: Bundle | None, out_dir: Path) -> DriftSummary:
    """Compare day T with its reference; write drift.html and drift.json to out_dir, add the run
    to the Evidently workspace, log each alert. Alerts mark the day; they never block it."""
    from components.monitoring import evidently_report as report  # evidently: seconds to import

    start, contract = time.perf_counter(), dataset_contract(cfg)
    table, reference, day = sides.current, sides.reference, sides.day
    if isinstance(reference, pa.Table):
        rows = reference.num_rows
        reference = summarize([reference], rows, contract, sample_size(cfg, rows), cfg.seed)
        sides = replace(sides, reference=reference)
    fields = Fields(contract, *split_sparse(contract, reference, cfg.monitor.max_categories))
    frames = _frames(cfg, sides, fields, champion)
    counts = {name: reference.counts[name] for name in fields.ids}
    new_ids, top_k = id_stats(table, counts, cfg.monitor.top_k)
    rates, refs = (
        label_rates(contract, table, reference),
        [d.isoformat() for d in sides.reference_days],
    )
    rules, values = cfg.monitor.alert, report.report_values(rates, new_ids, top_k)
    limits = alert_limits(rules, rates, new_ids)
    snapshot = report.run_drift(cfg, frames, values, day, refs, limits)
    share, columns = report.drift_results(snapshot)
    drifted = sorted(c for c, v in columns.items() if v["drifted"])
    found = alerts(rules, share, drifted, rates, new_ids)
    report.save_report(snapshot, Path(out_dir), day.isoformat(), refs, found)
    report.add_to_workspace(cfg, snapshot, day, report.DRIFT_TAG)
    for line in found:
        logging.getLogger(__name__).warning("drift alert %s: %s", day, line)
    return DriftSummary(
        day=day.isoformat(),
        reference=refs,
        rows=table.num_rows,
        reference_rows=reference.rows,
        drift_share=share,
        drifted_columns=drifted,
        columns=columns,
        label_rates=rates,
        new_id_rate=new_ids,
        top_k_share=top_k,
        alerts=found,
        seconds=round(time.perf_counter() - start, 3),
    )
