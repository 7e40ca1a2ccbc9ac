import math

import pytest

from components.config import load
from components.evaluation.metrics import Metrics
from components.evaluation.promotion import decide
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
