"""`dvc repro` replays the configured warm-start chain (same data and params, same metrics)
and runs the bake-off stage on a tiny compare config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.data.simulator import simulate
from tests.helpers import REPO, write_params

pytestmark = pytest.mark.e2e


def dvc(root: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def test_dvc_repro_replays_the_chain_and_shows_metrics_and_plots(make_dvc_workspace):
    root = make_dvc_workspace()
    tiny = {"models": ["mtms", "esmm"], "seeds": [3], "days": 2, "last_days": 1,
            "rows_per_day": 20000, "claims": False, "full_history": []}  # fmt: skip
    cfg = write_params(root, {"compare": tiny})
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 3)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(REPO / "components", root / "components",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip

    dvc(root, "repro")
    first = json.loads((root / "metrics/chain.json").read_text())
    assert first["days"] == 2 and first["last_day"] == "2026-01-07"
    assert 0.5 < first["feed/ctr"]["auc"] < first["feed/ctr"]["oracle_auc"]
    [workspace] = json.loads(dvc(root, "metrics", "show", "--json")).values()
    assert workspace["data"]["metrics/chain.json"]["data"] == first  # what dvc reads back
    headline = workspace["data"]["metrics/compare_summary.json"]["data"]  # a few numbers
    assert headline["seeds"] == 1 and set(headline["mtms"]) >= {"targets", "targets_met"}
    assert set(workspace["data"]) == {"metrics/data.json", "metrics/chain.json",
                                      "metrics/compare_summary.json"}  # fmt: skip
    compared = json.loads((root / "metrics/compare.json").read_text())  # an out: the tables
    assert 0.3 < compared["models"]["esmm"]["feed/ctr"]["auc"] < 1
    assert compared["vs_mtms"]["esmm"]["feed/ctr"]["n"] == 1  # 1 seed x 1 scored day
    assert (root / "docs" / "zoo.md").exists() and (root / "docs" / "zoo_diffs.svg").exists()
    dvc(root, "plots", "show", "--out", "plots")
    page = (root / "plots" / "index.html").read_text()
    assert all(f"{f.scene}_{f.task}" in page for f in cfg.gate.focus)  # a curve per focus
    assert "label_rates_by_day" in page or "data_days.csv" in page  # profile's series
    assert "up to date" in dvc(root, "status")

    dvc(root, "repro", "--force", "chain")  # the same data and params
    assert json.loads((root / "metrics/chain.json").read_text()) == first
