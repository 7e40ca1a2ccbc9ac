"""What a day looks like in Prefect: mtms's log lines in the flow run's logs, read back
through the client (issue 15)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]


def day(i: int) -> dt.date:
    return dt.date(2026, 1, 5) + dt.timedelta(days=i)


def run(params, i: int, **kwargs):
    """The day through the flow: (its final state, the record a caller gets)."""
    from flows.daily import daily

    state = daily(day=day(i).isoformat(), params=str(params), return_state=True, **kwargs)
    return state, state.result()


def run_logs(flow_run_id, with_task: bool = False) -> list[tuple]:
    """(logger, message) of every log line the server holds for the flow run, oldest first
    (with the task run's name, or None for the flow's own lines, if `with_task`)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # lines are sent in batches: send what is queued now
    only = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        logs = sorted(client.read_logs(only, limit=200), key=lambda log: log.timestamp)
        if not with_task:
            return [(log.name, log.message) for log in logs]
        ids = {log.task_run_id for log in logs if log.task_run_id}
        names = {i: client.read_task_run(i).name for i in ids}
    return [(log.name, log.message, names.get(log.task_run_id)) for log in logs]


def test_mtms_log_lines_are_in_the_flow_runs_logs_once_each(daily_params):
    params = daily_params()
    run(params, 0)  # nothing to train on: day 1 trains the first model
    state, record = run(params, 1)
    assert record.outcome == "promoted"
    lines = run_logs(state.state_details.flow_run_id)
    messages = [m for _, m in lines]
    steps = ["validate", "monitor drift", "evaluate the candidate", "gate", "register"]
    assert all(messages.count(step) == 1 for step in steps), messages  # once: one handler
    assert [m for m in messages if m in steps] == steps  # in the order they ran
    assert any(m.startswith("validation passed: ") and " rows" in m for m in messages)
    assert any(m.startswith(f"train through {day(0)}") for m in messages)
    trained = [m for m in messages if m.startswith("trained on ")]
    head = f"trained on {record.trained.rows} rows of {day(0)}..{day(0)} (cold start) in "
    assert len(trained) == 1 and trained[0].startswith(head), trained
    assert any(m.startswith("gate: pass") for m in messages)
    assert f"champion is now v{record.version}" in messages
    assert f"day {day(1)}: promoted" in messages
    assert {name for name, _ in lines} >= {"flows.daily", "flows.steps"}
    # a task's own lines are on its task run too (the UI's task view), the flow's are not
    tasks = {m: t for _, m, t in run_logs(state.state_details.flow_run_id, with_task=True)}
    assert tasks[f"day {day(1)}: promoted"] is None
    assert tasks[next(m for m in messages if m.startswith("validation passed"))].startswith(
        "validate"
    )
    assert tasks[next(m for m in messages if m.startswith("gate: pass"))].startswith("gate")
    # the handler is the run's only: gone after it, levels back as they were
    for name in ("components", "flows"):
        logger = logging.getLogger(name)
        assert not [h for h in logger.handlers if type(h).__name__ == "APILogHandler"]


def test_a_components_log_line_reaches_the_run(daily_params):
    """A component's own logger (components.data.versioning, not a DVC workspace here) in the
    run's logs: components/ logs with the standard module and knows nothing of Prefect."""
    from components.config import load
    from components.data.corruption import corrupt_table
    from tests.helpers import rewrite_day

    params = daily_params()
    rewrite_day(load(params), day(0), lambda t: corrupt_table(t, "nulls", 0))
    state, record = run(params, 0)
    assert record.outcome == "quarantined"
    lines = run_logs(state.state_details.flow_run_id)
    assert any(name == "components.data.versioning" for name, _ in lines), lines
    failed = [m for _, m in lines if m.startswith("validation FAILED")]
    assert len(failed) == 1 and failed[0].endswith("; quarantined")


def test_the_flow_runs_final_state_is_named_after_the_outcome(daily_params):
    """Completed states named NoTrainingData, Quarantined, … (Promoted and Rejected:
    test_daily's chain); a rerun of a finished day is a plain Completed."""
    import typing

    from prefect.client.orchestration import get_client

    from components.config import load
    from components.data.corruption import corrupt_table
    from components.records import Outcome
    from flows.steps import STATE_NAMES
    from tests.helpers import rewrite_day

    assert set(STATE_NAMES) == set(typing.get_args(Outcome))  # every outcome has a name
    params = daily_params()
    rewrite_day(load(params), day(1), lambda t: corrupt_table(t, "nulls", 0))
    names = []
    for i in (0, 1, 0):  # day 0: nothing to train on; day 1 quarantined; day 0 again
        state, record = run(params, i)
        with get_client(sync_client=True) as client:  # what the server holds, not our copy
            stored = client.read_flow_run(state.state_details.flow_run_id)
        assert stored.state.is_completed() and stored.state.name == state.name
        names.append((record.outcome, stored.state.name))
    assert names == [
        ("no-training-data", "NoTrainingData"),
        ("quarantined", "Quarantined"),
        ("no-training-data", "Completed"),  # its record back, nothing run: no outcome claimed
    ]
