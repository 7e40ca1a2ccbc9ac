"""Label counts and rates of a table, overall or per scene: CTR = clicks / rows,
CVR = conversions / clicks (NaN where the denominator is 0)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import astuple, dataclass

import pyarrow as pa

from components.data.contract import Contract


@dataclass(frozen=True)
class LabelCounts:
    rows: int
    clicks: int
    conversions: int

    def __add__(self, other: LabelCounts) -> LabelCounts:
        return LabelCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def ctr(self) -> float:
        return self.clicks / self.rows if self.rows else math.nan

    @property
    def cvr(self) -> float:
        return self.conversions / self.clicks if self.clicks else math.nan


def scene_counts(table: pa.Table, contract: Contract) -> dict[str, LabelCounts]:
    """Rows, clicks and conversions of every scene in the table, sorted by scene."""
    aggs = [(contract.click, "count"), (contract.click, "sum"), (contract.conversion, "sum")]
    groups = table.group_by(contract.scene).aggregate(aggs).to_pylist()
    counts = {
        g[contract.scene]: LabelCounts(*(int(g[f"{c}_{f}"] or 0) for c, f in aggs)) for g in groups
    }
    return dict(sorted(counts.items()))


def total(parts: Iterable[LabelCounts]) -> LabelCounts:
    """The counts of several parts (scenes, days) together."""
    return sum(parts, LabelCounts(0, 0, 0))


def counts(table: pa.Table, contract: Contract) -> LabelCounts:
    """Rows, clicks and conversions of the whole table."""
    return total(scene_counts(table, contract).values())
