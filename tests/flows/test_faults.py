"""Issue 11: validated days that a later step cannot handle never jam the schedule.

Each case is reproduced on the real flow (Prefect harness, MLflow in the workspace).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from cli.main import main
from components import doctor, runs
from components.config import load
from components.evaluation.evaluate import EvaluationError
from tests.helpers import daily_workspace, rewrite_day

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.usefixtures("prefect_api")]


def day(i: int) -> dt.date:
    return dt.date(2026, 1, 5) + dt.timedelta(days=i)


def run(params, i: int, **kwargs):
    from flows.daily import daily

    return daily(day=day(i).isoformat(), params=str(params), **kwargs)


def _rename_scenes(table: pa.Table) -> pa.Table:
    """Every scene as the logs of another team write it: FEED, SEARCH, ... (all unknown)."""
    upper = pa.array([s.upper() for s in table["scene"].to_pylist()], table["scene"].type)
    return table.set_column(table.schema.get_field_index("scene"), "scene", upper)


def test_a_day_no_step_can_handle_is_recorded_failed_and_the_schedule_moves_on(
    tmp_path, sim_days, capsys
):
    # a team that allows unknown scenes (validation.max_unknown_scene_share: 1.0) gets a
    # day whose scenes are all unknown: it used to crash the drift step on every rerun
    # (uncalibrated: a calibrating parent's held-out rows of day 1 would train day 3)
    overrides = {"validation": {"max_unknown_scene_share": 1.0}, "train": {"calibration": "none"}}
    params = daily_workspace(tmp_path / "ws", sim_days, overrides)
    cfg = load(params)
    rewrite_day(cfg, day(2), _rename_scenes)
    for i in (0, 1, 2):
        record = run(params, i)
    # it survives every step: no row the models know, so nothing to promote on
    assert record.outcome == "rejected" and record.candidate == [], record
    assert record.drift is not None  # monitored without the champion's predictions
    assert runs.next_day(cfg) == day(3)  # not stuck on day 2
    after = run(params, 3)  # its window (day 2) holds no row of a known scene
    assert after.outcome == "no-training-data" and after.champion_metrics, after


def test_a_step_that_breaks_on_the_days_rows_marks_the_day_failed(
    tmp_path, sim_days, monkeypatch, capsys
):
    """Fault injected into the monitoring step's library call (what a day's rows did to
    Evidently before #1): the day is recorded failed with the step and one line."""
    import flows.steps

    params = daily_workspace(tmp_path / "ws", sim_days)
    cfg = load(params)
    run(params, 0)

    def broken(*args, **kwargs):
        raise ValueError("An empty column 'pred_ctr' was provided\nfor drift calculation")

    monkeypatch.setattr(flows.steps, "monitor_day", broken)
    record = run(params, 1)
    assert record.outcome == "failed" and runs.load_record(cfg, day(1)).error == record.error
    assert record.error == "monitor: ValueError: An empty column 'pred_ctr' was provided"
    assert record.version is None and record.champion is None  # nothing registered
    assert runs.next_day(cfg) == day(2)  # the schedule moves on
    assert main(["--params", str(params), "status"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out and "monitor: ValueError" in out
    monkeypatch.undo()
    assert run(params, 1).outcome == "failed"  # a plain rerun keeps the record
    assert run(params, 1, force=True).outcome == "promoted"  # once fixed, --force retries


def test_out_of_order_runs_leave_skipped_days_visible_pages_catch_up_and_refuse_force(
    tmp_path, sim_days, capsys
):
    params = daily_workspace(tmp_path / "ws", sim_days)
    cfg = load(params)
    run(params, 0)
    assert doctor.published(cfg) == {day(0)}
    # as if killed while publishing day 0: its record written, its pages not
    (cfg.path("dashboards") / doctor.PUBLISHED).unlink()
    run(params, 2)  # by hand, skipping day 1; its run first publishes day 0 (issue 11 #11)
    assert doctor.published(cfg) == {day(0), day(2)}
    assert runs.skipped(cfg) == [day(1)]
    assert main(["--params", str(params), "status"]) == 0
    assert f"skipped: {day(1)} (no record" in capsys.readouterr().out
    before = runs.load_record(cfg, day(0))
    with pytest.raises(EvaluationError, match="would judge it on rows it saw"):
        run(params, 0, force=True)  # the champion trained through day 1
    assert runs.load_record(cfg, day(0)) == before  # not set aside: the day stays finished
    assert runs.next_day(cfg) == day(3)
