"""Benchmark: training throughput of MTMS on one 1M-impression day, 2 CPU threads.

Measured, each in a fresh process (its own peak RSS) on the same encoded day:
  (a) embedding update as the trainer runs it (run_stage: shuffle, slicing, steps)
  (b) fine-tune on frozen embeddings as the trainer runs it
  (c) bare model step for (a): forward + backward + optimizer steps on batches made beforehand
  (d) (a)'s model fed like common model zoos: per-sample Dataset + DataLoader
Targets: (a) >= 0.8 x (c) and (a) >= 5 x (d).

    python benchmarks/train_throughput.py [--rows 1000000] [--threads 2] [--profile]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ("embedding", "finetune", "bare", "dataloader")
# A child's peak RSS starts at its parent's (fork copies it; exec keeps the high-water mark),
# so even the data preparation runs in its own process and this one stays small.
DATALOADER_ROWS = 200_000  # (d) is slow: timed on the first rows only


def prepare(root: Path, rows: int) -> None:
    """Simulate one day and save its encoded tensors + encoder for the stage processes."""
    from components.config import load
    from components.data.partitions import read_partition
    from components.data.simulator import simulate
    from components.features.encoding import Encoder
    from components.validation.quarantine import dataset_contract

    cfg = load(root / "params.yaml")
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
    table = read_partition(cfg.path("raw"), cfg.simulator.start)
    encoder = Encoder(dataset_contract(cfg), cfg.model.scenes)
    encoder.fit(table)
    data = encoder.encode(table)[0]
    tensors = {f.name: getattr(data, f.name) for f in fields(data) if f.name != "scene_id"}
    torch.save({"encoder": encoder.state(), "data": tensors}, root / "encoded.pt")


def _bare(model, stage, data, cfg, generator) -> int:
    """(c): the same steps as run_stage, on batches already cut (no data handling timed)."""
    from components.training.loop import batch_plan, make_optimizer, train_step

    order, plan = batch_plan(data, cfg.batch_size, stage.per_scene, generator)
    batches = [data.take(order[a:b], scene) for a, b, scene in plan]
    optimizers = make_optimizer(model, stage, cfg)
    start = time.perf_counter()
    for batch in batches:
        train_step(stage.forward, batch, model.losses, optimizers)
    return time.perf_counter() - start


class RowDataset(torch.utils.data.Dataset):
    """How DeepCTR-Torch / torch-rechub feed a model: one row per __getitem__."""

    def __init__(self, data):
        self.data = data
        self.multi = data.multi  # padded per row, as such loaders hold lists

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict:
        rows = {k: v[i] for k, v in self.data._rows().items() if k != "multi_len"}
        return {**rows, "multi": self.multi[i]}


def _dataloader(model, stage, data, cfg, generator) -> tuple[float, int]:
    """(d): per-scene DataLoaders over a per-sample Dataset, default collate, no workers."""
    from components.features.batch import Batch
    from components.training.loop import make_optimizer, train_step

    data = data.slice(0, DATALOADER_ROWS)
    optimizers = make_optimizer(model, stage, cfg)
    start = time.perf_counter()
    for scene in data.scene.unique().tolist():
        rows = torch.nonzero(data.scene == scene).squeeze(1).tolist()
        subset = torch.utils.data.Subset(RowDataset(data), rows)
        loader = torch.utils.data.DataLoader(
            subset, batch_size=cfg.batch_size, shuffle=True, generator=generator
        )
        for columns in loader:
            batch = Batch.from_padded(columns.pop("multi"), **columns, scene_id=scene)
            train_step(stage.forward, batch, model.losses, optimizers)
    return time.perf_counter() - start, len(data)


def stage(name: str, root: Path, threads: int, profile: bool) -> None:
    from components.config import load
    from components.features.batch import Batch
    from components.features.encoding import Encoder
    from components.models import bundle as bundles
    from components.training.loop import run_stage

    torch.set_num_threads(threads)
    cfg = load(root / "params.yaml")
    saved = torch.load(root / "encoded.pt", weights_only=True)
    encoder, data = Encoder.from_state(saved["encoder"]), Batch(**saved["data"])
    model = bundles.build("mtms", encoder, cfg.model, seed=0)
    embedding, finetune = model.stages()
    generator = torch.Generator().manual_seed(0)
    profiler = torch.profiler.profile() if profile else None
    if profiler:
        profiler.start()
    rows = len(data)
    if name in ("embedding", "finetune"):
        result = run_stage(model, {"embedding": embedding, "finetune": finetune}[name],
                           data, cfg.train, generator)  # fmt: skip
        seconds = result.seconds
    elif name == "bare":
        seconds = _bare(model, embedding, data, cfg.train, generator)
    else:
        seconds, rows = _dataloader(model, embedding, data, cfg.train, generator)
    if profiler:
        profiler.stop()
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15),
              file=sys.stderr)  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    speed = round(rows / seconds)
    print(json.dumps({"stage": name, "rows": rows, "seconds": round(seconds, 2),
                      "samples_per_s": speed, "peak_mb": round(peak_mb)}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="torch profile of each stage")
    parser.add_argument("--stage", choices=("prepare", *STAGES))
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.stage == "prepare":
        prepare(args.root, args.rows)
        return
    if args.stage:
        stage(args.stage, args.root, args.threads, args.profile)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["simulator"]["rows_per_day"] = args.rows
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        cmd = [sys.executable, __file__, "--stage", "prepare", "--root", str(root)]
        subprocess.run([*cmd, "--rows", str(args.rows)], check=True, cwd=REPO)
        for name in STAGES:
            flags = ["--threads", str(args.threads), *(["--profile"] if args.profile else [])]
            cmd = [sys.executable, __file__, "--stage", name, "--root", str(root), *flags]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
            if args.profile:
                print(out.stderr)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    by = {r["stage"]: r for r in results}
    labels = {"embedding": "(a) embedding update", "finetune": "(b) fine-tune",
              "bare": "(c) bare model step", "dataloader": "(d) Dataset+DataLoader"}  # fmt: skip
    for r in results:
        print(f"{labels[r['stage']]:<24} {r['rows']:>9,} rows {r['seconds']:7.2f} s "
              f"{r['samples_per_s']:>9,} samples/s  peak {r['peak_mb']:5,} MB")  # fmt: skip
    a, c, d = (by[k]["samples_per_s"] for k in ("embedding", "bare", "dataloader"))
    print(f"(a)/(c) = {a / c:.2f} (target >= 0.8)   (a)/(d) = {a / d:.1f} (target >= 5)")
    out_dir = REPO / "benchmarks" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "train_throughput.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
