"""Vocabularies: raw categorical ids -> embedding rows, admitted by count, expired by age.

Row 0 is the out-of-vocabulary row, shared by unseen ids and by ids seen fewer than
`min_count` times (Monolith's frequency filter: most ids of a real day are seen once and
never earn a row). A known id keeps its row for as long as it lives, so a warm-started
table only grows at the end of each field, except that with `expire_days` an id unseen
for that many days gives its row back (Monolith's expirable embeddings): a later new id
takes it, freshly initialised, and the table stays the size of the live ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

OOV = 0
MERGE_EVERY = 16  # chunks of partial counts an IdCounter holds before merging them
UNKNOWN_DAY = -1  # last_seen of an id counted without a day (ages start at the next day)


class IdCounter:
    """Distinct ids and how often each occurs, counted chunk by chunk: partial counts are
    merged every MERGE_EVERY chunks, so memory holds the distinct ids, not every chunk's."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, values: np.ndarray) -> None:
        self._parts.append(np.unique(values, return_counts=True))
        if len(self._parts) >= MERGE_EVERY:
            self._parts = [self.counts()]

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct ids, int64 count of each): what np.unique(all values,
        return_counts=True) gives."""
        if len(self._parts) == 1:
            return self._parts[0]
        if not self._parts:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        keys, where = np.unique(np.concatenate([k for k, _ in self._parts]), return_inverse=True)
        counts = np.concatenate([c for _, c in self._parts])
        return keys, np.bincount(where, counts, keys.size).astype(np.int64)


@dataclass
class Vocabulary:
    keys: np.ndarray  # [K] int64, sorted: every live id (seen and not expired)
    counts: np.ndarray  # [K] int64 times each id was seen in training data
    rows: np.ndarray  # [K] int64 embedding row of each id; OOV while below min_count
    size: int  # rows in use or free, OOV included
    min_count: int = 1
    last_seen: np.ndarray | None = None  # [K] int32 day ordinal each id was last counted
    free: np.ndarray | None = None  # [R] int64 rows expired ids gave back, for new ids
    _index: pd.Index | None = field(default=None, repr=False, compare=False)  # lookup's hash

    def __post_init__(self) -> None:
        if self.last_seen is None:  # from a bundle saved before expiry: ages start now
            self.last_seen = np.full(self.keys.size, UNKNOWN_DAY, np.int32)
        if self.free is None:
            self.free = np.empty(0, np.int64)

    @classmethod
    def empty(cls, min_count: int = 1) -> Vocabulary:
        none = np.empty(0, np.int64)
        return cls(none, none.copy(), none.copy(), 1, min_count)

    def update(
        self, values: np.ndarray, counts: np.ndarray | None = None,
        day: int | None = None, expire_days: int = 0,
    ) -> np.ndarray:  # fmt: skip
        """Count `values` (or, with `counts`, unique values seen that many times each) seen
        on `day` (an ordinal); with expire_days, ids unseen for that many days are dropped
        and give their rows back; ids reaching min_count get rows, in id order: given-back
        rows first, then new ones. Returns the rows given to new ids (their weights start
        fresh: a given-back row held another id's)."""
        if counts is None:
            new_keys, new_counts = np.unique(np.asarray(values, np.int64), return_counts=True)
        else:
            new_keys, new_counts = np.asarray(values, np.int64), np.asarray(counts, np.int64)
        keys = np.union1d(self.keys, new_keys)
        counts, rows = np.zeros(keys.size, np.int64), np.zeros(keys.size, np.int64)
        seen = np.full(keys.size, UNKNOWN_DAY, np.int32)
        old, new = np.searchsorted(keys, self.keys), np.searchsorted(keys, new_keys)
        counts[old], rows[old], seen[old] = self.counts, self.rows, self.last_seen
        counts[new] += new_counts
        free = self.free
        if day is not None:
            seen[new] = day
            seen[seen == UNKNOWN_DAY] = day
            if expire_days:
                live = seen > day - expire_days
                free = np.sort(np.concatenate([free, rows[~live & (rows != OOV)]]))
                keys, counts, rows, seen = keys[live], counts[live], rows[live], seen[live]
        admit = np.flatnonzero((rows == OOV) & (counts >= self.min_count))  # in key order
        reused = min(admit.size, free.size)
        given = np.concatenate([free[:reused], self.size + np.arange(admit.size - reused)])
        rows[admit] = given
        self.keys, self.counts, self.rows, self.last_seen = keys, counts, rows, seen
        self.size += admit.size - reused
        self.free, self._index = free[reused:], None
        return given

    def lookup(self, values: np.ndarray) -> np.ndarray:
        """Rows of `values`; unknown ids map to the OOV row. A hash lookup (pandas' index
        engine, built once per vocabulary state): 4-8x faster than a binary search over
        millions of keys, the bulk of encoding a day of long id lists."""
        values = np.asarray(values, np.int64)
        if self.keys.size == 0:
            return np.zeros(values.shape, np.int64)
        if self._index is None:
            self._index = pd.Index(self.keys)
        pos = self._index.get_indexer(values.ravel()).reshape(values.shape)
        return np.where(pos >= 0, self.rows[pos], OOV)

    def state(self) -> dict:
        """Tensors and ints only, so a bundle loads with weights_only=True."""
        return {
            "keys": torch.from_numpy(self.keys.copy()),
            "counts": torch.from_numpy(self.counts.copy()),
            "rows": torch.from_numpy(self.rows.copy()),
            "last_seen": torch.from_numpy(self.last_seen.copy()),
            "free": torch.from_numpy(self.free.copy()),
            "size": self.size,
            "min_count": self.min_count,
        }

    @classmethod
    def from_state(cls, state: dict) -> Vocabulary:
        arrays = (state[k].numpy().astype(np.int64) for k in ("keys", "counts", "rows"))
        seen, free = state.get("last_seen"), state.get("free")  # absent before expiry
        return cls(
            *arrays, size=int(state["size"]), min_count=int(state["min_count"]),
            last_seen=None if seen is None else seen.numpy().astype(np.int32),
            free=None if free is None else free.numpy().astype(np.int64),
        )  # fmt: skip

    def copy(self) -> Vocabulary:
        return Vocabulary(
            self.keys.copy(), self.counts.copy(), self.rows.copy(), self.size, self.min_count,
            self.last_seen.copy(), self.free.copy(),
        )  # fmt: skip
