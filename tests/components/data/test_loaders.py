"""Public-dataset loaders, on small files written here in each dataset's own layout."""

import datetime as dt

import numpy as np
import pytest

from components.data.contract import ALICCP, ALIEXPRESS
from components.data.loaders import aliccp_stream, import_day
from components.data.loaders.tables import LoaderError
from components.data.partitions import list_days, read_partition
from components.data.simulator import simulate
from components.validation.quarantine import validate_day
from tests.helpers import write_aliccp, write_aliccp_raw, write_aliexpress, write_params

DAY = dt.date(2026, 1, 5)
N = 600


def workspace(tmp_path, dataset):
    overrides = {
        "data": {"dataset": dataset},
        # the datasets' scenes (301_1, nl, ...) are not the simulator's model.scenes: these
        # tests judge the import, so any share of rows may carry a scene the model lacks
        "validation": {
            "min_rows": 100,
            "min_scene_rows": 100,
            "ctr_band": [0.05, 0.5],
            "max_unknown_scene_share": 1.0,
        },
    }
    return write_params(tmp_path / dataset, overrides)


@pytest.mark.slow
def test_aliccp_preprocessed_imports_and_validates(tmp_path):
    rng = np.random.default_rng(0)
    cfg = workspace(tmp_path, "aliccp")
    write_aliccp(tmp_path / "train.csv", rng)
    [(folder, rows)] = import_day(cfg.path("raw"), "aliccp", [tmp_path / "train.csv"], DAY)
    assert rows == N - 3  # impossible funnels dropped
    table = read_partition(cfg.path("raw"), DAY)
    assert table.schema.equals(ALICCP.schema())
    assert set(table["scene"].to_pylist()) == {"301_1", "301_2", "301_3"}
    assert validate_day(cfg, DAY).passed


def test_aliccp_raw_joins_common_features_and_keeps_lists(tmp_path):
    cfg = workspace(tmp_path, "aliccp-raw")
    files = write_aliccp_raw(tmp_path, np.random.default_rng(1))
    [(_, rows)] = import_day(cfg.path("raw"), "aliccp-raw", files, DAY)
    table = read_partition(cfg.path("raw"), DAY).to_pandas()
    assert rows == N - 3
    first = table.sort_values("request_id").iloc[0]  # the file's first line
    assert first["101"] >= 1000 and list(first["109_14"]) == [7, 8]  # from common features
    assert list(first["210"]) == [3, 4] and first["D508"] == pytest.approx(0.5)
    assert first["127"] == 0 and list(first["127_14"]) == []  # absent fields
    assert set(table["scene"]) == {"301_11", "301_12", "301_13"}
    assert validate_day(cfg, DAY).passed


@pytest.mark.slow
def test_aliexpress_country_folder_is_the_scene(tmp_path):
    cfg = workspace(tmp_path, "aliexpress")
    path = tmp_path / "AliExpress_NL" / "train.csv"
    write_aliexpress(path, np.random.default_rng(2))
    import_day(cfg.path("raw"), "aliexpress", [path], DAY)
    table = read_partition(cfg.path("raw"), DAY)
    assert table.schema.equals(ALIEXPRESS.schema())
    assert set(table["scene"].to_pylist()) == {"nl"}
    assert validate_day(cfg, DAY).passed


def test_a_file_missing_columns_is_a_one_line_error(tmp_path):
    cfg = workspace(tmp_path, "aliexpress")
    bad = tmp_path / "us.csv"
    bad.write_text("search_id,click,conversion\n1,0,0\n")
    with pytest.raises(LoaderError, match="missing column") as err:
        import_day(cfg.path("raw"), "aliexpress", [bad], DAY)
    assert "\n" not in str(err.value) and not cfg.path("raw").exists()


def test_importing_into_simulator_data_is_refused(tmp_path):
    cfg = write_params(tmp_path / "sim")
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), DAY, 1)
    path = tmp_path / "AliExpress_US" / "train.csv"
    write_aliexpress(path, np.random.default_rng(3))
    with pytest.raises(LoaderError, match="already holds simulator"):
        import_day(cfg.path("raw"), "aliexpress", [path], DAY + dt.timedelta(1))
    assert list_days(cfg.path("raw")) == [DAY]  # nothing written next to the simulator's day


def test_validation_refuses_data_of_another_contract(tmp_path):
    cfg = workspace(tmp_path, "aliexpress")
    path = tmp_path / "AliExpress_ES" / "train.csv"
    write_aliexpress(path, np.random.default_rng(4))
    import_day(cfg.path("raw"), "aliexpress", [path], DAY)
    wrong = write_params(tmp_path / "aliexpress", {"validation": {"min_rows": 100}})
    with pytest.raises(ValueError, match="params data.dataset 'simulator'"):
        validate_day(wrong, DAY)


def test_raw_files_split_into_pseudo_days_in_file_order_whatever_the_buckets(tmp_path):
    cfg = workspace(tmp_path, "aliccp-raw")
    files = write_aliccp_raw(tmp_path, np.random.default_rng(1))
    written = import_day(cfg.path("raw"), "aliccp-raw", files, DAY, days=3)
    assert [rows for _, rows in written] == [197, 200, 200]  # 3 dropped funnels in day one
    tables = [read_partition(cfg.path("raw"), DAY + dt.timedelta(i)) for i in range(3)]
    ids = [sorted(t["request_id"].to_pylist()) for t in tables]
    assert ids[0][-1] < ids[1][0] and ids[1][-1] < ids[2][0] == 400  # the file's thirds
    days = [str(DAY + dt.timedelta(i)) for i in range(3)]
    assert [set(t["day"].to_pylist()) for t in tables] == [{d} for d in days]
    # the same days from one bucket or many: the spill's bucketing is invisible
    other = tmp_path / "other"
    streamed = aliccp_stream.import_raw(other, files, DAY, days=3, buckets=4)
    assert streamed == [(DAY + dt.timedelta(i), n) for i, (_, n) in enumerate(written)]
    again = read_partition(other, DAY + dt.timedelta(1)).sort_by("request_id")
    assert again.equals(tables[1].sort_by("request_id"))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda text: text.replace("\x03", "", 1),
            r"sample_skeleton_train.csv:1: bad feature record",
        ),
        (lambda text: text.replace(",", ";", 5), r"expected sample_id,click"),
    ],
)
def test_a_damaged_raw_file_is_one_line_and_leaves_nothing(tmp_path, damage, message):
    cfg = workspace(tmp_path, "aliccp-raw")
    files = write_aliccp_raw(tmp_path, np.random.default_rng(1))
    files[0].write_text(damage(files[0].read_text()))
    with pytest.raises(LoaderError, match=message) as err:
        import_day(cfg.path("raw"), "aliccp-raw", files, DAY, days=2)
    assert "\n" not in str(err.value)
    assert not cfg.path("raw").exists() or not any(cfg.path("raw").iterdir())  # no day, no spill
