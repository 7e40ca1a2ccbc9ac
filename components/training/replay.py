"""The warm-start chain replayed offline, for `dvc repro`: the daily run without a registry.

For each pair of consecutive validated days (D, E): train through D warm-started from the
bundle before (cold start on the first day), then evaluate on E, the next unseen day.
These are the daily flow's own component calls (validate_pending, train_day, evaluate), so
`dvc repro` and the Prefect flow cannot drift apart. Bundles go to their own folder
(paths.models/replay) so a replay never overwrites a bundle the registry points at.
The metrics hold no timings: the same data and params give the same numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from components.codec import finite
from components.config import Config
from components.data.partitions import list_days, read_partition
from components.evaluation.evaluate import evaluate
from components.evaluation.metrics import Metrics
from components.training.chain import train_day
from components.validation.quarantine import validate_pending

PARAMS = ("seed", "data", "validation", "model", "train")  # what it reads; dvc.yaml lists the same
FOLDER = "replay"  # under paths.models


def replay(cfg: Config, on_day: Callable[[str], None] | None = None) -> dict[str, list[Metrics]]:
    """Metrics of each day's model on the next day, keyed by the evaluation day."""
    days = validate_pending(cfg, list_days(cfg.path("raw")))
    previous, out = None, {}
    for day, evaluation_day in zip(days, days[1:], strict=False):
        previous, _ = train_day(cfg, cfg.model.name, day, previous,
                                models=cfg.path("models") / FOLDER)  # fmt: skip
        table = read_partition(cfg.path("raw"), evaluation_day)
        out[evaluation_day.isoformat()] = evaluate(previous, table)
        if on_day:
            on_day(evaluation_day.isoformat())
    return out


def _number(x: float | None) -> float | None:
    return None if finite(x) is None else round(x, 6)


def summary(results: dict[str, list[Metrics]]) -> dict:
    """dvc metrics: the last day's AUC per scene and task, and its mean over the days."""
    last = results[max(results)]
    out: dict = {"days": len(results), "last_day": max(results)}
    for m in last:
        same = [
            x.auc for day in results.values() for x in day if (x.scene, x.task) == (m.scene, m.task)
        ]
        out[f"{m.scene}/{m.task}"] = {
            "auc": _number(m.auc), "oracle_auc": _number(m.oracle_auc),
            "mean_auc": _number(sum(same) / len(same)), "calibration": _number(m.calibration),
        }  # fmt: skip
    return out


def curve(results: dict[str, list[Metrics]]) -> str:
    """dvc plots: one CSV row per evaluation day, one AUC column per scene and task."""
    keys = sorted({(m.scene, m.task) for day in results.values() for m in day})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["day", *(f"{s}_{t}" for s, t in keys)])
    for day, metrics in sorted(results.items()):
        auc = {(m.scene, m.task): m.auc for m in metrics}
        writer.writerow(
            [day, *("" if _number(auc.get(k)) is None else f"{auc[k]:.6f}" for k in keys)]
        )
    return buffer.getvalue()
