"""The daily flow (Prefect 3): one day of retraining, written as a runbook.

For day T: validate T → warm-start from the last good bundle → embedding update and
fine-tune on the window ending T-1 → evaluate candidate and champion on T (same rows) →
gate → register → move `champion` on pass, with the day's drift report beside it (it marks
the day, it never blocks). Each task calls one component (flows/steps.py); the day's record
is written last, so a crash anywhere before it is redone by a rerun; the dashboards are
rebuilt from the records after it.

A validated day whose rows a later step cannot handle does not jam the schedule: the day
is recorded as `failed` with the step and a one-line reason, and the next run moves on.
Everything else (the registry, a bundle, the config, the host) stops the run with no
record, so a rerun retries it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import replace

import pyarrow as pa
from prefect import flow
from prefect.runtime import flow_run
from prefect.states import State

from components import runs
from components.config import Config, ConfigError, load
from components.data.partitions import parse_day
from components.evaluation.evaluate import Scored
from components.lineage import lineage
from components.models.bundle import BundleError
from components.records import DayRecord
from components.registry import RegistryError
from components.registry.mlflow_registry import Registry
from flows import logs, steps
from flows.steps import Candidate

log = logging.getLogger(__name__)
# what a day's rows can make a step raise; a state error (registry, bundle, config) is not
IN_THE_DATA = (ValueError, ArithmeticError, LookupError, pa.ArrowException)
NOT_THE_DATA = (RegistryError, BundleError, ConfigError)


@flow(name="mtms-daily", flow_run_name=steps.run_name)
def daily(
    day: str | None = None, params: str = "params.yaml", force: bool = False
) -> State[DayRecord] | DayRecord | None:
    """Run one day (default: the oldest partition after the last finished day); None when
    every partition has a finished run. A caller gets the day's record; the flow run ends in
    a Completed state named after the outcome (Promoted, Rejected, Quarantined, …)."""
    with logs.to_run():  # mtms's log lines in the run's logs
        record, ran = _daily(day, params, force)
    return steps.final_state(record) if ran else record  # a rerun of a finished day: Completed


def _daily(day: str | None, params: str, force: bool) -> tuple[DayRecord | None, bool]:
    """The day's record, and whether this run made it (not a finished day's, returned)."""
    cfg = load(params)
    when = parse_day(day) if day else runs.next_day(cfg)
    if when is None:
        return None, False
    steps.label_run(when)  # day=next until now
    with runs.lock(cfg, f"day {when}"):
        steps.tidy(cfg)  # what an interrupted run left: temporary files, unpublished pages
        done = runs.load_record(cfg, when)
        if done and not force:  # idempotent: a finished day is never promoted twice
            log.info("day %s finished already (%s): its record, not run again", when, done.outcome)
            return done, False
        if done and done.outcome != "quarantined":  # refused before the record moves aside
            steps.Serving(steps.registry(cfg).champion()).check_unseen(when)
        runs.supersede(cfg, when)  # a forced rerun that crashes is resumed by a plain one
        start = time.perf_counter()
        with steps.stopwatch() as seconds:
            record = run_day(cfg, when, force)
        flow = round(time.perf_counter() - start, 3)  # the record links its Prefect run
        record = replace(
            record, timings={**seconds, "flow": flow}, flow_run=str(flow_run.id or "") or None
        )
        steps.save(cfg, record)
        steps.starting("publish the dashboards")
        steps.publish(cfg, record)  # dashboards: the Evidently project and index.html
    log.info("day %s: %s", when, record.outcome)
    steps.label_run(when, record)  # outcome and drift tags, the day as a markdown artifact
    return record, True


def run_day(cfg: Config, day: dt.date, force: bool) -> DayRecord:
    steps.starting("validate")
    report = steps.validate(cfg, day)
    if not report.passed:  # stop before training: the registry is untouched
        steps.track_data(cfg)
        return DayRecord(day, "quarantined", report.rows, report)
    registry = steps.registry(cfg)
    serving = steps.champion(registry)
    serving.check_unseen(day)
    record = DayRecord(
        day,
        "no-training-data",
        report.rows,
        report,
        champion_before=serving.number,
        champion=serving.number,
    )
    try:
        record = assess(cfg, registry, record, serving, force)
    except IN_THE_DATA as err:
        if isinstance(err, NOT_THE_DATA):
            raise
        reason = f"{steps.failed_step(err)}: {type(err).__name__}: {_first_line(err)}"
        log.warning("day %s failed: %s", day, reason)
        log.debug("day %s failed", day, exc_info=err)
        record = replace(record, outcome="failed", error=reason[:500])
    # a judged day has it already (its MLflow run carries it)
    return record if record.serving else replace(record, serving=steps.health(cfg, record, serving))


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else "(no message)"


def assess(
    cfg: Config, registry: Registry, record: DayRecord, serving: steps.Serving, force: bool
) -> DayRecord:
    """Champion and drift on the day's rows, then the candidate trained through T-1, judged."""
    table = steps.read_day(cfg, record.day)
    # an unloadable champion scores nothing ([]): the candidate is still not a first model
    champion_metrics = None if serving.version is None else []
    champion = None
    if serving.bundle is not None:
        steps.starting(f"evaluate the champion (v{serving.number})")
        champion = steps.evaluate(serving.bundle, table)
        champion_metrics = champion.metrics
    steps.starting("monitor drift")
    drift = steps.monitor(cfg, record.day, table, serving.bundle)  # marks the day; never blocks
    record = replace(record, champion_metrics=champion_metrics, drift=drift)
    candidate = steps.candidate(cfg, registry, record.day, serving, force)
    if candidate is None:  # no validated data in the window ending T-1
        return record
    return judge(cfg, registry, record, table, candidate, (serving, champion))


def judge(
    cfg: Config,
    registry: Registry,
    record: DayRecord,
    table: pa.Table,
    candidate: Candidate,
    champion: tuple[steps.Serving, Scored | None],
) -> DayRecord:
    """Gate the candidate on the day's rows (paired with the champion's scores of them, when
    it scored them), log the MLflow run, register, promote on a pass."""
    serving, scores = champion
    steps.starting("evaluate the candidate")
    scored = steps.evaluate(candidate.bundle, table)
    steps.starting("gate")
    decision = steps.gate(cfg, scored, record.champion_metrics, scores)
    judged = replace(
        record,
        outcome="promoted" if decision.passed else "rejected",
        trained=candidate.trained,
        candidate=scored.metrics,
        decision=decision,
        calibration=steps.calibration(cfg, scored, scores),
    )
    judged = replace(judged, serving=steps.health(cfg, judged, serving))
    trained = candidate.trained
    tags = lineage(cfg, record.day, trained.through.isoformat(), trained.parent, trained.window)
    tags["parent_version"] = steps.parent_version(registry, trained)  # run and version
    steps.starting("register")
    run_id = steps.log_run(cfg, registry, judged, tags)
    gated = {**tags, **decision.version_tags()}  # the version says its gate's outcome
    version = candidate.version or steps.register(registry, run_id, trained, gated)
    before = record.champion_before
    if version.number == before:  # promoted by a run that crashed before its record
        before = int(version.tags["replaced"]) if version.tags.get("replaced") else None
    if decision.passed:
        steps.starting(f"promote v{version.number}")
        runs.check_held(cfg)  # several hosts: never move the alias on a lock that is gone
        steps.promote(registry, version)
    done = replace(
        judged,
        run_id=run_id,
        version=version.number,
        champion_before=before,
        champion=version.number if decision.passed else record.champion,
        lineage=tags,  # the data version the dashboards show
    )
    return replace(done, serving=steps.health(cfg, done, serving))  # now with the version
