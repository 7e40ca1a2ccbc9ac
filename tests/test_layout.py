"""House rules that keep the architecture visible; each catches a real drift."""

import re

import yaml

from components.config import load
from components.data.versioning import tracked_path
from tests.helpers import REPO


def imports(module: str) -> list[str]:
    pattern = re.compile(rf"^\s*(import|from)\s+{module}\b", re.M)
    return [
        str(p.relative_to(REPO))
        for p in (REPO / "components").rglob("*.py")
        if pattern.search(p.read_text())
    ]


def test_components_never_import_prefect():
    assert imports("prefect") == []


def test_one_adapter_module_per_external_tool():
    assert imports("great_expectations") == ["components/validation/suite.py"]
    assert imports("mlflow") == ["components/registry/mlflow_registry.py"]
    assert imports("evidently") == ["components/monitoring/evidently_report.py"]


def test_data_dvc_tracks_the_configured_raw_folder():
    cfg = load(REPO / "params.yaml")
    assert tracked_path(REPO) == cfg.paths.raw


def test_dvc_has_a_default_local_remote_inside_the_workspace():
    config = (REPO / ".dvc" / "config").read_text()
    assert re.search(r"remote = local", config)
    assert re.search(r"url = \.\./dvc-remote", config)  # relative to .dvc/: <repo>/dvc-remote
    assert "/dvc-remote/" in (REPO / ".gitignore").read_text()


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert "make test" in (REPO / "README.md").read_text()


def test_pyproject_keeps_torch_a_range():
    text = (REPO / "pyproject.toml").read_text()
    assert '"torch>=2.4"' in text and "torch==" not in text
    assert yaml.safe_load((REPO / "params.yaml").read_text())["data"]["dataset"] == "simulator"


def test_dvc_yaml_stages_read_the_configured_paths_and_real_commands():
    from cli.main import build_parser

    cfg = load(REPO / "params.yaml")
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    commands = build_parser()._subparsers._group_actions[0].choices
    for name, stage in stages.items():
        words = stage["cmd"].split()
        assert words[0] == "mtms" and words[1] in commands, name
        for dep in stage["deps"]:
            assert (REPO / dep).exists() or dep == str(cfg.paths.raw), dep
    assert str(cfg.paths.raw) in stages["profile"]["deps"]


def test_dvc_chain_stage_is_the_replay_with_its_params_and_outputs():
    from cli.main import build_parser
    from components.training import replay

    cfg = load(REPO / "params.yaml")
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    stage = dvc_yaml["stages"]["chain"]
    assert tuple(stage["params"]) == replay.PARAMS
    args = build_parser().parse_args(stage["cmd"].split()[1:])
    assert args.run.__name__ == "cmd_replay"
    assert [next(iter(m)) for m in stage["metrics"]] == [str(args.metrics)]
    [plot] = stage["plots"]
    assert next(iter(plot)) == str(args.plots)
    charts = {name: c for chart in dvc_yaml["plots"] for name, c in chart.items()}
    y = charts["auc_by_day"]["y"]
    assert y == {str(args.plots): [f"{f.scene}_{f.task}" for f in cfg.gate.focus]}
    for module in ("training/replay.py", "training/chain.py", "evaluation/evaluate.py"):
        assert any(f"components/{module}".startswith(dep) for dep in stage["deps"]), module


def test_flows_hold_prefect_code_and_the_command_line_lives_in_cli():
    flows = {p.name for p in (REPO / "flows").glob("*.py")} - {"__init__.py"}
    assert flows == {"daily.py", "steps.py", "schedule.py", "logs.py", "scenes.py"}
    prefect = re.compile(r"^\s*(import|from)\s+prefect\b", re.M)
    assert not [p.name for p in (REPO / "cli").glob("*.py") if prefect.search(p.read_text())]


def test_dvc_compare_stage_is_mtms_compare_with_its_params_and_outputs():
    from cli.main import build_parser
    from components.evaluation import compare

    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["compare"]
    assert tuple(stage["params"]) == compare.PARAMS
    args = build_parser().parse_args(stage["cmd"].split()[1:])
    assert args.run.__name__ == "cmd_compare" and not args.no_doc
    summary = args.out.with_name(args.out.stem + "_summary.json")  # what cli/compare writes
    assert [next(iter(m)) for m in stage["metrics"]] == [str(summary)]
    outs = [next(iter(o)) for o in stage["outs"]]
    assert outs == [str(args.out), "metrics/compare_runs.json", str(args.doc), "docs/zoo_diffs.svg"]


def test_dvc_profile_stage_writes_what_mtms_profile_writes():
    from cli.main import build_parser

    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    stage = dvc_yaml["stages"]["profile"]
    args = build_parser().parse_args(stage["cmd"].split()[1:])
    assert args.run.__name__ == "cmd_profile"
    assert [next(iter(m)) for m in stage["metrics"]] == [str(args.out)]
    assert [next(iter(p)) for p in stage["plots"]] == [str(args.plots)]
    charts = {name: c for chart in dvc_yaml["plots"] for name, c in chart.items()}
    assert set(charts["label_rates_by_day"]["y"]) == {str(args.plots)}


def test_test_modules_share_helpers_and_fixtures_not_each_other():
    pattern = re.compile(r"^\s*from tests\.(?!helpers\b)[\w.]+ import", re.M)
    found = [str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py")
             if pattern.search(p.read_text())]  # fmt: skip
    assert found == []
