import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.data.contract import SIMULATOR
from components.data.profile import profile
from components.data.simulator import simulate
from tests.helpers import REPO, write_params


def test_profile_counts_rows_and_rates_per_day_and_scene(cfg):
    written = simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    summary = profile(cfg.path("raw"), SIMULATOR)
    first = summary[cfg.simulator.start.isoformat()]
    assert len(summary) == 2 and first["rows"] == written[0].rows
    assert abs(first["ctr"] - written[0].ctr) < 1e-5
    assert sum(s["rows"] for s in first["scenes"].values()) == first["rows"]


@pytest.mark.e2e
def test_dvc_repro_writes_the_metrics(make_dvc_workspace):
    root = make_dvc_workspace()
    cfg = write_params(root)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    (root / "components/data").mkdir(parents=True)
    shutil.copy(REPO / "components/data/profile.py", root / "components/data/profile.py")
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
    # dvc.yaml runs `mtms`: the one installed beside the python running the tests
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "-q", "profile"], cwd=root, check=True, env=env
    )
    metrics = json.loads((root / "metrics/data.json").read_text())
    assert list(metrics) == [cfg.simulator.start.isoformat()]
    assert metrics == profile(cfg.path("raw"), SIMULATOR)  # the stage runs the same profile
