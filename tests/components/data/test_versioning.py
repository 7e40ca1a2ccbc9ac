"""DVC versioning: data.dvc follows the raw partitions; same params, same version."""

import shutil

import pytest

from components.data.simulator import simulate
from components.data.versioning import VersioningError, data_version, dvc, track
from tests.conftest import dvc_workspace, write_params


def simulated_workspace(root):
    dvc_workspace(root)
    cfg = write_params(root)
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    return cfg


def test_same_params_give_the_same_data_version(tmp_path):
    versions = []
    for name in ("a", "b"):
        cfg = simulated_workspace(tmp_path / name)
        versions.append(track(cfg.root, cfg.path("raw")))
    assert versions[0] == versions[1] and versions[0].endswith(".dir")
    assert data_version(tmp_path / "a") == versions[0]


def test_new_days_change_the_version_and_push_pull_round_trip(tmp_path):
    cfg = simulated_workspace(tmp_path / "ws")
    first = track(cfg.root, cfg.path("raw"))
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 3)
    second = track(cfg.root, cfg.path("raw"))
    assert second != first
    dvc(cfg.root, "push")  # the default local remote needs no setup
    shutil.rmtree(cfg.path("raw"))
    shutil.rmtree(cfg.root / ".dvc" / "cache")
    dvc(cfg.root, "pull")
    assert len(list(cfg.path("raw").iterdir())) == 3
    assert "up to date" in dvc(cfg.root, "status")


def test_outside_a_dvc_workspace_nothing_is_versioned(cfg):
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
    assert track(cfg.root, cfg.path("raw")) is None and data_version(cfg.root) is None


def test_data_dvc_must_track_paths_raw(tmp_path):
    cfg = simulated_workspace(tmp_path / "ws")
    (cfg.root / "data.dvc").write_text("outs:\n- path: elsewhere\n")
    with pytest.raises(VersioningError, match="tracks elsewhere"):
        track(cfg.root, cfg.path("raw"))
