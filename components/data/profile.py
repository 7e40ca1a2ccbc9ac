"""A read-only summary of the raw partitions: rows and label rates per day and scene."""

from __future__ import annotations

import pyarrow.compute as pc

from components.data.contract import Contract
from components.data.partitions import list_days, read_partition


def profile(raw, contract: Contract) -> dict:
    """{day: {rows, ctr, cvr, scenes: {scene: {rows, ctr, cvr}}}} for every raw day."""
    out = {}
    columns = [contract.scene, contract.click, contract.conversion]
    for day in list_days(raw):
        table = read_partition(raw, day, columns=columns)
        frame = table.to_pandas()
        by_scene = frame.groupby(contract.scene)
        scenes = {
            str(name): _rates(len(g), g[contract.click].sum(), g[contract.conversion].sum())
            for name, g in by_scene
        }
        clicks = pc.sum(table[contract.click]).as_py() or 0
        conversions = pc.sum(table[contract.conversion]).as_py() or 0
        out[day.isoformat()] = {**_rates(table.num_rows, clicks, conversions), "scenes": scenes}
    return out


def _rates(rows: int, clicks: int, conversions: int) -> dict:
    return {
        "rows": int(rows),
        "ctr": round(float(clicks) / rows, 6) if rows else 0.0,
        "cvr": round(float(conversions) / clicks, 6) if clicks else 0.0,
    }
