"""Benchmark: `mtms train` of one 1M-row day in one process, under torchrun (2 ranks, DDP)
and with MTMS's scenes on Dask workers (parallel.scenes: dask), on this host.

Each way is the real command in a fresh process tree, on the same simulated day; measured:
wall time of the command (start-up, encoding, training, saving), each stage's training
seconds (from the bundle), the peak summed RSS of the whole process tree (ranks, Dask
workers and nanny included; sampled every 0.1 s), and each way's AUCs on the next day
against the one-process bundle's.

    python benchmarks/parallel_bench.py [--rows 1000000] [--ways mtms:one,mtms:torchrun,...]
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

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.results import publish  # noqa: E402

WAYS = ("mtms:one", "mtms:torchrun", "mtms:dask", "esmm:one", "esmm:torchrun")
FOCUS = [("feed", "ctr"), ("search", "ctr"), ("feed", "cvr"), ("search", "cvr")]


def workspace(root: Path, rows: int) -> Path:
    """The repo's params with `rows` rows a day, two simulated days."""
    from components.config import load
    from components.data.simulator import simulate

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["simulator"]["rows_per_day"] = rows
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = load(root / "params.yaml")
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    return root / "params.yaml"


def params_for(base: Path, model: str, how: str) -> Path:
    raw = yaml.safe_load(base.read_text())
    raw["paths"]["models"] = f"models-{how}"
    raw["parallel"]["scenes"] = "dask" if how == "dask" else "local"
    path = base.parent / f"params-{model}-{how}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run(params: Path, model: str, how: str, day: str) -> dict:
    """The command in its own process tree; wall seconds and the tree's peak RSS."""
    python = Path(sys.executable)
    head = [str(python), "-m", "cli.main"]
    if how == "torchrun":
        head = [str(python.parent / "torchrun"), "--standalone", "--nproc_per_node=2",
                "-m", "cli.main"]  # fmt: skip
    args = ["--params", str(params), "train", "--days", day, "--model", model]
    env = {**os.environ, "PYTHONPATH": str(REPO), "GX_ANALYTICS_ENABLED": "False"}
    t0, peak = time.perf_counter(), 0
    proc = psutil.Popen([*head, *args], env=env, cwd=params.parent,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{model} {how} failed: {proc.stderr.read().decode()[-2000:]}")
    return {"wall_s": round(wall, 1), "peak_rss_gb": round(peak / 2**30, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ways", default=",".join(WAYS))
    args = parser.parse_args()
    from components.config import load
    from components.data.partitions import read_partition
    from components.evaluation.evaluate import evaluate
    from components.models import bundle as bundles

    result: dict = {"rows": args.rows, "cores": os.cpu_count(), "ways": {}}
    with tempfile.TemporaryDirectory() as tmp:
        base = workspace(Path(tmp), args.rows)
        cfg = load(base)
        day = cfg.simulator.start.isoformat()
        scored = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=1))
        for way in args.ways.split(","):
            model, how = way.split(":")
            measured = run(params_for(base, model, how), model, how, day)
            bundle = bundles.load(Path(tmp) / f"models-{how}" / model / f"day={day}.pt")
            metrics = {(m.scene, m.task): m.auc for m in evaluate(bundle, scored)}
            measured["stages_s"] = {s["stage"]: round(s["seconds"], 1)
                                    for s in bundle.meta["stages"]}  # fmt: skip
            measured["auc"] = {f"{s}_{t}": round(metrics[s, t], 4) for s, t in FOCUS}
            one = result["ways"].get(f"{model}:one")
            if one and how != "one":
                measured["auc_minus_one"] = {
                    k: round(v - one["auc"][k], 4) for k, v in measured["auc"].items()
                }
            result["ways"][way] = measured
            print(way, measured, flush=True)
    publish("parallel", result)


if __name__ == "__main__":
    main()
