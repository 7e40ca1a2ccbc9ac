"""Encoding a day's table into model tensors, with vocabularies that grow day by day.

The data contract says which columns are features (sparse ids, multi-valued ids,
dense floats); labels, oracle and meta columns never reach a model. The encoder is
saved in every bundle, so a warm-started model reads new days with the same rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from components.data.contract import Contract, Role
from components.data.partitions import CHUNK_ROWS
from components.features.batch import Batch
from components.features.vocabulary import IdCounter, Vocabulary

log = logging.getLogger(__name__)

Rows = pa.Table | Iterable[pa.RecordBatch]


@dataclass(frozen=True)
class FeatureSpec:
    """What a model needs to size itself: fields, their vocabulary sizes, scenes."""

    sparse: tuple[str, ...]
    multi: tuple[str, ...]
    dense: tuple[str, ...]
    sizes: tuple[int, ...]  # rows per field: sparse fields first, then multi fields
    scenes: tuple[str, ...]
    has_daction: bool = False  # the data labels post-click actions (Batch.daction is real)


def _ragged(n: int, columns: list[pa.Array], vocabs: list[Vocabulary]) -> tuple[np.ndarray, ...]:
    """Multi-valued fields of `n` rows, ragged (see Batch): vocabulary rows of every id,
    row by row and field by field, each row's first position, each list's length."""
    lengths = np.zeros((n, len(columns)), np.int64)
    offsets, values = [], []
    for j, (arr, vocab) in enumerate(zip(columns, vocabs, strict=True)):
        off = arr.offsets.to_numpy().astype(np.int64)
        offsets.append(off - off[0])
        values.append(vocab.lookup(arr.flatten().to_numpy().astype(np.int64)))
        lengths[:, j] = np.diff(off)
    within = np.cumsum(lengths, axis=1) - lengths  # where each list starts inside its row
    start = np.cumsum(lengths.sum(1)) - lengths.sum(1)
    ids = np.empty(int(lengths.sum()), np.int32)
    for j, (off, rows) in enumerate(zip(offsets, values, strict=True)):
        ids[np.repeat(start + within[:, j] - off[:-1], lengths[:, j]) + np.arange(rows.size)] = rows
    return ids, start, lengths.astype(np.int32)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _chunks(data: Rows) -> Iterator[pa.Table]:
    """A table, or record batches streamed from a partition, as tables of <= CHUNK_ROWS."""
    if isinstance(data, pa.Table):
        if data.num_rows == 0:
            yield data
            return
        data = data.to_batches(max_chunksize=CHUNK_ROWS)
    for batch in data:
        yield pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch


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

    def _scene_index(self, table: pa.Table, unknown: Counter) -> np.ndarray:
        """[N] index of each row's scene in self.scenes; -1 for other scenes, counted."""
        index = pc.index_in(table[self.contract.scene], value_set=pa.array(self.scenes))
        index = index.fill_null(-1).to_numpy().astype(np.int64)
        if (other := index < 0).any():  # counted per name: millions of rows cost no strings
            names = pc.value_counts(table[self.contract.scene].filter(pa.array(other)))
            unknown.update({v["values"]: v["counts"] for v in names.to_pylist()})
        return index

    @staticmethod
    def _warn_unknown(unknown: Counter) -> None:
        if unknown:
            log.warning("skipping %d rows of scenes %s not in model.scenes",
                        unknown.total(), sorted(unknown, key=str))  # fmt: skip

    def fit(
        self, data: Rows, day: dt.date | None = None, expire_days: int = 0
    ) -> dict[str, np.ndarray]:
        """Grow the vocabularies with training rows of `day` (a table, or a partition's
        record batches: counted chunk by chunk, then admitted at once, as for one table);
        with expire_days, ids unseen that long give their rows back (Vocabulary.update).
        Returns, per field, the rows given to new ids: a warm start keeps their init."""
        fields, unknown = self.sparse + self.multi, Counter()
        seen = {n: IdCounter() for n in fields}
        for chunk in _chunks(data):
            chunk = chunk.filter(pa.array(self._scene_index(chunk, unknown) >= 0))
            for n in fields:
                column = chunk[n].combine_chunks()
                ids = column.flatten() if n in self.multi else column
                seen[n].add(ids.to_numpy().astype(np.int64))
        self._warn_unknown(unknown)
        ordinal = day.toordinal() if day is not None else None
        return {n: self.vocabs[n].update(*seen[n].counts(), ordinal, expire_days) for n in fields}

    def per_field(self, rows: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
        """`fit`'s rows given to new ids as FieldEmbedding.warm_start takes them: per
        field, in table order (sparse fields, then multi)."""
        return tuple(torch.from_numpy(rows.get(n, np.empty(0, np.int64)).astype(np.int64))
                     for n in self.sparse + self.multi)  # fmt: skip

    def _dense_raw(self, table: pa.Table) -> np.ndarray:
        cols = [table[n].to_numpy().astype(np.float64) for n in self.dense]
        return np.stack(cols, axis=1) if cols else np.zeros((table.num_rows, 0))

    def _encode_chunk(self, table: pa.Table, scene: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays of the rows of known scenes of one chunk (`scene` >= 0)."""
        keep = scene >= 0
        table = table.filter(pa.array(keep))
        sparse = [self.vocabs[f].lookup(table[f].to_numpy()) for f in self.sparse]
        multi = [table[f].combine_chunks() for f in self.multi]
        ids, start, lengths = _ragged(table.num_rows, multi, [self.vocabs[f] for f in self.multi])
        labels = [self.contract.click, self.contract.conversion, self.contract.daction]
        return {
            "sparse": np.stack(sparse, 1).reshape(table.num_rows, len(self.sparse)),
            "multi_ids": ids, "multi_start": start, "multi_len": lengths,
            # a fixed transform, not statistics of one day: day 0's ad ages are all 0
            "dense": _signed_log(self._dense_raw(table)).astype(np.float32),
            "scene": scene[keep],
            **{k: (table[c].to_numpy().astype(np.float32) if c else np.zeros(table.num_rows,
                                                                                np.float32))
               for k, c in zip(("click", "conversion", "daction"), labels, strict=True)},
        }  # fmt: skip

    def encode(self, data: Rows) -> tuple[Batch, np.ndarray]:
        """Tensors of the rows of known scenes, and the mask of those rows in the input
        (a table, or a partition's record batches: encoded chunk by chunk, so memory holds
        the tensors and one chunk, never a padded copy of the lists)."""
        parts: dict[str, list[np.ndarray]] = {}
        keeps, unknown, ids_before = [], Counter(), 0
        for chunk in _chunks(data):
            scene = self._scene_index(chunk, unknown)
            keeps.append(scene >= 0)
            arrays = self._encode_chunk(chunk, scene)
            arrays["multi_start"] += ids_before
            ids_before += arrays["multi_ids"].size
            for k, v in arrays.items():
                parts.setdefault(k, []).append(v)
        self._warn_unknown(unknown)
        if not keeps:  # no rows at all: one empty chunk gives the shapes
            return self.encode(self._empty())
        # one field at a time, its chunks freed as it is joined: memory peaks at the
        # chunks plus one joined field (the ids), not twice the tensors
        tensors = {k: torch.from_numpy(_joined(parts.pop(k))) for k in list(parts)}
        width = max(int(tensors["multi_len"].max()) if tensors["multi_len"].numel() else 1, 1)
        return Batch(**tensors, multi_width=width), np.concatenate(keeps)

    def _empty(self) -> pa.Table:
        return pa.table({c.name: pa.array([], c.arrow_type) for c in self.contract.columns})

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
