import datetime as dt
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from components import codec, runs
from components.evaluation.metrics import Metrics
from components.evaluation.promotion import Decision, GateCheck
from components.records import DayRecord, Trained
from components.runs import RunLockedError
from components.validation.quarantine import ValidationReport
from components.validation.suite import ExpectationResult as Expectation

DAY = dt.date(2026, 1, 6)
NAN = float("nan")


def record(day: dt.date, outcome: str = "promoted") -> DayRecord:
    report = ValidationReport(day, "simulator", True, 100, [], 0.1)
    return DayRecord(day, outcome, 100, report)


def full_record() -> DayRecord:
    """Every typed part set, NaN and None included."""
    failed = Expectation("expect_column_values_to_not_be_null", "price is set", False, "3 nulls")
    report = ValidationReport(DAY, "simulator", True, 100, [failed], 0.1, "/q/day=2026-01-06")
    metrics = [Metrics("feed", "ctr", 90, 9, 0.71, None, 0.6, 0.2, 0.1, 1.02, 0.004),
               Metrics("mall", "cvr", 3, 0, NAN, NAN, NAN, 0.1, 0.0, NAN)]  # fmt: skip
    checks = (GateCheck("feed/ctr", "floor", True, "AUC 0.71, floor 0.6"),
              GateCheck("feed/ctr", "regression", False, "AUC 0.71 vs champion 0.73"))  # fmt: skip
    trained = Trained(DAY - dt.timedelta(days=1), [DAY - dt.timedelta(days=1)], 50, "cold start",
                      Path("models/mtms/day=2026-01-05.pt"), "abc", None, [{"stage": "x"}],
                      True, 0.5)  # fmt: skip
    return DayRecord(
        DAY,
        "rejected",
        100,
        report,
        trained,
        metrics,
        [],
        Decision(False, checks, False),
        version=4,
        champion_before=3,
        champion=3,
        run_id="r1",
        timings={"train": 1.5},
    )


def test_records_round_trip_and_list_oldest_first(cfg):
    for d in (DAY, DAY - dt.timedelta(days=1)):
        runs.save_record(cfg, record(d))
    loaded = runs.load_record(cfg, DAY)
    assert loaded.outcome == "promoted" and loaded.finished
    assert [r.day for r in runs.records(cfg)] == [DAY - dt.timedelta(days=1), DAY]
    assert runs.load_record(cfg, DAY + dt.timedelta(days=1)) is None
    assert not list(cfg.path("runs").glob("*.tmp*"))  # written via a temp name


def test_an_unknown_outcome_is_refused_and_nothing_is_written(cfg):
    with pytest.raises(ValueError, match="unknown outcome"):
        runs.save_record(cfg, record(DAY, "maybe"))
    assert runs.load_record(cfg, DAY) is None


def test_next_day_is_the_oldest_partition_after_the_last_finished_day(cfg):
    from components.data.simulator import simulate

    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 3)
    assert runs.next_day(cfg) == cfg.simulator.start
    runs.save_record(cfg, record(cfg.simulator.start + dt.timedelta(days=1)))
    assert runs.next_day(cfg) == cfg.simulator.start + dt.timedelta(days=2)
    runs.save_record(cfg, record(cfg.simulator.start + dt.timedelta(days=2)))
    assert runs.next_day(cfg) is None


def test_the_lock_admits_one_run_and_names_the_holder(cfg):
    with runs.lock(cfg, f"day {DAY}"):
        with pytest.raises(RunLockedError, match=f"pid \\d+, day {DAY}"):
            with runs.lock(cfg, "rollback"):
                pass
    with runs.lock(cfg, "rollback"):  # released on exit
        pass


def test_a_record_from_a_newer_version_with_extra_keys_still_loads(cfg):
    runs.save_record(cfg, record(DAY))
    path = runs.record_path(cfg, DAY)
    path.write_text(json.dumps({**json.loads(path.read_text()), "new_key": 1}))
    assert runs.load_record(cfg, DAY).day == DAY


def test_a_record_comes_back_as_the_typed_value_it_was(cfg):
    rec = full_record()
    runs.save_record(cfg, rec)
    loaded = runs.load_record(cfg, DAY)
    assert loaded.finished  # NaN != NaN: the metrics are compared apart
    assert replace(loaded, candidate=[]) == replace(rec, finished=loaded.finished, candidate=[])
    assert loaded.candidate[0] == rec.candidate[0] and math.isnan(loaded.candidate[1].auc)
    assert loaded.champion_metrics == [] and loaded.trained.through == DAY - dt.timedelta(days=1)
    assert loaded.decision.failed == [rec.decision.checks[1]]
    assert loaded.validation.reasons == rec.validation.reasons != []
    assert isinstance(loaded.trained.bundle, Path) and loaded.drift is None


def test_records_are_valid_json_even_with_nan_metrics(cfg):
    runs.save_record(cfg, full_record())
    text = runs.record_path(cfg, DAY).read_text()
    body = json.loads(text)
    assert "NaN" not in text and body["candidate"][1]["auc"] is None
    assert body["decision"]["reasons"] == ["feed/ctr: AUC 0.71 vs champion 0.73"]  # for readers


def test_no_champion_and_an_unscoring_champion_stay_apart():
    none, empty = record(DAY), replace(record(DAY), champion_metrics=[])
    assert codec.loads(DayRecord, codec.dumps(none)).champion_metrics is None
    assert codec.loads(DayRecord, codec.dumps(empty)).champion_metrics == []


def test_a_superseded_record_leaves_the_day_unfinished(cfg):
    runs.save_record(cfg, record(DAY))
    runs.supersede(cfg, DAY)
    assert runs.load_record(cfg, DAY) is None
    assert runs.record_path(cfg, DAY).with_suffix(".json.superseded").exists()


@pytest.mark.faults
def test_deleting_the_lock_file_mid_run_does_not_admit_a_second_run(cfg):
    """Issue 11 #12: the lock is on the runs folder; .lock only names the holder."""
    with runs.lock(cfg, f"day {DAY}"):
        (cfg.path("runs") / runs.LOCK_FILE).unlink()
        with pytest.raises(RunLockedError):
            with runs.lock(cfg, "day again"):
                pass
    with runs.lock(cfg, "rollback"):  # released on exit
        pass
