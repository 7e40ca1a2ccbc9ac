"""Issue 11's fault campaign: damaged days and kill -9 at named points, on the real CLI.

Two chains in scratch workspaces (a small simulated world, the gate loosened so small
days promote), each driven as a scheduler drives mtms: `mtms run` with no day, again and
again, a fresh process each time.

- corruptions: day 2+i carries variant i (the simulator's built-in kinds and this file's
  own). Each run must leave the day with a record (caught: quarantined; survived: any
  other outcome) and the next run must take the next day: a day without a record after
  its run is a stuck schedule.
- kills: day 2+i is run with MTMS_FAILPOINTS=<point i> (components/failpoints.py: the
  process SIGKILLs itself there), then run again plainly. After the rerun: the champion
  loads and scores (Registry.verify), one version per trained day, one record per day, no
  process left from the killed run (its Prefect API child), and nothing left behind:
  no temporary files, no MLflow run RUNNING, no logged model without a version, every
  finished day published.

    python benchmarks/fault_campaign.py [--part corruptions|kills|all] [--rows 4000]

Writes benchmarks/out/fault_campaign.json and prints a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from results import publish  # benchmarks/results.py: run as `python benchmarks/NAME.py`

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from components import atomic, doctor, runs  # noqa: E402
from components.config import load  # noqa: E402
from components.data.corruption import FILE_CORRUPTIONS, TABLE_CORRUPTIONS, corrupt_table  # noqa: E402
from components.data.partitions import partition_dir  # noqa: E402

LOOSE = {  # small days in a small world; the gate loosened so that they promote
    "gate": {
        "focus": [
            {"scene": s, "task": "ctr", "auc_floor": 0.0, "min_rows": 300, "max_auc_drop": 0.5}
            for s in ("feed", "search")
        ],
        "calibration_band": [0.01, 100.0],
    },
    "simulator": {
        "n_users": 1000,
        "new_users_per_day": 10,
        "n_ads": 200,
        "n_advertisers": 30,
        "n_brands": 50,
        "horizon_days": 60,
    },  # fmt: skip
    "validation": {"min_rows": 500, "min_scene_rows": 100, "min_scene_clicks": 10},
    "train": {"batch_size": 512, "threads": 2},
    "model": {"embedding_dim": 8, "tower": [32], "ranking": [32]},
}
KILLS = (
    "tidy:after", "validation:after", "champion:after", "evaluate:after", "monitor:after",
    "train:before", "atomic:rename.pt", "train:after", "log_run:after", "register:after",
    "promote:before", "promote:after", "save:after", "atomic:rename.html", "publish:after",
)  # fmt: skip


def _set(table: pa.Table, name: str, values) -> pa.Table:
    field = table.schema.field(name)
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    return table.set_column(table.schema.get_field_index(name), field.name, array)


def _dense(value: float):
    def change(t: pa.Table) -> pa.Table:
        price = t["price"].to_numpy().copy()
        price[:: max(1, t.num_rows // 20)] = value
        return _set(t, "price", pa.array(price, pa.float32()))

    return change


def _ids(value: int):
    def change(t: pa.Table) -> pa.Table:
        users = t["user_id"].to_numpy().copy()
        users[:: max(1, t.num_rows // 50)] = value
        return _set(t, "user_id", pa.array(users, pa.int64()))

    return change


def _label(name: str, value: int):
    return lambda t: _set(t, name, pa.array(np.full(t.num_rows, value), pa.int8()))


def _scene(fn):
    return lambda t: _set(t, "scene", pa.array([fn(s) for s in t["scene"].to_pylist()]))


def _lists(fn):
    return lambda t: _set(t, "ad_tags", pa.array([fn(x) for x in t["ad_tags"].to_pylist()],
                                                    pa.list_(pa.int32())))  # fmt: skip


OWN = {  # name -> table -> table (the simulator's own kinds come first)
    "scene_all_upper": _scene(str.upper),
    "scene_zero_width_space": _scene(lambda s: s + "\u200b"),
    "scene_only_mall": _scene(lambda s: "mall"),
    "scene_null_some": lambda t: _set(
        t,
        "scene",
        pc.if_else(
            pa.array(np.arange(t.num_rows) % 7 == 0), pa.scalar(None, pa.string()), t["scene"]
        ),
    ),
    "price_inf": _dense(float("inf")),
    "price_minus_inf": _dense(float("-inf")),
    "price_nan": _dense(float("nan")),
    "price_1e38": _dense(3e38),
    "price_negative": _dense(-5.0),
    "user_id_negative": _ids(-7),
    "user_id_2_pow_62": _ids(2**62),
    "empty_tag_lists": _lists(lambda x: []),
    "huge_tag_ids": _lists(lambda x: [2**31 - 1 for _ in x]),
    "tag_lists_at_limit": _lists(lambda x: list(range(256))),
    "click_all_zero": _label("click", 0),
    "click_all_one": _label("click", 1),
    "conversion_all_zero": _label("conversion", 0),
    "label_value_two": _label("click", 2),
    "daction_missing": lambda t: t.drop_columns(["daction"]),
    "extra_column": lambda t: t.append_column("surprise", pa.array(np.ones(t.num_rows))),
    "columns_shuffled": lambda t: t.select(list(reversed(t.column_names))),
    "rows_doubled": lambda t: pa.concat_tables([t, t]),
    "one_row": lambda t: t.slice(0, 1),
    "one_user": lambda t: _set(t, "user_id", pa.array(np.full(t.num_rows, 42), pa.int64())),
    "request_id_null": lambda t: _set(t, "request_id", pa.nulls(t.num_rows, pa.int64())),
    "user_id_as_string": lambda t: _set(t, "user_id", t["user_id"].cast(pa.string())),
    "price_as_float64": lambda t: _set(t, "price", t["price"].cast(pa.float64())),
    "day_column_other_day": lambda t: _set(t, "day", pa.array(["2025-01-01"] * t.num_rows)),
}
FILES = {  # name -> partition folder -> None (damage the written files)
    "zero_byte_file": lambda d: [f.write_bytes(b"") for f in d.glob("*.parquet")],
    "not_parquet": lambda d: [f.write_text("user_id,ad_id\n1,2\n") for f in d.glob("*.parquet")],
    "second_file_other_schema": lambda d: pq.write_table(
        pa.table({"user_id": pa.array(["x"])}), d / "part-1.parquet"),
    "no_parquet_file": lambda d: [f.rename(f.with_suffix(".bak")) for f in d.glob("*.parquet")],
}  # fmt: skip


def variants() -> list[str]:
    return [*TABLE_CORRUPTIONS, *FILE_CORRUPTIONS, *OWN, *FILES]


def workspace(root: Path, rows: int) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for key, value in LOOSE.items():
        raw[key] = {**raw[key], **value}
    raw["simulator"]["rows_per_day"] = rows
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root / "params.yaml"


def mtms(params: Path, *args: str, env: dict | None = None, timeout: int = 900):
    cmd = [sys.executable, "-m", "cli.main", "--params", str(params), *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip
    return done, time.perf_counter() - start


def damage(cfg, day: dt.date, name: str) -> None:
    folder = partition_dir(cfg.path("raw"), day)
    if name in FILES:
        FILES[name](folder)
        return
    if name in FILE_CORRUPTIONS:
        from components.data.corruption import corrupt_files

        corrupt_files(folder, name)
        return
    table = pq.read_table(folder / "part-0.parquet")
    table = OWN[name](table) if name in OWN else corrupt_table(table, name, seed=3)
    pq.write_table(table, folder / "part-0.parquet")  # raw data is immutable; not here


def corruptions(root: Path, rows: int) -> dict:
    names = variants()
    params = workspace(root, rows)
    cfg = load(params)
    mtms(params, "simulate", "--days", str(len(names) + 3))
    days = [cfg.simulator.start + dt.timedelta(days=i) for i in range(len(names) + 3)]
    for name, day in zip(names, days[2:], strict=False):
        damage(cfg, day, name)
    results, stuck = [], 0
    for i, day in enumerate(days):
        done, wall = mtms(params, "run")
        record = runs.load_record(cfg, day)
        if record is None:
            stuck += 1
        name = names[i - 2] if 2 <= i < len(names) + 2 else "clean"
        errors = [line for line in done.stderr.splitlines() if line.startswith("mtms: error")]
        results.append({
            "day": day.isoformat(), "variant": name, "exit": done.returncode,
            "outcome": record.outcome if record else "NO RECORD",
            "caught": bool(record and record.outcome == "quarantined"),
            "why": (record.error or "; ".join(record.validation.reasons)[:160]) if record
            else (errors[-1] if errors else done.stderr[-300:]),
            "seconds": round(wall, 1),
        })  # fmt: skip
        print(f"{day} {name:28s} {results[-1]['outcome']:18s} {results[-1]['why'][:90]}",
              flush=True)  # fmt: skip
    tried = [r for r in results if r["variant"] != "clean"]
    return {
        "variants": len(tried),
        "caught": sum(r["caught"] for r in tried),
        "survived": sum(not r["caught"] and r["outcome"] != "NO RECORD" for r in tried),
        "stuck": stuck,
        "days": results,
    }


def _processes_of(root: Path) -> list[int]:
    """Live processes whose environment or command line names the workspace."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            blob = (proc / "environ").read_bytes() + (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(root).encode() in blob and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


def _leftovers(cfg) -> list[str]:
    from mlflow import MlflowClient

    from components.registry.mlflow_registry import Registry

    out = [str(p) for key in doctor.SWEPT for p in atomic.leftovers(cfg.path(key))]
    registry = Registry(cfg)
    client = MlflowClient(registry.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.registry.experiment)
    if experiment is not None:
        running = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
        out += [f"run {r.info.run_name} RUNNING" for r in running]
        used = {v.run_id for v in registry.versions()}
        models = client.search_logged_models([experiment.experiment_id])
        out += [f"logged model {m.model_id} unregistered" for m in models
                if m.source_run_id not in used]  # fmt: skip
    out += [f"{r.day} unpublished" for r in doctor.unpublished(runs.records(cfg), cfg)]
    return out


def kills(root: Path, rows: int) -> dict:
    from components.registry.mlflow_registry import Registry

    params = workspace(root, rows)
    cfg = load(params)
    mtms(params, "simulate", "--days", str(len(KILLS) + 2))
    for _ in range(2):  # day 0: nothing to train on; day 1: the first champion
        mtms(params, "run")
    results = []
    for point in KILLS:
        day = runs.next_day(cfg)
        killed, _ = mtms(params, "run", env={"MTMS_FAILPOINTS": point})
        time.sleep(2)  # the kernel's SIGKILL of the API child is asynchronous
        orphans = _processes_of(root)
        rerun, wall = mtms(params, "run", "--day", day.isoformat())
        registry = Registry(cfg)
        champion = registry.champion()
        try:
            loadable = champion is not None and bool(registry.verify(champion))
        except ValueError as err:
            loadable = f"no: {err}"
        per_day: dict[str, int] = {}
        for v in registry.versions():
            per_day[v.trained_through] = per_day.get(v.trained_through, 0) + 1
        record = runs.load_record(cfg, day)
        results.append({
            "point": point, "day": day.isoformat(), "killed_exit": killed.returncode,
            "orphans": len(orphans), "rerun_exit": rerun.returncode,
            "outcome": record.outcome if record else "NO RECORD",
            "champion_loadable": loadable is True, "champion": champion and champion.number,
            "duplicate_versions": sum(n - 1 for n in per_day.values()),
            "leftovers": _leftovers(cfg), "rerun_s": round(wall, 1),
        })  # fmt: skip
        r = results[-1]
        line = f"{point:20s} {day} killed={r['killed_exit']} orphans={r['orphans']} "
        line += f"rerun={r['outcome']} champion=v{r['champion']} ok={r['champion_loadable']} "
        print(line + f"dups={r['duplicate_versions']} leftovers={len(r['leftovers'])}", flush=True)
    return {
        "points": len(results),
        "killed_by_the_failpoint": sum(r["killed_exit"] == -9 for r in results),
        "champion_loadable": sum(r["champion_loadable"] for r in results),
        "duplicates": sum(r["duplicate_versions"] for r in results),
        "orphans": sum(r["orphans"] for r in results),
        "leftovers_after_rerun": sum(len(r["leftovers"]) for r in results),
        "runs": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("corruptions", "kills", "all"), default="all")
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()
    result: dict = {"rows_per_day": args.rows}
    with tempfile.TemporaryDirectory(prefix="mtms-faults-") as tmp:
        if args.part in ("corruptions", "all"):
            result["corruptions"] = corruptions(Path(tmp) / "corrupt", args.rows)
        if args.part in ("kills", "all"):
            result["kills"] = kills(Path(tmp) / "kills", args.rows)
    publish(Path(__file__).stem + ("" if args.part == "all" else f"_{args.part}"), result)


if __name__ == "__main__":
    main()
