"""Benchmark: the calibration methods on the daily model's warm-start chain.

For each `train.calibration` method (none, platt, isotonic), the daily model (model.name)
trains its chain over the simulated days in its own process (the bake-off's
`compare.run_chain`), each day's model scored on the next day. Per gate focus: mean AUC,
logloss, ECE and Sum p / Sum y; the scored days whose Sum p / Sum y leaves the gate's band;
the paired AUC difference against `none` (95 % bootstrap over (seed, day) pairs): what
holding rows out of training costs.

    python benchmarks/calibration_bench.py [--seeds 7] [--days 13] [--rows 200000]
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
from components.evaluation.compare import Contender, isolated, run_chain, world  # noqa: E402
from components.evaluation.compare_stats import Table  # noqa: E402

METHODS = ("none", "platt", "isotonic")


def _focus_rows(cfg, table: Table, method: str, scene: str, task: str, reps: int) -> dict:
    low, high = cfg.gate.calibration_band
    cells = table.values.get((method, scene, task), {}).values()
    ratios = [r["calibration"] for r in cells if r["calibration"] is not None]
    row = {m: table.mean(method, scene, task, m) for m in ("auc", "logloss", "ece", "calibration")}
    row["days_outside_band"] = sum(not low <= r <= high for r in ratios)
    row["days"] = len(ratios)
    if method != "none":
        row["auc_vs_none"] = table.paired(method, "none", scene, task, reps)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--days", type=int, default=13, help="training days of each chain")
    parser.add_argument("--rows", type=int, default=0, help="rows a day (0: compare.rows_per_day)")
    parser.add_argument("--reps", type=int, default=2000)
    args = parser.parse_args()
    window = {"days": args.days, "last_days": args.days - 1}
    cfg = with_compare(
        load(REPO / "params.yaml"), window | ({"rows_per_day": args.rows} if args.rows else {})
    )
    chains = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="mtms-calibration-bench-") as tmp:
            seeded, days = world(cfg, seed, Path(tmp))
            for method in METHODS:
                train = seeded.train.model_copy(update={"calibration": method})
                run = seeded.model_copy(update={"train": train})
                contender = Contender(method, cfg.model.name)
                chains.append({"seed": seed, **isolated(run_chain, run, contender, days)})
                print(f"seed {seed}: {method} done", flush=True)
    table = Table({"chains": chains}, last_days=args.days)
    focus = [(f.scene, f.task) for f in cfg.gate.focus]
    focus += [(s, "ctcvr") for s in dict.fromkeys(s for s, _ in focus)]
    out = {
        "model": cfg.model.name,
        "seeds": args.seeds,
        "scored_days": table.days,
        "holdout": cfg.train.calibration_holdout,
        "band": list(cfg.gate.calibration_band),
        "methods": {
            m: {f"{s}/{t}": _focus_rows(cfg, table, m, s, t, args.reps) for s, t in focus}
            for m in METHODS
        },
    }
    publish("calibration", out)


if __name__ == "__main__":
    main()
