"""Where each daily run's record is kept, and the lock that keeps daily runs apart.

A run's last step writes its record, `runs/day=YYYY-MM-DD.json` (atomically): a day with
a record is finished and a rerun returns it instead of promoting twice. A crash before
that step leaves no record, so the next run does the day again (design.md §7).

With `shared.database` set, records and lock live in PostgreSQL instead, for every host
of the pipeline (components.postgres_runs); the callers see no difference.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import typing
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

from components import atomic, codec
from components.config import Config
from components.data.partitions import day_name, list_days
from components.records import DayRecord, Outcome

if typing.TYPE_CHECKING:
    from components.postgres_runs import PostgresRuns

LOCK_FILE = ".lock"
OUTCOMES = typing.get_args(Outcome)


class RunLockedError(RuntimeError):
    """Another daily run holds the workspace lock."""


def _shared(cfg: Config) -> PostgresRuns | None:
    """The pipeline's shared store, or None: this folder's files."""
    if cfg.shared.database is None:
        return None
    from components.postgres_runs import store

    return store(cfg.shared.database, cfg.registry.model_name)


def record_path(cfg: Config, day: dt.date) -> Path:
    return cfg.path("runs") / day_name(day, ".json")


def where(cfg: Config) -> str:
    """Where the records are, for people: the runs folder or the database table."""
    if (db := _shared(cfg)) is None:
        return str(cfg.path("runs"))
    from components.postgres_runs import redacted

    return f"{redacted(db.url)} (mtms_day_records, pipeline {db.pipeline})"


def save_record(cfg: Config, record: DayRecord) -> str:
    """Write the day's record (stamped with the time); where it went."""
    if record.outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {record.outcome!r}; expected one of {OUTCOMES}")
    finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    text = codec.dumps(replace(record, finished=finished))
    if (db := _shared(cfg)) is not None:
        db.save(record.day, record.outcome, text)
        return f"{where(cfg)} day {record.day}"
    return str(atomic.write_text(record_path(cfg, record.day), text))


def supersede(cfg: Config, day: dt.date) -> None:
    """Set a finished day's record aside before a forced rerun: until the rerun writes its
    own, the day counts as unfinished, so a crash in it is resumed by a plain rerun."""
    if (db := _shared(cfg)) is not None:
        db.supersede(day)
        return
    path = record_path(cfg, day)
    if path.exists():
        os.replace(path, path.with_name(path.name + ".superseded"))


def load_record(cfg: Config, day: dt.date) -> DayRecord | None:
    if (db := _shared(cfg)) is not None:
        text = db.load(day)
        return None if text is None else codec.loads(DayRecord, text)
    path = record_path(cfg, day)
    return codec.loads(DayRecord, path.read_text()) if path.exists() else None


def records(cfg: Config) -> list[DayRecord]:
    """Every finished day, oldest first."""
    if (db := _shared(cfg)) is not None:
        return [codec.loads(DayRecord, text) for text in db.all()]
    folder = cfg.path("runs")
    paths = sorted(folder.glob("day=*.json")) if folder.is_dir() else []
    return [codec.loads(DayRecord, p.read_text()) for p in paths]


def versions_named(done: list[DayRecord]) -> set[int]:
    """Every registry version the records name (registered, champion before and after):
    the registry must hold them all."""
    return {n for r in done for n in (r.version, r.champion_before, r.champion) if n is not None}


def next_day(cfg: Config) -> dt.date | None:
    """The oldest partition after the last finished day: what a scheduled run takes."""
    done = [r.day for r in records(cfg)]
    after = max(done) if done else dt.date.min
    pending = [d for d in list_days(cfg.path("raw")) if d > after]
    return pending[0] if pending else None


def skipped(cfg: Config) -> list[dt.date]:
    """Partitions with no record between finished days: a later day was run by hand first.
    The schedule never goes back for them (the champion has seen later days); `status`
    lists them so they do not vanish silently."""
    done = {r.day for r in records(cfg)}
    if not done:
        return []
    first, last = min(done), max(done)
    return [d for d in list_days(cfg.path("raw")) if first < d < last and d not in done]


@contextmanager
def lock(cfg: Config, holder: str) -> Iterator[None]:
    """One state-changing command at a time per pipeline: daily runs (the warm-start chain
    is sequential) and rollbacks. `holder` says who holds it, for the other's error.

    One host: flock on the runs folder itself, released by the kernel when the holder
    exits, so a crashed run never leaves a stale lock behind, and it cannot be lost by
    deleting a file (a lock on `.lock` was: a second run made a new file and locked that).
    `.lock` only says who holds it. Several hosts (`shared.database`): PostgreSQL's
    advisory lock, freed as soon as the holder's connection ends (components.postgres_runs).
    """
    if (db := _shared(cfg)) is not None:
        from components.postgres_runs import LockHeldError

        with ExitStack() as held:  # only taking the lock is translated, not the block's errors
            try:
                held.enter_context(db.lock(holder))
            except LockHeldError as err:
                raise RunLockedError(
                    f"another mtms run holds the lock: {err}; wait for it to finish"
                ) from None
            yield
        return
    folder = cfg.path("runs")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(
                f"another mtms run holds the lock on {folder} ({_holder(folder)}); "
                "wait for it to finish"
            ) from None
        info = folder / LOCK_FILE
        info.write_text(f"pid {os.getpid()}, {holder}")
        try:
            yield
        finally:
            info.unlink(missing_ok=True)
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def check_held(cfg: Config) -> None:
    """Raise RunLockedError unless this process still holds the pipeline's lock. A flock
    cannot be lost while its process lives; PostgreSQL's goes with its connection (a
    network cut, a restarted database), and then another host may be running the day."""
    if (db := _shared(cfg)) is not None and not db.holds():
        raise RunLockedError(
            f"lost the run lock of {db.pipeline} (its connection to the database ended): "
            "stopped before moving an alias; rerun the day"
        )


def _holder(folder: Path) -> str:
    try:
        return (folder / LOCK_FILE).read_text().strip() or "unknown"
    except OSError:
        return "unknown"
