"""A stage's scenes trained apart, one job per scene, then merged (MTMS's embedding update).

A per-scene stage whose scenes train disjoint parameters (`Stage.scene_parameters`) can
run scene by scene instead of interleaved: scene s's parameters only ever change on scene
s's batches, and the optimizers keep their state per parameter (Adam) or in the scene's
own tables (row-wise Adagrad), so training each scene alone on its
own batches, in the order the interleaved plan visits them, takes the very same steps.
`run_apart` draws that plan from the stage's generator (so the next stage starts from the
same generator state), builds one `SceneJob` per scene, hands the jobs to a `SceneMap`
and copies each scene's trained parameters back into the model.

The map decides where jobs run: one after another in this process (`in_process`), or
one worker process each (flows.scenes: Prefect tasks on a Dask task runner). A job
carries everything it needs (model, the scene's rows, its batches), so it pickles; jobs
must not share a model across threads (the stage freezes what it does not train).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from components.config import TrainConfig
from components.features.batch import Batch
from components.models.base import RankingModel, Stage
from components.models.layers import FieldEmbedding
from components.training import loop


@dataclass
class SceneJob:
    model: RankingModel
    stage: int  # index in model.stages()
    scene: int
    scene_name: str
    data: Batch  # the scene's rows of the window
    batches: list[Tensor]  # each step's rows, as positions in `data`, all epochs in order
    cfg: TrainConfig
    threads: int  # torch intra-op threads for the job; 0: the worker's own setting


@dataclass
class SceneResult:
    scene: int
    state: dict[str, Tensor]  # what the scene trained (parameters, table accumulators), by key
    rows: int
    steps: int
    loss: float  # summed over the steps
    seconds: float
    worker: str = ""  # where it ran: pid@host


SceneMap = Callable[[list[SceneJob]], list[SceneResult]]


def in_process(jobs: list[SceneJob]) -> list[SceneResult]:
    """The jobs one after another in this process (tests; the reference for other maps)."""
    return [run_job(job) for job in jobs]


def plan_jobs(
    model: RankingModel, index: int, data: Batch, cfg: TrainConfig, generator: torch.Generator
) -> list[SceneJob]:
    """One job per scene with rows: the interleaved plan's batches of that scene, in order."""
    steps: dict[int, list[Tensor]] = {}
    for _ in range(cfg.epochs):
        order, plan = loop.batch_plan(data, cfg.batch_size, True, generator)
        for start, stop, scene in plan:
            steps.setdefault(scene, []).append(order[start:stop])
    names = getattr(model, "scenes", None)
    threads = max(1, torch.get_num_threads() // max(1, len(steps)))  # this host's cores, shared
    jobs = []
    for scene in sorted(steps):
        rows = (data.scene == scene).nonzero().squeeze(1)  # ascending: positions in `rows`
        batches = [torch.searchsorted(rows, b) for b in steps[scene]]
        name = names[scene] if names else str(scene)
        jobs.append(SceneJob(model, index, scene, name, data.take(rows), batches, cfg, threads))
    return jobs


def run_job(job: SceneJob) -> SceneResult:
    """Train one scene's parameters on its batches; the trained parameters, by name."""
    if job.threads:
        torch.set_num_threads(job.threads)
    model = job.model
    stage = model.stages()[job.stage]
    mine = {id(p) for p in stage.scene_parameters(job.scene)}
    own = Stage(
        stage.name, stage.forward,
        [p for p in stage.embeddings if id(p) in mine],
        [p for p in stage.network if id(p) in mine],
        per_scene=True, losses=stage.losses,
    )  # fmt: skip
    optimizers = loop.make_optimizer(model, own, job.cfg)
    terms = stage.losses or model.losses
    model.train()
    total, rows, t0 = torch.zeros(()), 0, time.perf_counter()
    with loop.only_training(model, own):
        for index in job.batches:
            total += loop.train_step(
                own.forward, job.data.take(index, job.scene), terms, optimizers
            )
            rows += len(index)
    state = {n: t.detach().clone() for n, t in _trained_state(model, mine).items()}
    where = f"{os.getpid()}@{socket.gethostname()}"
    seconds = time.perf_counter() - t0
    return SceneResult(job.scene, state, rows, len(job.batches), float(total), seconds, where)


def _trained_state(model: RankingModel, mine: set[int]) -> dict[str, Tensor]:
    """What a scene's training changed, by state-dict key: its parameters, and the row-wise
    optimizer state (grad_sq) of its tables."""
    state = {n: p for n, p in model.named_parameters() if id(p) in mine}
    for name, module in model.named_modules():
        if isinstance(module, FieldEmbedding) and id(module.table.weight) in mine:
            state[f"{name}.grad_sq" if name else "grad_sq"] = module.grad_sq
    return state


def run_apart(
    model: RankingModel, index: int, data: Batch, cfg: TrainConfig,
    generator: torch.Generator, scene_map: SceneMap, on_step: loop.OnStep | None = None,
) -> loop.StageResult:  # fmt: skip
    """Stage `index` of `model`, scene by scene through `scene_map`, merged into `model`."""
    t0 = time.perf_counter()
    name, total = model.stages()[index].name, len(data) * cfg.epochs
    jobs = plan_jobs(model, index, data, cfg, generator)
    if on_step:
        on_step(name, 0, total)
    results = scene_map(jobs)
    if sorted(r.scene for r in results) != [j.scene for j in jobs]:
        raise RuntimeError(f"the scene map returned scenes {[r.scene for r in results]}, "
                           f"not one result per job {[j.scene for j in jobs]}")  # fmt: skip
    own = model.state_dict()  # detached views: copying into them sets the model's tensors
    with torch.no_grad():
        for result in results:
            for key, value in result.state.items():
                own[key].copy_(value)
    steps = sum(r.steps for r in results)
    loss = sum(r.loss for r in results) / max(steps, 1)
    rows = sum(r.rows for r in results)
    if on_step:
        on_step(name, rows, total)
    names = {job.scene: job.scene_name for job in jobs}
    workers = tuple(f"{names[r.scene]} {r.worker}" for r in sorted(results, key=lambda r: r.scene))
    return loop.StageResult(name, rows, steps, time.perf_counter() - t0, loss, workers)
