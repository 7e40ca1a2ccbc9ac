"""`mtms import custom FILES --day D`: files of the contract params.yaml declares."""

from __future__ import annotations

import datetime as dt

import pytest

from cli.main import main
from components.data.partitions import read_partition
from tests.helpers import write_params

CONTRACT = """\
name: tiny-shop
columns:
  rid: {role: request_id}
  date: {role: day}
  surface: {role: scene}
  shopper: {role: user}
  price: {role: dense, min: 0}
  clk: {role: click}
  buy: {role: conversion}
"""
ROWS = "shopper,price,surface,clk,buy\n" + "".join(
    f"{i % 7},{i * 1.5},{'app' if i % 3 else 'web'},{i % 2},{int(i % 4 == 1)}\n" for i in range(40)
)  # no request id or day: the import fills them


@pytest.fixture
def ws(tmp_path, monkeypatch):
    for key, value in {  # what `mtms` sets: kept to this test
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "shop.yaml").write_text(CONTRACT)
    (tmp_path / "day.csv").write_text(ROWS)
    return tmp_path


def cli(params, capsys, *argv: str) -> tuple[int, str, list[str]]:
    code = main(["--params", str(params), *argv])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_custom_files_become_a_day_of_the_declared_contract(ws, capsys):
    cfg = write_params(ws / "ws", {"data": {"dataset": "custom", "contract": "shop.yaml"}})
    code, out, err = cli(ws / "ws" / "params.yaml", capsys, "import", "custom", str(ws / "day.csv"),
                         "--day", "2026-02-01")  # fmt: skip
    assert (code, err) == (0, []) and "wrote 40 rows" in out
    table = read_partition(cfg.path("raw"), dt.date(2026, 2, 1))
    assert table.column_names == ["rid", "date", "surface", "shopper", "price", "clk", "buy"]
    assert set(table["date"].to_pylist()) == {"2026-02-01"}


def test_importing_custom_files_with_a_built_in_dataset_is_one_line(ws, capsys):
    write_params(ws / "ws")
    code, _, err = cli(ws / "ws" / "params.yaml", capsys, "import", "custom", str(ws / "day.csv"),
                       "--day", "2026-02-01")  # fmt: skip
    assert code == 2 and len(err) == 1
    assert err[0].startswith("mtms: error: data.dataset: 'simulator': set it to custom")


def test_a_bad_contract_stops_the_import_in_one_line_naming_the_key(ws, capsys):
    (ws / "ws" / "shop.yaml").write_text(CONTRACT.replace("role: dense", "role: float"))
    write_params(ws / "ws", {"data": {"dataset": "custom", "contract": "shop.yaml"}})
    code, _, err = cli(ws / "ws" / "params.yaml", capsys, "import", "custom", str(ws / "day.csv"),
                       "--day", "2026-02-01")  # fmt: skip
    assert code == 2 and err == [
        "mtms: error: data.contract shop.yaml: columns.price.role: 'float': must be one of "
        "sparse, id, user, multi, dense, scene, click, conversion, daction, request_id, day"
    ]
    assert not (ws / "ws" / "data").exists()


def test_init_custom_writes_params_that_import_the_files_with_no_hand_edit(ws, capsys):
    params, contract = ws / "new" / "params.yaml", ws / "ws" / "shop.yaml"
    init = ["init", "custom", "--out", str(params), "--contract", str(contract)]
    assert main([*init, "--scenes", "app", "web", "--rows-per-day", "40"]) == 0
    assert "data.contract" not in capsys.readouterr().err
    text = params.read_text()
    assert 'contract: "../ws/shop.yaml"' in text and "dataset: custom" in text
    code, out, _ = cli(
        params, capsys, "import", "custom", str(ws / "day.csv"), "--day", "2026-02-02"
    )
    assert code == 0 and "app" in out
    assert read_partition(params.parent / "data" / "raw", dt.date(2026, 2, 2)).num_rows == 40


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ([], "--contract FILE goes with custom"),
        (["--contract", "{ws}/ws/day.csv"], "day.csv"),  # not a contract: one line naming it
        (["--contract", "{ws}/ws/shop.yaml", "--scenes"], "expected at least one argument"),
    ],
)
def test_init_custom_without_a_good_contract_writes_nothing(ws, capsys, extra, says):
    (ws / "ws" / "day.csv").write_text(ROWS)
    argv = ["init", "custom", "--out", str(ws / "p.yaml"), *(a.format(ws=ws) for a in extra)]
    try:
        code = main(argv if "--scenes" in extra else [*argv, "--scenes", "app"])
    except SystemExit as exit_:  # argparse's own usage error
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and says in err[-1] and len(err[-1]) < 200 and not (ws / "p.yaml").exists()
