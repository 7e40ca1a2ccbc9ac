"""Issue 16: several hosts against shared stores, on real servers (tests/shared/conftest.py).

A "host" is a workspace folder of its own, run as its own `mtms` processes; the hosts
share MLflow (on PostgreSQL, artifacts on S3), Prefect (on PostgreSQL) and the records
and run lock (PostgreSQL). Each test uses its own pipeline (registered model), so the
tests share the servers but nothing else.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from components import runs
from components.config import load
from components.postgres_runs import LOCK_CLASS, SharedStoreError, store
from components.registry.mlflow_registry import Registry
from tests.helpers import TINY, mtms, mtms_command, write_params

pytestmark = [pytest.mark.server, pytest.mark.e2e, pytest.mark.slow]

START = dt.date(2026, 1, 5)
DAYS = [START + dt.timedelta(days=i) for i in range(4)]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Four tiny simulated days every host gets a copy of (what `dvc pull` gives a host)."""
    from components.data.simulator import simulate

    cfg = write_params(tmp_path_factory.mktemp("raw"), TINY)
    sim = cfg.simulator.model_copy(update={"rows_per_day": 3000})
    simulate(sim, cfg.seed, cfg.path("raw"), START, len(DAYS))
    return cfg.path("raw")


def host(root: Path, stores, raw: Path, pipeline: str) -> Path:
    """A workspace on the shared stores; its params path."""
    shared = {
        "registry": {"model_name": pipeline, "experiment": pipeline, "tracking_uri": stores.mlflow},
        "shared": {"database": stores.database("mtms"), "prefect_api": stores.prefect},
    }
    cfg = write_params(root, {**TINY, **shared})
    shutil.copytree(raw, cfg.path("raw"))
    return root / "params.yaml"


def query(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def recorded(stores, pipeline: str) -> list[tuple[str, str]]:
    rows = query(
        stores.database("mtms"),
        "SELECT day, outcome FROM mtms_day_records WHERE pipeline = %s ORDER BY day",
        (pipeline,),
    )
    return [(d.isoformat(), outcome) for d, outcome in rows]


def test_a_backfill_runs_on_mlflow_and_prefect_servers_on_postgres_with_artifacts_on_s3(
    tmp_path, stores, raw
):
    params = host(tmp_path / "a", stores, raw, "backfill")
    done = mtms(params, "backfill", "--start", str(DAYS[0]), "--end", str(DAYS[2]))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    # the records are in PostgreSQL, none on the host's disk
    outcomes = dict(recorded(stores, "backfill"))
    assert list(outcomes) == [d.isoformat() for d in DAYS[:3]]
    assert outcomes[str(DAYS[0])] == "no-training-data"
    assert outcomes[str(DAYS[1])] == "promoted"
    cfg = load(params)
    assert not list(cfg.path("runs").glob("day=*.json"))
    assert [r.day for r in runs.records(cfg)] == DAYS[:3]

    # MLflow's runs and versions are in its PostgreSQL database, the bundles on S3
    registry = Registry(cfg)
    champion = registry.champion()
    assert champion is not None and registry.verify(champion)
    versions = query(
        stores.database("mlflow"), "SELECT version FROM model_versions WHERE name = 'backfill'"
    )
    assert len(versions) == len(registry.versions()) >= 1
    s3 = stores.s3_client()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mtms", Prefix="mlflow/")["Contents"]]
    bundles = [k for k in keys if k.endswith(".pt")]
    assert len(bundles) >= len(versions), keys

    # the Prefect flow runs are in Prefect's PostgreSQL database, named by day, states named
    flow_runs = dict(query(stores.database("prefect"), "SELECT name, state_name FROM flow_run"))
    assert flow_runs[f"day={DAYS[0]}"] == "NoTrainingData"
    assert flow_runs[f"day={DAYS[1]}"] == "Promoted"


def test_two_hosts_running_the_same_day_at_once_promote_once(tmp_path, stores, raw):
    hosts = [host(tmp_path / name, stores, raw, "race") for name in ("a", "b")]
    day = str(DAYS[1])
    procs = [
        subprocess.Popen(
            **mtms_command(p, "run", "--day", day), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for p in hosts
    ]
    outs = [(p.wait(timeout=600), *p.communicate()) for p in procs]

    assert recorded(stores, "race") == [(day, "promoted")]  # one record
    registry = Registry(load(hosts[0]))
    assert [v.trained_through for v in registry.versions()] == [str(DAYS[0])]  # one version
    assert registry.champion().number == registry.versions()[0].number
    ran = [o for o in outs if o[0] == 0 and "finished already" not in o[1] + o[2]]
    assert len(ran) == 1, outs  # the other was refused, or came after and found the record
    other = next(o for o in outs if o is not ran[0])
    assert "holds the lock" in other[2] or "finished already" in other[1] + other[2], other


def test_a_refused_host_is_told_who_holds_the_lock_and_goes_ahead_once_it_is_killed(
    tmp_path, stores, raw
):
    a, b = (host(tmp_path / name, stores, raw, "kill") for name in ("a", "b"))
    day = str(DAYS[1])
    # host a stops itself inside the lock, before validating: alive, holding it
    holder = subprocess.Popen(
        **mtms_command(a, "run", "--day", day, failpoint="validation:before=stop"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while _state(holder.pid) != "T":
            assert holder.poll() is None and time.monotonic() < deadline, "host a never stopped"
            time.sleep(0.2)
        refused = mtms(b, "run", "--day", day)
        assert refused.returncode != 0
        assert "another mtms run holds the lock" in refused.stderr, refused.stderr[-2000:]
        assert f"pid {holder.pid} on " in refused.stderr and f"day {day}" in refused.stderr
        assert recorded(stores, "kill") == []
    finally:
        holder.kill()  # kill -9 while it holds the lock
        holder.wait()
    killed = time.monotonic()
    while _lock_holders(stores, "kill"):
        assert time.monotonic() - killed < 5, "the lock outlived its killed holder"
        time.sleep(0.05)
    freed = time.monotonic() - killed
    went = mtms(b, "run", "--day", day)
    assert went.returncode == 0, went.stderr[-3000:]
    assert recorded(stores, "kill") == [(day, "promoted")]
    print(f"lock freed {freed * 1000:.0f} ms after kill -9 of its holder")


def _state(pid: int) -> str:
    """A process's state letter (R, S, T = stopped, Z) from /proc."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _lock_holders(stores, pipeline: str) -> list:
    key = store(stores.database("mtms"), pipeline).key
    return query(
        stores.database("postgres"),
        "SELECT pid FROM pg_locks WHERE locktype = "
        "'advisory' AND classid = %s AND objid = %s AND granted",
        (LOCK_CLASS, key),
    )


def test_a_record_is_not_written_by_a_holder_whose_lock_is_gone(stores):
    """Fencing: the holder's records go over the lock's own connection; when that session
    ends (here: terminated by the server, as a network cut ends it), so does the lock, and
    the holder's record is refused instead of written beside another host's."""
    db = store(stores.database("mtms"), "fenced")
    assert not db.holds()
    with db.lock("day 2026-01-06"):
        assert db.holds()
        query(
            stores.database("postgres"),
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND objid = %s AND granted",
            (db.key,),
        )
        assert not db.holds()  # the daily flow checks this before it moves an alias
        with pytest.raises(SharedStoreError, match="the run lock went with the connection"):
            db.save(DAYS[1], "promoted", "{}")
    assert db.load(DAYS[1]) is None
    with db.lock("day 2026-01-06"):  # taken again at once
        db.save(DAYS[1], "promoted", '{"x": 1}')
    db.supersede(DAYS[1])
    assert db.load(DAYS[1]) is None and db.all() == []
    moved = query(
        stores.database("mtms"),
        "SELECT record FROM mtms_superseded_records WHERE pipeline = 'fenced'",
    )
    assert moved == [('{"x": 1}',)]


def test_an_unreachable_database_is_one_line_naming_it_without_its_password(tmp_path):
    port = 1  # nothing listens there
    db = store(f"postgresql://mtms:secret@127.0.0.1:{port}/mtms", "nowhere")
    with pytest.raises(SharedStoreError) as err:
        db.all()
    message = str(err.value)
    assert "\n" not in message and "secret" not in message
    assert f"postgresql://mtms:***@127.0.0.1:{port}/mtms" in message


def test_dvc_push_and_pull_round_trip_through_s3(make_dvc_workspace, stores):
    root = make_dvc_workspace("dvc")
    raw = root / "data" / "raw" / "day=2026-01-05"
    raw.mkdir(parents=True)
    (raw / "part-0.parquet").write_bytes(os.urandom(4096))
    env = {**os.environ, **stores.s3_env()}
    dvc = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True
    )
    for args in (
        ("add", "data/raw"),
        ("remote", "add", "-d", "s3", "s3://mtms/dvc"),
        ("remote", "modify", "s3", "endpointurl", stores.s3),
        ("push",),
    ):
        done = dvc(*args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
    before = (raw / "part-0.parquet").read_bytes()
    shutil.rmtree(root / "data" / "raw")
    shutil.rmtree(root / ".dvc" / "cache")
    pulled = dvc("pull")
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    assert (raw / "part-0.parquet").read_bytes() == before
    s3 = stores.s3_client()
    assert s3.list_objects_v2(Bucket="mtms", Prefix="dvc/")["KeyCount"] >= 2  # file + dir listing


def test_the_run_lock_error_reaches_the_cli_as_one_line(tmp_path, stores, raw):
    """The shared lock's refusal is the same one line as the one-host flock's."""
    params = host(tmp_path / "a", stores, raw, "oneline")
    cfg = load(params)
    with runs.lock(cfg, "rollback"):
        refused = mtms(params, "rollback")
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "another mtms run holds the lock" in lines[0], refused.stderr
    assert f"pid {os.getpid()} on " in lines[0] and "rollback" in lines[0]
