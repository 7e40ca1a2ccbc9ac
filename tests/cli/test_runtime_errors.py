"""Issue 11: a runtime failure is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import logging

import pytest

from cli.main import main
from tests.helpers import write_params

pytestmark = pytest.mark.faults


@pytest.fixture
def params(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="mlflow")  # as `mtms` sets it before MLflow loads
    for key, value in {
        "PREFECT_HOME": str(tmp_path / "prefect"),  # what `mtms` sets: kept to this test
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MTMS_DEBUG", raising=False)
    write_params(tmp_path / "ws")
    return tmp_path / "ws" / "params.yaml"


def cli(params, capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(["--params", str(params), *argv])
    return code, capsys.readouterr().err.splitlines()


def test_a_stray_folder_in_raw_is_named(params, capsys):
    stray = params.parent / "data" / "raw" / "day=garbage"
    stray.mkdir(parents=True)
    code, err = cli(params, capsys, "validate", "--all")  # every command lists the days
    assert code == 2 and err == [
        f"mtms: error: {stray}: not a day partition (day=YYYY-MM-DD): move it out of {stray.parent}"
    ]


def test_an_os_error_is_its_reason_and_the_file(params, capsys):
    blocker = params.parent / "metrics"
    blocker.write_text("a file where a folder should be")
    code, err = cli(params, capsys, "profile", "--out", str(blocker / "data.json"))
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("mtms: error: ") and str(blocker) in err[0]


def test_an_unexpected_error_is_one_line_and_a_hint(params, capsys, monkeypatch):
    record = params.parent / "runs" / "day=2026-01-05.json"
    record.parent.mkdir()
    record.write_text("{ not json")  # a record no mtms code wrote: no mtms error for it
    code, err = cli(params, capsys, "status")
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("mtms: error: unexpected JSONDecodeError: ")
    assert err[0].endswith("(set MTMS_DEBUG=1 for the traceback)")
    monkeypatch.setenv("MTMS_DEBUG", "1")
    with pytest.raises(ValueError):
        main(["--params", str(params), "status"])
