"""Validation of a day: it passes the suite, or it is quarantined and never read again."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from components import atomic, codec
from components.config import Config
from components.data.contract import CONTRACTS, Contract
from components.data.contract_yaml import load_contract
from components.data.partitions import (
    CHUNK_ROWS,
    CONTRACT_FILE,
    PartitionError,
    day_name,
    list_days,
    move_partition,
    partition_dir,
    read_partition,
    stream_partition,
)
from components.validation.suite import ExpectationResult, list_stats, run_suite

REPORT_FILE = "validation.json"  # the report's copy inside a quarantined partition


@dataclass(frozen=True)
class ValidationReport:
    day: dt.date
    dataset: str
    passed: bool
    rows: int
    checks: list[ExpectationResult]
    seconds: float
    quarantined: str | None = None  # where the partition went when it failed

    DERIVED = ("reasons",)  # written for readers of the file (components.codec)

    @property
    def reasons(self) -> list[str]:
        """One line per failed expectation."""
        return [c.reason for c in self.checks if not c.success]


def dataset_contract(cfg: Config) -> Contract:
    """The contract params.yaml names (a built-in one, or data.contract's YAML for dataset
    custom); it must agree with what an importer wrote. Every reader of the data asks here."""
    if cfg.data.dataset == "custom":
        contract = load_contract(cfg.contract_path(), source=f"data.contract {cfg.data.contract}")
    else:
        contract = CONTRACTS[cfg.data.dataset]
    marker = cfg.path("raw") / CONTRACT_FILE
    if marker.exists():
        written = json.loads(marker.read_text()).get("name")
        if written != contract.name:
            key = "data.contract's name" if cfg.data.dataset == "custom" else "data.dataset"
            said = f"params {key} {contract.name!r}"
            raise PartitionError(f"{marker} says the data is {written!r}, {said}")
    return contract


def result_path(cfg: Config, day: dt.date) -> Path:
    return cfg.path("validation") / day_name(day, ".json")


def is_validated(cfg: Config, day: dt.date) -> bool:
    """Whether the day has a passed validation result (quarantined days never do)."""
    path = result_path(cfg, day)
    return path.exists() and json.loads(path.read_text()).get("passed") is True


def quarantined(cfg: Config, day: dt.date) -> ValidationReport | None:
    """The report of a day that failed earlier and sits in quarantine (None otherwise)."""
    if partition_dir(cfg.path("raw"), day).is_dir():
        return None
    saved = partition_dir(cfg.path("quarantine"), day) / REPORT_FILE
    if not saved.exists():
        return None
    return codec.loads(ValidationReport, saved.read_text())


def validate_pending(cfg: Config, days: list[dt.date]) -> list[dt.date]:
    """The days that passed validation, validating now any never validated (a day that
    fails is quarantined, as by validate_day)."""
    return [d for d in days if is_validated(cfg, d) or validate_day(cfg, d).passed]


def reference_days(cfg: Config, day: dt.date) -> list[dt.date]:
    """The validated partitions just before `day` (monitor.reference_days of them): what
    day `day` is compared with for drift."""
    before = [d for d in list_days(cfg.path("raw")) if d < day and is_validated(cfg, d)]
    return before[-cfg.monitor.reference_days :]


def _check_day(
    cfg: Config, contract: Contract, day: dt.date
) -> tuple[int, list[ExpectationResult]]:
    """The suite on a day streamed from its partition: list columns are summarised chunk
    by chunk, so memory holds the scalar columns (what GX reads), not the lists."""
    raw, limit = cfg.path("raw"), cfg.validation.max_list_length
    try:
        chunks = stream_partition(raw, day, CHUNK_ROWS)
        first = next(chunks, None)  # None: a partition of no rows (its schema is in the file)
        chunks = [read_partition(raw, day)] if first is None else itertools.chain([first], chunks)
        table, lists = list_stats(chunks, contract, limit)
    except PartitionError as err:
        if not partition_dir(raw, day).is_dir():
            raise
        return 0, [
            ExpectationResult("read_parquet", "the partition is readable parquet", False, str(err))
        ]
    checks = run_suite(table, contract, cfg.validation, day, cfg.model.scenes, lists)
    return table.num_rows, checks


def validate_day(cfg: Config, day: dt.date) -> ValidationReport:
    """Run the suite on one raw partition; write the result; quarantine the day if it fails.

    A missing partition is a PartitionError (nothing to judge, nothing moved).
    """
    contract = dataset_contract(cfg)
    start = time.perf_counter()
    rows, checks = _check_day(cfg, contract, day)
    passed = all(c.success for c in checks)
    report = ValidationReport(
        day, contract.name, passed, rows, checks, round(time.perf_counter() - start, 3)
    )
    if not passed:
        moved = move_partition(cfg.path("raw"), cfg.path("quarantine"), day)
        report = replace(report, quarantined=str(moved))
        atomic.write_text(moved / REPORT_FILE, codec.dumps(report))
    atomic.write_text(result_path(cfg, day), codec.dumps(report))
    return report
