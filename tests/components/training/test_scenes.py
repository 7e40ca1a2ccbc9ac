"""Issue 16: MTMS's embedding update trained scene by scene, then merged, is the
interleaved update: the same steps on the same parameters, so the same weights."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from components.models import bundle as bundles
from components.training import scenes
from components.training.loop import fit

pytestmark = pytest.mark.slow  # trains MTMS on 20,000 rows, twice per test


@pytest.fixture(scope="module")
def window(sim_days):
    from components.data.partitions import read_partition
    from components.features.encoding import Encoder
    from components.validation.quarantine import dataset_contract

    cfg = sim_days
    encoder = Encoder(dataset_contract(cfg), cfg.model.scenes)
    table = read_partition(cfg.path("raw"), cfg.simulator.start)
    encoder.fit(table)
    data = encoder.encode(table)[0]
    return cfg, encoder, data.take(torch.arange(20_000))  # 20,000 rows: every scene, quick


def trained(window, scene_map, model_cfg=None, epochs=1):
    cfg, encoder, data = window
    model = bundles.build("mtms", encoder, model_cfg or cfg.model, seed=7)
    train = cfg.train.model_copy(update={"epochs": epochs})
    return model, fit(model, data, train, seed=11, scene_map=scene_map)


def assert_same_weights(a, b):
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("epochs", [1, 2])
def test_scenes_apart_take_the_same_steps_as_interleaved(window, epochs):
    """Both stages, merged weights bit-identical: the fine-tune after the embedding update
    also draws the same batches (the plan's generator advanced the same way)."""
    model, stages = trained(window, None, epochs=epochs)
    apart, apart_stages = trained(window, scenes.in_process, epochs=epochs)
    assert_same_weights(model, apart)
    for s, t in zip(stages, apart_stages, strict=True):
        assert (s.stage, s.rows, s.steps) == (t.stage, t.rows, t.steps)
        assert s.loss == pytest.approx(t.loss, rel=1e-5)


def test_shared_tables_split_by_scene_too(window):
    """mtms_shared: one table per scene for both tasks; each scene's job still owns it."""
    cfg = window[0]
    shared = cfg.model.model_copy(update={"mtms_shared": True})
    model, _ = trained(window, None, shared)
    apart, _ = trained(window, scenes.in_process, shared)
    assert_same_weights(model, apart)


def test_a_job_pickles_and_trains_only_its_scene(window):
    """What a worker process gets: the job through pickle, back one scene's parameters."""
    cfg, encoder, data = window
    model = bundles.build("mtms", encoder, cfg.model, seed=7)
    jobs = scenes.plan_jobs(model, 0, data, cfg.train, torch.Generator().manual_seed(3))
    present = sorted(set(data.scene.tolist()))  # a scene without rows gets no job
    assert [j.scene_name for j in jobs] == [encoder.scenes[i] for i in present]
    assert sum(len(j.data) for j in jobs) == len(data)
    job = pickle.loads(pickle.dumps(jobs[1]))
    before = copy.deepcopy(job.model.state_dict())
    result = scenes.run_job(job)
    scene = encoder.scenes[1]
    assert result.state and all(f"{scene}_" in name for name in result.state)
    moved = {n for n, p in job.model.state_dict().items() if not torch.equal(p, before[n])}
    assert moved == set(result.state)
    assert result.steps == len(job.batches) and result.rows == len(job.data)


def test_a_map_that_loses_a_scene_is_refused(window):
    def lossy(jobs):
        return scenes.in_process(jobs)[1:]

    with pytest.raises(RuntimeError, match="one result per job"):
        trained(window, lossy)


def test_models_whose_scenes_share_parameters_train_interleaved(window):
    """esmm has no per-scene stage: a scene map changes nothing."""
    cfg, encoder, data = window
    calls = []

    def spy(jobs):
        calls.append(jobs)
        return scenes.in_process(jobs)

    a = bundles.build("esmm", encoder, cfg.model, seed=7)
    b = bundles.build("esmm", encoder, cfg.model, seed=7)
    fit(a, data, cfg.train, seed=11)
    fit(b, data, cfg.train, seed=11, scene_map=spy)
    assert not calls
    assert_same_weights(a, b)
