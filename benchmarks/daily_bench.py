"""Wall time of one daily run on a 1M-impression day, step by step, and the flow's overhead.

Simulates three days of `--rows` impressions in a scratch workspace, then runs the daily
flow as users do (`mtms run --day D`, a fresh process each): day 0 (validation only: no
earlier data), day 1 (the first champion), day 2 (measured: warm start, candidate and
champion evaluated on the same rows, gate, register, promote). Overhead is the flow's time
minus the sum of its component calls; start-up is the process's wall time minus the flow's.

    python benchmarks/daily_bench.py [--rows 1000000] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results import publish  # benchmarks/results.py: run as `python benchmarks/NAME.py`

REPO = Path(__file__).resolve().parents[1]
STEPS = ("validation", "champion", "read", "train", "evaluate", "gate", "log_run", "register",
         "promote")  # fmt: skip


def workspace(root: Path, rows: int, threads: int) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulator"]["rows_per_day"] = rows
    params["train"]["threads"] = threads
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root / "params.yaml"


def mtms(params: Path, *args: str) -> float:
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "cli.main", "--params", str(params), *args]
    subprocess.run(cmd, check=True, cwd=params.parent, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mtms-daily-bench-") as tmp:
        params = workspace(Path(tmp), args.rows, args.threads)
        start = dt.date.fromisoformat(yaml.safe_load(params.read_text())["simulator"]["start"])
        simulate = mtms(params, "simulate", "--days", "3")
        days = [start + dt.timedelta(days=i) for i in range(3)]
        walls = [mtms(params, "run", "--day", d.isoformat()) for d in days]
        record = json.loads((Path(tmp) / "runs" / f"day={days[2]}.json").read_text())
    t = record["timings"]
    stages = {s["stage"]: s for s in record["trained"]["stages"]}
    components = sum(t.get(s, 0.0) for s in STEPS)
    result = {
        "rows_evaluated": record["rows"], "rows_trained": record["trained"]["rows"],
        "threads": args.threads, "outcome": record["outcome"], "simulate_s": round(simulate, 1),
        "steps_s": {s: t[s] for s in STEPS if s in t},
        "train_parts_s": {"encode": record["trained"]["encode_seconds"],
                          **{k: round(v["seconds"], 3) for k, v in stages.items()}},
        "flow_s": t["flow"], "components_s": round(components, 3),
        "overhead_s": round(t["flow"] - components, 3),
        "process_wall_s": [round(w, 1) for w in walls],
        "startup_s": round(walls[2] - t["flow"], 1),
    }  # fmt: skip
    publish(Path(__file__).stem, result)


if __name__ == "__main__":
    main()
