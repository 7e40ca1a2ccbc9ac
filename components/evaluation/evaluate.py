"""Scoring a bundle on a day's rows and measuring it per scene and task."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from components.evaluation.metrics import Metrics, scene_task_metrics
from components.features.batch import Batch
from components.models.base import RankingModel
from components.models.bundle import Bundle


class EvaluationError(ValueError):
    """An evaluation that would not measure anything honest."""


def check_unseen(bundle: Bundle, day: dt.date) -> None:
    """Refuse a day the bundle was trained on: offline metrics are for unseen days."""
    if day.isoformat() in bundle.meta.get("window", []):
        raise EvaluationError(
            f"{day} is in the bundle's training window {bundle.meta['window']}; "
            "evaluate on a later day"
        )


@torch.inference_mode()
def logits(
    model: RankingModel, data: Batch, batch_size: int = 2048, calibrated: bool = True
) -> dict[str, torch.Tensor]:
    """Logits of CTR and CVR of every row, in input order; through the model's calibration
    maps unless `calibrated` is False (what the calibration stage fits them on).

    Rows are grouped by scene so every batch takes a model's one-scene path (no per-row
    gather of the wide fine-tune input), in batches small enough to stay in cache: on 2
    cores 2,048 rows scored 200k rows in 4.0-5.2 s, 8,192 in 5.8-6.4 s, 65,536 (and no
    grouping) in 9.5-10.8 s.
    """
    model.eval()
    order = torch.argsort(data.scene, stable=True)  # batches gather along it: no copy
    counts = torch.bincount(data.scene).tolist() if len(data) else []
    out = {t: torch.empty(len(data)) for t in ("ctr", "cvr")}
    mapped = calibrated and not model.calibration.is_identity()  # identity: raw bits, exactly
    start = 0
    for scene, count in enumerate(counts):
        for a in range(start, start + count, batch_size):
            b = min(a + batch_size, start + count)
            raw = model(data.take(order[a:b], scene_id=scene))
            for task, column in out.items():
                z = raw[task]
                column[order[a:b]] = model.calibration.apply(z, scene, task) if mapped else z
        start += count
    return out


def predict(model: RankingModel, data: Batch) -> dict[str, np.ndarray]:
    """Calibrated probabilities p_ctr, p_cvr and p_ctcvr = p_ctr * p_cvr of every row."""
    probs = {t: torch.sigmoid(z).numpy().astype(np.float64) for t, z in logits(model, data).items()}
    probs["ctcvr"] = probs["ctr"] * probs["cvr"]
    return probs


@dataclass(frozen=True)
class Scored:
    """A bundle's scores of a day's rows: what its metrics and the gate's paired tests read."""

    rows: np.ndarray  # indices into the day's table of the rows scored (the model's scenes)
    scene: np.ndarray
    click: np.ndarray  # bool
    conversion: np.ndarray  # bool
    probs: dict[str, np.ndarray]  # ctr, cvr, ctcvr
    metrics: list[Metrics]


def score_day(bundle: Bundle, table: pa.Table) -> Scored:
    """Scores and metrics of the bundle on `table` (unseen ids score with the OOV row)."""
    contract = bundle.encoder.contract
    data, keep = bundle.encoder.encode(table)
    rows = table.filter(pa.array(keep))
    column = lambda name: rows[name].to_numpy(zero_copy_only=False)  # noqa: E731
    oracle = {task: column(name).astype(np.float64) for task, name in contract.oracle.items()}
    scene, probs = column(contract.scene), predict(bundle.model, data)
    click, conversion = column(contract.click), column(contract.conversion)
    metrics = scene_task_metrics(
        scene=scene,
        click=click,
        conversion=conversion,
        user=column(contract.user) if contract.user else np.arange(rows.num_rows),
        predicted=probs,
        oracle=oracle or None,
    )
    index = np.flatnonzero(np.asarray(keep))
    return Scored(index, scene, click.astype(bool), conversion.astype(bool), probs, metrics)


def evaluate(bundle: Bundle, table: pa.Table) -> list[Metrics]:
    """Metrics of the bundle on `table` (ids unseen in training score with the OOV row)."""
    return score_day(bundle, table).metrics
