"""Candidate and champion on the same rows: DeLong's paired AUC test, and both models'
calibration (Σp/Σy, ECE, reliability curve) per gate focus.

DeLong, DeLong & Clarke-Pearson (1988), in the O(N log N) form of Sun & Xu (2014). Each
model's AUC is a mean of placements; for m positives X and n negatives Y,
  V10_i = share of negatives scored below positive i (ties count 1/2),
  V01_j = share of positives scored above negative j,
computed from midranks: V10_i = (rank of X_i among all - rank among positives) / n, and
V01_j = 1 - (rank of Y_j among all - rank among negatives) / m. With S10, S01 the 2x2
covariances of the two models' placements, Var(AUC_a - AUC_b) = (S10[a,a] + S10[b,b] -
2 S10[a,b]) / m + (the same of S01) / n. The scores of two models of the same rows are
strongly correlated, so this variance is far smaller than two unpaired AUCs' would say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import norm, rankdata

from components.evaluation.metrics import calibration, ece, reliability, task_labels, task_rows

if TYPE_CHECKING:
    from components.config import Focus
    from components.evaluation.evaluate import Scored


@dataclass(frozen=True)
class PairedAUC:
    test: str  # "DeLong"
    a: float  # AUC of model a
    b: float  # AUC of model b
    diff: float  # a - b
    se: float  # standard error of the difference
    lo: float  # two-sided `confidence` interval of the difference
    hi: float
    upper: float  # one-sided `confidence` upper bound: a is worse at `confidence` iff upper < 0
    p_worse: float  # one-sided p-value against "a is not worse than b" (small: a is worse)
    confidence: float


def placements(labels: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(AUC, V10 of the positives, V01 of the negatives) of one model."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=float)
    pos, neg = s[y], s[~y]
    m, n = len(pos), len(neg)
    everyone = rankdata(np.concatenate([pos, neg]))
    v10 = (everyone[:m] - rankdata(pos)) / n
    v01 = 1 - (everyone[m:] - rankdata(neg)) / m
    return float(v10.mean()), v10, v01


def delong(
    labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, confidence: float = 0.95
) -> PairedAUC | None:
    """DeLong's paired test of AUC(a) - AUC(b); None when a class is missing (no AUC)."""
    y = np.asarray(labels).astype(bool)
    m = int(y.sum())
    n = y.size - m
    if m < 2 or n < 2:
        return None
    auc_a, v10_a, v01_a = placements(y, scores_a)
    auc_b, v10_b, v01_b = placements(y, scores_b)
    s10, s01 = np.cov(np.stack([v10_a, v10_b])), np.cov(np.stack([v01_a, v01_b]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    se = float(np.sqrt(max(var, 0.0)))
    diff = auc_a - auc_b
    half = float(norm.ppf(0.5 + confidence / 2)) * se
    upper = diff + float(norm.ppf(confidence)) * se
    if se > 0:
        p_worse = float(norm.cdf(diff / se))
    else:  # identical rankings on these rows: a is no worse (or certainly worse)
        p_worse = 1.0 if diff >= 0 else 0.0
    return PairedAUC(
        "DeLong", auc_a, auc_b, diff, se, diff - half, diff + half, upper, p_worse, confidence
    )


def focus_rows(scored: Scored, scene: str, task: str) -> np.ndarray:
    """Positions in `scored` of a focus's rows (the rows its metrics are computed on)."""
    return np.flatnonzero(task_rows(scored.scene, scored.click, scene, task))


def shared_rows(
    f: Focus, candidate: Scored, champion: Scored
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, candidate's, champion's probabilities) of a focus's day rows that both scored
    (a champion without the scene scored none of them)."""
    ours = focus_rows(candidate, f.scene, f.task)
    theirs = focus_rows(champion, f.scene, f.task)
    _, i, j = np.intersect1d(candidate.rows[ours], champion.rows[theirs],
                             assume_unique=True, return_indices=True)  # fmt: skip
    y = task_labels(candidate.click, candidate.conversion)[f.task][ours[i]]
    return y, candidate.probs[f.task][ours[i]], champion.probs[f.task][theirs[j]]


def focus_tests(
    focus: tuple[Focus, ...], candidate: Scored, champion: Scored, confidence: float
) -> dict[str, PairedAUC | None]:
    """DeLong's test of candidate vs champion on each focus's rows that both scored."""
    out = {}
    for f in focus:
        y, a, b = shared_rows(f, candidate, champion)
        out[f"{f.scene}/{f.task}"] = delong(y, a, b, confidence) if len(y) else None
    return out


@dataclass(frozen=True)
class Calibrated:
    """One model's calibration on a focus's rows."""

    ratio: float  # Σp/Σy (NaN without positives)
    ece: float  # expected calibration error over the curve's bins
    curve: list[dict]  # reliability: per equal-size bin its rows, mean predicted, observed rate


@dataclass(frozen=True)
class FocusCalibration:
    """Candidate and champion calibration of one gate focus on the same rows of the day."""

    focus: str  # "scene/task"
    rows: int
    positives: int
    candidate: Calibrated
    champion: Calibrated | None  # None: no champion scored the day


def _calibrated(labels: np.ndarray, probs: np.ndarray, bins: int) -> Calibrated:
    return Calibrated(calibration(labels, probs), ece(labels, probs, bins),
                      reliability(labels, probs, bins))  # fmt: skip


def focus_calibration(
    focus: tuple[Focus, ...], candidate: Scored, champion: Scored | None, bins: int = 10
) -> list[FocusCalibration]:
    """Each focus's calibration of the candidate and the champion on the rows both scored
    (the candidate's own rows when there is no champion)."""
    out = []
    for f in focus:
        y, a, b = shared_rows(f, candidate, champion or candidate)
        if not len(y):
            continue
        theirs = None if champion is None else _calibrated(y, b, bins)
        out.append(FocusCalibration(f"{f.scene}/{f.task}", len(y), int(y.sum()),
                                    _calibrated(y, a, bins), theirs))  # fmt: skip
    return out
