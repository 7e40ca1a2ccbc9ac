"""Benchmark: validate, encode and train one day of >= 5M raw Ali-CCP impressions.

Reuses (or makes, with import_bench.py --days 1) a workspace holding one imported day of
the generated raw Ali-CCP pair, then runs each step in a fresh process and reports its
wall time and peak RSS:
  validate  `mtms validate --day D` (the expectation suite of the day)
  encode    vocabularies fitted and the day encoded, streamed from its partition
  train     `mtms train --days D --model M` (encode + every stage + calibration + save)

    python benchmarks/bigday_bench.py [--rows 5000000] [--work DIR] [--model mtms]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import publish  # noqa: E402

DAY = "2026-03-02"
SCENES = ("301_9351665", "301_9351666", "301_9351667")  # the generator's field 301 ids


def _encode(params: Path) -> dict:
    from components.config import load
    from components.data.partitions import CHUNK_ROWS, parse_day, stream_partition
    from components.features.encoding import Encoder
    from components.validation.quarantine import dataset_contract

    cfg = load(params)
    day, encoder = parse_day(DAY), None
    encoder = Encoder(dataset_contract(cfg), cfg.model.scenes)
    encoder.fit(stream_partition(cfg.path("raw"), day, CHUNK_ROWS))
    batch, _ = encoder.encode(stream_partition(cfg.path("raw"), day, CHUNK_ROWS))
    tensors = [v for v in batch._rows().values()] + [batch.multi_ids, batch.multi_start]
    return {"rows": len(batch), "ids": batch.multi_ids.numel(), "width": batch.multi_width,
            "tensor_mb": round(sum(t.numel() * t.element_size() for t in tensors) / 2**20),
            "vocab_rows": sum(encoder.spec.sizes)}  # fmt: skip


def step(name: str, params: Path, model: str) -> None:
    """One step in this process; prints its seconds and peak RSS as JSON."""
    from cli.main import main

    start, extra = time.perf_counter(), {}
    if name == "encode":
        extra = _encode(params)
    else:
        argv = {"validate": ["validate", "--day", DAY],
                "train": ["train", "--days", DAY, "--model", model]}[name]  # fmt: skip
        if rc := main(["--params", str(params), *argv]):
            raise SystemExit(f"{name} failed ({rc})")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 1), "peak_rss_mb": round(peak), **extra}))


def prepare(rows: int, work: Path) -> Path:
    """The workspace with one imported day: import_bench.py's, with this day's scenes."""
    params = work / "ws" / "params.yaml"
    if not (work / "ws" / "data" / "raw" / f"day={DAY}").exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "import_bench.py"),
                        "--rows", str(rows), "--days", "1", "--keep", str(work)],
                       check=True, cwd=REPO)  # fmt: skip
    init = [sys.executable, "-m", "cli.main", "init", "aliccp-raw", "--out", str(params),
            "--force", "--rows-per-day", str(rows), "--scenes", *SCENES]  # fmt: skip
    subprocess.run(init, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bigday-bench"))
    parser.add_argument("--model", default="mtms")
    parser.add_argument("--step", choices=("validate", "encode", "train"))
    parser.add_argument("--params", type=Path)
    args = parser.parse_args()
    if args.step:
        return step(args.step, args.params, args.model)
    params = prepare(args.rows, args.work)
    result = {"rows": args.rows, "model": args.model}
    for name in ("validate", "encode", "train"):
        cmd = [sys.executable, __file__, "--step", name, "--params", str(params),
               "--model", args.model]  # fmt: skip
        out = subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, text=True)
        result[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, result[name], flush=True)
    publish("bigday_bench", result)


if __name__ == "__main__":
    main()
