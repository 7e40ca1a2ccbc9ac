"""`mtms serve` as a process: it serves the champion's bundle itself (no child process),
stops cleanly on SIGTERM or SIGINT (exit 0, the port free again) and says why it cannot start."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from components.config import load as load_params
from components.models import bundle as bundles
from components.models.scoring import example_row
from components.registry.mlflow_registry import Registry
from tests.helpers import REPO, write_params

pytestmark = [pytest.mark.server, pytest.mark.faults]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_world) -> Path:
    """A workspace whose registry holds the tiny world's two bundles, v2 the champion."""
    cfg = write_params(tmp_path_factory.mktemp("serve") / "ws")
    registry = Registry(cfg)
    for path in tiny_world[1]:
        day = dt.date.fromisoformat(bundles.load(path).meta["day"])
        version = registry.register(registry.log_run(day, {}, {}, {}, {}), path, {})
        registry.promote(version.number)
    return cfg.root / "params.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_listen(port: int) -> bool:
    """What a restarted server needs: nobody else listening on the port."""
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def start(params: Path, port: int, *which: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "cli.main", "--params", str(params), "serve", "--port", str(port),
            *which]  # fmt: skip
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip


def wait_listening(server: subprocess.Popen, timeout: float = 120.0) -> None:
    """Read its output up to the line saying the socket listens (killed if that never comes)."""
    watchdog = threading.Timer(timeout, server.kill)
    watchdog.start()
    try:
        for line in server.stdout:
            if line.startswith("listening on "):
                return
    finally:
        watchdog.cancel()
    raise AssertionError(f"mtms serve exited with {server.wait()}: {server.stderr.read()[-2000:]}")


def call(port: int, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data,
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_mtms_serve_with_0_and_frees_the_port(workspace, tiny_world, stop):
    port = free_port()
    server = start(workspace, port)
    try:
        wait_listening(server)
        bundle = bundles.load(tiny_world[1][1])
        assert call(port, "/model")["version"] == 2
        assert call(port, "/model")["checksum"] == bundle.meta["checksum"]
        row = example_row(bundle.encoder.contract, "feed")
        [scored] = call(port, "/invocations", {"dataframe_records": [row]})["predictions"]
        assert set(scored) == {"p_ctr", "p_cvr", "p_ctcvr"}
        assert psutil.Process(server.pid).children(recursive=True) == []  # nothing to orphan
        assert not can_listen(port)
        server.send_signal(stop)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert "Traceback" not in server.stderr.read()
    assert can_listen(port)


def test_a_taken_port_is_a_one_line_error(workspace):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = start(workspace, port)
        out, err = server.communicate(timeout=120)
    assert server.returncode == 2
    assert err.strip() == f"mtms: error: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize("which", [("--alias", "previous"), ("--version", "1")])
def test_serve_takes_another_alias_or_a_version(workspace, tiny_world, which):
    port = free_port()
    server = start(workspace, port, *which)
    try:
        wait_listening(server)
        model = call(port, "/model")
        assert model["version"] == 1  # v1: `previous` once v2 was promoted
        assert model["checksum"] == bundles.load(tiny_world[1][0]).meta["checksum"]
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_an_unset_alias_is_a_one_line_error(workspace):
    server = start(workspace, free_port(), "--alias", "canary")
    out, err = server.communicate(timeout=120)
    assert (
        server.returncode == 2 and err.strip() == "mtms: error: model 'mtms' has no canary to serve"
    )


def test_a_served_alias_that_moves_is_followed_without_a_restart(workspace, tiny_world):
    """Promotion and rollback while serving: the server answers with the version the alias
    names after its next check; requests keep being answered throughout."""
    registry = Registry(load_params(workspace))
    port = free_port()
    server = start(workspace, port, "--follow-every", "1")
    try:
        wait_listening(server)
        assert call(port, "/model")["version"] == 2
        row = example_row(bundles.load(tiny_world[1][0]).encoder.contract, "feed")
        registry.rollback()  # champion -> v1
        assert wait_for_version(port, 1, row) == bundles.load(tiny_world[1][0]).meta["checksum"]
        registry.promote(2)
        assert wait_for_version(port, 2, row) == bundles.load(tiny_world[1][1]).meta["checksum"]
    finally:
        if registry.champion().number != 2:
            registry.promote(2)  # the module's workspace as the other tests expect it
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert "now serving version 1 (was 2)" in server.stderr.read()


def wait_for_version(port: int, number: int, row: dict, timeout: float = 120.0) -> str:
    """Score and ask /model until it names `number` (a wait, not a timing check); its checksum."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [scored] = call(port, "/invocations", {"dataframe_records": [row]})["predictions"]
        assert 0 < scored["p_ctr"] < 1
        model = call(port, "/model")
        if model["version"] == number:
            return model["checksum"]
        time.sleep(0.2)
    raise AssertionError(f"still serving version {call(port, '/model')['version']}")
