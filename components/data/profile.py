"""A read-only summary of the raw partitions: rows and label rates per day and scene.

`summary` gives the few numbers `dvc metrics show` prints (metrics/data.json: all days
pooled) and one CSV row per day for `dvc plots` (metrics/data_days.csv), so neither tool
meets one column per day and scene.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa

from components.data.contract import Contract
from components.data.labels import LabelCounts, counts, scene_counts, total
from components.data.partitions import list_days, read_partition


def label_rates(table: pa.Table, contract: Contract) -> dict:
    """{rows, ctr (clicks / rows), cvr (conversions / clicks)}; rates are 0 where undefined."""
    return _rates(counts(table, contract))


def _rates(c: LabelCounts) -> dict:
    return {
        "rows": c.rows,
        "ctr": round(c.ctr, 6) if c.rows else 0.0,
        "cvr": round(c.cvr, 6) if c.clicks else 0.0,
    }


def _counted(raw: Path, contract: Contract) -> dict[str, dict[str, LabelCounts]]:
    """{day: {scene: counts}} for every raw day, days and scenes sorted."""
    columns = [contract.scene, contract.click, contract.conversion]
    return {
        day.isoformat(): scene_counts(read_partition(raw, day, columns=columns), contract)
        for day in list_days(raw)
    }


def summary(raw: Path, contract: Contract) -> tuple[dict, str]:
    """metrics/data.json (days, first and last day, rows, pooled CTR and CVR, overall and per
    scene over all days) and metrics/data_days.csv (one row per day: rows, CTR and CVR, then
    the same per scene; empty where a scene had no rows that day)."""
    days = _counted(raw, contract)
    names = sorted({scene for scenes in days.values() for scene in scenes})
    pooled = {n: total(s[n] for s in days.values() if n in s) for n in names}
    metrics = {
        "days": len(days),
        "first_day": min(days, default=None),
        "last_day": max(days, default=None),
        **_rates(total(pooled.values())),
        "scenes": {n: _rates(c) for n, c in pooled.items()},
    }
    return metrics, _series(days, names)


def _series(days: dict[str, dict[str, LabelCounts]], scenes: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = ("rows", "ctr", "cvr")
    writer.writerow(["day", *keys, *(f"{s}_{k}" for s in scenes for k in keys)])
    for day, counted in days.items():
        whole = _rates(total(counted.values()))
        cells = [whole[k] for k in keys]
        for scene in scenes:
            found = _rates(counted[scene]) if scene in counted else {}
            cells += [found.get(k, "") for k in keys]
        writer.writerow([day, *cells])
    return buffer.getvalue()
