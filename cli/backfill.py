"""`mtms run` and `mtms backfill`: the daily flow, one day or day after day, with a table."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli import prefect_api
from cli.reports import table
from cli.workspace import hide_error_tracebacks
from components import runs
from components.config import Config, Focus
from components.data.partitions import PartitionError, list_days, parse_day
from components.monitoring.index import metric
from components.records import DayRecord


def _cell(record: DayRecord, focus: Focus) -> str:
    """'candidate/champion (oracle)' AUC of one focus."""
    cand = metric(record.candidate, focus)
    champ = metric(record.champion_metrics, focus)
    oracle = metric(record.candidate or record.champion_metrics, focus, "oracle_auc")
    fmt = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    return f"{fmt(cand)}/{fmt(champ)} ({fmt(oracle)})"


def _gate(record: DayRecord) -> str:
    """The outcome, and the first failed check (focus and check name) of a rejection, or
    the step and reason of a failed day."""
    if record.error:
        return f"{record.outcome}: {record.error[:60]}"
    failed = record.decision.failed if record.decision else []
    if not failed:
        return record.outcome
    more = f" +{len(failed) - 1}" if len(failed) > 1 else ""
    return f"{record.outcome}: {failed[0].focus} {failed[0].name}{more}"


def _drift(record: DayRecord) -> str:
    if record.drift is None:
        return "-"
    return "DRIFT" if record.drift.drifted else "no"


def day_table(cfg: Config, records: list[DayRecord], title: str):
    """One row per day: rows, validation, candidate vs champion AUC per focus, gate, champion."""
    focus = cfg.gate.focus
    columns = [
        "day",
        "rows",
        "valid",
        *(f"{f.scene}/{f.task}" for f in focus),
        "gate",
        "champion",
        "drift",
    ]
    rows = [
        [
            r.day.isoformat(),
            r.rows,
            "pass" if r.validation.passed else "FAIL",
            *(_cell(r, f) for f in focus),
            _gate(r),
            "-" if r.champion is None else f"v{r.champion}",
            _drift(r),
        ]
        for r in records
    ]
    return table(title, columns, rows)


def where(cfg: Config) -> list[str]:
    """Where each store lives and the command that opens its UI."""
    from components.registry.mlflow_registry import Registry

    return [
        f"MLflow UI:   {Registry(cfg).ui_command()}",
        f"Prefect UI:  PREFECT_HOME={cfg.path('prefect')} prefect server start",
        f"dashboards:  {cfg.path('dashboards') / 'index.html'} (a static page; Evidently UI: "
        "mtms dashboard)",
        f"bundles:     {cfg.path('models')}    day records: {cfg.path('runs')}",
    ]


class StepLines(logging.Handler):
    """Prints each step of the day as it starts (records flows.steps.starting marks), one
    line each; the flow's other INFO lines stay in the Prefect run's logs."""

    def __init__(self, console: Console, marker: str) -> None:
        super().__init__(logging.INFO)
        self.console, self.marker, self.day = console, marker, ""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, self.marker, False) and record.levelno < logging.WARNING:
            line = f"{self.day}  {record.getMessage()}"
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def step_lines(console: Console) -> Iterator[StepLines]:
    """StepLines on the flows logger (raised to INFO if nobody set its level) while within."""
    from flows.logs import PROGRESS

    handler, logger = StepLines(console, PROGRESS), logging.getLogger("flows")
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def day_line(record: DayRecord, seconds: float) -> str:
    """The row printed as a day ends: outcome (and why), champion, drift, wall time."""
    champion = "-" if record.champion is None else f"v{record.champion}"
    return (
        f"{record.day}  {_gate(record)}; champion {champion}; drift {_drift(record)}; "
        f"{seconds:.0f} s"
    )


def run_days(console: Console, cfg: Config, params: Path, days: list[dt.date], force: bool) -> int:
    api = prefect_api.start(cfg)  # before Prefect loads: it reads PREFECT_API_URL at import
    from flows.daily import daily  # imports Prefect: after the CLI applied the workspace settings

    if api is not None:
        api.wait()  # it booted while the flow's modules were imported
    hide_error_tracebacks()

    done: list[DayRecord] = []
    start = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        Progress(*columns, console=console, transient=True) as progress,
        step_lines(console) as steps,
    ):
        bar = progress.add_task("daily runs", total=len(days))
        for day in days:
            progress.update(bar, description=f"daily run {day}")
            steps.day, began = day.isoformat(), time.perf_counter()
            done.append(daily(day=day.isoformat(), params=str(params), force=force))
            line = day_line(done[-1], time.perf_counter() - began)
            console.print(line, markup=False, highlight=False, soft_wrap=True)
            progress.advance(bar)
    console.print(day_table(cfg, done, "daily runs: AUC of candidate/champion (oracle) on the day"))
    console.print(f"{len(done)} days in {time.perf_counter() - start:.0f} s")
    for line in where(cfg):
        console.print(line, soft_wrap=True, highlight=False)
    return 0


def backfill(console: Console, cfg: Config, params: Path, start: str, end: str, force: bool) -> int:
    first, last = parse_day(start), parse_day(end)
    if last < first:
        raise PartitionError(f"--end {end} is before --start {start}")
    have = set(list_days(cfg.path("raw"))) | {r.day for r in runs.records(cfg)}
    days = sorted(d for d in have if first <= d <= last)
    if not days:
        raise PartitionError(f"no partitions from {first} to {last} under {cfg.paths.raw}")
    return run_days(console, cfg, params, days, force)
