"""Benchmark: training time per step and memory per embedding row as the vocabulary grows.

Only the id count varies: the same batches (4,096 rows, Ali-CCP-like: two id fields of
`ids` distinct values each, eight small fields, two behaviour lists of 10-40 ids drawn
from the same `ids`, 3 scenes, D = 16) train ESMM and MTMS (its embedding update: per
scene, two tables a scene) for a fixed number of steps. Each (model, ids) runs in a fresh
process, so its peak RSS is its own. Reported per run: ms per step (median of the timed
steps), the tables' rows and bytes (weights + the row-wise optimizer state), bytes per
row, peak RSS; then the per-step ratio between the largest and smallest vocabulary
(target: within 1.2) and the RSS slope per 1M table rows.

    python benchmarks/vocab_bench.py [--ids 200000 2000000] [--steps 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BATCH, SMALL, DIM, SCENES = 4096, 8, 16, ("a", "b", "c")


def _spec(ids: int):
    from components.features.encoding import FeatureSpec

    sparse = ("user_id", "ad_id", *(f"f{i}" for i in range(SMALL)))
    sizes = (ids + 1, ids + 1, *([101] * SMALL), ids + 1, ids + 1)
    return FeatureSpec(sparse, ("clicked_ads", "liked_ads"), ("price",), sizes, SCENES)


def _batch(ids: int, scene: int, generator: torch.Generator):
    """One scene's batch: ids uniform over the vocabulary (the worst case for caches)."""
    from components.features.batch import Batch

    draw = lambda high, *shape: torch.randint(1, high, shape, generator=generator)  # noqa: E731
    lengths = torch.randint(10, 41, (BATCH, 2), generator=generator).to(torch.int32)
    totals = lengths.long().sum(1)
    sparse = torch.cat([draw(ids + 1, BATCH, 2), draw(101, BATCH, SMALL)], dim=1)
    labels = (torch.rand(3, BATCH, generator=generator) < 0.1).float()
    return Batch(
        sparse=sparse, multi_ids=draw(ids + 1, int(totals.sum())).to(torch.int32),
        multi_start=totals.cumsum(0) - totals, multi_len=lengths,
        dense=torch.rand(BATCH, 1, generator=generator), scene=torch.full((BATCH,), scene),
        click=labels[0], conversion=labels[0] * labels[1], daction=labels[0] * labels[2],
        multi_width=40, scene_id=scene,
    )  # fmt: skip


def run(model_name: str, ids: int, steps: int, threads: int) -> dict:
    from components.config import load
    from components.models import MODELS
    from components.models.layers import FieldEmbedding
    from components.training.loop import make_optimizer, only_training, train_step

    torch.set_num_threads(threads)
    cfg = load(REPO / "params.yaml")
    model_cfg = cfg.model.model_copy(update={"scenes": SCENES, "embedding_dim": DIM})
    torch.manual_seed(0)
    model = MODELS[model_name](_spec(ids), model_cfg)
    stage = model.stages()[0]
    optimizers = make_optimizer(model, stage, cfg.train)
    generator = torch.Generator().manual_seed(1)
    warmup = 5
    batches = [_batch(ids, i % len(SCENES), generator) for i in range(steps + warmup)]
    times = []
    model.train()
    with only_training(model, stage):
        for i, batch in enumerate(batches):
            start = time.perf_counter()
            train_step(stage.forward, batch, stage.losses or model.losses, optimizers)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    tables = [m for m in model.modules() if isinstance(m, FieldEmbedding)]
    rows = sum(t.table.weight.shape[0] for t in tables)
    table_bytes = sum(t.table.weight.nbytes + t.grad_sq.nbytes for t in tables)
    return {
        "model": model_name, "ids": ids, "ms_per_step": round(1e3 * statistics.median(times), 1),
        "table_rows": rows, "table_mb": round(table_bytes / 2**20),
        "bytes_per_row": round(table_bytes / rows, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--models", nargs="+", default=["esmm", "mtms"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "IDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run(args.one[0], int(args.one[1]), args.steps, args.threads)))
        return
    from benchmarks.results import publish

    results = []
    for name in args.models:
        for ids in args.ids:
            cmd = [sys.executable, __file__, "--one", name, str(ids), "--steps", str(args.steps),
                   "--threads", str(args.threads)]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    summary = {}
    for name in args.models:
        mine = sorted((r for r in results if r["model"] == name), key=lambda r: r["ids"])
        small, large = mine[0], mine[-1]
        per_m_rows = (large["peak_rss_mb"] - small["peak_rss_mb"]) / (
            (large["table_rows"] - small["table_rows"]) / 1e6
        )
        summary[name] = {
            "step_ratio": round(large["ms_per_step"] / small["ms_per_step"], 2),
            "rss_mb_per_1m_rows": round(per_m_rows, 1),
        }
        print(f"{name}: {large['ids'] // small['ids']}x the ids -> "
              f"{summary[name]['step_ratio']}x the time per step (target <= 1.2); "
              f"peak RSS {per_m_rows:.1f} MB per 1M table rows "
              f"(weights + state: {DIM * 4 + 4} B a row)")  # fmt: skip
    publish("vocab_bench", {"results": results, "summary": summary})


if __name__ == "__main__":
    main()
