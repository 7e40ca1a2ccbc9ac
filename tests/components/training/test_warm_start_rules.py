"""What a warm start keeps: the parent's weights, never an architecture params.yaml changed."""

import datetime as dt
import logging

import pytest

from components.models import bundle as bundles
from components.training.chain import TrainingError, bundle_path, train_day
from components.training.parents import choose_parent
from components.training.warm_start import architecture_changes, describe


def day(cfg, offset: int) -> dt.date:
    return cfg.simulator.start + dt.timedelta(days=offset)


@pytest.fixture
def world(cfg):
    """Three small simulated days: these tests check which parent is used, not quality."""
    from components.data.simulator import simulate

    sim = cfg.simulator.model_copy(update={"rows_per_day": 4000})
    simulate(sim, cfg.seed, cfg.path("raw"), sim.start, 3)
    return cfg


def with_model(cfg, models, **model):
    """`cfg` with these model keys (small networks: fast), writing bundles under `models`."""
    model = {"tower": (16,), "ranking": (16,), **model}
    paths = cfg.paths.model_copy(update={"models": models})
    return cfg.model_copy(update={"paths": paths, "model": cfg.model.model_copy(update=model)})


def width(bundle) -> int:
    return bundle.model.embeddings["feed_ctr"].table.weight.shape[1]


def test_architecture_changes_name_each_changed_key(cfg):
    old = cfg.model
    assert architecture_changes(old, old) == {}
    new = old.model_copy(update={"embedding_dim": 8, "tower": (32,), "init_std": 0.05})
    changes = architecture_changes(old, new)
    assert changes == {
        "embedding_dim": (16, 8),
        "tower": (old.tower, (32,)),
        "init_std": (old.init_std, 0.05),
    }
    assert "model.embedding_dim 16 → 8" in describe(changes)
    assert "model.tower [128, 64] → [32]" in describe(changes)
    for key, value in (("ranking", (64,)), ("latent_dim", 3), ("min_count", 2)):
        assert list(architecture_changes(old, old.model_copy(update={key: value}))) == [key]
    # scenes: added or reordered is a warm start (appended, parent's order kept); removed is not
    grown = old.model_copy(update={"scenes": (*old.scenes, "tv")})
    assert architecture_changes(old, grown) == {}
    assert architecture_changes(old, old.model_copy(update={"scenes": old.scenes[::-1]})) == {}
    fewer = old.model_copy(update={"scenes": old.scenes[:2]})
    assert architecture_changes(old, fewer) == {"scenes": (old.scenes, old.scenes[:2])}
    # another model's bundle is skipped by its name, before any of this
    assert architecture_changes(old, old.model_copy(update={"name": "esmm"})) == {}


@pytest.mark.slow
def test_a_changed_embedding_dim_starts_cold_then_the_new_chain_warm_starts(
    world, tmp_path, caplog
):
    wide = with_model(world, tmp_path, embedding_dim=8)
    first, t0 = train_day(wide, "mtms", day(wide, 0), None)
    assert width(first) == 8
    narrow = with_model(world, tmp_path, embedding_dim=4)
    no_champion = lambda: None  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="components.training.parents"):
        parent, source = choose_parent(narrow, "mtms", day(wide, 1), no_champion)
    assert parent is None and source == "cold start"
    assert "model.embedding_dim 8 → 4" in caplog.text and str(t0.path) in caplog.text
    second, t1 = train_day(narrow, "mtms", day(wide, 1), parent)
    assert t1.warm is None and second.meta["parent"] is None
    assert width(second) == 4 and second.config == narrow.model
    assert width(bundles.load(t1.path)) == 4
    # nothing changed since: the next day warm-starts from the new chain, even when the
    # champion (here day 0's bundle) still has the old architecture
    champion = lambda: t0.path  # noqa: E731
    assert narrow.train.warm_start == "champion"
    parent, source = choose_parent(narrow, "mtms", day(wide, 2), champion)
    assert source == str(t1.path)
    third, t2 = train_day(narrow, "mtms", day(wide, 2), parent)
    assert t2.warm is not None and third.meta["parent"] == second.meta["checksum"]
    assert width(third) == 4


@pytest.mark.slow
def test_an_explicit_parent_of_another_architecture_is_refused(world, tmp_path):
    cfg = with_model(world, tmp_path, embedding_dim=4)
    first, _ = train_day(cfg, "esmm", day(cfg, 0), None)
    wider = with_model(world, tmp_path, embedding_dim=8)
    with pytest.raises(TrainingError, match="model.embedding_dim 4 → 8.*train it cold"):
        train_day(wider, "esmm", day(cfg, 1), first)
    fewer = with_model(cfg, tmp_path, scenes=("feed", "search"))
    with pytest.raises(TrainingError, match=r"model.scenes \['feed', 'search', 'video', 'mall'\]"):
        train_day(fewer, "esmm", day(cfg, 1), first)
    assert not bundle_path(cfg, "esmm", day(cfg, 1)).exists()  # nothing written
    _, trained = train_day(cfg, "esmm", day(cfg, 1), first)  # unchanged: a warm start
    assert trained.warm is not None
