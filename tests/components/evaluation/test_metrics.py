import json
import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from components.evaluation.metrics import (
    Metrics,
    auc,
    calibration,
    ece,
    gauc,
    logloss,
    mae,
    reliability,
    scene_task_metrics,
)

KEYS = [
    "scene",
    "task",
    "rows",
    "positives",
    "auc",
    "oracle_auc",
    "gauc",
    "logloss",
    "mae",
    "calibration",
    "ece",
]


def _gauc_reference(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Per-group loop: the obvious definition gauc must match."""
    total, weight = 0.0, 0
    for g in np.unique(groups):
        m = groups == g
        if labels[m].min() == labels[m].max():
            continue
        total += m.sum() * roc_auc_score(labels[m], scores[m])
        weight += m.sum()
    return total / weight


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + 0.3 * y, 1)  # few distinct values: many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize(
    "labels, scores, expected",
    [
        ([0, 1], [0.2, 0.8], 1.0),
        ([0, 1], [0.8, 0.2], 0.0),
        ([0, 1], [0.5, 0.5], 0.5),
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),
        ([1, 0, 1, 0, 1], [0.9, 0.9, 0.1, 0.3, 0.5], 2.5 / 6),  # one tied pair counts 0.5
    ],
)
def test_auc_hand_cases(labels, scores, expected):
    assert auc(labels, scores) == pytest.approx(expected)
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_perfect_predictor_scores_one_and_reversed_zero():
    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.4
    groups = rng.integers(0, 10, 200)
    perfect = y + 0.1 * rng.random(200)
    assert auc(y, perfect) == 1.0 and auc(y, -perfect) == 0.0
    assert gauc(y, perfect, groups) == 1.0 and gauc(y, -perfect, groups) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gauc_matches_a_per_group_loop(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    groups = rng.integers(0, 80, n)  # some groups small and single-class
    y = rng.random(n) < rng.random(80)[groups]
    s = np.round(rng.random(n) + 0.4 * y, 1)
    assert gauc(y, s, groups) == pytest.approx(_gauc_reference(y, s, groups), abs=1e-12)


def test_gauc_accepts_string_groups_in_any_order():
    groups = np.array(["u2", "u1", "u2", "u1", "u3"])
    y = np.array([1, 0, 0, 1, 1])
    s = np.array([0.9, 0.7, 0.2, 0.3, 0.5])
    # u1 AUC 0 (2 rows), u2 AUC 1 (2 rows), u3 single-class and skipped
    assert gauc(y, s, groups) == pytest.approx(0.5)


def test_logloss_matches_sklearn():
    rng = np.random.default_rng(4)
    y = rng.random(300) < 0.2
    p = rng.uniform(0.01, 0.99, 300)
    assert logloss(y, p) == pytest.approx(log_loss(y, p), rel=1e-12)


def test_logloss_clips_certain_wrong_predictions():
    assert logloss([1, 0], [0.0, 1.0]) == pytest.approx(-math.log(1e-7))


def test_mae_and_calibration_hand_values():
    y = np.array([1, 0, 0, 1])
    p = np.array([0.5, 0.25, 0.0, 1.0])
    assert mae(y, p) == pytest.approx((0.5 + 0.25 + 0 + 0) / 4)
    assert calibration(y, p) == pytest.approx(1.75 / 2)


def test_ece_and_the_reliability_curve_hand_values():
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    # 3 bins of 2 rows by p: |0.15 - 0|, |0.45 - 0.5|, |0.8 - 1|
    assert ece(y, p, bins=3) == pytest.approx((0.15 + 0.05 + 0.2) / 3)
    curve = reliability(y, p, bins=3)
    assert [c["rows"] for c in curve] == [2, 2, 2]
    assert [c["observed"] for c in curve] == [0.0, 0.5, 1.0]
    assert [c["predicted"] for c in curve] == pytest.approx([0.15, 0.45, 0.8])
    assert ece(y, y.astype(float)) == 0.0
    assert math.isnan(ece([], [])) and reliability([], []) == []


def test_nan_when_undefined():
    one_class = np.zeros(5)
    scores = np.linspace(0, 1, 5)
    assert math.isnan(auc(one_class, scores))
    assert math.isnan(gauc(one_class, scores, np.arange(5)))
    assert math.isnan(gauc([0, 1], [0.1, 0.9], [0, 1]))  # each group single-class
    assert math.isnan(calibration(one_class, scores))
    empty = np.array([])
    for metric in (auc, logloss, mae, calibration):
        assert math.isnan(metric(empty, empty))
    assert math.isnan(gauc(empty, empty, empty))


def test_all_metrics_return_python_floats():
    y, p = np.array([0, 1, 1]), np.array([0.2, 0.6, 0.9])
    for value in (auc(y, p), gauc(y, p, [0, 0, 0]), logloss(y, p), mae(y, p), calibration(y, p)):
        assert type(value) is float


def _frame() -> dict[str, np.ndarray]:
    # scene "b" listed first to check the output is sorted by scene name
    return {
        "scene": np.array(["b"] * 4 + ["a"] * 6),
        "click": np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0]),
        "conversion": np.array([1, 0, 1, 0, 1, 0, 0, 1, 0, 1]),
        "user": np.array([1, 1, 2, 2, 3, 3, 3, 4, 4, 4]),
    }


def test_cvr_is_scored_on_clicked_rows_only():
    f = _frame()
    # perfect on clicked rows; unclicked rows (conversion=1 there) get the lowest scores,
    # which would pull AUC below 1 if they were counted
    cvr = np.array([0.9, 0.2, 0.0, 0.5, 0.8, 0.3, 0.1, 0.0, 0.6, 0.0])
    out = scene_task_metrics(**f, predicted={"cvr": cvr})
    assert [(m.scene, m.task) for m in out] == [("a", "cvr"), ("b", "cvr")]
    a, b = out
    assert (a.rows, a.positives, a.auc) == (3, 1, 1.0)
    assert (b.rows, b.positives, b.auc) == (2, 1, 1.0)
    assert auc(f["conversion"][:4], cvr[:4]) < 1.0
    assert a.oracle_auc is None


def test_ctcvr_label_is_click_times_conversion():
    f = _frame()
    p = np.linspace(0.1, 0.9, 10)
    out = scene_task_metrics(**f, predicted={"ctcvr": p, "ctr": p})
    by_key = {(m.scene, m.task): m for m in out}
    order = [("a", "ctr"), ("a", "ctcvr"), ("b", "ctr"), ("b", "ctcvr")]
    assert [(m.scene, m.task) for m in out] == order
    y = f["click"] * f["conversion"]
    a = f["scene"] == "a"
    assert by_key["a", "ctcvr"].positives == 1 and by_key["a", "ctcvr"].rows == 6
    assert by_key["a", "ctcvr"].auc == pytest.approx(roc_auc_score(y[a], p[a]))
    assert by_key["a", "ctcvr"].logloss == pytest.approx(log_loss(y[a], p[a]))
    assert by_key["a", "ctr"].positives == 3


def test_oracle_auc_uses_the_true_probabilities():
    f = _frame()
    p = np.full(10, 0.5)
    p_click = np.where(f["click"] == 1, 0.9, 0.1)  # ranks clicks perfectly
    p_cvr = np.linspace(0.9, 0.1, 10)
    predicted = {t: p for t in ("ctr", "cvr", "ctcvr")}
    out = scene_task_metrics(**f, predicted=predicted, oracle={"ctr": p_click, "cvr": p_cvr})
    by_key = {(m.scene, m.task): m for m in out}
    assert by_key["a", "ctr"].oracle_auc == 1.0 and by_key["a", "ctr"].auc == 0.5
    a_clicked = (f["scene"] == "a") & (f["click"] == 1)
    assert by_key["a", "cvr"].oracle_auc == pytest.approx(
        roc_auc_score(f["conversion"][a_clicked], p_cvr[a_clicked])
    )
    a = f["scene"] == "a"
    y = f["click"][a] * f["conversion"][a]
    assert by_key["a", "ctcvr"].oracle_auc == pytest.approx(roc_auc_score(y, (p_click * p_cvr)[a]))


def test_records_are_json_with_the_documented_keys():
    f = _frame()
    f["conversion"][0] = 0  # scene b: no conversions at all, so its cvr/ctcvr AUCs are NaN
    predicted = {t: np.linspace(0.1, 0.9, 10) for t in ("ctr", "cvr", "ctcvr")}
    out = scene_task_metrics(**f, predicted=predicted)
    assert all(isinstance(m, Metrics) for m in out) and len(out) == 6
    records = [m.to_record() for m in out]
    assert all(list(r) == KEYS for r in records)
    b_cvr = records[4]
    assert (b_cvr["scene"], b_cvr["task"], b_cvr["auc"], b_cvr["gauc"]) == ("b", "cvr", None, None)
    text = json.dumps(records, allow_nan=False)  # NaN would make it raise
    assert json.loads(text) == records


def test_to_record_turns_nan_into_none():
    m = Metrics("a", "cvr", 2, 0, math.nan, None, math.nan, 0.1, 0.1, math.nan)
    r = m.to_record()
    assert r["auc"] is None and r["gauc"] is None and r["calibration"] is None
    assert r["oracle_auc"] is None and r["logloss"] == 0.1
    json.dumps(r, allow_nan=False)
