"""A read-only summary of the raw partitions: rows and label rates per day and scene."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from components.data.contract import Contract
from components.data.labels import counts
from components.data.partitions import list_days, read_partition


def label_rates(table: pa.Table, contract: Contract) -> dict:
    """{rows, ctr (clicks / rows), cvr (conversions / clicks)}; rates are 0 where undefined."""
    c = counts(table, contract)
    return {
        "rows": c.rows,
        "ctr": round(c.ctr, 6) if c.rows else 0.0,
        "cvr": round(c.cvr, 6) if c.clicks else 0.0,
    }


def profile(raw: Path, contract: Contract) -> dict:
    """{day: {rows, ctr, cvr, scenes: {scene: {rows, ctr, cvr}}}} for every raw day."""
    out = {}
    columns = [contract.scene, contract.click, contract.conversion]
    for day in list_days(raw):
        table = read_partition(raw, day, columns=columns)
        scenes = {
            name: label_rates(table.filter(pc.equal(table[contract.scene], name)), contract)
            for name in sorted(pc.unique(table[contract.scene]).to_pylist())
        }
        out[day.isoformat()] = {**label_rates(table, contract), "scenes": scenes}
    return out
