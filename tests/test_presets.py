"""The simulator regimes shipped as params presets stay in step with params.yaml."""

from pathlib import Path

import yaml

from components.config import load

REPO = Path(__file__).resolve().parents[1]


def _raw(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def test_the_sparse_preset_is_params_yaml_seen_from_presets():
    params, sparse = _raw("params.yaml"), _raw("presets/sparse.yaml")
    assert {k: v for k, v in sparse.items() if k != "paths"} == {
        k: v for k, v in params.items() if k != "paths"
    }
    # the same workspace: every path resolves to the default one
    default, preset = load(REPO / "params.yaml"), load(REPO / "presets" / "sparse.yaml")
    assert all(default.path(k).resolve() == preset.path(k).resolve() for k, _ in default.paths)


def test_the_rich_preset_changes_only_the_simulator_its_workspace_and_its_bake_off():
    params, rich = _raw("params.yaml"), _raw("presets/rich.yaml")
    changed = {k for k in params if params[k] != rich[k]}
    assert changed == {"paths", "simulator", "compare"}
    cfg = load(REPO / "presets" / "rich.yaml")
    assert all((REPO / "rich") in cfg.path(k).resolve().parents for k, _ in cfg.paths)
    # the regime's point: far more conversions per impression than the default
    sim, base = cfg.simulator, load(REPO / "params.yaml").simulator
    assert sim.buy_after_daction > base.buy_after_daction and sim.rows_per_day > base.rows_per_day
