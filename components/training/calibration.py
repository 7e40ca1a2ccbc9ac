"""The calibration stage: after training, fit each (scene, task)'s map on held-out rows.

The rows: a share (`train.calibration_holdout`) of the newest day of the window, drawn
with the day's seed and kept out of training (`split_holdout`): the newest day is the
closest to the days the model will score, and rows the model never saw show its real
bias. CTR maps are fitted on every held-out row of the scene (label: click), CVR maps on
its clicked rows (label: conversion; pCVR is a probability given a click). A (scene, task)
with fewer than `train.calibration_min_positives` positives or negatives there keeps the
map it had (yesterday's, warm-started; the identity on a cold start).

Methods (components.models.calibration): `platt` fits p = sigmoid(a z + b) by Newton's
method on the log loss; `isotonic` fits the monotone step function of least squares (PAV,
scipy) and averages it over KNOTS bins of the rows, the map interpolating between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import isotonic_regression
from scipy.special import expit

from components.evaluation.evaluate import logits
from components.evaluation.metrics import calibration, equal_bins, task_labels, task_rows
from components.features.batch import Batch
from components.models.base import TASKS, RankingModel
from components.models.calibration import KNOTS, MIN_SLOPE


@dataclass(frozen=True)
class MapFit:
    """One (scene, task)'s calibration, measured on the held-out rows it was fitted on."""

    scene: str
    task: str
    method: str
    rows: int
    positives: int
    fitted: bool  # False: too few positives or negatives; the map it had is kept
    ratio_before: float  # sum(p) / sum(y) uncalibrated
    ratio_after: float  # with the map in place


def split_holdout(newest: Batch, share: float, generator: torch.Generator) -> tuple[Batch, Batch]:
    """(rows to train on, held-out rows): a random `share` of `newest` held out."""
    perm = torch.randperm(len(newest), generator=generator)
    cut = round(len(newest) * share)
    return newest.take(perm[cut:].sort().values), newest.take(perm[:cut].sort().values)


def bins(z: np.ndarray) -> list[np.ndarray]:
    """Row indices of up to KNOTS bins of about equal size, by increasing z."""
    return equal_bins(z, KNOTS)


def knots_at(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KNOTS strictly increasing xs: ties merged (mean y), padded past the last knot along
    the last segment (MIN_SLOPE when there is a single knot)."""
    # rounded: knots closer than 1e-4 would coincide once stored as float32
    xs, where = np.unique(np.round(xs, 4), return_inverse=True)
    ys = np.bincount(where, weights=ys) / np.bincount(where)
    slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) if len(xs) > 1 else MIN_SLOPE
    pad = xs[-1] + np.arange(1, KNOTS - len(xs) + 1)
    return np.concatenate([xs, pad]), np.concatenate([ys, ys[-1] + slope * (pad - xs[-1])])


def platt(z: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """(a, b) of p = sigmoid(a z + b) minimising the log loss (Newton, tiny ridge)."""
    x = np.stack([z, np.ones_like(z)], axis=1)
    w = np.array([1.0, 0.0])
    for _ in range(steps):
        p = expit(x @ w)
        grad = x.T @ (p - y) + 1e-6 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)
        move = np.linalg.solve(hess, grad)
        w -= move
        if np.abs(move).max() < 1e-9:
            break
    return float(w[0]), float(w[1])


def isotonic(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The isotonic (PAV) fit of y on z, one value per row (ties in z pooled first)."""
    values, inverse = np.unique(z, return_inverse=True)
    counts = np.bincount(inverse).astype(float)
    fitted = isotonic_regression(np.bincount(inverse, weights=y) / counts, weights=counts).x
    return fitted[inverse]


def monotone(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """ys raised where needed so every segment's slope is at least MIN_SLOPE."""
    rise = np.maximum(np.diff(ys), MIN_SLOPE * np.diff(xs))
    return np.concatenate([ys[:1], ys[0] + np.cumsum(rise)])


def fit_map(z: np.ndarray, y: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The knots (xs, ys) of one (scene, task)'s map: one per bin of the rows by z, at the
    bin's mean logit. isotonic: the logit of the bin's mean fitted probability (a bin of
    ~N/KNOTS rows, so one extreme row does not set an end of the map), clipped to half a
    row's worth of probability from 0 and 1."""
    parts = bins(z)
    xs = np.array([z[b].mean() for b in parts])
    if method == "platt":
        a, b = platt(z, y)
        ys = max(a, MIN_SLOPE) * xs + b  # a <= 0 (a model worse than chance): kept monotone
    else:
        fitted = isotonic(z, y)
        p = np.array([np.clip(fitted[b].mean(), 0.5 / len(b), 1 - 0.5 / len(b)) for b in parts])
        ys = np.log(p) - np.log1p(-p)
    xs, ys = knots_at(xs, ys)
    return xs, monotone(xs, ys)


def calibrate(
    model: RankingModel, holdout: Batch, scenes: tuple[str, ...], method: str, min_positives: int
) -> list[MapFit]:
    """Fit every (scene, task)'s map of `model` on `holdout`; what was fitted, measured."""
    raw = {t: v.double().numpy() for t, v in logits(model, holdout, calibrated=False).items()}
    scene = holdout.scene.numpy()
    click, conversion = holdout.click.numpy() > 0, holdout.conversion.numpy() > 0
    labels = task_labels(click, conversion)
    fits = []
    for s, name in enumerate(scenes):
        for task in TASKS:
            rows = task_rows(scene, click, s, task)
            y, z = labels[task][rows].astype(float), raw[task][rows]
            positives = int(y.sum())
            enough = min(positives, len(y) - positives) >= min_positives
            if enough:
                xs, ys = fit_map(z, y, method)
                model.calibration.set(s, task, torch.from_numpy(xs), torch.from_numpy(ys))
            with torch.no_grad():
                after = model.calibration.apply(torch.from_numpy(z).float(), s, task).double()
            before, mapped = calibration(y, expit(z)), calibration(y, expit(after.numpy()))
            fits.append(MapFit(name, task, method, len(y), positives, enough, before, mapped))
    return fits
