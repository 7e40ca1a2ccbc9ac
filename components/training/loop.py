"""The training loop: pre-encoded tensors in memory, batches gathered along a permutation.

Every model trains through the same code: for each of its stages, freeze what the
stage does not train, then one pass (per epoch) over the data: row-wise Adagrad on the
embedding tables (sparse: a step costs the batch's rows), Adam on the networks. Each epoch draws a
new order of the rows; each batch gathers its rows when it is trained on, so the window's
tensors are never copied whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.optim import Optimizer

from components.config import TrainConfig
from components.features.batch import Batch
from components.models.base import RankingModel, Stage
from components.models.layers import FieldEmbedding
from components.training import distributed, scenes
from components.training.losses import multitask_loss
from components.training.rowwise import RowWiseAdagrad

OnStep = Callable[[str, int, int], None]  # (stage, rows done, rows in the stage)


@dataclass(frozen=True)
class StageResult:
    stage: str
    rows: int  # rows seen, epochs included
    steps: int
    seconds: float
    loss: float  # mean training loss over the stage
    workers: tuple[str, ...] = ()  # scenes trained apart: where each ran, "scene pid@host"

    @property
    def samples_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def batch_plan(
    data: Batch, batch_size: int, per_scene: bool, generator: torch.Generator
) -> tuple[Tensor, list[tuple[int, int, int | None]]]:
    """A shuffled order of the rows and the (start, stop, scene) of each batch in it: batch
    k is rows order[start:stop], gathered when it is trained on.

    With per_scene, rows are grouped by scene and no batch crosses a scene; the
    batches of all scenes are then visited in a random order.
    """
    perm = torch.randperm(len(data), generator=generator)
    if not per_scene:
        bounds = range(0, len(data), batch_size)
        return perm, [(a, min(a + batch_size, len(data)), None) for a in bounds]
    perm = perm[torch.argsort(data.scene[perm], stable=True)]
    counts = torch.bincount(data.scene, minlength=int(data.scene.max()) + 1).tolist()
    plan, start = [], 0
    for scene, count in enumerate(counts):
        plan += [(a, min(a + batch_size, start + count), scene)
                 for a in range(start, start + count, batch_size)]  # fmt: skip
        start += count
    order = torch.randperm(len(plan), generator=generator).tolist()
    return perm, [plan[i] for i in order]


def set_threads(cfg: TrainConfig) -> None:
    """torch's intra-op threads for training: train.threads, 0 = one per CPU core (under
    torchrun: the cores shared among the host's ranks)."""
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // ranks))


def make_optimizer(model: RankingModel, stage: Stage, cfg: TrainConfig) -> list[Optimizer]:
    """A stage's optimizers, fresh per stage: row-wise Adagrad on its embedding tables
    (sparse: a step moves the batch's rows only; the accumulators live in the tables and
    carry over), fused Adam on its networks.

    fused=True: one kernel over all network parameters is ~15% faster per step on CPU than
    the default for-each implementation.
    """
    wanted = {id(p) for p in stage.embeddings}
    tables = [m for m in model.modules()
              if isinstance(m, FieldEmbedding) and id(m.table.weight) in wanted]  # fmt: skip
    if len(tables) != len(wanted):
        raise TypeError(f"stage {stage.name!r}: every embedding parameter must be a table's")
    out: list[Optimizer] = [RowWiseAdagrad(tables, cfg.lr_embedding)] if tables else []
    if stage.network:
        out.append(torch.optim.Adam(stage.network, lr=cfg.lr_network, fused=True))
    return out


@contextmanager
def only_training(model: RankingModel, stage: Stage) -> Iterator[None]:
    """Freeze every parameter outside the stage; restore the flags however the stage ends."""
    trained = {id(p) for p in stage.embeddings + stage.network}
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(id(p) in trained)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def train_step(
    forward: Callable, batch: Batch, terms: tuple[str, ...], optimizers: list[Optimizer]
) -> Tensor:
    """One optimizer step on one batch; the batch's loss, detached."""
    loss = multitask_loss(forward(batch), batch, terms)
    # set_to_none: a parameter the batch did not reach (another scene's component) gets
    # no gradient, so its optimizer leaves it exactly as it is
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()
    return loss.detach()


def run_stage(
    model: RankingModel, stage: Stage, data: Batch, cfg: TrainConfig,
    generator: torch.Generator, on_step: OnStep | None = None,
) -> StageResult:  # fmt: skip
    """Train one stage; parameters outside the stage stay bit-identical."""
    optimizers = make_optimizer(model, stage, cfg)
    model.train()
    total, steps, rows, t0 = torch.zeros(()), 0, 0, time.perf_counter()
    terms = stage.losses or model.losses
    with only_training(model, stage):
        forward = distributed.wrap(model, stage.forward)  # as is, outside torchrun
        for _ in range(cfg.epochs):
            order, plan = batch_plan(data, cfg.batch_size, stage.per_scene, generator)
            for start, stop, scene in plan:
                # one gather per batch, not a shuffled copy of the window: a big day's
                # tensors are in memory once (under torchrun: this rank's share of it)
                batch = data.take(distributed.shard(order[start:stop]), scene)
                total += train_step(forward, batch, terms, optimizers)
                steps, rows = steps + 1, rows + (stop - start)
                if on_step:
                    on_step(stage.name, rows, len(data) * cfg.epochs)
    seconds = time.perf_counter() - t0
    return StageResult(stage.name, rows, steps, seconds, float(total) / max(steps, 1))


def fit(
    model: RankingModel, data: Batch, cfg: TrainConfig, seed: int,
    on_step: OnStep | None = None, scene_map: scenes.SceneMap | None = None,
) -> list[StageResult]:  # fmt: skip
    """Run every stage of the model in order; deterministic for a fixed seed.

    With `scene_map`, a stage whose scenes train disjoint parameters runs as one job per
    scene through it (components.training.scenes): the same steps, the same result.
    """
    generator = torch.Generator().manual_seed(seed)
    results = []
    for index, stage in enumerate(model.stages()):
        if scene_map is not None and stage.scene_parameters is not None:
            results.append(scenes.run_apart(model, index, data, cfg, generator, scene_map, on_step))
        else:
            results.append(run_stage(model, stage, data, cfg, generator, on_step))
    return results
