"""The model contract: every model in MODELS trains, scores and round-trips as a bundle."""

import pytest
import torch

from components import atomic
from components.evaluation.evaluate import predict
from components.models import MODELS
from components.models import bundle as bundles
from components.models.bundle import Bundle, BundleError
from components.training.loop import fit

# these train for over 5 s on 2 cores; the other models stay in make test-fast
SLOW = ("mtms", "esmm", "esm2", "m2m")
TRAINED = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(MODELS)]


@pytest.mark.parametrize("name", TRAINED)
def test_every_model_trains_and_round_trips_through_a_bundle(encoded, tmp_path, name):
    cfg, encoder, data = encoded
    model = bundles.build(name, encoder, cfg.model, seed=1)
    out = model(data.slice(0, 64))
    assert set(out) == {"ctr", "cvr"} and all(v.shape == (64,) for v in out.values())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    results = fit(model, data.slice(0, 8192), cfg.train, seed=1)
    assert all(r.steps > 0 and r.loss == r.loss for r in results)  # trained, finite loss
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    path = tmp_path / "m.pt"
    bundles.save(Bundle(name, cfg.model, encoder, model, {"day": "2026-01-05"}), path)
    loaded = bundles.load(path)
    assert loaded.name == name and loaded.meta["day"] == "2026-01-05"
    a, b = predict(model, data.slice(0, 4096)), predict(loaded.model, data.slice(0, 4096))
    assert all(torch.equal(torch.from_numpy(a[t]), torch.from_numpy(b[t])) for t in a)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.fixture
def saved(encoded, tmp_path):
    cfg, encoder, _ = encoded
    model = bundles.build("esmm", encoder, cfg.model, seed=1)
    path = tmp_path / "b.pt"
    bundles.save(Bundle("esmm", cfg.model, encoder, model), path)
    return path


def test_a_flipped_byte_is_a_checksum_error(saved):
    raw = bytearray(saved.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="checksum mismatch"):
        bundles.load(saved)


def test_a_truncated_bundle_is_a_checksum_error(saved):
    saved.write_bytes(saved.read_bytes()[:-100])
    with pytest.raises(BundleError, match="checksum mismatch"):
        bundles.load(saved)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # a foreign file
def test_foreign_files_are_refused_without_unpickling(tmp_path):
    import hashlib
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    body = pickle.dumps({"name": Boom()})
    path = tmp_path / "evil.pt"
    path.write_bytes(b"MTMSBUNDLE1 " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    with pytest.raises(BundleError, match="unreadable bundle"):
        bundles.load(path)
    torch.save({"weights": {}}, tmp_path / "plain.pt")
    with pytest.raises(BundleError, match="not an mtms bundle"):
        bundles.load(tmp_path / "plain.pt")
    with pytest.raises(BundleError, match="cannot read"):
        bundles.load(tmp_path / "missing.pt")


def test_a_failed_save_keeps_the_old_bundle(saved, encoded, monkeypatch):
    cfg, encoder, _ = encoded
    before = saved.read_bytes()
    model = bundles.build("esmm", encoder, cfg.model, seed=2)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(OSError):
        bundles.save(Bundle("esmm", cfg.model, encoder, model), saved)
    assert saved.read_bytes() == before and list(saved.parent.iterdir()) == [saved]


def test_structured_needs_the_simulator_fields(encoded):
    cfg, encoder, _ = encoded
    spec = encoder.spec
    lacking = type(spec)(spec.sparse[1:], spec.multi, spec.dense, spec.sizes[1:], spec.scenes)
    with pytest.raises(ValueError, match="missing \\['user_id'\\]"):
        MODELS["structured"](lacking, cfg.model)


def test_the_registry_and_the_config_agree_on_model_names():
    from typing import get_args

    from components.config import ModelConfig

    assert set(get_args(ModelConfig.model_fields["name"].annotation)) == set(MODELS)
