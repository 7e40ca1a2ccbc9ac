"""The day records and the run lock in PostgreSQL: what hosts of one pipeline share.

Selected by `shared.database` (components.runs dispatches here). The pipeline is the
registered model's name (`registry.model_name`): hosts that promote to the same model
share its records and its lock, and one database can serve several pipelines.

- **Records**: one row per finished day, the same JSON `runs/day=D.json` holds. A forced
  rerun moves the day's row to `mtms_superseded_records` first (what `.superseded` files
  are on one host).
- **The run lock**: a session advisory lock (`pg_try_advisory_lock`) held on a connection
  of its own for as long as the run. PostgreSQL frees it the moment that connection ends:
  a holder killed with -9 closes its socket, so the next run goes ahead at once, with no
  lease to expire and nothing stale to clean. (A Prefect concurrency limit would cover
  Prefect runs only, not `mtms rollback` or `doctor`, and a killed holder's slot stays
  taken until its lease times out.) A host that vanishes without closing its socket (power
  loss) is noticed by TCP keepalives, set on the lock's connection.
- **Who holds it**: the holder writes its description under its backend pid; a refused
  run reads the pid holding the lock from `pg_locks` and the description written by that
  pid, so a stale row of a dead holder is never shown.
- **Fencing**: while a process holds the lock, its records are written on the lock's own
  connection, so a holder whose connection (and so its lock) is gone cannot write one.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOCK_CLASS = 0x6D746D73  # "mtms": the first key of every mtms advisory lock
SCHEMA_KEY = 0  # second key of the lock held while the tables are created
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
              "keepalives_count": 3}  # fmt: skip
SCHEMA = """
CREATE TABLE IF NOT EXISTS mtms_day_records (
    pipeline text NOT NULL,
    day date NOT NULL,
    outcome text NOT NULL,
    record text NOT NULL,
    written timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, day)
);
CREATE TABLE IF NOT EXISTS mtms_superseded_records (
    pipeline text NOT NULL,
    day date NOT NULL,
    outcome text NOT NULL,
    record text NOT NULL,
    superseded timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS mtms_run_lock (
    pipeline text PRIMARY KEY,
    backend_pid integer NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL DEFAULT now()
);
"""


class SharedStoreError(RuntimeError):
    """The shared database cannot be reached or refused a statement (one line)."""


class LockHeldError(RuntimeError):
    """Another process holds the pipeline's run lock; the message says who."""


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _psycopg2() -> Any:
    try:
        import psycopg2
    except ImportError:
        raise SharedStoreError(
            "shared.database needs the PostgreSQL driver: pip install 'mtms[shared]'"
        ) from None
    return psycopg2


@functools.cache
def store(url: str, pipeline: str) -> PostgresRuns:
    """One store per database and pipeline in a process (it remembers a lock it holds)."""
    return PostgresRuns(url, pipeline)


class PostgresRuns:
    def __init__(self, url: str, pipeline: str) -> None:
        self.url, self.pipeline = url, pipeline
        self.key = zlib.crc32(pipeline.encode()) & 0x7FFFFFFF
        self._held: Any = None  # the lock's connection while this process holds it
        self._guard = threading.Lock()  # the lock's connection serves one statement at a time
        self._ready = False

    # connections -------------------------------------------------------------------------

    def _connect(self, purpose: str) -> Any:
        pg = _psycopg2()
        name = f"mtms {purpose} pid {os.getpid()}"[:63]
        conn = None
        try:
            conn = pg.connect(self.url, connect_timeout=10, application_name=name, **KEEPALIVES)
            conn.autocommit = True
            if not self._ready:
                self._create(conn)
        except pg.Error as err:
            if conn is not None:
                conn.close()
            raise SharedStoreError(f"shared.database {redacted(self.url)}: {_line(err)}") from None
        return conn

    def _create(self, conn: Any) -> None:
        """The tables, once per process; under a transaction lock, as concurrent CREATE
        TABLE IF NOT EXISTS can collide on PostgreSQL's catalog."""
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, SCHEMA_KEY))
            cur.execute(SCHEMA)
        conn.commit()  # frees the transaction lock
        conn.autocommit = True
        self._ready = True

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor on the lock's connection while this process holds the lock (so a holder
        whose lock is gone writes nothing), else on a short-lived connection."""
        pg = _psycopg2()
        try:
            if self._held is not None:
                with self._guard, self._held.cursor() as cur:
                    yield cur
                return
            conn = self._connect("records")
            try:
                with conn.cursor() as cur:
                    yield cur
            finally:
                conn.close()
        except pg.Error as err:
            lost = " (the run lock went with the connection)" if self._held is not None else ""
            raise SharedStoreError(
                f"shared.database {redacted(self.url)}: {_line(err)}{lost}"
            ) from None

    # records -----------------------------------------------------------------------------

    def save(self, day: dt.date, outcome: str, text: str) -> None:
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO mtms_day_records (pipeline, day, outcome, record) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (pipeline, day) DO UPDATE "
                "SET outcome = EXCLUDED.outcome, record = EXCLUDED.record, written = now()",
                (self.pipeline, day, outcome, text),
            )

    def load(self, day: dt.date) -> str | None:
        with self._cursor() as cur:
            cur.execute(
                "SELECT record FROM mtms_day_records WHERE pipeline = %s AND day = %s",
                (self.pipeline, day),
            )
            row = cur.fetchone()
        return None if row is None else row[0]

    def all(self) -> list[str]:
        """Every finished day's record, oldest first."""
        with self._cursor() as cur:
            cur.execute(
                "SELECT record FROM mtms_day_records WHERE pipeline = %s ORDER BY day",
                (self.pipeline,),
            )
            return [row[0] for row in cur.fetchall()]

    def supersede(self, day: dt.date) -> None:
        """Move the day's record aside (one statement: moved whole or not at all)."""
        with self._cursor() as cur:
            cur.execute(
                "WITH moved AS (DELETE FROM mtms_day_records WHERE pipeline = %s AND day = %s "
                "RETURNING pipeline, day, outcome, record) "
                "INSERT INTO mtms_superseded_records (pipeline, day, outcome, record) "
                "SELECT * FROM moved",
                (self.pipeline, day),
            )

    # the run lock ------------------------------------------------------------------------

    @contextmanager
    def lock(self, holder: str) -> Iterator[None]:
        """The pipeline's run lock for the block; LockHeldError naming the holder if taken."""
        if self._held is not None:
            raise LockHeldError(f"this process holds the run lock of {self.pipeline} already")
        conn = self._connect("lock")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self.key))
                if not cur.fetchone()[0]:
                    raise LockHeldError(self._holder(cur))
                who = f"pid {os.getpid()} on {socket.gethostname()}, {holder}"
                cur.execute(
                    "INSERT INTO mtms_run_lock (pipeline, backend_pid, holder) "
                    "VALUES (%s, pg_backend_pid(), %s) ON CONFLICT (pipeline) DO UPDATE "
                    "SET backend_pid = EXCLUDED.backend_pid, holder = EXCLUDED.holder, "
                    "since = now()",
                    (self.pipeline, who),
                )
            self._held = conn
            try:
                yield
            finally:
                self._held = None
        finally:
            conn.close()  # ending the session frees the advisory lock

    def holds(self) -> bool:
        """Whether this process still holds the lock: its session is alive and granted it."""
        if self._held is None:
            return False
        try:
            with self._guard, self._held.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND "
                    "locktype = 'advisory' AND classid = %s AND objid = %s AND granted",
                    (LOCK_CLASS, self.key),
                )
                return cur.fetchone()[0] == 1
        except _psycopg2().Error:
            return False

    def _holder(self, cur: Any) -> str:
        cur.execute(
            "SELECT l.pid, r.holder, r.since FROM pg_locks l LEFT JOIN mtms_run_lock r "
            "ON r.pipeline = %s AND r.backend_pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.classid = %s AND l.objid = %s AND l.objsubid = 2 AND l.granted",
            (self.pipeline, LOCK_CLASS, self.key),
        )
        row = cur.fetchone()
        if row is None:  # freed between the try and this look: say so, the caller retries
            who = "a holder that has just finished"
        elif row[1] is None:
            who = f"backend pid {row[0]}, holder not yet named"
        else:
            who = f"{row[1]}, since {row[2].isoformat(timespec='seconds')}"
        return f"the run lock of {self.pipeline} in {redacted(self.url)} is held ({who})"


def _line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
