"""Real servers on loopback for the several-hosts tests, one of each per session, stopped
by PID: PostgreSQL 15 (a throwaway cluster), an S3 server (moto; production uses S3 or
MinIO), an MLflow tracking server on PostgreSQL with its artifacts on S3, and a Prefect
server on PostgreSQL.

`make test` installs Debian's postgresql-15 when it is missing (`make postgres`); without
it these tests fail, never skip: a skipped store test would pass CI having tested nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("MTMS_PG_BIN", "/usr/lib/postgresql/15/bin"))
BUCKET = "mtms"
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Stores:
    pg: str  # postgresql://postgres@127.0.0.1:PORT (add /DATABASE)
    s3: str  # the S3 endpoint, http://127.0.0.1:PORT
    mlflow: str  # the MLflow tracking server
    prefect: str  # the Prefect server's API
    logs: Path  # the servers' logs

    def database(self, name: str) -> str:
        return f"{self.pg}/{name}"

    def s3_client(self):
        return s3_client(self.s3)

    def s3_env(self) -> dict[str, str]:
        """What an S3 client (boto3, dvc-s3, the MLflow server) needs to reach the bucket."""
        return {**S3_KEYS, "AWS_ENDPOINT_URL": self.s3, "MLFLOW_S3_ENDPOINT_URL": self.s3}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, what: str, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 (not up yet: refused, reset, 503)
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    pytest.fail(f"{what} did not come up in {timeout:.0f} s; its log ends:\n{tail}")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a server by its PID (its process group: a server's own workers go too)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


def start(argv: list[str], log: Path, env: dict | None = None, **kwargs) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            **kwargs,
        )


@pytest.fixture(scope="session")
def stores() -> Iterator[Stores]:
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"PostgreSQL 15 is not installed ({PG_BIN}): run `make postgres`")
    root = Path(tempfile.mkdtemp(prefix="mtms-stores-"))
    root.chmod(0o755)
    logs = root / "logs"
    logs.mkdir()
    running: list[tuple[subprocess.Popen, int]] = []
    try:
        pg = _postgres(root, logs, running)
        s3 = _s3(logs, running)
        env = {**os.environ, **S3_KEYS, "AWS_ENDPOINT_URL": s3, "MLFLOW_S3_ENDPOINT_URL": s3}
        mlflow = _mlflow(pg, env, logs, running)
        prefect = _prefect(pg, root, logs, running)
        yield Stores(pg, s3, mlflow, prefect, logs)
    finally:
        for process, sig in reversed(running):
            stop(process, sig)
        shutil.rmtree(root, ignore_errors=True)


def _postgres(root: Path, logs: Path, running: list) -> str:
    """initdb + postgres on a loopback port; as the `postgres` user when run as root
    (PostgreSQL refuses root). Databases: mtms, mlflow, prefect."""
    import psycopg2

    data = root / "pg"
    data.mkdir()
    as_user: dict = {}
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        as_user = {"user": "postgres", "group": "postgres", "extra_groups": []}
    log = logs / "postgres.log"
    subprocess.run(
        [
            PG_BIN / "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **as_user,
    )
    port = free_port()
    argv = [
        PG_BIN / "postgres",
        "-D",
        data,
        "-p",
        str(port),
        "-k",
        data,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "max_connections=200",
    ]
    # SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for every client to leave)
    running.append((start(argv, log, **as_user), signal.SIGINT))
    url = f"postgresql://postgres@127.0.0.1:{port}"
    wait_for(lambda: psycopg2.connect(f"{url}/postgres").close() is None, "PostgreSQL", log)
    conn = psycopg2.connect(f"{url}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in ("mtms", "mlflow", "prefect"):
            cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return url


def _s3(logs: Path, running: list) -> str:
    port = free_port()
    log = logs / "s3.log"
    running.append(
        (
            start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log),
            signal.SIGTERM,
        )
    )
    url = f"http://127.0.0.1:{port}"
    client = s3_client(url)
    wait_for(lambda: client.list_buckets() is not None, "the S3 server", log)
    client.create_bucket(Bucket=BUCKET)
    return url


def s3_client(url: str):
    """A boto3 S3 client of the test server, with its test keys."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_KEYS["AWS_DEFAULT_REGION"],
    )


def _mlflow(pg: str, env: dict, logs: Path, running: list) -> str:
    port = free_port()
    log = logs / "mlflow.log"
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"{pg.replace('postgresql', 'postgresql+psycopg2', 1)}/mlflow",
        "--artifacts-destination",
        f"s3://{BUCKET}/mlflow",
        "--workers",
        "1",
    ]
    env = {**env, "MLFLOW_DISABLE_TELEMETRY": "true"}
    running.append((start(argv, log, env), signal.SIGTERM))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(f"{url}/health"), "the MLflow server", log, timeout=180)
    return url


def _prefect(pg: str, root: Path, logs: Path, running: list) -> str:
    port = free_port()
    log = logs / "prefect.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    database = f"{pg.replace('postgresql', 'postgresql+asyncpg', 1)}/prefect"
    env |= {
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    argv = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    running.append((start(argv, log, env), signal.SIGTERM))
    url = f"http://127.0.0.1:{port}/api"
    wait_for(lambda: http_ok(f"{url}/health"), "the Prefect server", log, timeout=180)
    return url
