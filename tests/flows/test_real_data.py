"""Real data's day one: `mtms init` -> import -> validate -> backfill -> status with no
hand edit of params, for each public format (small files written here in its layout)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from cli.main import main
from components import runs
from components.config import load
from tests.helpers import write_aliccp, write_aliccp_raw, write_aliexpress

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]

DAYS = [dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
ROWS = 3000  # impressions a day


def aliccp(folder, rng):
    write_aliccp(folder / "ali_ccp_train.csv", rng, ROWS)
    return [folder / "ali_ccp_train.csv"]


def aliccp_raw(folder, rng):
    return write_aliccp_raw(folder, rng, ROWS)


def aliexpress(folder, rng):
    paths = [folder / f"AliExpress_{c}" / "train.csv" for c in ("NL", "ES", "FR", "US")]
    for path in paths:
        write_aliexpress(path, rng, ROWS // 4)
    return paths


CASES = {
    "aliccp": (aliccp, []),
    # the raw files keep field 301's ids: the user passes the scenes `mtms import` reported
    "aliccp-raw": (aliccp_raw, ["--scenes", "301_11", "301_12", "301_13"]),
    "aliexpress": (aliexpress, []),
}


@pytest.mark.parametrize("dataset", list(CASES))
def test_a_public_dataset_runs_from_init_to_status_without_hand_edits(tmp_path, dataset, capsys):
    write, flags = CASES[dataset]
    params = str(tmp_path / "ws" / "params.yaml")
    assert main(["init", dataset, "--out", params, "--rows-per-day", str(ROWS), *flags]) == 0
    cfg = load(params)
    rng = np.random.default_rng(0)
    for day in DAYS:
        folder = tmp_path / "files" / day.isoformat()
        folder.mkdir(parents=True)
        assert main(["--params", params, "import", dataset, *map(str, write(folder, rng)),
                     "--day", day.isoformat()]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "rows per scene:" in out and "not in model.scenes" not in out
    assert main(["--params", params, "validate", "--all"]) == 0
    assert (
        main(["--params", params, "backfill", "--start", str(DAYS[0]), "--end", str(DAYS[1])]) == 0
    )
    capsys.readouterr()
    assert main(["--params", params, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [d["day"] for d in status["days"]][-1] == DAYS[1].isoformat()
    record = runs.load_record(cfg, DAYS[1])
    assert record.validation.passed and record.error is None
    judged = {(m.scene, m.task) for m in record.candidate}
    assert judged >= {(f.scene, f.task) for f in cfg.gate.focus}  # every focus scored
    assert all(m.oracle_auc is None for m in record.candidate)  # no oracle columns: none shown
    assert record.decision is not None and record.outcome in ("promoted", "rejected")
