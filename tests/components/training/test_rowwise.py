"""Embeddings at scale: a step moves only the batch's rows, and ids expire and come back fresh."""

import datetime as dt

import numpy as np
import pytest
import torch

from components.data.partitions import read_partition
from components.features.encoding import Encoder
from components.features.vocabulary import OOV, Vocabulary
from components.models import bundle as bundles
from components.models.layers import FieldEmbedding
from components.training.chain import train_chain
from components.training.loop import make_optimizer, train_step
from components.training.rowwise import update_rows
from components.validation.quarantine import dataset_contract
from tests.helpers import write_params


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from components.data.simulator import simulate

    cfg = write_params(tmp_path_factory.mktemp("rowwise"), {"simulator": {"rows_per_day": 4000}})
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 3)
    encoder = Encoder(dataset_contract(cfg), cfg.model.scenes)
    table = read_partition(cfg.path("raw"), cfg.simulator.start)
    encoder.fit(table)
    return cfg, encoder, encoder.encode(table)[0]


def _touched(table: FieldEmbedding, batch) -> torch.Tensor:
    ids, field, _ = batch.bags(table.with_scene)
    mask = torch.zeros(table.table.weight.shape[0], dtype=torch.bool)
    mask[ids + table.offsets[field]] = True
    return mask


@pytest.mark.parametrize("name", ["esmm", "mtms"])
def test_a_step_moves_only_the_rows_its_batch_touches(small, name):
    cfg, encoder, data = small
    model = bundles.build(name, encoder, cfg.model, seed=1)
    stage = model.stages()[0]
    scene = int(data.scene[0]) if stage.per_scene else None
    rows = (data.scene == scene).nonzero().squeeze(1)[:256] if stage.per_scene else None
    batch = data.take(rows if rows is not None else torch.arange(256), scene)
    tables = [m for m in model.modules() if isinstance(m, FieldEmbedding)]
    before = [(t.table.weight.detach().clone(), t.grad_sq.clone()) for t in tables]
    train_step(
        stage.forward, batch, stage.losses or model.losses, make_optimizer(model, stage, cfg.train)
    )
    moved = 0
    for t, (weight, grad_sq) in zip(tables, before, strict=True):
        hit = _touched(t, batch)
        if t.table.weight.grad is None:  # another scene's component: not a bit moves
            assert torch.equal(t.table.weight, weight) and torch.equal(t.grad_sq, grad_sq)
            continue
        assert torch.equal(t.table.weight[~hit], weight[~hit])  # untouched rows: bit-identical
        assert torch.equal(t.grad_sq[~hit], grad_sq[~hit])  # and so is their optimizer state
        assert (t.grad_sq[hit] > 0).all()
        moved += int((t.table.weight[hit] != weight[hit]).any(1).sum())
    assert moved > 0


def test_rowwise_adagrad_sums_a_rows_repeats_then_steps_by_its_accumulator():
    weight, grad_sq = torch.ones(5, 2), torch.tensor([0.0, 4.0, 0.0, 0.0, 0.0])
    grad = torch.sparse_coo_tensor(
        torch.tensor([[1, 3, 1]]),
        torch.tensor([[1.0, 1.0], [2.0, 0.0], [1.0, 3.0]]),
        (5, 2),
        check_invariants=True,
    )
    update_rows(weight, grad_sq, grad, lr=0.5, eps=0.0)
    g1 = torch.tensor([2.0, 4.0])  # row 1's two repeats summed
    s1 = 4.0 + (g1**2).mean()
    assert torch.allclose(weight[1], 1 - 0.5 * g1 / s1.sqrt())
    assert torch.allclose(grad_sq[1], s1) and torch.allclose(grad_sq[3], torch.tensor(2.0))
    assert torch.equal(weight[[0, 2, 4]], torch.ones(3, 2)) and grad_sq[[0, 2, 4]].eq(0).all()


def test_an_id_unseen_for_expire_days_gives_its_row_to_a_new_id():
    vocab = Vocabulary.empty()
    vocab.update(np.array([10, 20, 30]), day=1, expire_days=2)  # rows 1, 2, 3
    vocab.update(np.array([10, 30]), day=2, expire_days=2)
    assert vocab.lookup(np.array([20])).tolist() == [2]  # unseen for one day: kept
    given = vocab.update(np.array([10, 30, 40]), day=3, expire_days=2)
    assert vocab.lookup(np.array([20, 40])).tolist() == [OOV, 2]  # 20 expired, 40 took its row
    assert given.tolist() == [2] and vocab.size == 4  # the table did not grow
    again = Vocabulary.from_state(vocab.state())
    assert again.last_seen.tolist() == vocab.last_seen.tolist() and again.size == 4
    assert vocab.update(np.array([20]), day=4, expire_days=2).tolist() == [4]  # back: counted anew


def test_an_expired_rare_id_is_forgotten_with_its_count():
    vocab = Vocabulary.empty(min_count=2)
    vocab.update(np.array([7]), day=1, expire_days=1)
    vocab.update(np.array([8]), day=2, expire_days=1)  # 7 unseen for a day: its count goes
    assert 7 not in vocab.keys.tolist()
    vocab.update(np.array([7]), day=3, expire_days=1)
    assert vocab.lookup(np.array([7])).tolist() == [OOV]  # one sighting again, below min_count


def test_a_warm_start_keeps_rows_given_to_new_ids_fresh(small):
    cfg, encoder, _ = small
    old = FieldEmbedding(encoder.spec, 4, 0.1)
    new = FieldEmbedding(encoder.spec, 4, 0.1)
    old.grad_sq.uniform_()
    init = new.table.weight.detach().clone()
    fresh = [torch.tensor([2, 5])] + [torch.empty(0, dtype=torch.int64)] * (
        len(encoder.spec.sizes) - 1
    )
    new.warm_start(old.table.weight.detach(), old.sizes, old.grad_sq, fresh)
    start = int(new.offsets[0])
    assert torch.equal(new.table.weight[[2, 5]], init[[2, 5]]) and new.grad_sq[[2, 5]].eq(0).all()
    keep = torch.ones(len(init), dtype=torch.bool)
    keep[[start + 2, start + 5]] = False
    assert torch.equal(new.table.weight[keep], old.table.weight[keep])
    assert torch.equal(new.grad_sq[keep], old.grad_sq[keep])


@pytest.mark.slow
def test_expiry_bounds_the_tables_and_a_warm_start_carries_the_accumulators(small, tmp_path):
    cfg, _, _ = small
    days = [cfg.simulator.start + dt.timedelta(days=d) for d in range(3)]
    runs = {}
    for expire in (0, 1):
        model = cfg.model.model_copy(update={"expire_days": expire})
        paths = cfg.paths.model_copy(update={"models": tmp_path / f"e{expire}"})
        train = cfg.train.model_copy(update={"calibration": "none"})  # day 1 trains day 1 alone
        run = cfg.model_copy(update={"model": model, "paths": paths, "train": train})
        runs[expire] = [bundles.load(t.path) for t in train_chain(run, "esmm", days)]
    assert _users(runs[1][-1]).size < _users(runs[0][-1]).size  # rows given back and reused
    assert _users(runs[1][-1]).keys.size < _users(runs[0][-1]).keys.size
    first, second = runs[0][0], runs[0][1]
    table0, table1 = first.model.embedding, second.model.embedding
    # a user row day 1 never touched: weights and accumulator as day 0 left them
    day1 = read_partition(cfg.path("raw"), days[1])
    seen = set(_users(second).lookup(day1["user_id"].to_numpy()).tolist())
    user = encoder_field(second, "user_id")
    old_rows = int(table0.sizes[user])
    idle = [r for r in range(1, old_rows) if r not in seen][:50]
    assert idle
    at0 = torch.tensor(idle) + table0.offsets[user]
    at1 = torch.tensor(idle) + table1.offsets[user]
    assert torch.equal(table1.table.weight[at1], table0.table.weight[at0])
    assert torch.equal(table1.grad_sq[at1], table0.grad_sq[at0]) and (table0.grad_sq[at0] > 0).any()


def _users(bundle) -> Vocabulary:
    return bundle.encoder.vocabs["user_id"]


def encoder_field(bundle, name: str) -> int:
    return (bundle.encoder.sparse + bundle.encoder.multi).index(name)
