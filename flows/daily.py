"""The daily flow (Prefect 3): one day of retraining, written as a runbook.

For day T: validate T → warm-start from the last good bundle → embedding update and
fine-tune on the window ending T-1 → evaluate candidate and champion on T (same rows) →
gate → register → move `champion` on pass, with the day's drift report beside it (it marks
the day, it never blocks). Each task calls one component (flows/steps.py); the day's record
is written last, so a crash anywhere before it is redone by a rerun; the dashboards are
rebuilt from the records after it.
"""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow

from components import runs
from components.config import load
from components.data.partitions import parse_day
from components.evaluation.evaluate import EvaluationError
from components.runs import DayRecord
from flows import steps


@flow(name="mtms-daily")
def daily(day: str | None = None, params: str = "params.yaml", force: bool = False) -> dict:
    """Run one day (default: the oldest partition after the last finished day)."""
    cfg = load(params)
    when = parse_day(day) if day else runs.next_day(cfg)
    if when is None:
        return {"day": None, "outcome": "nothing to do: every partition has a finished run"}
    with runs.lock(cfg, f"day {when}"):
        done = runs.load_record(cfg, when)
        if done and not force:  # idempotent: a finished day is never promoted twice
            return done.to_dict()
        runs.supersede(cfg, when)  # a forced rerun that crashes is resumed by a plain one
        start = time.perf_counter()
        with steps.stopwatch() as seconds:
            record = run_day(cfg, when, force)
        record.timings = {**seconds, "flow": round(time.perf_counter() - start, 3)}
        steps.save(cfg, record)
        steps.publish(cfg, record)  # dashboards: the Evidently project and index.html
    return record.to_dict()


def run_day(cfg, day: dt.date, force: bool) -> DayRecord:
    report = steps.validate(cfg, day)
    validation = {"passed": report.passed, "reasons": report.reasons, "seconds": report.seconds}
    record = DayRecord(day.isoformat(), "quarantined", report.rows, validation)
    if not report.passed:  # stop before training: the registry is untouched
        steps.track_data(cfg)
        return record
    registry = steps.registry(cfg)
    champion, champion_bundle = steps.champion(registry)
    record.champion_before = record.champion = champion.number if champion else None
    if champion is not None and champion.day >= day.isoformat():
        raise EvaluationError(
            f"the champion (v{champion.number}) was trained through {champion.day}; "
            f"rerunning {day} would judge it on rows it saw"
        )
    table = steps.read_day(cfg, day)
    # an unloadable champion scores nothing ([]): the candidate is still not a first model
    champion_metrics = None if champion is None else []
    if champion_bundle is not None:
        champion_metrics = steps.evaluate(champion_bundle, table)
    record.champion_metrics = [m.to_record() for m in champion_metrics or []]
    drift = steps.monitor(cfg, day, table, champion_bundle)  # marks the day; never blocks
    record.drift = drift.to_record() if drift else None
    candidate, version, trained = steps.candidate(cfg, registry, day, champion, force)
    if candidate is None:  # no validated data in the window ending T-1
        record.outcome = "no-training-data"
        return record
    record.trained = trained
    return judge(
        cfg, registry, record, table, candidate, version, champion, champion_metrics, drift
    )


def judge(cfg, registry, record, table, candidate, version, champion, champion_metrics, drift):
    """Gate the candidate on the day's rows, log the MLflow run, register, promote on a pass."""
    day = dt.date.fromisoformat(record.day)
    metrics = steps.evaluate(candidate, table)
    record.candidate = [m.to_record() for m in metrics]
    decision = steps.gate(cfg, metrics, champion_metrics)
    record.decision = decision.to_record()
    record.run_id = steps.log_run(
        cfg, registry, day, record.trained, metrics, champion_metrics, decision, drift
    )
    if version is None:
        version = steps.register(cfg, registry, record.run_id, day, record.trained)
    record.version = version.number
    if champion is not None and version.number == champion.number:  # promoted, then crashed
        replaced = version.tags.get("replaced")
        record.champion_before = int(replaced) if replaced else None
    if decision.passed:
        steps.promote(registry, version)
        record.champion = version.number
    record.outcome = "promoted" if decision.passed else "rejected"
    return record
