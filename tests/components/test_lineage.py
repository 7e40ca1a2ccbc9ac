"""Lineage tags: the code, params and data a registered version came from."""

import datetime as dt
import subprocess

import yaml

from components.config import load
from components.data.simulator import simulate
from components.data.versioning import track
from components.lineage import git_commit, lineage, params_hash, window_md5
from tests.helpers import dvc_workspace, write_params

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


def git(root, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def committed_workspace(root):
    cfg = write_params(root)
    git(root, "init", "-q")
    git(root, "add", "params.yaml")
    git(root, "commit", "-q", "-m", "params")
    return cfg


def test_git_commit_is_head_and_dirty_once_a_tracked_file_changes(tmp_path):
    cfg = committed_workspace(tmp_path / "repo")
    head = git(cfg.root, "rev-parse", "HEAD").strip()
    assert git_commit(cfg) == head
    (cfg.root / "notes.txt").write_text("untracked files do not count\n")
    assert git_commit(cfg) == head
    with (cfg.root / "params.yaml").open("a") as f:
        f.write("# an edit\n")
    assert git_commit(cfg) == f"{head}-dirty"


def test_git_commit_outside_a_git_repo_is_unknown(cfg, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(cfg.root.parent))  # no repo above tmp
    assert git_commit(cfg) == "unknown"


def test_params_hash_ignores_comments_key_order_and_root(tmp_path):
    cfg = write_params(tmp_path / "a")
    raw = yaml.safe_load((cfg.root / "params.yaml").read_text())
    shuffled = {key: raw[key] for key in reversed(list(raw))}
    shuffled["train"] = {key: raw["train"][key] for key in reversed(list(raw["train"]))}
    other = tmp_path / "b" / "params.yaml"
    other.parent.mkdir()
    other.write_text("# the same knobs, reordered\n" + yaml.safe_dump(shuffled, sort_keys=False))
    same = load(other)
    assert same.root != cfg.root
    assert params_hash(same) == params_hash(cfg)


def test_params_hash_is_the_same_on_every_host_of_a_pipeline(tmp_path):
    """Where the stores are is not what was trained: a host on the shared database finds
    the version another host registered (an interrupted run's, reused, not retrained)."""
    alone = write_params(tmp_path / "a")
    shared = {"database": "postgresql://mtms@db/mtms", "prefect_api": "http://p:4200/api"}
    assert params_hash(write_params(tmp_path / "b", {"shared": shared})) == params_hash(alone)
    # nor is where MTMS's scenes trained: apart on Dask they train the same weights
    dask = {"scenes": "dask", "dask_scheduler": "tcp://dask:8786"}
    assert params_hash(write_params(tmp_path / "c", {"parallel": dask})) == params_hash(alone)


def test_params_hash_changes_with_a_hyperparameter(tmp_path):
    base = params_hash(write_params(tmp_path / "a"))
    lr = write_params(tmp_path / "b", {"train": {"lr_network": 0.003}})
    dim = write_params(tmp_path / "c", {"model": {"embedding_dim": 8}})
    assert len({base, params_hash(lr), params_hash(dim)}) == 3


def test_lineage_names_day_data_code_params_and_parent(tmp_path):
    root = dvc_workspace(tmp_path / "ws")
    cfg = write_params(root)
    day = cfg.simulator.start
    untracked = lineage(cfg, day, "2026-01-05", "none")
    assert untracked["data_md5"] == "untracked"
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), day, 1)
    md5 = track(cfg.root, cfg.path("raw"))
    tags = lineage(cfg, day + dt.timedelta(days=1), "2026-01-05", "mtms/3", [day])
    assert tags == {
        "run_day": "2026-01-06",
        "trained_through": "2026-01-05",
        "data_md5": md5,
        "data_window_md5": window_md5(cfg, [day]),
        "git_commit": git_commit(cfg),
        "params_hash": params_hash(cfg),
        "parent": "mtms/3",
        "model": "mtms",
    }
    assert md5.endswith(".dir")


def test_the_window_hash_names_the_days_trained_on_not_the_folder(tmp_path):
    cfg = write_params(tmp_path / "ws")
    start = cfg.simulator.start
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), start, 2)
    first = window_md5(cfg, [start])
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), start + dt.timedelta(days=2), 1)
    assert window_md5(cfg, [start]) == first  # a later day does not change it
    assert len({first, window_md5(cfg, [start + dt.timedelta(days=1)]),
                window_md5(cfg, [start, start + dt.timedelta(days=1)])}) == 3  # fmt: skip
