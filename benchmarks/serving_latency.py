"""Latency of 200 concurrent one-row requests: MLflow's scoring server vs `mtms serve`.

Builds a small registry in a scratch workspace (3 simulated days of `--rows` impressions,
the default model trained on day 1, registered and promoted as the champion), then starts
each server on a free loopback port in turn: (a) MLflow's (`python -m mlflow models serve
-m models:/mtms@champion --env-manager local`, as `mtms serve` ran it before) and (b) the
new one (`mtms serve`). Each gets one warm-up round, then `--rounds` rounds of 200 requests
sent at once (httpx, one connection each), every request one row of day 2 as
`dataframe_records`. Reports p50/p99 latency, requests/s and non-200 answers per server.

    python benchmarks/serving_latency.py [--rows 3000] [--rounds 10] [--concurrency 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import yaml
from results import publish  # benchmarks/results.py: run as `python benchmarks/NAME.py`

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def registry_workspace(root: Path, rows: int) -> tuple[Path, str, list[dict]]:
    """params.yaml of a workspace whose champion is the day-1 model; its tracking URI; and
    one-row request bodies of day 2 (scenes the model trained on, labels left out)."""
    from components.config import load
    from components.data.partitions import read_partition
    from components.data.simulator import simulate
    from components.models.scoring import trained_scenes
    from components.registry.mlflow_registry import Registry
    from components.training.chain import train_day

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulator"]["rows_per_day"] = rows
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cfg = load(root / "params.yaml")
    start = cfg.simulator.start
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), start, 3)
    bundle, trained = train_day(cfg, "mtms", start + dt.timedelta(days=1), None)
    registry = Registry(cfg)
    run_id = registry.log_run(start + dt.timedelta(days=1), {}, {}, {}, {})
    registry.promote(registry.register(run_id, trained.path, {}).number)
    contract = bundle.encoder.contract
    table = read_partition(cfg.path("raw"), start + dt.timedelta(days=2))
    columns = [contract.scene, *(c.name for c in contract.features)]
    records = json.loads(table.select(columns).to_pandas().to_json(orient="records"))
    scenes = set(trained_scenes(bundle))
    return root / "params.yaml", registry.tracking_uri, [r for r in records if r["scene"] in scenes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_server(uri: str, port: int) -> tuple[list[str], dict[str, str]]:
    """MLflow's scoring server on the champion in this environment (what `mtms serve` ran)."""
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/mtms@champion",
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env |= {
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return argv, env


def mtms_server(params: Path, port: int) -> tuple[list[str], dict[str, str]]:
    argv = [sys.executable, "-m", "cli.main", "--params", str(params), "serve", "--port", str(port)]
    return argv, dict(os.environ)


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 180.0) -> float:
    """Seconds until /ping answers 200 (polled: the servers differ in what they print)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout:.0f} s")


async def post(port: int, body: bytes) -> tuple[float, int]:
    """One request on its own connection, timed from connecting to the answer's last byte.

    Plain asyncio streams: a client costing ~0.1 ms of CPU a request (httpx costs ~10 ms,
    as much as the server on 2 shared cores), so the numbers are the server's.
    """
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return time.perf_counter() - start, 0
    head = (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    try:
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        headers = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
        length = int(headers.split("content-length:")[1].split("\r\n")[0])
        await reader.readexactly(length)
        status = int(status_line.split()[1])
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        status = 0  # reset, refused or garbled: counted, not retried
    finally:
        writer.close()
    return time.perf_counter() - start, status


async def rounds(port: int, bodies: list[bytes], n: int, concurrency: int) -> dict:
    """One warm-up round, then `n` rounds of `concurrency` requests sent together."""
    await asyncio.gather(*(post(port, bodies[i % len(bodies)]) for i in range(concurrency)))
    results, start = [], time.perf_counter()
    for r in range(n):
        batch = [bodies[(r * concurrency + i) % len(bodies)] for i in range(concurrency)]
        results += await asyncio.gather(*(post(port, b) for b in batch))
    wall = time.perf_counter() - start
    latency = np.array([t for t, _ in results]) * 1000
    return {
        "requests": len(results),
        "p50_ms": round(float(np.percentile(latency, 50)), 1),
        "p99_ms": round(float(np.percentile(latency, 99)), 1),
        "max_ms": round(float(latency.max()), 1),
        "requests_per_s": round(len(results) / wall, 1),
        "non_200": sum(status not in (0, 200) for _, status in results),
        "connection_errors": sum(status == 0 for _, status in results),
    }


def measure(command: tuple[list[str], dict[str, str]], port: int, bodies, args) -> dict:
    argv, env = command
    server = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        ready = wait_ready(url, server)
        result = asyncio.run(rounds(port, bodies, args.rounds, args.concurrency))
        return {"start_s": round(ready, 1), **result}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mtms-serving-bench-") as tmp:
        params, uri, records = registry_workspace(Path(tmp), args.rows)
        bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
        result: dict = {"concurrency": args.concurrency, "rounds": args.rounds}
        result["cpus"] = os.cpu_count()
        port = free_port()
        result["mlflow_server"] = measure(mlflow_server(uri, port), port, bodies, args)
        port = free_port()
        result["mtms_serve"] = measure(mtms_server(params, port), port, bodies, args)
    publish("serving_latency", result)


if __name__ == "__main__":
    main()
