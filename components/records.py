"""What one daily run did, as typed values: the day's record and the candidate it trained.

Steps hand these to each other in process; `components.codec` turns them into JSON at the
edge (runs/day=D.json, MLflow artifacts) and back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from components.codec import finite
from components.evaluation.metrics import Metrics
from components.evaluation.paired import FocusCalibration
from components.evaluation.promotion import Decision, ServingHealth
from components.monitoring.drift import DriftSummary
from components.validation.quarantine import ValidationReport

if TYPE_CHECKING:  # read for their attributes only: no torch import for `mtms status`
    from components.models.bundle import Bundle
    from components.training.chain import TrainedDay

# failed: a step could not handle the day's rows (DayRecord.error says which and why); the
# schedule moves on, and `mtms run --day D --force` retries it once the data is fixed
Outcome = Literal["quarantined", "no-training-data", "promoted", "rejected", "failed"]


@dataclass(frozen=True)
class Trained:
    """The candidate's training: its window, warm-start parent and bundle on disk."""

    through: dt.date  # the last day of the window
    window: list[dt.date]
    rows: int
    parent: str  # the bundle it warm-started from, or "cold start"
    bundle: Path
    checksum: str
    parent_checksum: str | None
    stages: list[dict]  # per stage: steps, seconds, samples/s, losses
    warm: bool | None = None  # None: trained by an earlier, interrupted run
    encode_seconds: float | None = None

    @classmethod
    def of(cls, bundle: Bundle, path: Path, parent: str, day: TrainedDay | None = None) -> Trained:
        """From a bundle's meta; `day` adds what only the training run knows."""
        meta = bundle.meta
        return cls(
            through=dt.date.fromisoformat(meta["day"]),
            window=[dt.date.fromisoformat(d) for d in meta["window"]],
            rows=meta["rows"],
            parent=parent,
            bundle=path,
            checksum=meta["checksum"],
            parent_checksum=meta.get("parent"),
            stages=meta["stages"],
            warm=None if day is None else day.warm is not None,
            encode_seconds=None if day is None else round(day.encode_seconds, 3),
        )


@dataclass(frozen=True)
class DayRecord:
    day: dt.date
    outcome: Outcome
    rows: int  # rows of the day's partition (the evaluation rows)
    validation: ValidationReport
    trained: Trained | None = None
    candidate: list[Metrics] = field(default_factory=list)  # scene x task, on the day
    champion_metrics: list[Metrics] | None = None  # None: no champion; []: it could not score
    decision: Decision | None = None
    version: int | None = None  # the candidate's registered version
    champion_before: int | None = None
    champion: int | None = None  # the champion version after the run
    run_id: str | None = None  # the MLflow run
    timings: dict[str, float] = field(default_factory=dict)  # seconds per component step
    drift: DriftSummary | None = None  # the monitoring step's summary, when it ran
    error: str | None = None  # a failed day: "<step>: <one-line reason>"
    finished: str = ""  # UTC time the record was written
    # per gate focus: candidate and champion Σp/Σy, ECE and reliability curve on the same rows
    calibration: list[FocusCalibration] = field(default_factory=list)
    serving: ServingHealth | None = None  # the champion's age and calibration alerts (never block)
    flow_run: str | None = None  # the Prefect flow run's id (None: run outside Prefect, or older)
    # the MLflow run's lineage tags (data_md5, data_window_md5, git_commit, params_hash, ...);
    # empty for a day that logged no run, or a record written before they were kept here
    lineage: dict[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """The day's numbers for the monitoring project: AUC, oracle AUC, calibration and ECE
        per scene and task (the champion's as champion.calibration.*, champion.ece.*), rows,
        the champion's age, and the gate's decision (1 pass, 0 reject; absent without one)."""
        out: dict[str, float] = {"rows": float(self.rows)}
        for role, rows in (("", self.candidate), ("champion.", self.champion_metrics or [])):
            keys = ("calibration", "ece") if role else ("auc", "oracle_auc", "calibration", "ece")
            for m in rows:
                for key in keys:
                    if (value := finite(getattr(m, key))) is not None:
                        out[f"{role}{key}.{m.scene}.{m.task}"] = float(value)
        if self.serving is not None and self.serving.age_days is not None:
            out["champion.age_days"] = float(self.serving.age_days)
            out["champion.stale"] = float(self.serving.stale)
        if self.decision is not None:
            out["gate.passed"] = float(self.decision.passed)
            out["promoted"] = float(self.outcome == "promoted")
        return out


def run_tags(record: DayRecord) -> list[str]:
    """Tags that make a day findable in a run list: its outcome, and drift when it alerted."""
    tags = [f"outcome:{record.outcome}"]
    if record.drift is not None and record.drift.drifted:
        tags.append("drift")
    if record.serving is not None and record.serving.alerts:
        tags.append("serving-alert")
    return tags


def markdown(record: DayRecord) -> str:
    """The day in a few lines of markdown (a Prefect artifact): the outcome and why, the
    gate's checks, the drift alerts, the champion before and after."""
    lines = [f"# {record.day}: {record.outcome}", ""]
    if record.error:
        lines += [f"**Failed** at {record.error}", ""]
    if not record.validation.passed:
        lines += ["**Quarantined**: " + "; ".join(record.validation.reasons[:5]), ""]
    champion = f"champion v{record.champion_before} → v{record.champion}"
    candidate = f"; candidate v{record.version}" if record.version else ""
    lines.append(f"- rows: {record.rows:,}; {champion}{candidate}")
    if record.decision is not None:
        first = " (first model: floors only)" if record.decision.first_model else ""
        lines += ["", f"## Gate: {'pass' if record.decision.passed else 'reject'}{first}", "",
                  "| focus | check | result | detail |", "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {c.focus} | {c.name} | {'pass' if c.passed else '**fail**'} | {c.detail} |"
                  for c in record.decision.checks]  # fmt: skip
    if record.drift is not None:
        lines += ["", f"## Drift: share {record.drift.drift_share:.2f}", ""]
        lines += [f"- alert: {a}" for a in record.drift.alerts] or ["- no alert"]
    if record.serving is not None and record.serving.alerts:
        lines += ["", "## Serving", "", *(f"- {a}" for a in record.serving.alerts)]
    return "\n".join(lines) + "\n"
