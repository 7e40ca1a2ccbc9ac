"""prefect.yaml (the work-pool recipe) and `mtms schedule`'s deployment name no machine's
absolute paths, and agree with params.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.config import load

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_parses_and_its_entrypoint_is_the_daily_flow(monkeypatch):
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.flows import load_flow_from_entrypoint

    from flows.daily import daily

    monkeypatch.chdir(ROOT)  # `prefect deploy` runs from the repo root
    spec = PrefectYamlModel.model_validate(yaml.safe_load(Path("prefect.yaml").read_text()))
    [deployment] = spec.deployments
    assert load_flow_from_entrypoint(deployment.entrypoint).name == daily.name
    schedule = load("params.yaml").schedule
    assert deployment.name == schedule.deployment
    [cron] = deployment.schedules
    assert (cron.cron, cron.timezone) == (schedule.cron, schedule.timezone)
    assert deployment.work_pool.name and deployment.concurrency_limit == 1
    params = deployment.parameters["params"]
    assert not Path(params).is_absolute() and (ROOT / params).is_file()
    [pull] = spec.pull  # the workspace comes from the environment, not from this file
    directory = pull["prefect.deployments.steps.set_working_directory"]["directory"]
    assert directory == "{{ $MTMS_HOME }}"


def test_the_served_deployment_stores_params_relative_to_the_working_directory(
    daily_params, monkeypatch
):
    from flows.schedule import deployment

    params = daily_params()
    monkeypatch.chdir(params.parent)
    served = deployment(load(params), Path("params.yaml"))
    assert served.parameters == {"params": "params.yaml"}
    assert deployment(load(params), params).parameters == {"params": "params.yaml"}
