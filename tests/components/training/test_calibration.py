"""The calibration stage: the maps, their fits against reference implementations, and a
trained day's calibrated scores."""

import copy
import datetime as dt

import numpy as np
import pytest
import torch
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from components.data.partitions import read_partition
from components.evaluation.evaluate import logits, predict
from components.evaluation.metrics import auc, calibration
from components.models import bundle as bundles
from components.models.calibration import KNOTS, Calibrator
from components.training.calibration import bins, fit_map, isotonic, platt
from components.training.chain import train_day


def synthetic(n: int = 20000, a: float = 0.6, b: float = -1.5, seed: int = 0):
    """Logits z of a model that is overconfident and biased: the truth is sigmoid(a z + b)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, n)
    return z, (rng.random(n) < expit(a * z + b)).astype(float)


def test_an_unfitted_map_is_the_identity_and_extrapolates():
    cal = Calibrator(2)
    z = torch.tensor([-50.0, -3.0, 0.0, 0.7, 30.0])
    assert cal.is_identity()
    assert torch.allclose(cal.apply(z, 1, "cvr"), z, atol=1e-5)


def test_platt_matches_logistic_regression():
    z, y = synthetic()
    a, b = platt(z, y)
    ref = LogisticRegression(C=1e10, tol=1e-10, max_iter=1000).fit(z[:, None], y)
    assert a == pytest.approx(ref.coef_[0, 0], abs=1e-4)
    assert b == pytest.approx(ref.intercept_[0], abs=1e-4)
    assert a == pytest.approx(0.6, abs=0.05) and b == pytest.approx(-1.5, abs=0.1)


def test_isotonic_matches_sklearn():
    z, y = synthetic(seed=1)
    ref = IsotonicRegression().fit_transform(z, y)
    assert np.allclose(isotonic(z, y), ref, atol=1e-9)
    xs, ys = fit_map(z, y, "isotonic")  # each knot: a bin's mean logit and mean fit
    first = bins(z)[0]
    assert xs[0] == pytest.approx(z[first].mean(), abs=1e-4)
    assert expit(ys[0]) == pytest.approx(max(ref[first].mean(), 0.5 / len(first)), rel=1e-6)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_fitted_map_is_calibrated_and_keeps_the_ranking(method):
    z, y = synthetic(seed=2)
    xs, ys = fit_map(z, y, method)
    assert len(xs) == KNOTS and np.all(np.diff(xs) > 0) and np.all(np.diff(ys) > 0)
    cal = Calibrator(1)
    cal.set(0, "ctr", torch.from_numpy(xs), torch.from_numpy(ys))
    z2, y2 = synthetic(seed=3)  # fresh rows of the same model
    mapped = cal.apply(torch.from_numpy(z2).float(), 0, "ctr").double().numpy()
    assert calibration(y2, expit(z2)) > 1.3  # the raw model over-predicts
    assert calibration(y2, expit(mapped)) == pytest.approx(1.0, abs=0.05)
    # strictly increasing: the order is kept (up to float32 ties of a few pairs)
    assert auc(y2, mapped) == pytest.approx(auc(y2, z2), abs=1e-6)


def test_a_map_of_a_worse_than_chance_model_stays_increasing():
    z, y = synthetic(a=-0.8, seed=4)
    for method in ("platt", "isotonic"):
        _, ys = fit_map(z, y, method)
        assert np.all(np.diff(ys) > 0)


def day(cfg, offset: int) -> dt.date:
    return cfg.simulator.start + dt.timedelta(days=offset)


def trained(cfg, method: str, tmp_path, min_positives: int = 30):
    train = cfg.train.model_copy(update={"calibration": method,
                                         "calibration_min_positives": min_positives})  # fmt: skip
    run = cfg.model_copy(update={"train": train})
    models = tmp_path / method
    first, _ = train_day(run, "esmm", day(cfg, 0), None, models=models)
    return train_day(run, "esmm", day(cfg, 1), first, models=models)


@pytest.fixture(scope="module")
def isotonic_day(sim_days, tmp_path_factory):
    return trained(sim_days, "isotonic", tmp_path_factory.mktemp("cal"))


def test_calibration_off_trains_on_every_row_and_scores_raw(sim_days, tmp_path):
    bundle, result = trained(sim_days, "none", tmp_path)
    assert result.rows == read_partition(sim_days.path("raw"), day(sim_days, 1)).num_rows
    assert result.calibration == ()
    assert bundle.model.calibration.is_identity()


def test_a_trained_day_is_calibrated_on_rows_it_did_not_train_on(sim_days, isotonic_day):
    bundle, result = isotonic_day
    share = sim_days.train.calibration_holdout
    table = read_partition(sim_days.path("raw"), day(sim_days, 1))
    held = round(table.num_rows * share)
    # day 0's held-out rows, which its bundle never trained on, are trained on a day late
    late = round(read_partition(sim_days.path("raw"), day(sim_days, 0)).num_rows * share)
    assert result.rows == table.num_rows - held + late and bundle.meta["late_rows"] == late
    assert bundle.meta["holdout"] == {"share": share, "seed": bundle.meta["holdout"]["seed"],
                                      "of": table.num_rows}  # fmt: skip
    feed = {f.task: f for f in result.calibration if f.scene == "feed"}
    assert feed["ctr"].fitted and feed["ctr"].rows > 0
    assert abs(feed["ctr"].ratio_after - 1) < 0.05  # on the rows it was fitted on
    mall = {f.task: f for f in result.calibration if f.scene == "mall"}
    assert not mall["cvr"].fitted  # the small world's mall has too few conversions
    assert bundle.meta["calibration"][0]["scene"] == result.calibration[0].scene


def test_calibration_survives_the_bundle_and_scoring_applies_it(sim_days, isotonic_day):
    bundle, result = isotonic_day
    data = bundle.encoder.encode(read_partition(sim_days.path("raw"), day(sim_days, 2)))[0]
    loaded = bundles.load(result.path)
    assert torch.equal(loaded.model.calibration.ys, bundle.model.calibration.ys)
    mine, theirs = predict(bundle.model, data), predict(loaded.model, data)
    assert all(np.array_equal(mine[t], theirs[t]) for t in mine)
    raw = logits(bundle.model, data, calibrated=False)["ctr"]
    assert not np.allclose(mine["ctr"], torch.sigmoid(raw).numpy(), atol=1e-4)


def test_too_few_positives_keep_the_previous_map(sim_days, tmp_path):
    _, result = trained(sim_days, "platt", tmp_path, min_positives=10**6)
    assert not any(f.fitted for f in result.calibration)
    assert all(f.ratio_after == f.ratio_before for f in result.calibration if f.positives)


def test_a_bundle_saved_before_calibration_loads_uncalibrated(isotonic_day, tmp_path):
    bundle, _ = isotonic_day
    model = copy.deepcopy(bundle.model)
    del model.calibration  # what the code before calibration saved
    bundles.save(
        bundles.Bundle(bundle.name, bundle.config, bundle.encoder, model), tmp_path / "old.pt"
    )
    loaded = bundles.load(tmp_path / "old.pt").model
    assert loaded.calibration.is_identity()
    assert torch.equal(
        loaded.state_dict()["towers.ctr.0.weight"], model.state_dict()["towers.ctr.0.weight"]
    )
