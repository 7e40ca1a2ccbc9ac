"""How much of the simulator's truth is learnable from what, and the AUC ceiling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from components.data.contract import Contract
from components.data.simulator import PARTS, Day
from components.evaluation.metrics import auc


@dataclass(frozen=True)
class OracleAUC:
    scene: str
    task: str  # ctr: on all rows; cvr: on clicked rows
    rows: int
    positives: int
    auc: float


def variance_shares(day: Day) -> dict[str, dict[str, float]]:
    """Share of each true logit's variance that each additive part carries, per task.

    The parts are independent by construction, so the shares sum to about 1; the
    `interaction` share is what only id embeddings accumulated over days can learn.
    """
    shares = {}
    for task in ("ctr", "cvr"):
        total = np.var(sum(day.parts[f"{task}.{p}"] for p in PARTS))
        shares[task] = {p: float(np.var(day.parts[f"{task}.{p}"]) / total) for p in PARTS}
    return shares


def oracle_aucs(table: pa.Table, contract: Contract) -> list[OracleAUC]:
    """AUC of the true probabilities per scene: the ceiling no learner reaches."""
    scene = table[contract.scene].to_numpy(zero_copy_only=False)
    click = table[contract.click].to_numpy()
    conversion = table[contract.conversion].to_numpy()
    out = []
    for name in sorted(set(scene)):
        rows = scene == name
        clicked = rows & (click == 1)
        for task, mask, label in (("ctr", rows, click), ("cvr", clicked, conversion)):
            if task not in contract.oracle:
                continue
            prob = table[contract.oracle[task]].to_numpy()
            y = label[mask]
            out.append(OracleAUC(name, task, int(mask.sum()), int(y.sum()), auc(y, prob[mask])))
    return out
