import datetime as dt
import json

import pytest

from components import runs
from components.runs import DayRecord, RunLockedError

DAY = dt.date(2026, 1, 6)


def record(day: dt.date, outcome: str = "promoted") -> DayRecord:
    return DayRecord(day.isoformat(), outcome, 100, {"passed": True, "reasons": [], "seconds": 0.1})


def test_records_round_trip_and_list_oldest_first(cfg):
    for d in (DAY, DAY - dt.timedelta(days=1)):
        runs.save_record(cfg, record(d))
    loaded = runs.load_record(cfg, DAY)
    assert loaded.outcome == "promoted" and loaded.finished
    assert [r.day for r in runs.records(cfg)] == ["2026-01-05", "2026-01-06"]
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
    assert runs.load_record(cfg, DAY).day == DAY.isoformat()


def test_records_are_valid_json_even_with_nan_metrics(cfg):
    rec = record(DAY)
    rec.candidate = [{"scene": "mall", "task": "cvr", "auc": float("nan")}]
    runs.save_record(cfg, rec)
    text = runs.record_path(cfg, DAY).read_text()
    assert "NaN" not in text and json.loads(text)["candidate"][0]["auc"] is None


def test_a_superseded_record_leaves_the_day_unfinished(cfg):
    runs.save_record(cfg, record(DAY))
    runs.supersede(cfg, DAY)
    assert runs.load_record(cfg, DAY) is None
    assert runs.record_path(cfg, DAY).with_suffix(".json.superseded").exists()
