"""The MLflow registry adapter: runs, versions, the champion chain, and the served pyfunc."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from components.config import Config
from components.data.partitions import day_of, read_partition
from components.evaluation.evaluate import logits, predict
from components.lineage import data_inputs, source_tags, window_md5
from components.models import bundle as bundles
from components.models.scoring import score, trained_scenes
from components.registry import RegistryError
from components.registry.mlflow_registry import Registry
from tests.helpers import request_rows


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_world):
    """Two bundles registered once in an embedded registry in the tiny world's workspace.

    MLFLOW_TRACKING_URI points at a stray database that must stay unborn: every call of
    the adapter has to use the configured registry, never MLflow's global default.
    """
    stray = tmp_path_factory.mktemp("registry") / "stray.db"
    cfg, paths = tiny_world
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{stray}")
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        registry = Registry(cfg)
        versions = []
        for path in paths:
            day = dt.date.fromisoformat(bundles.load(path).meta["day"])
            run_id = registry.log_run(day, {"model": "mtms"}, {}, {}, {})
            versions.append(registry.register(run_id, path, {"model": "mtms"}))
        yield cfg, registry, paths, versions
    assert not stray.exists(), "the adapter used MLflow's global tracking URI"


def named(cfg: Config, name: str) -> Config:
    """The same workspace and database, another registered model."""
    return cfg.model_copy(update={"registry": cfg.registry.model_copy(update={"model_name": name})})


def renamed(world, name: str) -> Registry:
    """Both bundles registered under another model name, for tests that move aliases."""
    cfg, registry, paths, _ = world
    other = Registry(named(cfg, name))
    for path in paths:
        other.register(registry.find(day_of(path)).run_id, path, {})
    return other


def test_embedded_registry_lives_in_the_registry_folder(world):
    cfg, registry, _, _ = world
    assert registry.tracking_uri == f"sqlite:///{cfg.path('registry')}/mlflow.db"
    assert (cfg.path("registry") / "mlflow.db").is_file()
    assert f"mlflow ui --backend-store-uri {registry.tracking_uri}" in registry.ui_command()
    assert registry.model_uri() == "models:/mtms@champion"
    elsewhere = cfg.model_copy(update={"root": cfg.root / "elsewhere"})
    assert Registry(elsewhere).tracking_uri == f"sqlite:///{elsewhere.path('registry')}/mlflow.db"
    assert not (cfg.root / "elsewhere").exists()  # created on first use, not by __init__


def test_log_run_is_finished_and_skips_nan_metrics(world):
    from mlflow import MlflowClient

    _, registry, _, _ = world
    run_id = registry.log_run(
        dt.date(2026, 1, 9), {"window": 1, "lr": 0.01}, {"auc": 0.71, "cvr_auc": math.nan},
        {"status": "rejected"}, {"gate.json": '{"passed": false}'},
    )  # fmt: skip
    client = MlflowClient(registry.tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "day=2026-01-09"
    assert run.data.metrics == {"auc": 0.71}
    assert run.data.params == {"window": "1", "lr": "0.01"}
    assert run.data.tags["status"] == "rejected" and run.data.tags["day"] == "2026-01-09"
    assert [a.path for a in client.list_artifacts(run_id)] == ["gate.json"]


def test_a_run_lists_its_datasets_and_source(world):
    """The training window and the judged day as MLflow run inputs (name, digest, context,
    rows); the commit as MLflow's own source tag, only when the tree was clean."""
    from mlflow import MlflowClient

    cfg, registry, paths, _ = world
    day, window = day_of(paths[1]) + dt.timedelta(days=1), [day_of(paths[0]), day_of(paths[1])]
    inputs = data_inputs(cfg, day, window, 123, window_md5(cfg, window))
    tags = source_tags({"git_commit": "a" * 40}) | {"model": "mtms"}
    run_id = registry.log_run(day, {}, {}, tags, {}, inputs)
    run = MlflowClient(registry.tracking_uri).get_run(run_id)
    found = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert list(found) == [f"raw {window[0]}..{window[1]}", f"raw {day}"]
    train, judged = found.values()
    assert train.dataset.digest == window_md5(cfg, window) != window_md5(cfg, [day])
    assert judged.dataset.digest == window_md5(cfg, [day]) and '"num_rows": 123' in (
        judged.dataset.profile
    )
    assert [t.value for t in train.tags] == ["training"] and judged.tags[0].value == "evaluation"
    assert run.data.tags["mlflow.source.git.commit"] == "a" * 40
    assert "mlflow.source.git.commit" not in source_tags({"git_commit": "a" * 40 + "-dirty"})


def test_versions_carry_day_and_checksum_and_are_found_again(world):
    _, registry, paths, (v1, v2) = world
    assert (v1.number, v2.number) == (1, 2)
    for version, path in zip((v1, v2), paths, strict=True):
        assert version.trained_through == day_of(path).isoformat()
        assert version.checksum == bundles.checksum(path) and version.tags["model"] == "mtms"
        assert registry.bundle_path(version).read_bytes() == path.read_bytes()
    assert [v.number for v in registry.versions()] == [2, 1]
    assert registry.get(1) == v1
    assert registry.find(day_of(paths[1])).number == 2
    assert registry.find(day_of(paths[1]), v2.checksum).number == 2
    assert registry.find(day_of(paths[1]), v1.checksum) is None
    assert registry.find(dt.date(2026, 2, 1)) is None
    with pytest.raises(RegistryError, match="^model 'mtms' has no version 99$"):
        registry.get(99)


def test_a_version_says_its_run_day_its_signature_and_an_example(world, monkeypatch):
    """`day` means the daily run's day on runs and versions alike; what the bundle trained
    through is `trained_through`. The pyfunc has a signature of the contract's inputs and
    the three probabilities, and an input example that scores."""
    import mlflow

    cfg, _, paths, _ = world
    registry = Registry(named(cfg, "signed"))
    through = day_of(paths[0])
    run_id = registry.log_run(through + dt.timedelta(days=1), {}, {}, {}, {})
    version = registry.register(run_id, paths[0], {})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)
    assert version.tags["day"] == (through + dt.timedelta(days=1)).isoformat()
    assert version.tags["trained_through"] == version.trained_through == through.isoformat()
    info = mlflow.models.get_model_info(f"models:/signed/{version.number}")
    contract = bundles.load(paths[0]).encoder.contract
    signed = info.signature.inputs.input_names()
    assert signed == [contract.scene, *(c.name for c in contract.features)]
    assert info.signature.outputs.input_names() == ["p_ctr", "p_cvr", "p_ctcvr"]
    model = mlflow.pyfunc.load_model(f"models:/signed/{version.number}")
    example = model.input_example
    served = trained_scenes(bundles.load(paths[0]))
    assert tuple(example["scene"]) == served and list(example.columns) == signed
    answers = model.predict(example).to_numpy()
    assert answers.shape == (len(served), 3) and ((answers > 0) & (answers < 1)).all()


def test_promote_and_rollback_walk_the_champion_chain(world):
    registry = renamed(world, "chain")
    with pytest.raises(RegistryError, match="^no previous champion to roll back to$"):
        registry.rollback()
    registry.promote(1)
    assert registry.champion().number == 1 and registry.previous() is None
    registry.promote(2)
    registry.promote(2)  # idempotent: previous stays the old champion
    assert registry.champion().aliases == ("champion",)
    assert (registry.champion().number, registry.previous().number) == (2, 1)
    assert registry.get(2).tags["replaced"] == "1"
    back = registry.rollback()
    assert back.number == 1 and registry.champion().number == 1 and registry.previous() is None
    assert registry.get(2).tags["rolled_back"] == "true"
    with pytest.raises(RegistryError, match="^no previous champion to roll back to$"):
        registry.rollback()
    registry.promote(2)  # promoted again: no longer marked rolled back
    assert "rolled_back" not in registry.get(2).tags and registry.previous().number == 1


def test_rollback_restores_the_chain_two_deep(world):
    registry = renamed(world, "deep")
    paths = world[2]
    registry.register(registry.find(day_of(paths[0])).run_id, paths[0], {})  # version 3
    for number in (1, 2, 3):
        registry.promote(number)
    assert registry.rollback().number == 2 and registry.previous().number == 1
    assert registry.rollback().number == 1 and registry.previous() is None


def test_serve_and_rollback_commands_of_the_cli_edge(world):
    from rich.console import Console

    from cli.rollback import rollback
    from cli.serving import serve
    from components.models.scoring import example_row

    cfg, _, paths, _ = world
    registry = renamed(world, "edge")
    edge = named(cfg, "edge")
    with pytest.raises(RegistryError, match="^model 'edge' has no champion to serve: [^\\n]*$"):
        serve(Console(), edge, "127.0.0.1", free_port())
    registry.promote(1)
    registry.promote(2)
    console = Console(record=True, width=200)
    assert rollback(console, edge) == 0
    assert (
        "edge: champion version 2 (trained through 2026-01-06) -> "
        "version 1 (trained through 2026-01-05)" in (console.export_text())
    )
    bundle = bundles.load(paths[0])  # the curl example `mtms serve` prints scores
    record = example_row(bundle.encoder.contract, cfg.model.scenes[0])
    assert score(bundle, pd.DataFrame([record])).notna().all().all()


def test_pyfunc_of_the_champion_scores_raw_rows_like_evaluate(world, monkeypatch):
    import mlflow
    from mlflow.exceptions import MlflowException

    cfg, registry, paths, (_, v2) = world
    registry.promote(v2.number)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/mtms@champion")
    bundle = bundles.load(paths[1])
    day2 = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=2))
    table, rows = request_rows(bundle, day2, 300)
    out = model.predict(rows)
    expected = predict(bundle.model, bundle.encoder.encode(table)[0])
    for task in ("ctr", "cvr", "ctcvr"):
        np.testing.assert_allclose(out[f"p_{task}"].to_numpy(), expected[task], rtol=1e-6)
    with pytest.raises(MlflowException, match="^unknown scene\\(s\\) radio: "):
        model.predict(rows.assign(scene="radio"))


LOAD_WITHOUT_REPO = """
import importlib.util, json, sys
import pandas as pd
assert importlib.util.find_spec("components") is None, "mtms is importable without the model"
import mlflow
model = mlflow.pyfunc.load_model(sys.argv[1])
import components
print(json.dumps({"code": components.__file__,
                  "scores": model.predict(pd.read_parquet(sys.argv[2])).to_numpy().tolist()}))
"""


@pytest.mark.server
def test_the_champion_loads_and_scores_where_mtms_is_not_installed(world, tmp_path):
    """mlflow.pyfunc.load_model in a Python that has the model's requirements but not the
    repo: no PYTHONPATH, no editable install (site-packages without its .pth files), another
    working directory. The mtms code comes from the model's own code_paths."""
    import sysconfig

    cfg, registry, paths, (_, v2) = world
    registry.promote(v2.number)
    bundle = bundles.load(paths[1])
    _, rows = request_rows(bundle, read_partition(cfg.path("raw"), day_of(paths[1])), 40)
    rows.to_parquet(tmp_path / "rows.parquet")
    stdlib, site = sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]
    prelude = f"import sys; sys.path[:] = [{stdlib!r}, {stdlib + '/lib-dynload'!r}, {site!r}]"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["MLFLOW_TRACKING_URI"] = registry.tracking_uri
    argv = [sys.executable, "-I", "-S", "-c", prelude + "\n" + LOAD_WITHOUT_REPO]
    done = subprocess.run(
        [*argv, registry.model_uri(), str(tmp_path / "rows.parquet")], env=env,
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    repo = Path(__file__).resolve().parents[3]
    assert "/code/components/" in answer["code"] and not answer["code"].startswith(str(repo))
    np.testing.assert_allclose(answer["scores"], score(bundle, rows).to_numpy(), rtol=1e-12)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"scoring server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    raise AssertionError(f"scoring server not ready after {timeout:.0f} s")


def post(url: str, records: list[dict]) -> dict:
    body = json.dumps({"dataframe_records": records}).encode()
    request = urllib.request.Request(
        f"{url}/invocations", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.mark.server
def test_scoring_server_serves_the_champion(world, tmp_path, monkeypatch):
    cfg, registry, paths, (_, v2) = world
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a venv that is not activated: no uvicorn
    registry.promote(v2.number)
    bundle = bundles.load(paths[1])
    table, rows = request_rows(bundle, read_partition(cfg.path("raw"), day_of(paths[1])), 50)
    assert not bundle.model.calibration.is_identity()  # the tiny world is calibrated (Platt)
    port = free_port()
    argv, env = registry.serve_command("127.0.0.1", port)  # MLflow's server on the pyfunc
    env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server)
        served = pd.DataFrame(post(url, rows.to_dict(orient="records"))["predictions"])
        with pytest.raises(urllib.error.HTTPError) as refused:
            post(url, [{"scene": "feed"}])
        assert refused.value.code == 400
        message = json.loads(refused.value.read())["message"]  # the signature refuses it
        assert "Model is missing inputs ['user_id'," in message
    except AssertionError as err:
        log.flush()
        tail = (tmp_path / "server.log").read_text()[-3000:]
        raise AssertionError(f"{err}\n--- server log ---\n{tail}") from None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    local = score(bundle, rows)
    assert list(served.columns) == ["p_ctr", "p_cvr", "p_ctcvr"] and len(served) == len(rows)
    np.testing.assert_allclose(served.to_numpy(), local.to_numpy(), rtol=1e-12)
    # over HTTP the calibrated probabilities, as local predict gives them; not the raw ones
    data = bundle.encoder.encode(table)[0]
    np.testing.assert_allclose(served["p_ctr"], predict(bundle.model, data)["ctr"], rtol=1e-6)
    raw = torch.sigmoid(logits(bundle.model, data, calibrated=False)["ctr"]).numpy()
    assert np.abs(served["p_ctr"].to_numpy() - raw).max() > 1e-4
