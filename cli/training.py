"""`mtms train` and `mtms evaluate`: progress bars and tables around components.training."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cli import prefect_api
from cli.reports import table
from components import atomic
from components.config import Config
from components.data.partitions import PartitionError, list_days, parse_day, read_partition
from components.evaluation.evaluate import check_unseen
from components.evaluation.evaluate import evaluate as evaluate_bundle
from components.models import bundle as bundles
from components.training import distributed
from components.training.chain import TrainedDay, train_chain
from components.training.loop import set_threads
from components.training.scenes import SceneMap


def parse_days(text: str, available: list[dt.date]) -> list[dt.date]:
    """'D1..D2' (the partitions in that range) or one day 'D'."""
    first, _, last = text.partition("..")
    start, end = parse_day(first), parse_day(last or first)
    if end < start:
        raise PartitionError(f"--days {text}: the range ends before it starts")
    days = [d for d in available if start <= d <= end]
    if not days:
        raise PartitionError(f"--days {text}: no partitions in that range")
    return days


def train(console: Console, cfg: Config, name: str, days: str, warm: Path | None) -> int:
    """Under torchrun every rank runs this; rank 0 alone prints and writes the bundles."""
    if distributed.start() and distributed.rank() != 0:
        console = Console(quiet=True)
    try:
        return _train(console, cfg, name, days, warm)
    finally:
        distributed.stop()


def _scene_map(cfg: Config) -> SceneMap | None:
    """parallel.scenes: where the scenes' jobs run. Off `local`, they are Prefect tasks:
    the temporary API starts first, as for `mtms run`, so the workers report to it."""
    if cfg.parallel.scenes == "local":
        return None
    if distributed.active():
        raise ValueError(
            "parallel.scenes: dask does not combine with torchrun (each rank would start a "
            "cluster of its own): set parallel.scenes: local for a torchrun run"
        )
    api = prefect_api.start(cfg)  # before Prefect loads: it reads PREFECT_API_URL at import
    from flows.scenes import scene_map

    if api is not None:
        api.wait()
    return scene_map(cfg.parallel)


def _train(console: Console, cfg: Config, name: str, days: str, warm: Path | None) -> int:
    set_threads(cfg.train)
    scene_map = _scene_map(cfg)
    chosen = parse_days(days, list_days(cfg.path("raw")))
    previous = bundles.load(warm) if warm else None
    rows: list[list] = []
    paths: list[Path] = []
    columns = TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("training", total=1)

        def on_step(stage: str, done: int, total: int) -> None:
            progress.update(bar, description=f"{name} {stage}", completed=done, total=total)

        def on_day(t: TrainedDay) -> None:
            speed = ", ".join(f"{s.stage} {s.samples_per_s:,.0f}/s" for s in t.stages)
            start = "warm" if t.warm else "cold"
            loss = " ".join(f"{s.loss:.4f}" for s in t.stages)
            rows.append([t.day, t.rows, start, loss, speed])
            paths.append(t.path)

        train_chain(cfg, name, chosen, previous, on_step, on_day, scene_map)
    cols = ["day", "rows", "start", "loss", "samples/s"]
    console.print(table(f"{name}: warm-start chain", cols, rows))
    latest = paths[-1].relative_to(cfg.root) if paths[-1].is_relative_to(cfg.root) else paths[-1]
    console.print(f"{len(paths)} bundles in {paths[-1].parent}; latest: {latest}", soft_wrap=True)
    return 0


def evaluate(console: Console, cfg: Config, bundle: Path, day: dt.date, out: Path | None) -> int:
    set_threads(cfg.train)
    loaded = bundles.load(bundle)
    check_unseen(loaded, day)
    metrics = evaluate_bundle(loaded, read_partition(cfg.path("raw"), day))
    columns = [
        "scene",
        "task",
        "rows",
        "pos",
        "AUC",
        "oracle",
        "GAUC",
        "logloss",
        "MAE",
        "calib",
        "ECE",
    ]
    rows = [
        [
            m.scene,
            m.task,
            m.rows,
            m.positives,
            m.auc,
            m.oracle_auc,
            m.gauc,
            m.logloss,
            m.mae,
            m.calibration,
            m.ece,
        ]
        for m in metrics
    ]
    console.print(table(f"{loaded.name} ({bundle.name}) on {day}", columns, rows))
    if out:
        atomic.write_text(out, json.dumps([m.to_record() for m in metrics], indent=2))
        console.print(f"wrote {out}")
    return 0
