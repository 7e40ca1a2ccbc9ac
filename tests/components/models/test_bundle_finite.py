"""A diverged model is never written: save() refuses NaN or inf weights, naming the tensor."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch

from components.data.partitions import read_partition, write_partition
from components.models import bundle as bundles
from components.models.bundle import BundleError
from components.training.chain import bundle_path, train_day


@pytest.mark.faults
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_save_refuses_non_finite_weights_and_keeps_the_file_there(tiny_world, tmp_path, value):
    bundle = bundles.load(tiny_world[1][0])
    path = tmp_path / "day=2026-01-05.pt"
    digest = bundles.save(bundle, path)
    name, weight = [(n, w) for n, w in bundle.model.named_parameters() if w.numel() >= 3][-1]
    with torch.no_grad():
        weight.view(-1)[:3] = value
    with pytest.raises(BundleError) as err:
        bundles.save(bundle, path)
    assert str(err.value) == (
        f"{path}: not saved: parameter {name!r} has 3 non-finite value(s) "
        "(training diverged: non-finite inputs or a learning rate too high)"
    )
    assert bundles.load(path).meta["checksum"] == digest  # the good file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


@pytest.mark.faults
@pytest.mark.slow  # trains a day
def test_training_on_an_infinite_price_writes_no_bundle(tiny_world, tmp_path):
    """Issue 11 item 2: price = inf made every later warm-started candidate NaN."""
    cfg, _ = tiny_world
    work = cfg.model_copy(update={"root": tmp_path})
    day = cfg.simulator.start
    table = read_partition(cfg.path("raw"), day)
    prices = table["price"].to_numpy().copy()
    prices[::50] = float("inf")
    index = table.schema.get_field_index("price")
    write_partition(work.path("raw"), day, table.set_column(index, "price", pa.array(prices)))
    with pytest.raises(BundleError, match=r"not saved: parameter '[\w.]+' has \d+ non-finite"):
        train_day(work, "mtms", day, None)
    assert not bundle_path(work, "mtms", day).exists()
    assert not list(work.path("models").rglob("*.pt*"))
