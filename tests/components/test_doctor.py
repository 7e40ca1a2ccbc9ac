"""Issue 11 #11: what interrupted runs leave is found, cleaned and named (`mtms doctor`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

from cli.main import main
from components import atomic, doctor
from components.registry.mlflow_registry import Registry
from tests.helpers import REPO

pytestmark = pytest.mark.faults

WRITER = """
import sys, tempfile, time
from components import atomic
fd, path = tempfile.mkstemp(prefix=atomic.temp_prefix(sys.argv[1]), suffix=atomic.SUFFIX,
                            dir=sys.argv[2])
print(path, flush=True)
time.sleep(60)
"""


def test_a_killed_writers_temporary_files_are_removed_and_a_live_ones_kept(cfg):
    folder = cfg.path("models") / "mtms"
    folder.mkdir(parents=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder / "day=2026-01-05.pt"), str(folder)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    orphan = writer.stdout.readline().strip()
    os.kill(writer.pid, signal.SIGKILL)  # killed mid-write
    writer.wait()
    _, live = tempfile.mkstemp(
        prefix=atomic.temp_prefix(folder / "day=2026-01-06.pt"), suffix=atomic.SUFFIX, dir=folder
    )  # this process is writing it
    legacy = folder / ".day=2026-01-04.pt.k2j4_x9a"  # named before temp names held the pid
    legacy.write_bytes(b"half a bundle")
    partition = cfg.path("raw") / ".day=2026-01-07.pid999999999.abc.tmp"
    partition.mkdir(parents=True)
    removed = doctor.sweep(cfg)
    assert sorted(map(str, removed)) == sorted([orphan, str(legacy), str(partition)])
    assert os.path.exists(live) and doctor.sweep(cfg) == []


def test_registry_leftovers_of_a_killed_registration_are_cleaned(cfg, tiny_world):
    registry = Registry(cfg)
    _, paths = tiny_world
    client = MlflowClient(registry.tracking_uri)
    kept = registry.register(registry.log_run(cfg.simulator.start, {}, {}, {}, {}), paths[0], {})
    experiment = client.get_experiment_by_name(cfg.registry.experiment).experiment_id
    stuck = client.create_run(experiment, run_name="day=2026-01-06")  # killed in log_model
    orphan = client.create_logged_model(experiment, "model", stuck.info.run_id)
    files = atomic.write_bytes(  # part of the bundle copy that was under way
        Path(orphan.artifact_location.removeprefix("file://")) / "bundle.pt",
        b"x" * 1000,
    )
    done = registry.tidy()
    assert done == [
        "marked MLflow run day=2026-01-06 KILLED",
        f"deleted unregistered logged model {orphan.model_id} (PENDING)",
    ]
    assert client.get_run(stuck.info.run_id).info.status == "KILLED"
    assert not files.exists()
    assert registry.tidy() == []  # nothing left
    assert registry.verify(registry.get(kept.number))  # the registered version is untouched


def test_mtms_doctor_says_what_it_cleaned(cfg, capsys):
    stray = cfg.path("runs") / ".day=2026-01-05.json.pid999999999.x1.tmp"
    stray.parent.mkdir(parents=True)
    stray.write_text("{")
    assert main(["--params", str(cfg.root / "params.yaml"), "doctor"]) == 0
    out = capsys.readouterr().out
    assert f"removed {stray}" in out and "1 thing(s) cleaned" in out
    assert main(["--params", str(cfg.root / "params.yaml"), "doctor"]) == 0
    assert "nothing to clean" in capsys.readouterr().out
