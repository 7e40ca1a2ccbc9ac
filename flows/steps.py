"""The daily flow's tasks: each calls one component, and times it into the day's record.

IO steps (reading partitions, the registry) retry on transient errors only: a bad
input (every mtms error is a ValueError) fails at once with its one-line message.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from components import codec, doctor, failpoints, runs
from components.config import Config
from components.data.partitions import day_name, parse_day, read_partition
from components.data.versioning import VersioningError, track
from components.evaluation.evaluate import EvaluationError, Scored, score_day
from components.evaluation.metrics import Metrics
from components.evaluation.paired import FocusCalibration, focus_calibration, focus_tests
from components.evaluation.promotion import Decision, ServingHealth, decide, serving_health
from components.lineage import data_inputs, params_hash, run_metrics, run_params, source_tags
from components.models import bundle as bundles
from components.models.bundle import Bundle, BundleError
from components.monitoring.drift import DriftSummary, Sides, monitor_day, read_reference
from components.monitoring.publish import publish as publish_days
from components.records import DayRecord, Trained, markdown, run_tags
from components.registry import RegistryError, Version
from components.registry.mlflow_registry import Registry
from components.training.chain import NoTrainingRows, train_day, window
from components.training.parents import choose_parent
from components.validation.quarantine import (
    ValidationReport,
    dataset_contract,
    quarantined,
    reference_days,
    validate_day,
    validate_pending,
)
from flows.logs import PROGRESS
from flows.scenes import scene_map

log = logging.getLogger(__name__)
STEP_ATTR = "mtms_step"
_seconds: ContextVar[dict[str, float] | None] = ContextVar("mtms_step_seconds", default=None)


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """Collect the seconds each component call takes inside this block (for the record)."""
    seconds: dict[str, float] = {}
    token = _seconds.set(seconds)
    try:
        yield seconds
    finally:
        _seconds.reset(token)


@contextmanager
def timed(step: str) -> Iterator[None]:
    """Time the block into the run's record; an error leaving it is marked with the step
    (`failed_step`), so a failed day's record says where it broke."""
    failpoints.hit(f"{step}:before")
    start = time.perf_counter()
    try:
        yield
        failpoints.hit(f"{step}:after")
    except Exception as err:
        if not hasattr(err, STEP_ATTR):  # the innermost step is the one that broke
            setattr(err, STEP_ATTR, step)
        raise
    finally:
        seconds = _seconds.get()
        if seconds is not None:
            seconds[step] = round(seconds.get(step, 0.0) + time.perf_counter() - start, 3)


def transient(task, task_run, state) -> bool:
    """Retry IO hiccups (files, sockets, a locked SQLite), never a bad input."""
    err = state.data if isinstance(state.data, BaseException) else None
    if err is None or isinstance(err, ValueError):
        return False
    return isinstance(err, OSError) or "database is locked" in str(err)


STEP = {"cache_policy": NO_CACHE}  # the day's record, not Prefect's cache, makes reruns safe
IO = {**STEP, "retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": transient}


def starting(what: str) -> None:
    """One line as a step of the day starts: in the flow run's logs, and printed by
    `mtms run` / `backfill` (flows.logs.PROGRESS marks it)."""
    log.info("%s", what, extra={PROGRESS: True})


@task(**STEP)
def validate(cfg: Config, day: dt.date) -> ValidationReport:
    """The day's validation; a day quarantined earlier keeps its report (reruns, --force)."""
    with timed("validation"):
        report = quarantined(cfg, day) or validate_day(cfg, day)
    checks = f"{len(report.checks)} expectations, {report.rows} rows"
    if report.passed:
        log.info("validation passed: %s", checks)
    else:
        log.info("validation FAILED (%s): %s; quarantined", checks, "; ".join(report.reasons))
    return report


@task(**IO)
def track_data(cfg: Config) -> None:
    """Record in data.dvc that a quarantined day left the raw data (best effort: the
    quarantine itself is done and recorded; `dvc add data/raw` can catch up later)."""
    with timed("track"):
        try:
            track(cfg.root, cfg.path("raw"))
        except VersioningError as err:
            log.warning("data.dvc not updated after quarantine: %s", err)


def registry(cfg: Config) -> Registry:
    """The registry, checked against the day records (an emptied mlflow.db is an error,
    never a fresh start that registers a second v1)."""
    reg = Registry(cfg)
    reg.check_records(runs.versions_named(runs.records(cfg)))
    return reg


@dataclass(frozen=True)
class Serving:
    """The champion version, where its bundle is and the bundle itself (loaded once a run;
    path or bundle None when the registry or the file cannot give them)."""

    version: Version | None
    path: Path | None = None
    bundle: Bundle | None = None

    @property
    def number(self) -> int | None:
        return None if self.version is None else self.version.number

    def check_unseen(self, day: dt.date) -> None:
        """Refuse to judge the champion on a day it trained on (a rerun of an old day)."""
        through = self.version.trained_through if self.version is not None else None
        if through is not None and through >= day.isoformat():
            raise EvaluationError(
                f"the champion (v{self.number}) was trained through {through}; "
                f"rerunning {day} would judge it on rows it saw"
            )


@dataclass(frozen=True)
class Candidate:
    bundle: Bundle
    trained: Trained
    version: Version | None  # registered already, by a run that crashed after registering


@task(**IO)
def champion(reg: Registry) -> Serving:
    """The serving version and its bundle."""
    with timed("champion"):
        version = reg.champion()
        if version is None:
            return Serving(None)
        try:
            path = reg.bundle_path(version)
        except (RegistryError, OSError) as err:
            log.warning("champion v%s has no usable bundle: %s", version.number, err)
            return Serving(version)
        try:
            return Serving(version, path, bundles.load(path))
        except (BundleError, OSError) as err:
            log.warning(
                "champion v%s cannot be loaded (%s): not compared with it", version.number, err
            )
            return Serving(version, path)


@task(**IO)
def read_day(cfg: Config, day: dt.date) -> pa.Table:
    with timed("read"):
        return read_partition(cfg.path("raw"), day)


@task(**STEP)
def candidate(
    cfg: Config, reg: Registry, day: dt.date, serving: Serving, force: bool
) -> Candidate | None:
    """Today's candidate, trained through T-1; or the version an interrupted run registered.
    None when the window ending T-1 holds no validated day, or no row of the model's scenes."""
    through = day - dt.timedelta(days=1)
    found = None if force else reg.find(through)
    if found is not None and found.tags.get("params_hash") != params_hash(cfg):
        found = None  # registered under other params: train what params.yaml says now
    if found is not None:  # a crash after registration: finish that version, do not add one
        path = reg.bundle_path(found)
        bundle = bundles.load(path)
        return Candidate(
            bundle, Trained.of(bundle, path, found.tags.get("parent", "unknown")), found
        )
    with timed("validation"):  # train only on validated days
        if not validate_pending(cfg, window(cfg, through)):
            return None
    with timed("train"):
        starting(f"train through {through}: read and encode the window")
        champion = lambda: serving.path  # noqa: E731
        parent, source = choose_parent(cfg, cfg.model.name, through, champion, serving.bundle)
        try:
            scenes = scene_map(cfg.parallel)  # parallel.scenes: where MTMS's scenes train
            bundle, t = train_day(cfg, cfg.model.name, through, parent, _stage_lines(),
                                  scene_map=scenes)  # fmt: skip
        except NoTrainingRows as err:  # validated days, none of the model's scenes
            log.warning("no candidate for %s: %s", day, err)
            return None
    seconds = sum(s.seconds for s in t.stages)
    log.info("trained on %d rows of %s..%s (%s) in %.1f s, encoding %.1f s more",
             t.rows, t.window[0], t.window[-1], source, seconds, t.encode_seconds)  # fmt: skip
    return Candidate(bundle, Trained.of(bundle, t.path, source, t), None)


def _stage_lines() -> Callable[[str, int, int], None]:
    """train_day's progress callback: one line as each training stage starts."""
    seen: set[str] = set()

    def on_step(stage: str, rows: int, total: int) -> None:
        if stage not in seen:
            seen.add(stage)
            starting(f"train: {STAGE_NAMES.get(stage, stage)} ({total} rows)")

    return on_step


STAGE_NAMES = {"embedding": "embedding update", "finetune": "fine-tune"}


@task(**STEP)
def evaluate(bundle: Bundle, table: pa.Table) -> Scored:
    with timed("evaluate"):
        return score_day(bundle, table)


@task(**STEP)
def gate(
    cfg: Config, candidate: Scored, champion_metrics: list[Metrics] | None, champion: Scored | None
) -> Decision:
    """The gate on the candidate's metrics, with paired tests where the champion scored the
    same rows."""
    with timed("gate"):
        paired = None
        if champion is not None:
            paired = focus_tests(cfg.gate.focus, candidate, champion, cfg.gate.confidence)
        decision = decide(cfg.gate, candidate.metrics, champion_metrics, paired)
    if decision.passed:
        log.info("gate: pass (%d checks)", len(decision.checks))
    else:
        log.info("gate: reject: %s", "; ".join(decision.reasons))
    return decision


@task(**STEP)
def calibration(cfg: Config, candidate: Scored, champion: Scored | None) -> list[FocusCalibration]:
    """Candidate and champion Σp/Σy, ECE and reliability curve per focus on the same rows."""
    with timed("gate"):
        return focus_calibration(cfg.gate.focus, candidate, champion)


def health(cfg: Config, record: DayRecord, serving: Serving) -> ServingHealth:
    """The champion serving after the day (a promoted candidate, or the one that served) and
    the served one's calibration on the day: stale and miscalibration alerts."""
    champion, through = serving.number, None
    if serving.version is not None:
        through = dt.date.fromisoformat(serving.version.trained_through)
    if record.outcome == "promoted" and record.trained is not None:  # version: once registered
        champion, through = record.version, record.trained.through
    return serving_health(cfg.gate, record.day, champion, through, record.champion_metrics)


@task(**STEP)
def monitor(
    cfg: Config, day: dt.date, table: pa.Table, champion: Bundle | None
) -> DriftSummary | None:
    """Day T against the validated days before it (None on the first day): drift report,
    label-rate and new-id shifts, the serving champion's predictions; alerts are logged."""
    with timed("monitor"):
        days = reference_days(cfg, day)
        if not days:
            return None
        reference = read_reference(cfg, days, dataset_contract(cfg))
        out = cfg.path("dashboards") / day_name(day)
        return monitor_day(cfg, Sides(day, table, reference, days), champion, out)


@task(**IO)
def publish(cfg: Config, record: DayRecord) -> None:
    """The day's model values into the Evidently project, its panels, and index.html."""
    with timed("publish"):
        publish_days(cfg, [record])


@task(**STEP)
def tidy(cfg: Config) -> list[str]:
    """Clean what interrupted runs left (components.doctor); one line per thing cleaned."""
    with timed("tidy"):
        done = doctor.clean(cfg, Registry(cfg))
    for line in done:
        log.warning("cleaned up after an interrupted run: %s", line)
    return done


@task(**IO)
def parent_version(reg: Registry, trained: Trained) -> str:
    """The registry version the candidate warm-started from ("none": cold, or a bundle that
    was never registered)."""
    parent = next((v for v in reg.versions() if v.checksum == trained.parent_checksum), None)
    return str(parent.number) if parent else "none"


@task(**IO)
def log_run(cfg: Config, reg: Registry, record: DayRecord, tags: dict[str, str]) -> str:
    """One MLflow run per day: params, metrics of both models and of drift, the decision,
    both models' calibration per focus, the champion's age and alerts, lineage."""
    with timed("log_run"):
        trained, decision = record.trained, record.decision
        tags = tags | {
            "gate": "pass" if decision.passed else "reject",
            "gate_reasons": "; ".join(decision.reasons)[:4000] or "none",
        }
        numbers = run_metrics("candidate", record.candidate)
        numbers |= run_metrics("champion", record.champion_metrics or [])
        artifacts = {"gate.json": codec.dumps(decision), "trained.json": codec.dumps(trained)}
        if record.calibration:  # both models' reliability curves per focus, on the same rows
            artifacts["calibration.json"] = codec.dumps(record.calibration)
        if (health := record.serving) is not None:
            tags |= {"stale": "yes" if health.stale else "no",
                     "serving_alerts": "; ".join(health.alerts)[:4000] or "none"}  # fmt: skip
            if health.age_days is not None:
                numbers["champion.age_days"] = float(health.age_days)
        if record.drift is not None:  # as docs/monitoring.md promises
            numbers |= record.drift.mlflow_metrics()
            artifacts["drift.json"] = codec.dumps(record.drift)
            tags |= {
                "drift": "yes" if record.drift.drifted else "no",
                "drift_alerts": "; ".join(record.drift.alerts)[:4000] or "none",
            }
        tags |= source_tags(tags)  # MLflow's own: its UI shows the commit and the entry point
        window = trained.window
        inputs = data_inputs(cfg, record.day, window, record.rows, tags["data_window_md5"])
        return reg.log_run(record.day, run_params(cfg), numbers, tags, artifacts, inputs)


@task(**IO)
def register(reg: Registry, run_id: str, trained: Trained, tags: dict[str, str]) -> Version:
    """A new version for the candidate (retry-safe: an existing one is returned)."""
    with timed("register"):
        found = reg.find(trained.through, trained.checksum)
        if found is not None:
            return found
        if bundles.checksum(trained.bundle) != trained.checksum:
            raise BundleError(f"{trained.bundle} changed after it was evaluated; rerun the day")
        return reg.register(run_id, trained.bundle, tags)


@task(**IO)
def promote(reg: Registry, version: Version) -> None:
    with timed("promote"):
        reg.promote(version.number)
    log.info("champion is now v%d", version.number)


def failed_step(err: BaseException) -> str:
    """The step an error left (set by `timed`), or "run" outside every step."""
    return getattr(err, STEP_ATTR, "run")


@task(**IO)
def save(cfg: Config, record: DayRecord) -> str:
    with timed("save"):  # after the record's timings: only for failpoints
        return runs.save_record(cfg, record)


def run_name() -> str:
    """The flow run's name, `day=YYYY-MM-DD` (day=next until the flow has picked the day)."""
    from prefect.runtime import flow_run

    day = flow_run.parameters.get("day") if flow_run.parameters else None
    return day_name(parse_day(day)) if day else "day=next"


def label_run(day: dt.date, record: DayRecord | None = None) -> None:
    """Name the current flow run after its day; with the record, tag it with the outcome
    (and drift) and attach the day as a markdown artifact. Outside a flow run, nothing."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    tags = sorted({*flow_run.tags, *(run_tags(record) if record else [])})
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=day_name(day), tags=tags)
    if record is not None:
        create_markdown_artifact(markdown(record), key=f"mtms-day-{day.isoformat()}",
                                 description=f"{day}: {record.outcome}")  # fmt: skip


# the flow run's final state: a Completed state named after the day's outcome, so the run
# list says Rejected or Quarantined at a glance (beside the outcome tags)
STATE_NAMES: dict[str, str] = {
    "promoted": "Promoted",
    "rejected": "Rejected",
    "quarantined": "Quarantined",
    "failed": "DayFailed",  # the day's rows broke a step; the run itself completed
    "no-training-data": "NoTrainingData",
}


def final_state(record: DayRecord):
    """Completed, named after the outcome, holding the record (what a caller gets back)."""
    from prefect.states import Completed

    return Completed(data=record, name=STATE_NAMES[record.outcome])
