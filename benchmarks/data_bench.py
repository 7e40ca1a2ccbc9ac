"""Benchmark: simulate 1M impressions, then validate them (GX import included).

Each stage runs in a fresh process so its wall time includes imports and its peak
memory (max RSS) is its own. Targets: simulate <= 10 s, validate <= 30 s on 2 cores.

    python benchmarks/data_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def stage(name: str, root: Path, rows: int) -> None:
    """Run one stage in this process and print its wall time and peak RSS as JSON."""
    start = time.perf_counter()
    from components.config import load

    cfg = load(root / "params.yaml")
    if name == "simulate":
        from components.data.simulator import simulate

        done = simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
        detail = {"rows": done[0].rows}
    else:
        from components.validation.quarantine import validate_day

        report = validate_day(cfg, cfg.simulator.start)
        detail = {"rows": report.rows, "passed": report.passed, "checks": len(report.checks)}
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"stage": name, "seconds": round(seconds, 2), "peak_mb": round(peak_mb), **detail}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stage", choices=["simulate", "validate"])
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.stage:
        stage(args.stage, args.root, args.rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["simulator"]["rows_per_day"] = args.rows
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        results = []
        for name in ("simulate", "validate"):
            cmd = [sys.executable, __file__, "--stage", name, "--root", str(root)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for r in results:
        rows, secs, peak = r["rows"], r["seconds"], r["peak_mb"]
        print(f"{r['stage']:>9}: {rows:>9,} rows  {secs:6.2f} s  peak {peak:5,} MB")
    out_dir = REPO / "benchmarks" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "data_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
