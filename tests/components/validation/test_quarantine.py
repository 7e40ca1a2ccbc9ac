"""The validation gate catches every corruption, quarantines the day, and touches nothing else."""

import datetime as dt
import hashlib
import json

import pytest

from components.data.contract import SIMULATOR
from components.data.corruption import KINDS
from components.data.partitions import PartitionError, partition_dir
from components.data.simulator import simulate
from components.validation.quarantine import REPORT_FILE, result_path, validate_day

# which expectation each corruption must break
EXPECTED_FAILURE = {
    "missing_column": "expect_column_to_exist: column user_id exists",
    "wrong_dtype": "expect_column_type_to_be: price is float32",
    "nulls": "expect_column_values_to_not_be_null: price has no nulls",
    "conversion_without_click": "expect_column_pair_values_a_to_be_greater_than_b: conversion",
    "impossible_label_rate": "expect_column_mean_to_be_between: CTR of scene feed",
    "duplicate_request_ids": "expect_column_values_to_be_unique: request ids are unique",
    "empty_day": "expect_table_row_count_to_be_between",
    "wrong_day": "expect_column_values_to_be_in_set: day is",
    "truncated_file": "read_parquet: the partition is readable parquet",
    "unknown_scene": "expect_column_values_to_be_in_set: scene is one of model.scenes",
    "null_in_list": "expect_list_items_to_not_be_null: ad_tags lists hold no nulls",
    "nonfinite_dense": "expect_column_values_to_be_finite: price is finite",
    "long_lists": "expect_list_lengths_to_be_at_most: ad_tags lists hold at most 256 items",
}


def fingerprint(root) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def two_clean_days(cfg):
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    return cfg


def test_every_corruption_kind_has_an_expected_failure():
    assert set(EXPECTED_FAILURE) == set(KINDS)


def test_a_clean_day_passes_and_stays(two_clean_days):
    cfg = two_clean_days
    before = fingerprint(cfg.path("raw"))
    report = validate_day(cfg, cfg.simulator.start)
    assert report.passed and report.reasons == [] and report.quarantined is None
    assert len(report.checks) > 40 and all(c.success for c in report.checks)
    typed = {c.what for c in report.checks if c.expectation == "expect_column_type_to_be"}
    assert typed == {f"{c.name} is {c.dtype}" for c in SIMULATOR.columns}  # every column
    assert fingerprint(cfg.path("raw")) == before
    saved = json.loads(result_path(cfg, cfg.simulator.start).read_text())
    assert saved["passed"] is True and saved["rows"] == report.rows


# make test-fast runs three kinds (a value check, a missing column, an unreadable file)
QUICK = ("nulls", "missing_column", "truncated_file")
CASES = [k if k in QUICK else pytest.param(k, marks=pytest.mark.slow) for k in KINDS]


@pytest.mark.parametrize("kind", CASES)
def test_each_corruption_fails_names_its_expectation_and_is_quarantined(two_clean_days, kind):
    cfg = two_clean_days
    bad_day = cfg.simulator.start + dt.timedelta(days=2)
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), bad_day, 1, corrupt=kind)
    clean_before = fingerprint(cfg.path("raw"))
    clean_before = {k: v for k, v in clean_before.items() if not k.startswith(f"day={bad_day}")}

    report = validate_day(cfg, bad_day)

    assert not report.passed
    assert any(r.startswith(EXPECTED_FAILURE[kind]) for r in report.reasons), report.reasons
    assert all("\n" not in r for r in report.reasons)
    assert not partition_dir(cfg.path("raw"), bad_day).exists()
    quarantined = partition_dir(cfg.path("quarantine"), bad_day)
    assert (quarantined / REPORT_FILE).exists() and any(quarantined.glob("*.parquet"))
    assert json.loads((quarantined / REPORT_FILE).read_text())["reasons"] == report.reasons
    assert fingerprint(cfg.path("raw")) == clean_before  # nothing else touched
    assert json.loads(result_path(cfg, bad_day).read_text())["passed"] is False


def test_a_missing_day_is_an_error_and_moves_nothing(two_clean_days):
    cfg = two_clean_days
    with pytest.raises(PartitionError, match="no partition"):
        validate_day(cfg, cfg.simulator.start + dt.timedelta(days=9))
    assert not cfg.path("quarantine").exists()


@pytest.mark.slow
def test_a_quarantined_day_can_be_simulated_again_and_then_passes(two_clean_days):
    cfg = two_clean_days
    day = cfg.simulator.start + dt.timedelta(days=2)
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), day, 1, corrupt="nulls")
    assert not validate_day(cfg, day).passed
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), day, 1)
    assert validate_day(cfg, day).passed
