"""Issue 11: damaged registry state is a one-line RegistryError or the documented fallback,
never a crash of every run, a corrupt champion, or a silently reset registry.

Each test damages a fresh registry of its own (the tiny world's two bundles: v2 champion,
v1 previous) the way a disk, an operator or an attacker would, then calls the real adapter,
the flow's champion step or the command line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.main import main
from components.config import load
from components.data.partitions import day_of
from components.registry import RegistryError
from components.registry.mlflow_registry import PYFUNC_SHA, Registry
from tests.helpers import REPO

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory, tiny_world) -> Path:
    """An mlflow.db with MLflow's tables and no experiment of ours: creating the tables takes
    ~7 s on 2 cores, copying the file a few ms."""
    root = tmp_path_factory.mktemp("empty_store")
    shutil.copy(tiny_world[0].root / "params.yaml", root / "params.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        registry = Registry(load(root / "params.yaml"))
        assert registry.versions() == []
    return database(registry)


@pytest.fixture
def registered(tmp_path, tiny_world, empty_store, monkeypatch, caplog) -> tuple[Path, Registry]:
    """A workspace of its own whose registry holds both tiny bundles (v2 champion, v1
    previous): its params path and its registry."""
    caplog.set_level(logging.WARNING, logger="mlflow")  # as `mtms` sets it before MLflow loads
    for key, value in {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_HOME": str(tmp_path / "prefect"),  # what `mtms` would set: kept per test
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    tiny, paths = tiny_world
    (tmp_path / "ws").mkdir()
    shutil.copy(tiny.root / "params.yaml", tmp_path / "ws" / "params.yaml")
    params = tmp_path / "ws" / "params.yaml"
    (tmp_path / "ws" / "registry").mkdir()
    shutil.copy(empty_store, tmp_path / "ws" / "registry" / "mlflow.db")
    registry = Registry(load(params))
    for path in paths:
        run_id = registry.log_run(day_of(path), {}, {}, {}, {})
        registry.register(run_id, path, {})
    registry.promote(1)
    registry.promote(2)
    return params, registry


def model_folder(registry: Registry, number: int) -> Path:
    """Where the embedded artifact store keeps the version's MLmodel, pickle and bundle."""
    return registry.bundle_path(registry.get(number)).parents[1]


def bundle_file(registry: Registry, number: int) -> Path:
    return registry.bundle_path(registry.get(number))


def aliases(registry: Registry) -> tuple[int | None, int | None, dict]:
    champion, previous = registry.champion(), registry.previous()
    return (
        champion and champion.number,
        previous and previous.number,
        {v.number: v.tags for v in registry.versions()},
    )


def cli(params: Path, capsys, *argv: str) -> tuple[int, str, list[str]]:
    code = main(["--params", str(params), *argv])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


DAMAGE = {
    "MLmodel deleted": (lambda f: (f / "MLmodel").unlink(), "MLmodel"),
    "MLmodel not YAML": (lambda f: (f / "MLmodel").write_text("flavors: [\n  {: ]\n"), "MLmodel"),
    "MLmodel without pyfunc": (lambda f: (f / "MLmodel").write_text("a: 1\n"), "MLmodel"),
    "MLmodel not a mapping": (lambda f: (f / "MLmodel").write_text("- 1\n"), "MLmodel"),
    "bundle deleted": (lambda f: next(f.glob("artifacts/*.pt")).unlink(), "day=2026-01-06.pt"),
    "bundle emptied": (lambda f: next(f.glob("artifacts/*.pt")).write_bytes(b""), "bundle"),
    "model folder deleted": (lambda f: shutil.rmtree(f), "MLmodel"),
}
FAST = ("MLmodel deleted", "bundle deleted")  # the rest: the long tail, marked slow


@pytest.mark.parametrize(
    "damage", [d if d in FAST else pytest.param(d, marks=pytest.mark.slow) for d in DAMAGE]
)
def test_a_champion_with_damaged_files_is_one_registry_error_and_the_flow_falls_back(
    registered, damage
):
    from flows import steps

    _, registry = registered
    change, named = DAMAGE[damage]
    change(model_folder(registry, 2))
    champion = registry.champion()
    with pytest.raises(RegistryError) as raised:
        registry.bundle_path(champion)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("version 2") and named in message
    serving = steps.champion.fn(registry)  # the documented fallback: not compared, no crash
    assert serving.number == 2 and serving.path is None and serving.bundle is None
    with pytest.raises(RegistryError, match="^version 2"):
        registry.verify(champion)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:2000])  # the header survives: the checksum line


def test_verify_loads_and_scores_the_bundle_not_only_its_header(registered):
    _, registry = registered
    assert registry.verify(registry.get(1)) == bundle_file(registry, 1)
    truncate(bundle_file(registry, 1))
    registry.bundle_path(registry.get(1))  # the header alone still matches
    with pytest.raises(RegistryError, match="^version 1 cannot be loaded: .*checksum mismatch"):
        registry.verify(registry.get(1))


def test_verify_refuses_a_replaced_pickle(registered):
    _, registry = registered
    version = registry.get(2)
    pickle = model_folder(registry, 2) / "python_model.pkl"
    assert len(version.tags[PYFUNC_SHA]) == 64  # recorded when registered
    pickle.write_bytes(pickle.read_bytes() + b"\x00")
    with pytest.raises(RegistryError, match="^version 2: python_model.pkl .*does not match"):
        registry.verify(version)


def test_rollback_onto_a_corrupt_version_moves_no_alias(registered, capsys):
    params, registry = registered
    truncate(bundle_file(registry, 1))
    before = aliases(registry)
    with pytest.raises(RegistryError, match="^cannot roll back to version 1: version 1 cannot"):
        registry.rollback()
    assert aliases(registry) == before == (2, 1, before[2])
    code, out, err = cli(params, capsys, "rollback")
    assert code == 2 and len(err) == 1 and err[0].startswith("mtms: error: cannot roll back")
    assert aliases(registry) == before


def test_promoting_a_corrupt_version_moves_no_alias(registered):
    _, registry = registered
    registry.rollback()  # champion v1, v2 marked rolled back
    before = aliases(registry)
    (model_folder(registry, 2) / "MLmodel").unlink()
    with pytest.raises(RegistryError, match="^cannot promote version 2: version 2"):
        registry.promote(2)
    assert aliases(registry) == before and before[:2] == (1, None)


def test_status_shows_the_champions_health(registered, capsys):
    params, registry = registered
    code, out, _ = cli(params, capsys, "status")
    assert code == 0 and "champion: v2 " in out and "bundle ok" in out
    truncate(bundle_file(registry, 2))
    code, out, _ = cli(params, capsys, "status")
    assert code == 0 and "champion: v2 " in out and "NOT SERVABLE" in out
    assert "version 2 cannot be loaded" in out
    code, out, _ = cli(params, capsys, "status", "--json")
    health = json.loads(out)["champion"]["health"]
    assert code == 0 and health.startswith("version 2 cannot be loaded") and "\n" not in health


def test_records_naming_versions_a_registry_lacks_are_one_error(registered):
    params, registry = registered
    registry.check_records({1, 2})
    registry.check_records(set())
    with pytest.raises(RegistryError) as raised:
        registry.check_records({1, 3})
    runs = params.parent / "runs"
    assert str(raised.value).startswith(f"the day records in {runs} name versions up to v3, ")
    assert f"but the registry at {registry.tracking_uri} has only up to v2 of model" in (
        str(raised.value)
    )


def write_record(params: Path, version: int) -> None:
    """A finished day's record naming `version`, as the daily flow writes it."""
    from components import runs
    from components.records import DayRecord
    from components.validation.quarantine import ValidationReport

    report = ValidationReport(dt.date(2026, 1, 7), "simulator", True, 4000, [], 0.1)
    record = DayRecord(dt.date(2026, 1, 7), "promoted", 4000, report, version=version,
                       champion_before=version - 1, champion=version)  # fmt: skip
    runs.save_record(load(params), record)


@pytest.mark.slow
def test_an_emptied_database_is_caught_against_the_day_records(registered, tmp_path, capsys):
    params, registry = registered
    other = fresh_workspace(params, tmp_path / "emptied")
    write_record(other, 3)
    emptied = Registry(load(other))
    database(emptied).touch()  # an empty file: MLflow makes a new, empty registry of it
    with pytest.raises(RegistryError) as raised:
        emptied.check_records({1, 2, 3})
    message = str(raised.value)
    assert f"the registry at {emptied.tracking_uri} has none of model" in message
    assert "restore mlflow.db or point registry.tracking_uri at the right store" in message
    code, out, err = cli(other, capsys, "status")  # no longer "champion: none"
    assert code == 2 and err == [f"mtms: error: {message}"] and "champion" not in out


def database(registry: Registry) -> Path:
    return Path(registry.tracking_uri.removeprefix("sqlite:///"))


def fresh_workspace(params: Path, root: Path, uri: str | None = None) -> Path:
    """Another workspace with the same params (and tracking URI `uri`); its params path."""
    text = params.read_text()
    if uri is not None:
        assert "tracking_uri: null" in text
        text = text.replace("tracking_uri: null", f"tracking_uri: {uri}")
    (root / "registry").mkdir(parents=True)
    (root / "params.yaml").write_text(text)
    return root / "params.yaml"


GARBAGE_DB = {
    "garbage": lambda db: db.write_bytes(b"not a database " * 500),
    "truncated": lambda db: db.write_bytes(db.read_bytes()[:20000]),
}


@pytest.mark.parametrize("kind", list(GARBAGE_DB))
def test_a_corrupt_database_is_one_line_from_the_adapter_and_the_cli(
    registered, tmp_path, capsys, kind
):
    params, registry = registered
    other = fresh_workspace(params, tmp_path / kind)
    db = other.parent / "registry" / "mlflow.db"
    shutil.copy(database(registry), db)
    GARBAGE_DB[kind](db)
    damaged = Registry(load(other))
    with pytest.raises(RegistryError) as raised:
        damaged.champion()
    assert "\n" not in str(raised.value) and str(db) in str(raised.value)
    for argv in (["status"], ["rollback"], ["serve", "--port", "1"]):
        code, _, err = cli(other, capsys, *argv)
        assert code == 2 and len(err) == 1 and err[0].startswith("mtms: error: registry "), argv


def run_mtms(params: Path, *argv: str, timeout: float) -> tuple[int, float, list[str]]:
    """The real command in its own process: every line it writes to stderr counts."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "--params", str(params), *argv],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return done.returncode, time.monotonic() - start, done.stderr.splitlines()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.slow
def test_a_dead_tracking_server_fails_status_fast_in_one_line(registered, tmp_path):
    params, registry = registered
    other = fresh_workspace(params, tmp_path / "remote", f"http://127.0.0.1:{closed_port()}")
    code, seconds, err = run_mtms(other, "status", timeout=120)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("mtms: error: registry http://127.0.0.1:") and seconds < 60


@pytest.mark.slow
def test_a_truncated_database_is_one_line_from_the_real_command(registered, tmp_path):
    params, registry = registered
    other = fresh_workspace(params, tmp_path / "truncated")
    db = other.parent / "registry" / "mlflow.db"
    db.write_bytes(database(registry).read_bytes()[:20000])
    code, _, err = run_mtms(other, "status", timeout=120)
    assert code == 2 and len(err) == 1 and "malformed" in err[0], err


def test_tracking_uri_schemes_mlflow_cannot_use_are_config_errors(tiny_world, tmp_path, capsys):
    other = fresh_workspace(tiny_world[0].root / "params.yaml", tmp_path / "garbage", "garbage://x")
    code, out, err = cli(other, capsys, "status")
    assert code == 2 and len(err) == 1 and "registry.tracking_uri: 'garbage://x'" in err[0]
    assert "champion" not in out


def test_config_accepts_the_uris_mlflow_does():
    from components.config import RegistryConfig

    for uri in (
        "http://mlflow:5000", "https://mlflow.example.com", "file:///srv/mlruns",
        "sqlite:////srv/mlflow.db", "postgresql://u:p@db/mlflow",
        "postgresql+psycopg2://u@db/mlflow", "mysql+pymysql://u@db/m", "databricks",
        "databricks://profile", "mssql+pyodbc://u@db/m",
    ):  # fmt: skip
        RegistryConfig(model_name="m", experiment="e", tracking_uri=uri)
    for uri in ("garbage://x", "sqlite://", "", "/srv/mlflow.db", "ftp://h/x", "http://"):
        with pytest.raises(ValueError, match="must be an MLflow tracking URI"):
            RegistryConfig(model_name="m", experiment="e", tracking_uri=uri)
