"""Plain helpers and constants the tests share; fixtures live in the conftest.py files.

Not a test module: test modules import from here, never from each other or a conftest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from components.config import Config, load
from components.data.contract import ALICCP
from components.data.partitions import partition_dir, read_partition, write_partition

if TYPE_CHECKING:
    from components.models.bundle import Bundle

REPO = Path(__file__).resolve().parents[1]

# A world small enough for tests, with the default's shape (heavy tails, 4 scenes).
SMALL = {
    "simulator": {
        "rows_per_day": 20000,
        "n_users": 4000,
        "new_users_per_day": 40,
        "n_ads": 600,
        "n_advertisers": 80,
        "n_brands": 200,
        "horizon_days": 30,
    },
    "validation": {"min_rows": 500},
    "train": {"batch_size": 1024},  # fewer rows than the default: keep some steps per day
}
UNSEEN = 10**12  # an id no vocabulary holds: it scores with the OOV row

# Judge the small world on its two major scenes' CTR: its CVR has too few conversions a day.
GATE = {
    "gate": {
        "focus": [
            {"scene": s, "task": "ctr", "auc_floor": 0.55, "min_rows": 2000, "max_auc_drop": 0.03}
            for s in ("feed", "search")
        ],
        "calibration_band": [0.3, 3.0],
    }
}


TINY = {  # tiny days (3,000 rows) promote: CTR of the two big scenes, wide margins
    "gate": {
        "focus": [
            {"scene": s, "task": "ctr", "auc_floor": 0.5, "min_rows": 300, "max_auc_drop": 0.2}
            for s in ("feed", "search")
        ],
        "calibration_band": [0.1, 10.0],
    },
    "validation": {"min_rows": 500, "min_scene_rows": 100, "min_scene_clicks": 10},
    "model": {"embedding_dim": 4, "tower": [8], "ranking": [8]},
}


def merge(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merge(base[key], value) if isinstance(value, dict) else value
    return out


def write_params(root: Path, overrides: dict | None = None) -> Config:
    """A params.yaml in `root`: the repo's, with the small world and any overrides."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw = merge(merge(raw, SMALL), overrides or {})
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load(root / "params.yaml")


def dvc_workspace(root: Path) -> Path:
    """A git + DVC workspace like the repo's: same .dvc/config and .dvcignore."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    for name in (".dvc/config", ".dvcignore"):  # data.dvc is created by the first track()
        shutil.copy(REPO / name, root / name)
    return root


def request_rows(bundle: Bundle, table: pa.Table, n: int) -> tuple[pa.Table, pd.DataFrame]:
    """n rows as a JSON client sends them: no labels, oracle or meta columns, lists as lists;
    the first row's user is unseen. Also the same rows as a table, labels kept."""
    contract = bundle.encoder.contract
    table = table.slice(0, n)
    users = table[contract.user].to_numpy().copy()
    users[0] = UNSEEN
    table = table.set_column(table.schema.get_field_index(contract.user), contract.user, [users])
    features = [contract.scene, *(c.name for c in contract.features)]
    records = json.loads(table.select(features).to_pandas().to_json(orient="records"))
    return table, pd.DataFrame.from_records(records)


def daily_workspace(root: Path, sim_days: Config, overrides: dict | None = None) -> Path:
    """A fresh workspace holding a copy of the session's simulated days; its params path."""
    cfg = write_params(root, {**GATE, "simulator": {"rows_per_day": 60000}, **(overrides or {})})
    shutil.copytree(sim_days.path("raw"), cfg.path("raw"))
    return root / "params.yaml"


def rewrite_day(cfg: Config, day: dt.date, change) -> None:
    """Replace a raw partition (tests only: raw data is otherwise immutable)."""
    table = change(read_partition(cfg.path("raw"), day))
    shutil.rmtree(partition_dir(cfg.path("raw"), day))
    write_partition(cfg.path("raw"), day, table)


def shuffle_labels(table: pa.Table) -> pa.Table:
    """Rows keep their features but get another row's labels (the funnel stays consistent)."""
    order = np.random.default_rng(0).permutation(table.num_rows)
    for name in ("click", "daction", "conversion"):
        column = table[name].take(pa.array(order))
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def aliccp_workspace(root: Path, days: list[dt.date], rows: int = 200) -> Config:
    """A workspace of random Ali-CCP-contract days (one scene `301_1`, no daction label)."""
    cfg = write_params(root, {"data": {"dataset": "aliccp"}})
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"scenes": ("301_1",)})})
    rng = np.random.default_rng(0)
    for day in days:
        cols = {"request_id": np.arange(rows), "day": [day.isoformat()] * rows,
                "scene": ["301_1"] * rows}  # fmt: skip
        for c in ALICCP.features:
            cols[c.name] = rng.integers(0, 9, rows) if c.dtype == "int64" else rng.random(rows)
        cols |= {"click": rng.integers(0, 2, rows), "conversion": np.zeros(rows)}
        write_partition(cfg.path("raw"), day, pa.table(cols, schema=ALICCP.schema()))
    return cfg


def mtms_command(params: Path, *args: str, failpoint: str = "") -> dict:
    """Popen keywords of the `mtms` CLI on a workspace, as a user runs it: no test Prefect
    API or home in its environment (the workspace's params decide), failpoints armed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env |= {"MTMS_FAILPOINTS": failpoint, "GX_ANALYTICS_ENABLED": "False"}
    cmd = [str(Path(sys.executable).parent / "mtms"), "--params", str(params), *args]
    return {"args": cmd, "env": env, "cwd": params.parent, "text": True}


def mtms(params: Path, *args: str, failpoint: str = "") -> subprocess.CompletedProcess:
    """Run the `mtms` CLI to its end (mtms_command); its output captured."""
    return subprocess.run(**mtms_command(params, *args, failpoint=failpoint), capture_output=True)


def sleeper(path: str) -> None:
    """A bake-off contender that says who it is, then trains (sleeps) for ten minutes."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(600)


def _labels(rng, n: int):
    click = (rng.random(n) < 0.2).astype(int)
    conversion = click * (rng.random(n) < 0.1)
    conversion[:3] = 1  # three rows with a purchase but no click: dropped on import
    click[:3] = 0
    return click, conversion


def write_aliccp(path: Path, rng, n: int = 600) -> None:
    """Ali-CCP as the AITM / torch-rechub scripts write it (301 in 1..3); 3 impossible funnels."""
    click, conversion = _labels(rng, n)
    cols = {"click": click, "purchase": conversion}
    for c in ALICCP.features:
        if c.name == "301":
            cols[c.name] = rng.integers(1, 4, n)
        elif c.name.startswith("D"):
            cols[c.name] = rng.random(n).round(4)
        else:
            cols[c.name] = rng.integers(0, 50, n)
    header = ",".join(cols)
    rows = [",".join(str(cols[k][i]) for k in cols) for i in range(n)]
    path.write_text("\n".join([header, *rows]) + "\n")


def write_aliccp_raw(folder: Path, rng, n: int = 600) -> list[Path]:
    """The raw Ali-CCP pair: sample skeleton and common features (301 ids 11..13)."""
    click, conversion = _labels(rng, n)
    rec = lambda field, fid, value=1.0: f"{field}\x02{fid}\x03{value}"  # noqa: E731
    common = []
    for u in range(40):
        feats = [rec("101", 1000 + u), rec("124", 1 + u % 2), rec("109_14", 7, 2.0),
                 rec("109_14", 8, 1.0), rec("150_14", 9, 3.0)]  # fmt: skip
        common.append(f"c{u},{len(feats)},{chr(1).join(feats)}")
    samples = []
    for i in range(n):
        scene = 11 + i % 3
        feats = [rec("205", 5000 + i % 70), rec("206", 60 + i % 9), rec("301", scene),
                 rec("508", 77, 0.5), rec("210", 3), rec("210", 4)]  # fmt: skip
        samples.append(
            f"{i},{click[i]},{conversion[i]},c{i % 40},{len(feats)},{chr(1).join(feats)}"
        )
    (folder / "sample_skeleton_train.csv").write_text("\n".join(samples) + "\n")
    (folder / "common_features_train.csv").write_text("\n".join(common) + "\n")
    return [folder / "sample_skeleton_train.csv", folder / "common_features_train.csv"]


def write_aliexpress(path: Path, rng, n: int = 600) -> None:
    """One MTReclib country file (AliExpress_XX/train.csv)."""
    click, conversion = _labels(rng, n)
    cols = {"search_id": np.arange(n) // 5}
    cols |= {f"categorical_{i}": rng.integers(0, 30, n) for i in range(1, 17)}
    cols |= {f"numerical_{i}": rng.random(n).round(3) for i in range(1, 64)}
    cols |= {"click": click, "conversion": conversion}
    rows = [",".join(str(cols[k][i]) for k in cols) for i in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([",".join(cols), *rows]) + "\n")
