"""MTMS's Table I switches: embedding sharing, the embedding-update loss and the fine-tune loss."""

import pytest
import torch

from components.config import ConfigError
from components.models import bundle as bundles
from components.training.loop import fit, run_stage
from components.training.losses import LOSS_TERMS
from tests.helpers import write_params

SMALL = {"embedding_dim": 8, "tower": (16,), "ranking": (16,)}


@pytest.fixture(scope="module")
def day(encoded):
    cfg, encoder, data = encoded
    return cfg, encoder, data.take(torch.arange(6000))


def _model(cfg, encoder, **switches):
    return bundles.build("mtms", encoder, cfg.model.model_copy(update=SMALL | switches), seed=0)


def test_shared_embeddings_are_one_table_per_scene_read_by_both_tasks(day):
    cfg, encoder, _ = day
    shared, split = _model(cfg, encoder, mtms_shared=True), _model(cfg, encoder)
    assert sorted(shared.embeddings) == sorted(encoder.scenes)
    assert len(split.embeddings) == 2 * len(encoder.scenes)
    for s in encoder.scenes:
        assert shared.table(s, "ctr") is shared.table(s, "cvr")
        assert split.table(s, "ctr") is not split.table(s, "cvr")
    # the fine-tune input holds one block per table: half as wide when shared
    first = lambda m: m.ranking[f"{encoder.scenes[0]}_ctr"][0].in_features  # noqa: E731
    dense = len(encoder.spec.dense)
    assert (first(split) - dense) == 2 * (first(shared) - dense)


def test_each_stage_trains_on_its_own_loss_terms(day, monkeypatch):
    cfg, encoder, data = day
    model = _model(cfg, encoder, mtms_losses=("ctr", "cvr"), mtms_finetune_losses=("cvr",))
    assert [s.losses for s in model.stages()] == [("ctr", "cvr"), ("cvr",)]
    seen = []
    for term in ("ctr", "cvr", "ctcvr"):
        original = LOSS_TERMS[term]
        monkeypatch.setitem(
            LOSS_TERMS, term, lambda o, b, t=term, f=original: (seen.append(t), f(o, b))[1]
        )
    heads = {k: [p.clone() for p in m.parameters()] for k, m in model.ranking.items()}
    fit(model, data, cfg.train.model_copy(update={"batch_size": 2000}), seed=0)
    assert set(seen) == {"ctr", "cvr"}  # no ctcvr term anywhere
    # a CVR-only fine-tune leaves every CTR ranking network as it was initialised
    present = {encoder.scenes[i] for i in data.scene.unique().tolist()}
    for key, before in heads.items():
        if key.rsplit("_", 1)[0] not in present:  # a scene with no rows trains nothing
            continue
        after = model.ranking[key].parameters()
        same = all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
        assert same == key.endswith("_ctr"), key  # the CVR heads trained


def test_a_shared_model_round_trips_through_a_bundle(day, tmp_path):
    cfg, encoder, data = day
    model = _model(cfg, encoder, mtms_shared=True)
    fit(model, data, cfg.train.model_copy(update={"batch_size": 2000}), seed=0)
    config = cfg.model.model_copy(update=SMALL | {"mtms_shared": True})
    bundles.save(
        bundles.Bundle("mtms", config, encoder, model, {"day": "2026-01-05"}), tmp_path / "b.pt"
    )
    loaded = bundles.load(tmp_path / "b.pt")
    assert loaded.model.shared and loaded.config.mtms_shared
    batch = data.slice(0, 500, None)
    model.eval(), loaded.model.eval()
    with torch.no_grad():
        assert all(torch.equal(model(batch)[t], loaded.model(batch)[t]) for t in ("ctr", "cvr"))


@pytest.mark.parametrize("terms", [[], ["ctr", "ctr"], ["ctr", "ctavr"]])
def test_bad_loss_terms_are_a_one_line_config_error(tmp_path, terms):
    with pytest.raises(ConfigError, match="mtms_losses") as err:
        write_params(tmp_path, {"model": {"mtms_losses": terms}})
    assert "\n" not in str(err.value)


def test_a_residual_fine_tune_starts_from_the_component_towers_and_keeps_them(day):
    cfg, encoder, data = day
    model = _model(cfg, encoder, mtms_finetune="residual")
    batch = data.slice(0, 1000, None)
    scene = int(batch.scene[0])
    one = batch.take((batch.scene == scene).nonzero().squeeze(1), scene_id=scene)
    model.eval()
    with torch.no_grad():  # the correction's last layer is zero: exactly the towers
        assert all(
            torch.equal(model(one)[t], model.component_forward(one)[t]) for t in ("ctr", "cvr")
        )
    embedding, finetune = model.stages()
    train = cfg.train.model_copy(update={"batch_size": 2000})
    generator = torch.Generator().manual_seed(0)
    run_stage(model, embedding, data, train, generator)
    towers = {k: v.clone() for k, v in model.towers.state_dict().items()}
    run_stage(model, finetune, data, train, generator)
    assert all(torch.equal(towers[k], v) for k, v in model.towers.state_dict().items())
    model.eval()
    with torch.no_grad():  # the fine-tune learned a correction on top of them
        assert not torch.equal(model(one)["ctr"], model.component_forward(one)["ctr"])
