"""`mtms schedule`: the deployment has params' cron and timezone; a triggered run completes."""

from __future__ import annotations

import asyncio

import pytest

from cli.main import main
from components import runs
from components.config import load


@pytest.mark.server  # a Prefect runner runs the deployment in a subprocess
def test_the_deployment_runs_the_next_day_on_params_cron(daily_params, prefect_api):
    from prefect import get_client
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments import run_deployment
    from prefect.runner import Runner

    from flows.schedule import deployment

    params = daily_params({"schedule": {"cron": "15 4 * * 1-5"}})
    cfg = load(params)
    runner = Runner(name="mtms-test", limit=1, pause_on_shutdown=False)
    deployment_id = runner.add_deployment(deployment(cfg, params))
    with get_client(sync_client=True) as client:
        deployed = client.read_deployment(deployment_id)
    [schedule] = deployed.schedules
    assert isinstance(schedule.schedule, CronSchedule)
    assert schedule.schedule.cron == "15 4 * * 1-5"
    assert schedule.schedule.timezone == cfg.schedule.timezone
    assert deployed.global_concurrency_limit.limit == 1
    assert deployed.entrypoint == "flows.daily.daily"

    triggered = run_deployment(f"mtms-daily/{cfg.schedule.deployment}", timeout=0)
    asyncio.run(runner.start(run_once=True))  # runs what is due in a subprocess, then returns
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(triggered.id).state
    assert state.is_completed(), state
    first = runs.records(cfg)[0]  # no day given: the oldest partition not run yet
    assert first.day == cfg.simulator.start and first.outcome == "no-training-data"


def test_schedule_refuses_to_start_without_a_server(daily_params, monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    params = daily_params()
    assert main(["--params", str(params), "schedule"]) == 2
    assert "prefect server start" in capsys.readouterr().err
