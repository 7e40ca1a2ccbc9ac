"""The mtms command line, end to end in a temporary DVC workspace."""

import json

import pytest

from cli.main import main
from components.data.versioning import data_version
from tests.helpers import dvc_workspace, write_params


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    root = dvc_workspace(tmp_path / "ws")
    write_params(root)
    monkeypatch.chdir(root)
    return root


@pytest.mark.slow
def test_simulate_validate_and_version(workspace, capsys):
    assert main(["simulate", "--days", "2", "--report"]) == 0
    out = capsys.readouterr().out
    assert "2026-01-05" in out and "2026-01-06" in out and "written" in out
    assert "interaction" in out and "oracle AUC" in out
    version = data_version(workspace)
    assert version and version in out

    assert main(["validate", "--day", "2026-01-05"]) == 0
    assert "passed" in capsys.readouterr().out
    result = json.loads((workspace / "data/validation/day=2026-01-05.json").read_text())
    assert result["passed"] and result["dataset"] == "simulator"


@pytest.mark.slow
def test_a_corrupt_day_exits_non_zero_with_one_line_per_failure(workspace, capsys):
    main(["simulate", "--days", "1"])
    assert main(["simulate", "--start", "2026-01-06", "--days", "1", "--corrupt", "nulls"]) == 0
    before = data_version(workspace)
    capsys.readouterr()
    assert main(["validate", "--all"]) == 1
    out = capsys.readouterr().out
    assert "2026-01-05: passed" in out
    assert "2026-01-06: FAILED expect_column_values_to_not_be_null: price has no nulls" in out
    assert (workspace / "data/quarantine/day=2026-01-06/validation.json").exists()
    assert data_version(workspace) != before  # data.dvc follows the quarantine


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "--day", "2026-13-01"], "not a date"),
        (["validate", "--day", "2026-02-01"], "no partition for 2026-02-01"),
        (["simulate", "--start", "2020-01-01", "--days", "1"], "outside the simulated world"),
        (["--params", "missing.yaml", "validate", "--all"], "no such params file"),
    ],
)
def test_bad_input_is_a_one_line_error(workspace, capsys, argv, message):
    assert main(argv) == 2
    out = capsys.readouterr().err.strip()
    assert out.startswith("mtms: error:") and message in out and "\n" not in out


def test_bad_params_name_the_key(workspace, capsys):
    text = (workspace / "params.yaml").read_text().replace("seed: 7", "seed: 7\nsede: 8")
    (workspace / "params.yaml").write_text(text)
    assert main(["validate", "--all"]) == 2
    assert "unknown key 'sede'" in capsys.readouterr().err


KEYS = ["scene", "task", "rows", "positives", "auc", "oracle_auc", "gauc", "logloss", "mae",
        "calibration", "ece"]  # fmt: skip


@pytest.mark.slow
def test_train_then_evaluate(workspace, capsys):
    main(["simulate", "--days", "3"])
    assert main(["train", "--model", "esmm", "--days", "2026-01-05..2026-01-06"]) == 0
    out = capsys.readouterr().out
    assert "cold" in out and "warm" in out and "models/esmm/day=2026-01-06.pt" in out
    bundle = "models/esmm/day=2026-01-06.pt"
    argv = ["evaluate", "--bundle", bundle, "--day", "2026-01-07", "--json", "m.json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "oracle" in out and "search" in out
    records = json.loads((workspace / "m.json").read_text())
    assert [list(r) for r in records] == [KEYS] * len(records)
    assert {(r["scene"], r["task"]) for r in records} >= {("feed", "ctr"), ("search", "cvr")}
    argv = ["evaluate", "--bundle", bundle, "--day", "2026-01-06"]
    assert main(argv) == 2 and "in the bundle's training window" in capsys.readouterr().err
    # continue the chain from a bundle
    argv = ["train", "--model", "esmm", "--days", "2026-01-07", "--warm-start", bundle]
    assert main(argv) == 0 and "warm" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--days", "2026-01-06..2026-01-05"], "ends before it starts"),
        (["train", "--days", "2026-03-01..2026-03-02"], "no partitions in that range"),
        (["evaluate", "--bundle", "nope.pt", "--day", "2026-01-05"], "cannot read bundle"),
        (["evaluate", "--bundle", "params.yaml", "--day", "2026-01-05"], "not an mtms bundle"),
    ],
)
@pytest.mark.slow
def test_training_input_errors_are_one_line(workspace, capsys, argv, message):
    main(["simulate", "--days", "1"])
    capsys.readouterr()
    assert main(argv) == 2
    out = capsys.readouterr().err.strip()
    assert out.startswith("mtms: error:") and message in out and "\n" not in out


@pytest.mark.slow
def test_warm_start_from_another_model_is_refused(workspace, capsys):
    main(["simulate", "--days", "2"])
    main(["train", "--model", "esmm", "--days", "2026-01-05"])
    argv = ["train", "--model", "single", "--days", "2026-01-06", "--warm-start",
            "models/esmm/day=2026-01-05.pt"]  # fmt: skip
    assert main(argv) == 2
    assert "cannot warm-start model 'single' from a 'esmm' bundle" in capsys.readouterr().err
