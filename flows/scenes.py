"""MTMS's per-scene embedding updates as Prefect tasks on the task runner params.yaml names.

`parallel.scenes: local` (the default): no map, the scenes train interleaved in the
training process. `dask`: each scene's job (components.training.scenes) is one Prefect
task on a `DaskTaskRunner`, in its own worker process: on the scheduler at
`parallel.dask_scheduler`, or on a LocalCluster started for the training run
(`parallel.dask_workers` processes, one thread each; 0: one per scene). The jobs come
back as each scene's trained parameters, merged before the fine-tune.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

from prefect import task
from prefect.cache_policies import NO_CACHE

from components.config import ParallelConfig
from components.training.scenes import SceneJob, SceneMap, SceneResult, run_job


@task(
    name="embedding-update-scene",
    task_run_name="embedding-update-{job.scene_name}",
    cache_policy=NO_CACHE,  # a job holds the model and the scene's rows: no hashing them
    persist_result=False,
)
def update_scene(job: SceneJob) -> SceneResult:
    return run_job(job)


def scene_map(cfg: ParallelConfig) -> SceneMap | None:
    """Where the scenes' jobs run; None: in the training process, interleaved."""
    if cfg.scenes == "local":
        return None

    def on_dask(jobs: list[SceneJob]) -> list[SceneResult]:
        if cfg.dask_scheduler:  # another host's workers: their own torch threads
            jobs = [dataclasses.replace(job, threads=0) for job in jobs]
        with warnings.catch_warnings(), _dask_runner(cfg, len(jobs)) as runner:
            # each job ships its model and its scene's rows (tens of MiB): that is the design
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            futures = [runner.submit(update_scene, {"job": job}) for job in jobs]
            return [future.result() for future in futures]

    return on_dask


def _dask_runner(cfg: ParallelConfig, jobs: int):
    # closing a LocalCluster, each nanny waits 4 s for its worker (Prefect's client threads
    # keep it alive), kills it and warns: the expected way it ends, not a fault to report
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ValueError(
            "parallel.scenes: dask needs prefect-dask: pip install 'mtms[dask]'"
        ) from None
    if cfg.dask_scheduler:
        return DaskTaskRunner(address=cfg.dask_scheduler)
    workers = cfg.dask_workers or jobs
    # processes: a job trains torch in its own interpreter; one thread each (the job sets
    # torch's threads); the dashboard on a free port, not 8787: two runs on a host coexist
    kwargs = {"n_workers": workers, "threads_per_worker": 1, "processes": True,
              "dashboard_address": ":0"}  # fmt: skip
    return DaskTaskRunner(cluster_kwargs=kwargs)
