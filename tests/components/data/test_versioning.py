"""DVC versioning: data.dvc follows the raw partitions; same params, same version."""

import shutil

import pytest

from components.data.simulator import simulate
from components.data.versioning import VersioningError, data_version, dvc, track
from tests.helpers import write_params


@pytest.fixture
def simulated_workspace(make_dvc_workspace):
    """simulated_workspace(name): a DVC workspace with two simulated days; its config."""

    def make(name: str = "ws"):
        cfg = write_params(make_dvc_workspace(name))
        simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
        return cfg

    return make


@pytest.mark.slow
def test_same_params_give_the_same_data_version(simulated_workspace):
    roots, versions = [], []
    for name in ("a", "b"):
        cfg = simulated_workspace(name)
        roots.append(cfg.root)
        versions.append(track(cfg.root, cfg.path("raw")))
    assert versions[0] == versions[1] and versions[0].endswith(".dir")
    assert data_version(roots[0]) == versions[0]


@pytest.mark.slow
def test_new_days_change_the_version_and_push_pull_round_trip(simulated_workspace):
    cfg = simulated_workspace()
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


def test_data_dvc_must_track_paths_raw(simulated_workspace):
    cfg = simulated_workspace()
    (cfg.root / "data.dvc").write_text("outs:\n- path: elsewhere\n")
    with pytest.raises(VersioningError, match="tracks elsewhere"):
        track(cfg.root, cfg.path("raw"))
