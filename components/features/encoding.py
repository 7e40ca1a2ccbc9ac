"""Encoding a day's table into model tensors, with vocabularies that grow day by day.

The data contract says which columns are features (sparse ids, multi-valued ids,
dense floats); labels, oracle and meta columns never reach a model. The encoder is
saved in every bundle, so a warm-started model reads new days with the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from components.data.contract import Contract, Role
from components.features.batch import Batch
from components.features.vocabulary import Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureSpec:
    """What a model needs to size itself: fields, their vocabulary sizes, scenes."""

    sparse: tuple[str, ...]
    multi: tuple[str, ...]
    dense: tuple[str, ...]
    sizes: tuple[int, ...]  # rows per field: sparse fields first, then multi fields
    scenes: tuple[str, ...]
    has_daction: bool = False  # the data labels post-click actions (Batch.daction is real)


def _list_column(column: pa.ChunkedArray) -> np.ndarray:
    """[N, L] int64 ids of a list column, padded with -1."""
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    values = arr.flatten().to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    out = np.full((len(arr), max(int(lengths.max(initial=0)), 1)), -1, np.int64)
    row = np.repeat(np.arange(len(arr)), lengths)
    out[row, np.arange(values.size) - offsets[row]] = values
    return out


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class Encoder:
    """Vocabularies per categorical field and the scene list; dense floats are sign*log1p|x|."""

    def __init__(self, contract: Contract, scenes: tuple[str, ...], min_count: int = 1):
        self.contract = contract
        self.scenes = tuple(scenes)
        self.sparse = tuple(c.name for c in contract.by_role(Role.SPARSE))
        self.multi = tuple(c.name for c in contract.by_role(Role.MULTI))
        self.dense = tuple(c.name for c in contract.by_role(Role.DENSE))
        self.vocabs = {n: Vocabulary.empty(min_count) for n in self.sparse + self.multi}

    @property
    def spec(self) -> FeatureSpec:
        sizes = tuple(self.vocabs[n].size for n in self.sparse + self.multi)
        daction = self.contract.daction is not None
        return FeatureSpec(self.sparse, self.multi, self.dense, sizes, self.scenes, daction)

    def _scene_index(self, table: pa.Table) -> np.ndarray:
        """[N] index of each row's scene in self.scenes; -1 (and a warning) for other scenes."""
        index = pc.index_in(table[self.contract.scene], value_set=pa.array(self.scenes))
        index = index.fill_null(-1).to_numpy().astype(np.int64)
        other = index < 0
        if other.any():
            names = table[self.contract.scene].filter(pa.array(other)).unique().to_pylist()
            log.warning("skipping %d rows of scenes %s not in model.scenes", other.sum(), names)
        return index

    def fit(self, table: pa.Table) -> dict[str, int]:
        """Grow the vocabularies with a training table; returns new rows per field."""
        table = table.filter(pa.array(self._scene_index(table) >= 0))
        added = {n: self.vocabs[n].update(table[n].to_numpy()) for n in self.sparse}
        for n in self.multi:
            added[n] = self.vocabs[n].update(table[n].combine_chunks().flatten().to_numpy())
        return added

    def _dense_raw(self, table: pa.Table) -> np.ndarray:
        cols = [table[n].to_numpy().astype(np.float64) for n in self.dense]
        return np.stack(cols, axis=1) if cols else np.zeros((table.num_rows, 0))

    def encode(self, table: pa.Table) -> tuple[Batch, np.ndarray]:
        """Tensors of the rows of known scenes, and the mask of those rows in `table`."""
        scene = self._scene_index(table)  # once: the rows kept and their scene ids
        keep = scene >= 0
        table = table.filter(pa.array(keep))
        n = table.num_rows
        sparse = np.stack([self.vocabs[f].lookup(table[f].to_numpy()) for f in self.sparse], 1)
        multi = []
        for f in self.multi:
            ids = _list_column(table[f])
            multi.append(np.where(ids >= 0, self.vocabs[f].lookup(ids), -1))
        width = max((m.shape[1] for m in multi), default=1)
        multi = [np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=-1) for m in multi]
        # a fixed transform, not statistics of one day: day 0's ad ages are all 0
        dense = _signed_log(self._dense_raw(table))
        label = lambda name: torch.from_numpy(table[name].to_numpy().astype(np.float32))  # noqa: E731
        daction = self.contract.daction
        batch = Batch(
            sparse=torch.from_numpy(sparse.reshape(n, len(self.sparse))),
            multi=torch.from_numpy(np.stack(multi, 1) if multi else np.zeros((n, 0, 1), np.int64)),
            dense=torch.from_numpy(dense.astype(np.float32)),
            scene=torch.from_numpy(scene[keep]),
            click=label(self.contract.click),
            conversion=label(self.contract.conversion),
            daction=label(daction) if daction else torch.zeros(n),
        )
        return batch, keep

    def state(self) -> dict:
        return {
            "contract": self.contract.to_json(),
            "scenes": list(self.scenes),
            "vocabs": {n: v.state() for n, v in self.vocabs.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> Encoder:
        enc = cls(Contract.from_json(state["contract"]), tuple(state["scenes"]))
        enc.vocabs = {n: Vocabulary.from_state(v) for n, v in state["vocabs"].items()}
        return enc

    def copy(self) -> Encoder:
        return Encoder.from_state(self.state())
