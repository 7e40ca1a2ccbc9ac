"""The suite's pyarrow checks and the model-scene check: each reason names the column,
the count of bad rows and an example value."""

import math

import pyarrow as pa
import pytest

from components.data.contract import SIMULATOR
from components.data.partitions import read_partition
from components.data.simulator import simulate
from components.validation.suite import run_suite
from tests.helpers import write_params

ROWS = 4000


@pytest.fixture(scope="module")
def day_table(tmp_path_factory):
    overrides = {"simulator": {"rows_per_day": ROWS}, "validation": {"min_rows": 100}}
    cfg = write_params(tmp_path_factory.mktemp("suite"), overrides)
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 1)
    return cfg, read_partition(cfg.path("raw"), cfg.simulator.start)


def replaced(table: pa.Table, name: str, values: list) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, name, pa.array(values, table.schema.field(name).type))


def broken(table: pa.Table) -> pa.Table:
    """Nulls inside lists (in both chunks), long lists, NaN / -inf / inf, unknown scenes."""
    n = table.num_rows
    tags = table["ad_tags"].to_pylist()
    for row in (3, n - 5):
        tags[row] = [None, *tags[row]]
    tags[7] = list(range(300))
    tags[8] = None  # a null list is the null check's, not a null item
    price = table["price"].to_pylist()
    price[10], price[11] = math.nan, -math.inf
    age = table["ad_age_days"].to_pylist()
    age[12] = math.inf
    scene = table["scene"].to_pylist()
    scene[20:60] = ["FEED"] * 40  # 1% of rows
    for name, values in (("ad_tags", tags), ("price", price), ("ad_age_days", age)):
        table = replaced(table, name, values)
    table = replaced(table, "scene", scene)
    return pa.concat_tables([table.slice(0, n // 2), table.slice(n // 2)])  # two chunks


def reasons(checks) -> list[str]:
    return [c.reason for c in checks if not c.success]


def test_each_broken_value_is_named_counted_and_shown(day_table):
    cfg, table = day_table
    table = broken(table)
    assert table["ad_tags"].num_chunks == 2
    failed = reasons(
        run_suite(table, SIMULATOR, cfg.validation, cfg.simulator.start, cfg.model.scenes)
    )
    expected = {  # reason's start -> its example, after "N rows break it (P%), e.g. "
        "expect_list_items_to_not_be_null: ad_tags lists hold no nulls: 2 rows": "[None, ",
        "expect_list_lengths_to_be_at_most: ad_tags lists hold at most 256 items: 1 rows": (
            "300 items (the longest)"
        ),
        "expect_column_values_to_be_finite: price is finite: 2 rows": "[nan, -inf]",
        "expect_column_values_to_be_finite: ad_age_days is finite: 1 rows": "[inf]",
        "expect_column_values_to_be_in_set: scene is one of model.scenes "
        "['feed', 'search', 'video', 'mall']: 40 rows": "['FEED', 'FEED', 'FEED']",
    }
    for start, example in expected.items():
        reason = next((r for r in failed if r.startswith(start)), failed)
        assert f"), e.g. {example}" in reason, (start, reason)
    assert all("\n" not in r for r in failed)


def test_unknown_scenes_pass_up_to_the_configured_share(day_table):
    cfg, table = day_table
    scene = table["scene"].to_pylist()
    scene[:40] = ["tv"] * 40  # 1% of rows: a scene the model has no heads for
    table = replaced(table, "scene", scene)
    loose = cfg.validation.model_copy(update={"max_unknown_scene_share": 0.02})
    checks = run_suite(table, SIMULATOR, loose, cfg.simulator.start, cfg.model.scenes)
    assert reasons(checks) == []
    scene_check = next(c for c in checks if c.what.startswith("scene is one of model.scenes"))
    assert scene_check.what.endswith("(unknown in at most 2.00% of rows)")


def test_a_day_streamed_in_chunks_validates_as_one_table(day_table):
    """validate_day streams a partition: GX gets the scalar columns, the lists are summed up
    chunk by chunk. Every check and its reason match the suite on the whole table."""
    from components.validation.suite import list_stats

    cfg, table = day_table
    table, args = broken(table), (SIMULATOR, cfg.validation, cfg.simulator.start)
    whole = run_suite(table, *args, cfg.model.scenes)
    scalars, lists = list_stats(table.to_batches(max_chunksize=97), SIMULATOR, 256)
    assert "ad_tags" not in scalars.column_names and lists["ad_tags"].rows == table.num_rows
    assert run_suite(scalars, *args, cfg.model.scenes, lists) == whole
    assert len(reasons(whole)) >= 5  # the broken values are found either way
