"""DeLong's paired AUC test: against its definition, and against a simulation of its null."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components.evaluation.paired import delong


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
