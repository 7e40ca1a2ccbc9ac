"""The simulator: determinism, funnel, realism, and the truth it exposes."""

import datetime as dt
import hashlib

import numpy as np
import pytest

from components.data.contract import SIMULATOR
from components.data.partitions import PART_FILE, partition_dir, read_partition
from components.data.signal import oracle_aucs, variance_shares
from components.data.simulator import simulate, simulate_day
from components.data.world import build_world
from components.evaluation.metrics import auc
from tests.helpers import write_params


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    cfg = write_params(tmp_path_factory.mktemp("sim"))
    world = build_world(cfg.simulator, cfg.seed)
    day = simulate_day(world, cfg.simulator, cfg.seed, cfg.simulator.start)
    return cfg, world, day


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_params_give_byte_identical_partitions(tmp_path):
    a, b = write_params(tmp_path / "a"), write_params(tmp_path / "b")
    for cfg in (a, b):
        simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    for offset in range(2):
        day = a.simulator.start + dt.timedelta(days=offset)
        files = [partition_dir(c.path("raw"), day) / PART_FILE for c in (a, b)]
        assert digest(files[0]) == digest(files[1])


def test_a_day_does_not_depend_on_which_days_were_simulated(small):
    cfg, world, _ = small
    day3 = cfg.simulator.start + dt.timedelta(days=3)
    alone = simulate_day(build_world(cfg.simulator, cfg.seed), cfg.simulator, cfg.seed, day3)
    assert alone.table.equals(simulate_day(world, cfg.simulator, cfg.seed, day3).table)


def test_another_seed_gives_other_data(small):
    cfg, _, day = small
    other = simulate_day(build_world(cfg.simulator, 8), cfg.simulator, 8, cfg.simulator.start)
    assert not other.table.equals(day.table)


def test_output_follows_the_contract_schema(small):
    _, _, day = small
    assert day.table.schema.equals(SIMULATOR.schema())


def test_funnel_invariants_hold(small):
    _, _, day = small
    click, daction, conv = (day.table[c].to_numpy() for c in ("click", "daction", "conversion"))
    assert np.all(conv <= click) and np.all(daction <= click)
    after_daction = conv[daction == 1].mean()
    without = conv[(click == 1) & (daction == 0)].mean()
    assert after_daction > 5 * without  # purchase is far likelier after a cart/wish


def test_rates_are_realistic_and_scene_dependent(small):
    _, _, day = small
    frame = day.table.to_pandas()
    ctr = frame.groupby("scene")["click"].mean()
    assert ctr.between(0.005, 0.10).all()
    assert ctr.max() > 2 * ctr.min()
    cvr = frame[frame.click == 1]["conversion"].mean()
    assert 0.01 < cvr < 0.15
    traffic = frame["scene"].value_counts(normalize=True)
    assert traffic["feed"] > 0.4 and traffic["search"] > 0.3 and traffic["video"] < 0.15


def test_oracle_probabilities_are_the_label_rates(small):
    _, _, day = small
    frame = day.table.to_pandas()
    assert frame.p_click.mean() == pytest.approx(frame.click.mean(), rel=0.1)
    clicked = frame[frame.click == 1]
    p = clicked.p_cvr.mean()
    assert abs(clicked.conversion.mean() - p) < 4 * np.sqrt(p * (1 - p) / len(clicked))


def test_a_late_scene_starts_on_its_day(small):
    cfg, world, _ = small
    late = next(s for s in cfg.simulator.scenes if s.start_day > 0)
    before = cfg.simulator.start + dt.timedelta(days=late.start_day - 1)
    on = before + dt.timedelta(days=1)
    scenes = [
        set(simulate_day(world, cfg.simulator, cfg.seed, d).table["scene"].to_pylist())
        for d in (before, on)
    ]
    assert late.name not in scenes[0] and late.name in scenes[1]


def test_ids_are_heavy_tailed_so_most_are_rare(small):
    _, _, day = small
    counts = day.table.to_pandas()["user_id"].value_counts()
    assert counts.median() <= 3  # the typical user is seen a few times a day
    assert counts.iloc[0] > 20 * counts.median()  # a few users are very active
    assert counts.iloc[0] < 0.02 * day.table.num_rows


def test_most_logit_variance_comes_from_latent_interactions(small):
    _, _, day = small
    shares = variance_shares(day)
    for task in ("ctr", "cvr"):
        assert shares[task]["interaction"] >= 0.5
        assert sum(shares[task].values()) == pytest.approx(1.0, abs=0.1)


def test_oracle_auc_is_high_but_not_perfect(small):
    _, _, day = small
    aucs = {(o.scene, o.task): o for o in oracle_aucs(day.table, SIMULATOR)}
    feed = aucs[("feed", "ctr")]
    assert 0.7 < feed.auc < 0.95
    frame = day.table.to_pandas()
    rows = frame[frame.scene == "feed"]
    assert feed.auc == pytest.approx(auc(rows.click.to_numpy(), rows.p_click.to_numpy()))
    assert aucs[("feed", "cvr")].rows == rows.click.sum()


def test_tastes_drift_from_day_to_day(small):
    cfg, world, day0 = small
    later = simulate_day(world, cfg.simulator, cfg.seed, cfg.simulator.start + dt.timedelta(20))
    assert later.table["day"][0].as_py() != day0.table["day"][0].as_py()
    live0 = set(day0.table["ad_id"].to_pylist())
    live20 = set(later.table["ad_id"].to_pylist())
    assert live20 - live0, "new ads appear"
    assert live0 - live20, "old ads retire"


def test_a_shock_moves_devices_prices_and_feed_ctr(tmp_path):
    start = dt.date(2026, 1, 5)
    shocked = write_params(tmp_path, {"simulator": {"shock": {"day": "2026-01-05", "days": 1}}})
    plain = write_params(tmp_path / "plain")
    days = [
        simulate_day(build_world(c.simulator, c.seed), c.simulator, c.seed, start).table.to_pandas()
        for c in (plain, shocked)
    ]
    assert (days[0].device_os == 3).mean() == 0 and (days[1].device_os == 3).mean() > 0.3
    assert days[1].price.median() > 1.5 * days[0].price.median()
    feed = [d[d.scene == "feed"].click.mean() for d in days]
    assert feed[1] < 0.8 * feed[0]


def test_existing_partitions_are_kept_not_rewritten(cfg):
    first = simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
    again = simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
    assert first[0].status == "written" and again[0].status == "kept"
    assert read_partition(cfg.path("raw"), cfg.simulator.start).num_rows == first[0].rows
