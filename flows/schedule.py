"""`mtms schedule`: the daily flow as a Prefect deployment on the cron of params.yaml.

Schedules need a real Prefect server: the embedded (temporary) API only warns and never
fires them. So this serves the deployment against PREFECT_API_URL and refuses to start
without one (README, "Run it on a schedule"). Each scheduled run takes the next day with
data not yet run; one run at a time (the deployment's concurrency limit, the runner's
limit, and the workspace lock behind both).
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from components.config import Config


class ScheduleError(ValueError):
    """A schedule that could never fire."""


def deployment(cfg: Config, params: Path):
    """The daily flow's deployment: cron + timezone from params, one run at a time."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from flows.daily import daily

    return daily.to_deployment(
        name=cfg.schedule.deployment,
        schedules=[Cron(cfg.schedule.cron, timezone=cfg.schedule.timezone)],
        concurrency_limit=1,
        parameters={"params": portable(params)},
        entrypoint_type=EntrypointType.MODULE_PATH,  # flows.daily.daily: importable anywhere
        description="mtms daily retraining: validate, train, gate, promote",
    )


def portable(params: Path) -> str:
    """The params path a deployment stores: relative to the working directory (where the
    runner starts its flow runs), so the deployment names no machine's home; a path outside
    it stays as given."""
    try:
        return params.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(params)


def schedule(console: Console, cfg: Config, params: Path) -> int:
    if not os.environ.get("PREFECT_API_URL"):
        raise ScheduleError(
            "schedules need a Prefect server: run `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (see the README)"
        )
    from prefect import serve

    deployed = deployment(cfg, params)
    s = cfg.schedule
    console.print(
        f"serving deployment mtms-daily/{s.deployment}: cron '{s.cron}' ({s.timezone}), "
        f"params {params.resolve()}; Ctrl-C stops it"
    )
    serve(deployed, limit=1)
    return 0
