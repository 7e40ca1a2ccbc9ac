"""The contract an importer wrote beside the partitions must be the one params names."""

import pytest

from components.data.contract import CONTRACTS
from components.data.partitions import CONTRACT_FILE, PartitionError
from components.validation.quarantine import dataset_contract, result_path, validate_day
from tests.helpers import write_params


def mark(cfg, dataset: str) -> None:
    """What components.data.loaders.import_day writes on a folder's first import."""
    cfg.path("raw").mkdir(parents=True, exist_ok=True)
    (cfg.path("raw") / CONTRACT_FILE).write_text(CONTRACTS[dataset].to_json())


def test_a_marker_naming_another_dataset_is_one_line_naming_both(cfg):
    mark(cfg, "aliccp")
    with pytest.raises(PartitionError) as err:
        dataset_contract(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert "'aliccp'" in message and "'simulator'" in message


def test_a_mismatch_stops_validation_before_anything_is_written(cfg):
    mark(cfg, "aliexpress")
    day = cfg.simulator.start
    with pytest.raises(PartitionError, match="aliexpress"):
        validate_day(cfg, day)
    assert not result_path(cfg, day).exists()
    assert not cfg.path("quarantine").exists()


def test_a_matching_marker_gives_the_contract(tmp_path):
    cfg = write_params(tmp_path / "ws", {"data": {"dataset": "aliccp"}})
    mark(cfg, "aliccp")
    assert dataset_contract(cfg) == CONTRACTS["aliccp"]


def test_without_a_marker_params_decide(cfg):
    assert dataset_contract(cfg) == CONTRACTS["simulator"]
