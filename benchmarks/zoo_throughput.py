"""Benchmark: every zoo model's training day on one simulated day of ~1M impressions.

Each model (and MTMS's ablation variants) trains one cold day, the first day of its chain,
in its own fresh process, through the bake-off's own code (`compare.run_chain`), and is
then scored on the next day. Reported per model: training seconds, samples/s of each
stage, peak RSS of its process (imports and the encoded day included), time vs ESMM.

    python benchmarks/zoo_throughput.py [--rows 1000000] [--threads 2] [--models mtms esmm ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import publish  # noqa: E402
from components.config import load, with_compare  # noqa: E402
from components.evaluation.compare import contenders, isolated, run_chain, world  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", help="labels, e.g. esmm 'mtms residual'")
    args = parser.parse_args()
    cfg = load(REPO / "params.yaml")
    cfg = with_compare(cfg, {"rows_per_day": args.rows, "days": 2, "last_days": 1})
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"threads": args.threads})})
    runs = [c for c in contenders(cfg) if c.kind != "claim"]
    runs = [c for c in runs if c.label in args.models] if args.models else runs
    out = {"rows_per_day": args.rows, "threads": args.threads, "models": {}}
    with tempfile.TemporaryDirectory(prefix="mtms-zoo-bench-") as tmp:
        seeded, days = world(cfg, cfg.seed, Path(tmp))
        for contender in runs:
            name = contender.label
            run = isolated(run_chain, seeded, contender, days[:2])
            [day] = run["days"]
            out["models"][name] = {
                "rows": day["rows"],
                "train_s": round(day["train_s"], 1),
                "samples_per_s": {k: round(v["samples_per_s"]) for k, v in day["stages"].items()},
                "peak_rss_mb": round(run["peak_rss_mb"]),
            }
            print(name, out["models"][name], flush=True)
    esmm = out["models"].get("esmm")
    for entry in out["models"].values():
        entry["time_vs_esmm"] = round(entry["train_s"] / esmm["train_s"], 2) if esmm else None
    publish("zoo_throughput", out)


if __name__ == "__main__":
    main()
