"""Serving-side scoring: raw rows without labels score exactly like offline evaluation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from components.data.partitions import read_partition
from components.evaluation.evaluate import predict
from components.models import bundle as bundles
from components.models.bundle import Bundle
from components.models.scoring import OUTPUTS, ScoringError, score
from tests.helpers import request_rows


@pytest.fixture(scope="module")
def served(tiny_world) -> tuple[Bundle, pa.Table, pd.DataFrame]:
    cfg, paths = tiny_world
    bundle = bundles.load(paths[0])
    day1 = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=1))
    table, rows = request_rows(bundle, day1, 500)
    return bundle, table, rows


def test_scores_match_offline_predictions_in_order_with_the_index(served):
    bundle, table, rows = served
    rows = rows.set_axis(np.arange(len(rows))[::-1] + 100)  # a request's own index is kept
    assert isinstance(rows["ad_tags"].iloc[0], list)  # JSON lists, not arrays
    out = score(bundle, rows)
    expected = predict(bundle.model, bundle.encoder.encode(table)[0])
    assert list(out.columns) == list(OUTPUTS) and (out.dtypes == "float64").all()
    assert out.index.equals(rows.index)
    for task in ("ctr", "cvr", "ctcvr"):
        np.testing.assert_allclose(out[f"p_{task}"].to_numpy(), expected[task], rtol=1e-6)
    assert out.notna().all().all() and ((out > 0) & (out < 1)).all().all()


def test_unseen_ids_score_with_the_oov_row(served):
    bundle, _, rows = served
    other = rows.head(1).assign(user_id=-7)  # another unknown id: the same OOV row
    np.testing.assert_array_equal(score(bundle, rows.head(1)), score(bundle, other))


def test_empty_request_is_an_empty_result(served):
    bundle, _, rows = served
    out = score(bundle, rows.head(0))
    assert out.empty and list(out.columns) == list(OUTPUTS) and (out.dtypes == "float64").all()
    assert score(bundle, pd.DataFrame()).empty  # `{"dataframe_records": []}` has no columns


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda r: r.drop(columns=["price", "ad_tags"]),
            "missing feature column(s): ad_tags, price",
        ),
        (lambda r: r.assign(scene="radio"), "unknown scene(s) radio: the model has heads for"),
        (lambda r: r.assign(hour="noon"), "column 'hour' is not int32"),
        (lambda r: r.assign(price=None), "column 'price' has 5 missing value(s)"),
        (lambda r: r.assign(ad_tags=[[1, None]] * 5), "column 'ad_tags' has 5 missing value(s)"),
    ],
)
def test_bad_requests_are_one_line_errors_naming_the_column(served, change, message):
    bundle, _, rows = served
    with pytest.raises(ScoringError) as err:
        score(bundle, change(rows.head(5)))
    assert message in str(err.value) and "\n" not in str(err.value)
