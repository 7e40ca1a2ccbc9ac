"""What each daily run did, and the lock that keeps daily runs apart.

A run's last step writes its record, `runs/day=YYYY-MM-DD.json` (atomically): a day with
a record is finished and a rerun returns it instead of promoting twice. A crash before
that step leaves no record, so the next run does the day again (design.md §7).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from components import atomic
from components.config import Config
from components.data.partitions import list_days

LOCK_FILE = ".lock"
OUTCOMES = ("quarantined", "no-training-data", "promoted", "rejected")


class RunLockedError(RuntimeError):
    """Another daily run holds the workspace lock."""


@dataclass
class DayRecord:
    day: str
    outcome: str  # one of OUTCOMES
    rows: int  # rows of the day's partition (the evaluation rows)
    validation: dict  # passed, reasons, seconds
    trained: dict | None = None  # window, rows, parent, warm/cold, bundle path and checksum
    candidate: list[dict] = field(default_factory=list)  # metric records, scene x task
    champion_metrics: list[dict] = field(default_factory=list)  # the champion's, same rows
    decision: dict | None = None  # the gate's Decision.to_record()
    version: int | None = None  # the candidate's registered version
    champion_before: int | None = None
    champion: int | None = None  # the champion version after the run
    run_id: str | None = None  # the MLflow run
    timings: dict[str, float] = field(default_factory=dict)  # seconds per component step
    drift: dict | None = None  # the monitoring step's summary, when it ran
    finished: str = ""  # UTC time the record was written

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DayRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def model_values(record: DayRecord) -> dict[str, float]:
    """A day's numbers for the monitoring project: AUC, oracle AUC and calibration per
    scene and task, rows, and the gate's decision (1 pass, 0 reject; absent without one)."""
    values: dict[str, float] = {"rows": float(record.rows)}
    for m in record.candidate:
        for key in ("auc", "oracle_auc", "calibration"):
            if m.get(key) is not None and math.isfinite(m[key]):
                values[f"{key}.{m['scene']}.{m['task']}"] = float(m[key])
    if record.decision is not None:
        values["gate.passed"] = float(record.decision["passed"])
        values["promoted"] = float(record.outcome == "promoted")
    return values


def record_path(cfg: Config, day: dt.date) -> Path:
    return cfg.path("runs") / f"day={day.isoformat()}.json"


def plain(value):
    """JSON-ready: NaN and inf become None (json.dumps would write invalid `NaN`)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def save_record(cfg: Config, record: DayRecord) -> Path:
    if record.outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {record.outcome!r}; expected one of {OUTCOMES}")
    record.finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path = record_path(cfg, dt.date.fromisoformat(record.day))
    text = json.dumps(plain(record.to_dict()), indent=2, default=str, allow_nan=False)
    atomic.write_text(path, text)
    return path


def supersede(cfg: Config, day: dt.date) -> None:
    """Set a finished day's record aside before a forced rerun: until the rerun writes its
    own, the day counts as unfinished, so a crash in it is resumed by a plain rerun."""
    path = record_path(cfg, day)
    if path.exists():
        os.replace(path, path.with_name(path.name + ".superseded"))


def load_record(cfg: Config, day: dt.date) -> DayRecord | None:
    path = record_path(cfg, day)
    return DayRecord.from_dict(json.loads(path.read_text())) if path.exists() else None


def records(cfg: Config) -> list[DayRecord]:
    """Every finished day, oldest first."""
    folder = cfg.path("runs")
    paths = sorted(folder.glob("day=*.json")) if folder.is_dir() else []
    return [DayRecord.from_dict(json.loads(p.read_text())) for p in paths]


def next_day(cfg: Config) -> dt.date | None:
    """The oldest partition after the last finished day: what a scheduled run takes."""
    done = [dt.date.fromisoformat(r.day) for r in records(cfg)]
    after = max(done) if done else dt.date.min
    pending = [d for d in list_days(cfg.path("raw")) if d > after]
    return pending[0] if pending else None


@contextmanager
def lock(cfg: Config, holder: str) -> Iterator[None]:
    """One state-changing command at a time per workspace: daily runs (the warm-start chain
    is sequential) and rollbacks. `holder` says who holds it, for the other's error.

    flock: released by the kernel when the holder exits, so a crashed run never
    leaves a stale lock behind.
    """
    path = cfg.path("runs") / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLockedError(
                f"another mtms run holds {path} ({holder}); wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, {holder}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
