"""Ranking and calibration metrics, vectorised numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from components.codec import encode
from components.probability import PROB_EPS

# What is scored per scene: the two predicted tasks and their product (CTCVR = CTR x CVR).
METRIC_TASKS = ("ctr", "cvr", "ctcvr")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; ties get average ranks.

    NaN when only one class is present.
    """
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gauc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Row-weighted mean of per-group AUCs over groups holding both classes; ties averaged.

    NaN when no group has both classes.
    """
    y = np.asarray(labels).astype(bool)
    if y.size == 0:
        return float("nan")
    _, g = np.unique(np.ravel(groups), return_inverse=True)  # dense ids 0..K-1
    s = np.asarray(scores, dtype=float)
    order = np.lexsort((s, g))  # by group, then score
    g, s, y = g[order], s[order], y[order]
    n = y.size
    new_run = np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])]
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], n]
    # mean of 1-based positions run_start+1..run_end, shifted to the group's first row
    mean_pos = ((run_start + run_end + 1) / 2)[np.cumsum(new_run) - 1]
    group_start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ranks = mean_pos - group_start[g]
    rows = np.bincount(g).astype(float)
    n_pos = np.bincount(g, weights=y)
    n_neg = rows - n_pos
    rank_sum = np.bincount(g, weights=ranks * y)
    both = (n_pos > 0) & (n_neg > 0)
    if not both.any():
        return float("nan")
    aucs = (rank_sum[both] - n_pos[both] * (n_pos[both] + 1) / 2) / (n_pos[both] * n_neg[both])
    return float(np.average(aucs, weights=rows[both]))


def logloss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy with probabilities clipped to [1e-7, 1 - 1e-7]."""
    y = np.asarray(labels, dtype=float)
    if y.size == 0:
        return float("nan")
    p = np.clip(np.asarray(probs, dtype=float), PROB_EPS, 1 - PROB_EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def mae(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean absolute error |y - p| (MTMS paper, Eq. 3)."""
    y = np.asarray(labels, dtype=float)
    if y.size == 0:
        return float("nan")
    return float(np.mean(np.abs(y - np.asarray(probs, dtype=float))))


def calibration(labels: np.ndarray, probs: np.ndarray) -> float:
    """Predicted over observed positives, sum p / sum y; NaN when there are no positives."""
    observed = float(np.sum(np.asarray(labels, dtype=float)))
    if observed == 0:
        return float("nan")
    return float(np.sum(np.asarray(probs, dtype=float)) / observed)


def equal_bins(values: np.ndarray, bins: int) -> list[np.ndarray]:
    """Indices of up to `bins` non-empty bins of about equal size, by increasing value."""
    order = np.argsort(np.asarray(values), kind="stable")
    return [b for b in np.array_split(order, bins) if len(b)]


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> list[dict]:
    """The reliability curve: per bin (equal size, by predicted probability; equal-width bins
    would put nearly every row of a 3 % CTR in the first) its rows, mean predicted and
    observed rate."""
    y, p = np.asarray(labels, dtype=float), np.asarray(probs, dtype=float)
    return [{"rows": len(b), "predicted": float(p[b].mean()), "observed": float(y[b].mean())}
            for b in equal_bins(p, bins)]  # fmt: skip


def ece(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: sum_b (n_b / N) |mean p_b - mean y_b| over the reliability
    curve's bins. NaN on no rows."""
    curve = reliability(labels, probs, bins)
    if not curve:
        return float("nan")
    gaps = sum(c["rows"] * abs(c["predicted"] - c["observed"]) for c in curve)
    return float(gaps / sum(c["rows"] for c in curve))


def task_rows(scene: np.ndarray, click: np.ndarray, name: str, task: str) -> np.ndarray:
    """Mask of the rows a task is scored on in scene `name`: CVR on clicked rows only."""
    in_scene = scene == name
    return in_scene & click if task == "cvr" else in_scene


def task_labels(click: np.ndarray, conversion: np.ndarray) -> dict[str, np.ndarray]:
    """Each task's label: click, conversion (of a click), click and conversion."""
    return {"ctr": click, "cvr": conversion, "ctcvr": click & conversion}


@dataclass(frozen=True)
class Metrics:
    """Metrics of one task on one scene."""

    scene: str
    task: str
    rows: int
    positives: int
    auc: float
    oracle_auc: float | None
    gauc: float
    logloss: float
    mae: float
    calibration: float
    ece: float = float("nan")  # expected calibration error (`ece`)

    def to_record(self) -> dict:
        """Plain dict with NaN as None, so json.dumps writes valid JSON."""
        return encode(self)


def scene_task_metrics(
    scene: np.ndarray,
    click: np.ndarray,
    conversion: np.ndarray,
    user: np.ndarray,
    predicted: dict[str, np.ndarray],
    oracle: dict[str, np.ndarray] | None = None,
) -> list[Metrics]:
    """Metrics per scene (sorted) and per task in `predicted`; CVR only on clicked rows.

    `oracle` holds the simulator's true p_click ("ctr") and p_cvr ("cvr"); its AUC is the
    ceiling a model could reach on the same rows.
    """
    scene = np.asarray(scene)
    click = np.asarray(click).astype(bool)
    conversion = np.asarray(conversion).astype(bool)
    user = np.asarray(user)
    labels = task_labels(click, conversion)
    truth: dict[str, np.ndarray] = {}
    if oracle is not None:
        p_click, p_cvr = np.asarray(oracle["ctr"]), np.asarray(oracle["cvr"])
        truth = {"ctr": p_click, "cvr": p_cvr, "ctcvr": p_click * p_cvr}
    out = []
    for name in np.unique(scene):
        for task in (t for t in METRIC_TASKS if t in predicted):
            m = task_rows(scene, click, name, task)
            y, p = labels[task][m], np.asarray(predicted[task])[m]
            out.append(
                Metrics(
                    scene=str(name),
                    task=task,
                    rows=int(m.sum()),
                    positives=int(y.sum()),
                    auc=auc(y, p),
                    oracle_auc=auc(y, truth[task][m]) if truth else None,
                    gauc=gauc(y, p, user[m]),
                    logloss=logloss(y, p),
                    mae=mae(y, p),
                    calibration=calibration(y, p),
                    ece=ece(y, p),
                )
            )
    return out
