"""The zoo beyond the contract: ESM²'s composition and its daction requirement; a scene
added to a warm-started chain of each new model (MMoE, PLE, ESM², M2M).

Whether they learn the simulator's signal is left to the bake-off: one cold small day is
too few clicks for a cheap AUC test (ESMM itself scores ~0.50 on 20k rows).
"""

import datetime as dt

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from components.data.contract import ALICCP, ALIEXPRESS
from components.data.partitions import read_partition
from components.evaluation.evaluate import predict
from components.features.encoding import Encoder
from components.models import bundle as bundles
from components.models.base import ModelError
from components.models.esm2 import cvr_logit
from components.models.layers import flat_input
from components.models.scoring import score
from components.training.chain import train_day
from components.training.loop import fit
from components.training.losses import multitask_loss
from components.training.warm_start import warm_start
from components.validation.quarantine import dataset_contract
from tests.helpers import aliccp_workspace, request_rows

ZOO = ("mmoe", "ple", "esm2", "m2m")
# small networks: these tests judge structure and learning, not the best AUC
SMALL = {"embedding_dim": 8, "tower": (16,), "expert": (16,)}


@pytest.fixture(scope="module")
def days(sim_days):
    cfg = sim_days
    start = cfg.simulator.start
    tables = [read_partition(cfg.path("raw"), start + dt.timedelta(days=i)) for i in (0, 1)]
    return cfg, cfg.model.model_copy(update=SMALL), tables


@pytest.mark.parametrize("contract", [ALICCP, ALIEXPRESS])
def test_esm2_refuses_a_contract_without_daction_in_one_line(days, contract):
    cfg, model_cfg, _ = days
    encoder = Encoder(contract, ("s1",))
    with pytest.raises(ModelError, match="column 'daction'") as err:
        bundles.build("esm2", encoder, model_cfg, seed=0)
    assert "\n" not in str(err.value)
    bundles.build("esmm", encoder, model_cfg, seed=0)  # other models do not need it


def test_training_esm2_on_aliccp_data_fails_before_training(tmp_path):
    day = dt.date(2026, 1, 5)
    cfg = aliccp_workspace(tmp_path / "ws", [day])
    with pytest.raises(ModelError, match="column 'daction'"):
        train_day(cfg, "esm2", day, None)
    assert not (cfg.path("models") / "esm2").exists()  # nothing half-written


def test_esm2_composes_probabilities_never_logits():
    """p_cvr = y2 y3 + (1 - y2) y4 (the O-branch weighted by 1 - y2), in log space."""
    logits = torch.tensor([[-30.0, 0.0, 2.0, 9.0, -3.0], [1.0, -20.0, 0.5, -9.0, 25.0],
                           [4.0, 3.0, -1.0, 0.0, -25.0]], dtype=torch.float64)  # fmt: skip
    y2, y3, y4 = torch.sigmoid(logits)
    expected = y2 * y3 + (1 - y2) * y4
    assert torch.allclose(torch.sigmoid(cvr_logit(*logits)), expected, rtol=1e-9, atol=0)


def test_esm2_losses_are_ctr_ctavr_ctcvr_on_every_impression(days):
    cfg, model_cfg, tables = days
    encoder = Encoder(dataset_contract(cfg), cfg.model.scenes)
    encoder.fit(tables[0])
    batch = encoder.encode(tables[0])[0].slice(0, 4096)
    model = bundles.build("esm2", encoder, model_cfg, seed=3)
    with torch.no_grad():
        loss = multitask_loss(model.stages()[0].forward(batch), batch, model.losses)
        h = flat_input(model.embedding, batch)  # the four towers' shared input, by hand
        y = {k: torch.sigmoid(t(h).squeeze(1)).double() for k, t in model.towers.items()}
    click, daction, buy = (x.double() for x in (batch.click, batch.daction, batch.conversion))
    p_cvr = y["daction"] * y["buy_after_daction"] + (1 - y["daction"]) * y["buy_otherwise"]
    bce = F.binary_cross_entropy
    expected = (bce(y["click"], click) + bce(y["click"] * y["daction"], click * daction)
                + bce(y["click"] * p_cvr, click * buy))  # fmt: skip
    assert model.losses == ("ctr", "ctavr", "ctcvr")
    assert float(daction.sum()) > 0 and torch.isclose(loss.double(), expected, rtol=1e-5)
    assert set(model(batch)) == {"ctr", "cvr"}  # scoring sees the contract's outputs only


WARM = [pytest.param(n, marks=pytest.mark.slow) if n in ("mmoe", "m2m") else n for n in ZOO]


@pytest.mark.parametrize("name", WARM)  # mmoe and m2m take over 5 s on 2 cores
def test_warm_start_with_a_new_scene_and_new_ids_keeps_what_was_learned(days, name):
    """Experts, gates and towers of a scene added later append: old scenes score the same
    right after the warm start, and the grown model trains, saves and scores raw rows.
    PLE's shared gate mixes every expert, the new scene's fresh ones too: its old scenes
    move, but only a little."""
    cfg, model_cfg, (day0, day1) = days
    old_scenes = cfg.model.scenes[:-1]
    first = Encoder(dataset_contract(cfg), old_scenes)
    first.fit(day0)
    model = bundles.build(name, first, model_cfg.model_copy(update={"scenes": old_scenes}), 1)
    fit(model, first.encode(day0)[0].slice(0, 4096), cfg.train, seed=1)
    grown = first.copy()
    grown.scenes = cfg.model.scenes
    assert sum(rows.size for rows in grown.fit(day1).values()) > 0  # new ids too
    successor = bundles.build(name, grown, model_cfg, seed=2)
    warm_start(successor, model.state_dict())
    old = first.encode(day0.slice(0, 3000))[0]
    same = grown.encode(day0.slice(0, 3000))[0]
    a, b = predict(model, old), predict(successor, same)
    for t in a:
        moved = np.abs(a[t] - b[t]).mean() / a[t].mean()
        assert moved < (0.01 if name == "ple" else 1e-5), f"{t}: moved {moved:.2e}"
    fit(successor, grown.encode(day1)[0].slice(0, 4096), cfg.train, seed=2)
    bundle = bundles.Bundle(name, model_cfg, grown, successor, {"day": "2026-01-06"})
    out = score(bundle, request_rows(bundle, day1, 300)[1])
    assert out.notna().all().all() and ((out > 0) & (out < 1)).all().all()
