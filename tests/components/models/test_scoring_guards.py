"""score()'s guards, shared by the server and batch scoring: rows that would score silently
wrong (a `true` id, an infinite or float32-overflowing price, a scene without training) are
one-line ScoringErrors; bundles saved before the trained-scenes record keep today's behaviour."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from components.data.partitions import read_partition, write_partition
from components.models import bundle as bundles
from components.models.scoring import ScoringError, score, trained_scenes
from components.training.chain import train_day
from tests.helpers import request_rows


@pytest.fixture(scope="module")
def rows(tiny_world) -> pd.DataFrame:
    cfg, paths = tiny_world
    day2 = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=2))
    return request_rows(bundles.load(paths[1]), day2, 20)[1]


@pytest.fixture(scope="module")
def bundle(tiny_world):
    return bundles.load(tiny_world[1][1])


def held(meta: dict) -> dict[str, int]:
    """Rows per scene the calibration stage held out of the newest day (trained on a day
    later, by the next bundle)."""
    return {f["scene"]: f["rows"] for f in meta["calibration"] if f["task"] == "ctr"}


def day_rows(meta: dict, parent: dict) -> dict[str, int]:
    """Rows per scene of the training day: those trained on plus those held out, less the
    parent's held-out rows, trained on a day late."""
    late = held(parent)
    return {s: n + held(meta).get(s, 0) - late.get(s, 0) for s, n in meta["scene_rows"].items()}


def test_training_records_the_scenes_it_saw(tiny_world, bundle):
    cfg, _ = tiny_world
    day1 = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=1))
    counts = day1["scene"].value_counts().to_pylist()
    seen = {c["values"]: c["counts"] for c in counts}
    parent = bundles.load(tiny_world[1][0]).meta
    assert day_rows(bundle.meta, parent) == {s: seen.get(s, 0) for s in bundle.encoder.scenes}
    assert bundle.meta["late_rows"] == sum(held(parent).values()) > 0
    assert 0 < held(bundle.meta)["feed"] < 0.5 * seen["feed"]
    assert bundle.meta["scene_rows"]["mall"] == 0  # mall joins the simulator on day 7
    assert bundle.meta["trained_scenes"] == ["feed", "search", "video"]
    assert trained_scenes(bundle) == ("feed", "search", "video")


@pytest.mark.faults
@pytest.mark.parametrize(
    "change, message",
    [
        ({"user_id": True}, "column 'user_id' holds true/false where int64 is expected"),
        ({"gender": False}, "column 'gender' holds true/false where int32 is expected"),
        ({"price": True}, "column 'price' holds true/false where float32 is expected"),
        ({"price": np.inf}, "column 'price' has 20 non-finite value(s)"),
        ({"price": -np.inf}, "column 'price' has 20 non-finite value(s)"),
        ({"ad_age_days": 1e308}, "column 'ad_age_days' has 20 non-finite value(s)"),
        ({"price": np.nan}, "column 'price' has 20 missing value(s)"),
        ({"ad_id": 2**70}, "column 'ad_id' is not int64: "),
        ({"scene": "mall"}, "scene(s) mall: the model never trained on rows of them"),
        ({"scene": "x" * 10_000}, "unknown scene(s) xxxxxxxx"),
    ],
)
def test_rows_that_would_score_silently_wrong_are_refused(bundle, rows, change, message):
    with pytest.raises(ScoringError) as err:
        score(bundle, rows.assign(**change))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert len(str(err.value)) < 300  # a long value is never echoed whole


def test_one_true_among_ids_is_refused_too(bundle, rows):
    mixed = rows.astype({"user_id": object})
    mixed.loc[mixed.index[3], "user_id"] = True
    with pytest.raises(ScoringError, match="'user_id' holds true/false"):
        score(bundle, mixed)


def test_a_finite_extreme_price_still_scores(bundle, rows):
    out = score(bundle, rows.assign(price=3e38))  # below float32's largest: finite
    assert np.isfinite(out.to_numpy()).all()


def test_a_bundle_without_the_record_scores_every_scene_it_has_heads_for(tiny_world, rows):
    old = bundles.load(tiny_world[1][1])
    del old.meta["trained_scenes"]  # as saved before training recorded it
    assert trained_scenes(old) == ("feed", "search", "video", "mall")
    assert np.isfinite(score(old, rows.assign(scene="mall")).to_numpy()).all()


def test_a_warm_start_keeps_the_scenes_its_parent_trained_on(tiny_world, tmp_path):
    """Day 2 trains only on search rows: feed and video stay trained through the parent."""
    cfg, paths = tiny_world
    work = cfg.model_copy(update={"root": tmp_path})
    day = cfg.simulator.start + dt.timedelta(days=2)
    table = read_partition(cfg.path("raw"), day)
    only_search = table.filter(pc.equal(table["scene"], "search"))
    write_partition(work.path("raw"), day, only_search)
    trained, _ = train_day(work, "mtms", day, bundles.load(paths[1]))
    assert trained.meta["late_rows"] == 0  # the parent's day is not in this workspace
    assert day_rows(trained.meta, {"calibration": []}) == {
        "feed": 0, "search": only_search.num_rows, "video": 0, "mall": 0,
    }  # fmt: skip
    assert trained.meta["trained_scenes"] == ["feed", "search", "video"]


def test_drift_monitoring_leaves_untrained_scene_rows_unscored(tiny_world, bundle):
    """The daily drift step scores the champion on whole days: the day mall starts, its
    rows must stay NaN there, not fail the run (score() refuses them)."""
    from components.monitoring.drift import predictions

    cfg, _ = tiny_world
    table = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=2))
    table = table.slice(0, 40)
    scenes = ["mall" if i % 4 == 0 else s for i, s in enumerate(table["scene"].to_pylist())]
    table = table.set_column(table.schema.get_field_index("scene"), "scene", pa.array(scenes))
    out = predictions(bundle, bundle.encoder.contract, table)
    mall = np.array(scenes) == "mall"
    assert out[mall].isna().all().all() and out[~mall].notna().all().all()
