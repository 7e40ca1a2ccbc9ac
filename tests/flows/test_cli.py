"""The mtms command line, end to end in a temporary DVC workspace."""

import json

import pytest

from components.data.versioning import data_version
from flows.cli import main
from tests.conftest import dvc_workspace, write_params


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    root = dvc_workspace(tmp_path / "ws")
    write_params(root)
    monkeypatch.chdir(root)
    return root


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
