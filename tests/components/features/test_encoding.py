"""Vocabularies only grow, known ids keep their rows, and only features are encoded."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from components.data.contract import SIMULATOR
from components.data.simulator import simulate_day
from components.data.world import build_world
from components.features.batch import Batch
from components.features.encoding import Encoder
from components.features.vocabulary import OOV, Vocabulary
from tests.helpers import write_params


def test_vocabulary_appends_new_ids_and_keeps_known_rows():
    vocab = Vocabulary.empty()
    assert vocab.update(np.array([30, 10, 10, 20])).size == 3
    before = vocab.lookup(np.array([10, 20, 30]))
    assert sorted(before.tolist()) == [1, 2, 3]  # row 0 is the OOV row
    assert vocab.update(np.array([5, 40, 10])).size == 2
    assert vocab.lookup(np.array([10, 20, 30])).tolist() == before.tolist()
    assert sorted(vocab.lookup(np.array([5, 40])).tolist()) == [4, 5]
    assert vocab.lookup(np.array([999, -1])).tolist() == [OOV, OOV]
    assert vocab.size == 6


def test_min_count_keeps_rare_ids_on_the_oov_row_until_they_recur():
    vocab = Vocabulary.empty(min_count=2)
    vocab.update(np.array([1, 2, 2]))
    assert vocab.lookup(np.array([1, 2])).tolist() == [OOV, 1]
    vocab.update(np.array([1]))  # second sighting, on a later day
    assert vocab.lookup(np.array([1, 2])).tolist() == [2, 1]


def test_vocabulary_state_round_trips():
    vocab = Vocabulary.empty()
    vocab.update(np.array([7, 3, 9]))
    again = Vocabulary.from_state(vocab.state())
    ids = np.array([3, 7, 9, 11])
    assert again.lookup(ids).tolist() == vocab.lookup(ids).tolist() and again.size == vocab.size


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    cfg = write_params(tmp_path_factory.mktemp("enc"))
    world = build_world(cfg.simulator, cfg.seed)
    start = cfg.simulator.start
    import datetime as dt

    return cfg, [simulate_day(world, cfg.simulator, cfg.seed, start + dt.timedelta(d)).table
                 for d in range(2)]  # fmt: skip


def test_encoding_grows_with_a_new_day_and_known_ids_keep_rows(days):
    cfg, (day0, day1) = days
    enc = Encoder(SIMULATOR, cfg.model.scenes)
    enc.fit(day0)
    first, _ = enc.encode(day0)
    sizes = enc.spec.sizes
    added = enc.fit(day1)
    assert added["user_id"].size > 0  # new users every day: the rows they were given
    assert all(b >= a for a, b in zip(sizes, enc.spec.sizes, strict=True))
    again, _ = enc.encode(day0)
    assert np.array_equal(first.sparse.numpy(), again.sparse.numpy())
    assert np.array_equal(first.multi.numpy(), again.multi.numpy())


def test_unseen_ids_encode_to_oov_and_padding_is_minus_one(days):
    cfg, (day0, day1) = days
    enc = Encoder(SIMULATOR, cfg.model.scenes)
    enc.fit(day0)
    batch, _ = enc.encode(day1)
    user = enc.sparse.index("user_id")
    unseen = ~np.isin(day1["user_id"].to_numpy(), day0["user_id"].to_numpy())
    assert unseen.any() and (batch.sparse[:, user].numpy()[unseen] == OOV).all()
    lengths = np.array([len(t) for t in day1["ad_tags"].to_pylist()])
    assert ((batch.multi[:, 0] >= 0).sum(1).numpy() == lengths).all()


def test_only_contract_features_are_encoded(days):
    cfg, (day0, _) = days
    enc = Encoder(SIMULATOR, cfg.model.scenes)
    inputs = set(enc.sparse + enc.multi + enc.dense)
    assert not inputs & {"click", "conversion", "daction", "p_click", "p_cvr", "request_id", "day"}
    batch, _ = enc.encode(day0)
    assert batch.click.sum() == day0["click"].to_numpy().sum()


def test_rows_of_scenes_the_model_lacks_are_skipped(days):
    cfg, (day0, _) = days
    enc = Encoder(SIMULATOR, ("feed", "search"))
    enc.fit(day0)
    batch, keep = enc.encode(day0)
    scenes = day0["scene"].to_numpy(zero_copy_only=False)
    assert keep.tolist() == np.isin(scenes, ["feed", "search"]).tolist()
    assert len(batch) == keep.sum() and set(batch.scene.tolist()) == {0, 1}
    assert pa.compute.sum(day0["click"].filter(pa.array(keep))).as_py() == batch.click.sum()


def test_blocks_with_different_list_widths_concatenate(days):
    cfg, (day0, _) = days
    enc = Encoder(SIMULATOR, cfg.model.scenes)
    enc.fit(day0)
    short = pa.array([[1]] * 3, pa.list_(pa.int32()))
    narrow = day0.slice(0, 3).set_column(day0.schema.get_field_index("ad_tags"), "ad_tags", short)
    a, b = enc.encode(day0.slice(0, 5))[0], enc.encode(narrow)[0]
    assert a.multi.shape[2] > b.multi.shape[2]
    both = Batch.concat([a, b])
    assert len(both) == 8 and both.multi.shape[2] == a.multi.shape[2]
    assert (both.multi[5:, 0, 1:] == -1).all() and torch.equal(both.sparse[5:], b.sparse)


def _same(a: Batch, b: Batch) -> bool:
    pairs = zip(a._rows().values(), b._rows().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs) and torch.equal(a.multi, b.multi)


def test_a_day_streamed_in_chunks_encodes_as_one_table(days, tmp_path):
    """Fitting and encoding record batches (a day bigger than memory, read from its
    partition chunk by chunk) gives the rows, vocabularies and tensors of one table."""
    from components.data.partitions import stream_partition, write_partition

    cfg, (day0, day1) = days
    whole, chunked = Encoder(SIMULATOR, ("feed", "search")), Encoder(SIMULATOR, ("feed", "search"))
    whole.fit(day0)
    chunked.fit(day0.to_batches(max_chunksize=97))
    for name, vocab in whole.vocabs.items():
        other = chunked.vocabs[name]
        assert np.array_equal(vocab.keys, other.keys) and np.array_equal(vocab.rows, other.rows)
        assert np.array_equal(vocab.counts, other.counts) and vocab.size == other.size
    write_partition(tmp_path, cfg.simulator.start, day1)
    one, keep = whole.encode(day1)
    streamed, keep_streamed = chunked.encode(stream_partition(tmp_path, cfg.simulator.start, 101))
    assert _same(one, streamed) and keep.tolist() == keep_streamed.tolist()
    assert one.multi_width == streamed.multi_width
    assert one.multi_ids.numel() == sum(len(t) for t, k in zip(day1["ad_tags"].to_pylist(), keep,
                                                                strict=True) if k)  # fmt: skip


def test_ragged_rows_gather_slice_and_concatenate_like_padded_ones(days):
    cfg, (day0, _) = days
    enc = Encoder(SIMULATOR, cfg.model.scenes)
    enc.fit(day0)
    batch, _ = enc.encode(day0.slice(0, 300))
    padded = batch.multi
    perm = torch.randperm(len(batch), generator=torch.Generator().manual_seed(0))
    assert torch.equal(batch.take(perm).multi, padded[perm])
    assert torch.equal(batch.take(perm).slice(10, 50).multi, padded[perm][10:50])
    assert torch.equal(batch.slice(7, 9).multi, padded[7:9])
    again = Batch.from_padded(
        padded, **{k: v for k, v in batch._rows().items() if k != "multi_len"}
    )
    assert _same(again, batch)
    both = Batch.concat([batch.slice(0, 100), batch.take(perm[:50])])
    assert torch.equal(both.multi, torch.cat([padded[:100], padded[perm[:50]]]))


def test_a_contract_without_list_fields_encodes_every_row():
    from components.data.contract import ALICCP

    rows = 6
    value = lambda c: "1" if c.dtype == "string" else 0  # noqa: E731
    table = pa.table({c.name: pa.array([value(c)] * rows, c.arrow_type) for c in ALICCP.columns})
    enc = Encoder(ALICCP, ("1",))
    enc.fit(table)
    batch, _ = enc.encode(table)
    assert len(batch) == rows and batch.multi.shape == (rows, 0, 1)
    assert len(batch.take(torch.tensor([5, 0]))) == 2


def test_take_gathers_the_lists_of_any_rows_in_pieces(days, monkeypatch):
    from components.features import batch as batch_module

    cfg, (day0, _) = days
    enc = Encoder(SIMULATOR, cfg.model.scenes)
    enc.fit(day0)
    data = enc.encode(day0)[0]
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:5000]
    whole = data.take(index)
    monkeypatch.setattr(batch_module, "TAKE_ROWS", 7)  # many pieces, one ending mid-batch
    pieces = data.take(index)
    assert torch.equal(pieces.multi_ids, whole.multi_ids) and torch.equal(
        pieces.multi, data.multi[index]
    )
    assert torch.equal(pieces.multi_start, whole.multi_start)
