"""DeLong's paired AUC test: against its definition, and against a simulation of its null;
both models' calibration on the same rows."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components.config import Focus
from components.evaluation.evaluate import Scored
from components.evaluation.metrics import calibration, ece, reliability
from components.evaluation.paired import delong, focus_calibration


def reference(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(difference, variance) straight from DeLong's definition: O(m n) kernel placements."""
    y = y.astype(bool)
    out = []
    for s in (a, b):
        psi = (s[y][:, None] > s[~y][None, :]) + 0.5 * (s[y][:, None] == s[~y][None, :])
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))  # AUC, V10, V01
    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = out
    m, n = int(y.sum()), int((~y).sum())
    var = np.var(v10_a - v10_b, ddof=1) / m + np.var(v01_a - v01_b, ddof=1) / n
    return auc_a - auc_b, var


def two_models(rng, n: int, noise_a: float, noise_b: float):
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal - 2)))).astype(int)
    tie = lambda s: np.round(s, 1)  # noqa: E731  ties, as real scores have
    return y, tie(signal + noise_a * rng.normal(size=n)), tie(signal + noise_b * rng.normal(size=n))


def test_delong_matches_its_definition_and_sklearn():
    y, a, b = two_models(np.random.default_rng(0), 600, 0.8, 1.2)
    result = delong(y, a, b)
    diff, var = reference(y, a, b)
    assert result.diff == pytest.approx(diff, abs=1e-12)
    assert result.se == pytest.approx(np.sqrt(var), rel=1e-9)
    assert result.a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result.lo < result.diff < result.upper < result.hi and result.diff > 0  # a is better
    assert (result.upper < 0) == (result.p_worse < 0.05)  # one bound, one p-value: one verdict
    assert result.p_worse > 0.5


def test_under_its_null_the_test_rejects_at_its_level():
    """Two equally good models: 'a is worse' at 95 % confidence about 5 % of the time, and
    z = diff / se is about standard normal."""
    rng = np.random.default_rng(1)
    runs = [delong(*two_models(rng, 3000, 1.0, 1.0)) for _ in range(400)]
    rejected = np.mean([r.p_worse < 0.05 for r in runs])
    assert 0.02 <= rejected <= 0.085  # binomial(400, 0.05): 0.05 +- 3.5 sd
    z = np.array([r.diff / r.se for r in runs])
    assert abs(z.mean()) < 0.2 and 0.85 < z.std() < 1.15


def test_a_worse_model_is_found_worse():
    y, a, b = two_models(np.random.default_rng(2), 5000, 1.5, 0.7)
    result = delong(y, a, b)
    assert result.diff < 0 and result.hi < 0 and result.p_worse < 1e-3


def test_no_answer_without_both_classes_and_identical_models_are_not_worse():
    assert delong(np.zeros(10), np.arange(10), np.arange(10)) is None
    y, a, _ = two_models(np.random.default_rng(3), 500, 1.0, 1.0)
    same = delong(y, a, a)
    assert same.diff == 0 and same.se == 0 and same.p_worse == 1.0


def scored_rows(rows, scene, click, conversion, ctr, cvr) -> Scored:
    probs = {"ctr": ctr, "cvr": cvr, "ctcvr": ctr * cvr}
    return Scored(np.asarray(rows), np.asarray(scene), click, conversion, probs, [])


def test_both_models_calibration_is_measured_on_the_rows_both_scored():
    """The champion has no video component: it scored only the feed rows; the candidate all.
    Each focus's numbers are those of metrics.calibration/ece/reliability on the shared rows."""
    rng = np.random.default_rng(4)
    n = 3000
    scene = np.where(np.arange(n) % 3 == 0, "video", "feed")
    click = rng.random(n) < 0.1
    conversion = click & (rng.random(n) < 0.3)
    cand = scored_rows(np.arange(n), scene, click, conversion, rng.random(n) * 0.2, rng.random(n))
    feed = np.flatnonzero(scene == "feed")
    champ = scored_rows(feed, scene[feed], click[feed], conversion[feed],
                        rng.random(len(feed)) * 0.4, rng.random(len(feed)))  # fmt: skip
    focus = [Focus(scene=s, task=t, auc_floor=0.5, min_rows=1, max_auc_drop=0.1)
             for s, t in (("feed", "ctr"), ("feed", "cvr"), ("video", "ctr"))]  # fmt: skip
    got = {c.focus: c for c in focus_calibration(tuple(focus), cand, champ, bins=5)}
    assert set(got) == {"feed/ctr", "feed/cvr"}  # no shared video row: nothing to compare
    ctr = got["feed/ctr"]
    y = click[feed]
    assert ctr.rows == len(feed) and ctr.positives == int(y.sum())
    assert ctr.candidate.ratio == pytest.approx(calibration(y, cand.probs["ctr"][feed]))
    assert ctr.champion.ratio == pytest.approx(calibration(y, champ.probs["ctr"]))
    assert ctr.champion.ece == pytest.approx(ece(y, champ.probs["ctr"], 5))
    assert ctr.champion.curve == reliability(y, champ.probs["ctr"], 5)
    assert ctr.champion.ratio > 1.5 * ctr.candidate.ratio  # it predicts twice as much
    clicked = feed[click[feed]]  # CVR is measured on clicked rows only
    assert got["feed/cvr"].rows == len(clicked)
    alone = {c.focus: c for c in focus_calibration(tuple(focus), cand, None, bins=5)}
    assert set(alone) == {"feed/ctr", "feed/cvr", "video/ctr"}
    assert alone["video/ctr"].champion is None and alone["video/ctr"].rows == n // 3
