import datetime as dt
import math

import numpy as np
import pytest
from scipy.stats import norm

from components.config import load
from components.evaluation.evaluate import Scored
from components.evaluation.metrics import Metrics, scene_task_metrics
from components.evaluation.paired import PairedAUC, focus_tests
from components.evaluation.promotion import decide, serving_health
from tests.helpers import REPO

GATE = load(REPO / "params.yaml").gate


def metrics(auc: float = 0.70, rows: int = 50000, calibration: float = 1.0, drop=()) -> list:
    """Metrics for every focus of the shipped gate; scenes in `drop` are missing."""
    return [
        Metrics(f.scene, f.task, rows, rows // 20, auc, 0.85, auc, 0.2, 0.01, calibration)
        for f in GATE.focus
        if f.scene not in drop
    ]


def failed(decision) -> set[tuple[str, str]]:
    return {(c.focus, c.name) for c in decision.checks if not c.passed}


def test_a_good_candidate_passes_every_check():
    decision = decide(GATE, metrics(0.70), metrics(0.69))
    assert decision.passed and decision.reasons == [] and not decision.first_model
    names = {c.name for c in decision.checks}
    assert names == {"rows", "nan", "floor", "regression", "calibration"}
    assert len(decision.checks) == 5 * len(GATE.focus)


def test_a_regression_beyond_the_tolerance_is_rejected_with_its_reason():
    tolerance = GATE.focus[0].max_auc_drop
    champion = metrics(0.70)
    within = decide(GATE, metrics(0.70 - tolerance * 0.9), champion)
    assert within.passed
    beyond = decide(GATE, metrics(0.70 - tolerance * 1.5), champion)
    assert not beyond.passed
    f = GATE.focus[0]
    assert (f"{f.scene}/{f.task}", "regression") in failed(beyond)
    assert any("vs champion 0.7000" in r for r in beyond.reasons)


@pytest.mark.parametrize(
    ("candidate", "check"),
    [
        (metrics(auc=0.50), "floor"),
        (metrics(rows=10), "rows"),
        (metrics(calibration=5.0), "calibration"),
        (metrics(calibration=math.nan), "nan"),
        (metrics(auc=math.nan), "nan"),
    ],
)
def test_each_failure_names_its_check(candidate, check):
    decision = decide(GATE, candidate, metrics())
    assert not decision.passed
    assert {name for _, name in failed(decision)} >= {check}
    assert all("\n" not in r for r in decision.reasons)


def test_a_focus_without_rows_fails():
    decision = decide(GATE, metrics(drop=("search",)), metrics())
    assert not decision.passed and ("search/ctr", "rows") in failed(decision)
    search = {f"{f.scene}/{f.task}" for f in GATE.focus if f.scene == "search"}
    assert {focus for focus, _ in failed(decision)} == search  # only the missing scene's


def test_the_first_model_is_judged_on_floors_only():
    off_calibration = decide(GATE, metrics(calibration=3.0), None)
    assert off_calibration.passed and off_calibration.first_model
    assert {c.name for c in off_calibration.checks} == {"rows", "nan", "floor"}
    assert not decide(GATE, metrics(auc=0.5), None).passed


def test_a_champion_without_auc_on_a_focus_cannot_block():
    decision = decide(GATE, metrics(0.70), metrics(math.nan))
    assert decision.passed


def scored(y_click, y_conv, probs: dict, scene: str = "feed") -> Scored:
    """Scores of one scene's rows, as evaluation.evaluate.score_day returns them."""
    n = len(y_click)
    return Scored(np.arange(n), np.array([scene] * n), y_click, y_conv, probs, [])


def paired_day(rng, n: int, noise_candidate: float, noise_champion: float, shuffle=False):
    """A day's rows scored by two models of the same signal; feed only."""
    signal = rng.normal(size=n)
    click = rng.random(n) < 1 / (1 + np.exp(-(signal - 2.5)))
    conv = click & (rng.random(n) < 0.2)
    model = lambda noise: 1 / (1 + np.exp(-(signal + noise * rng.normal(size=n) - 2.5)))  # noqa: E731
    cand = {"ctr": model(noise_candidate), "cvr": model(noise_candidate)}
    if shuffle:  # a candidate trained on shuffled labels: scores unrelated to the rows
        cand = {t: rng.permutation(p) for t, p in cand.items()}
    champ = {"ctr": model(noise_champion), "cvr": model(noise_champion)}
    return scored(click, conv, cand), scored(click, conv, champ)


FEED_GATE = GATE.model_copy(
    update={"focus": tuple(f for f in GATE.focus if f.scene == "feed" and f.task == "ctr")}
)


def judge(candidate: Scored, champion: Scored):
    tests = focus_tests(FEED_GATE.focus, candidate, champion, FEED_GATE.confidence)
    ours = scene_task_metrics(candidate.scene, candidate.click, candidate.conversion,
                              candidate.rows, candidate.probs)  # fmt: skip
    theirs = scene_task_metrics(champion.scene, champion.click, champion.conversion,
                                champion.rows, champion.probs)  # fmt: skip
    return decide(FEED_GATE, ours, theirs, tests), tests["feed/ctr"]


def test_the_paired_test_rejects_a_significantly_worse_candidate_and_says_so():
    rng = np.random.default_rng(0)
    decision, test = judge(*paired_day(rng, 40000, 1.6, 0.8))
    assert not decision.passed and test.hi < 0
    assert any("DeLong" in r and "p(worse)" in r for r in decision.reasons)
    shuffled, _ = judge(*paired_day(rng, 40000, 0.8, 0.8, shuffle=True))
    assert not shuffled.passed


def test_the_hard_cap_rejects_a_large_drop_the_test_cannot_resolve():
    rng = np.random.default_rng(1)
    cand, champ = paired_day(rng, 40000, 1.0, 1.0)
    capped = FEED_GATE.model_copy(
        update={"focus": (FEED_GATE.focus[0].model_copy(update={"max_auc_drop": 0.0}),)}
    )
    tests = focus_tests(capped.focus, cand, champ, 0.95)
    drop = tests["feed/ctr"].diff < 0
    ours = scene_task_metrics(cand.scene, cand.click, cand.conversion, cand.rows, cand.probs)
    theirs = scene_task_metrics(champ.scene, champ.click, champ.conversion, champ.rows, champ.probs)
    assert decide(capped, ours, theirs, tests).passed == (not drop)


def test_equal_models_are_rejected_no_more_often_than_the_confidence_allows():
    """60 days where the candidate is the champion up to noise: the regression check fails
    on about 5 % of them at 95 % confidence (binomial: at most 9 of 60 is p > 0.99)."""
    rng = np.random.default_rng(2)
    runs = [judge(*paired_day(rng, 20000, 1.0, 1.0)) for _ in range(60)]
    rejected = sum(not decision.passed for decision, _ in runs)
    assert rejected <= 9
    z = np.array([t.diff / t.se for _, t in runs])
    assert abs(z.mean()) < 0.4


def paired(p_worse: float, diff: float = -0.06) -> PairedAUC:
    """DeLong's answer: candidate 0.64 vs champion 0.70 (beyond every focus's hard cap)."""
    se = -diff / float(norm.ppf(1 - p_worse)) if p_worse < 0.5 else 1.0
    upper = diff + 1.645 * se
    return PairedAUC("DeLong", 0.70 + diff, 0.70, diff, se, diff - 1.96 * se, diff + 1.96 * se,
                     upper, p_worse, 0.95)  # fmt: skip


@pytest.mark.parametrize(
    ("champion_ratio", "candidate_ratio", "p_worse", "passes"),
    [
        (2.6, 1.0, 0.20, True),  # champion mispricing, drop not significant: cap waived
        (2.6, 1.0, 0.01, False),  # significant: rejected whatever the calibration
        (1.0, 1.0, 0.20, False),  # champion in band: the hard cap holds
        (2.6, 2.4, 0.20, False),  # both out of band: nothing to gain
        (0.3, 0.9, 0.20, True),  # under-predicting champion: the same
    ],
)
def test_a_miscalibrated_champion_waives_the_hard_cap_only_for_a_non_significant_drop(
    champion_ratio, candidate_ratio, p_worse, passes
):
    ours, theirs = (
        metrics(0.66, calibration=candidate_ratio),
        metrics(0.70, calibration=champion_ratio),
    )
    tests = {f"{f.scene}/{f.task}": paired(p_worse) for f in GATE.focus}
    decision = decide(GATE, ours, theirs, tests)
    regression = [c for c in decision.checks if c.name == "regression"]
    assert all(c.passed == passes for c in regression)
    # a waiver is never silent: the check's detail says why the cap did not apply
    assert all(("waived" in c.detail) == passes for c in regression)


def test_serving_health_counts_the_days_unreplaced_and_flags_the_champions_calibration():
    day = dt.date(2026, 1, 15)
    fresh = serving_health(GATE, day, 5, dt.date(2026, 1, 14), metrics())  # promoted today
    assert fresh.age_days == 0 and not fresh.stale and fresh.alerts == []
    two = serving_health(GATE, day, 4, dt.date(2026, 1, 12), metrics())
    assert two.age_days == 2 and not two.stale
    old = serving_health(GATE, day, 3, dt.date(2026, 1, 11), metrics(calibration=2.21))
    assert old.age_days == GATE.max_champion_age_days == 3 and old.stale
    assert old.alerts[0].startswith("stale champion: v3 has served 3 days")
    assert len(old.miscalibrated) == len(GATE.focus) and "2.210 outside [0.5, 2.0]" in old.alerts[1]
    none = serving_health(GATE, day, None, None, None)  # no champion yet
    assert none.age_days is None and not none.stale and none.alerts == []
    record = none.to_record()
    assert record["stale"] is False and record["alerts"] == []
