"""A block of encoded rows: contiguous tensors that batches are sliced from.

Multi-valued fields are stored ragged: every id of every row once, row by row and
field by field, with each row's start and each (row, field) list length. A day of
long behaviour lists then costs its ids, not rows x fields x the longest list, and
models pool them from ids + offsets (`bags`), never padded to the longest list.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property

import torch
from torch import Tensor

RAGGED = ("multi_ids", "multi_start")  # not per-row tensors: ids, and where each row starts
TAKE_ROWS = 65_536  # rows whose list ids `take` gathers at once


@dataclass(frozen=True)
class Batch:
    sparse: Tensor  # [N, F] int64 vocabulary row of each single-valued field
    multi_ids: Tensor  # [T] int32 vocabulary rows of the multi-valued fields' ids, ragged
    multi_start: Tensor  # [N] int64 where each row's ids start in multi_ids
    multi_len: Tensor  # [N, M] int32 ids of each multi-valued field in each row
    dense: Tensor  # [N, Dn] float32 normalised dense features
    scene: Tensor  # [N] int64 index into the model's scenes
    click: Tensor  # [N] float32
    conversion: Tensor  # [N] float32
    daction: Tensor  # [N] float32 (zeros where the data has no post-click action label)
    multi_width: int = 1  # the longest list of the block: what `multi` pads to
    scene_id: int | None = None  # set when every row belongs to this one scene

    def __len__(self) -> int:
        return self.scene.shape[0]

    def _rows(self) -> dict[str, Tensor]:
        """The tensors with one entry per row."""
        skip = {*RAGGED, "multi_width", "scene_id"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}

    @cached_property
    def _bags(self) -> dict:  # bags(with_scene) and distinct_rows(...), by their arguments
        return {}

    def bags(self, with_scene: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Every field's ids as embedding bags, row-major (row by row: its F single-valued
        ids, its M lists, then (with_scene) its scene): (ids [I] int64, the field of each
        id [I] int64, where each of the N x (F + M (+1)) bags starts [N*(F+M(+1))]). A
        single id is a bag of one; a list is one bag of its ids. Built once per batch:
        every table of a model reads it."""
        if with_scene not in self._bags:
            self._bags[with_scene] = self._build_bags(with_scene)
        return self._bags[with_scene]

    def distinct_rows(self, with_scene: bool, offsets: Tensor) -> tuple[Tensor, ...]:
        """`bags` as rows of a fused table whose fields start at `offsets`: (the batch's
        distinct rows [U], sorted; each id's position among them [I]; the size of each bag
        and 1 / it, 0 for an empty list [N*(F+M(+1))]). Built once per batch and table
        layout: every table of a model with the same fields shares it."""
        key = (with_scene, tuple(offsets.tolist()))
        if key not in self._bags:
            ids, field, starts = self.bags(with_scene)
            rows, within = torch.unique(ids + offsets[field], return_inverse=True)
            sizes = torch.diff(starts, append=starts.new_full((1,), ids.numel()))
            scale = 1.0 / sizes.clamp(min=1).float() * (sizes > 0)
            self._bags[key] = rows, within, sizes, scale
        return self._bags[key]

    def _compact_multi(self) -> Tensor:
        """[T] int64 the batch's list ids, row by row and field by field, nothing else."""
        lengths = self.multi_len.reshape(-1).long()  # [N*M]
        total = int(lengths.sum())
        if self.multi_ids.numel() == total:  # encoded, taken or concatenated: compact already
            return self.multi_ids.long()
        starts = (self.multi_start[:, None] + self.multi_len.long().cumsum(1)
                  - self.multi_len).reshape(-1)  # fmt: skip
        first = lengths.cumsum(0) - lengths
        at = torch.repeat_interleave(starts - first, lengths) + torch.arange(total)
        return self.multi_ids[at].long()

    def _build_bags(self, with_scene: bool) -> tuple[Tensor, Tensor, Tensor]:
        n, f = self.sparse.shape
        m = self.multi_len.shape[1]
        lengths = self.multi_len.long()  # [N, M]
        totals = lengths.sum(1)  # [N] list ids of each row
        width = f + totals + int(with_scene)  # [N] ids of each row
        row = width.cumsum(0) - width  # [N] where each row's ids start
        single = row[:, None] + torch.arange(f)  # [N, F] positions of the single ids
        lists = row[:, None] + f + lengths.cumsum(1) - lengths  # [N, M] where each list starts
        ids = torch.empty(int(width.sum()), dtype=torch.int64)
        field = torch.empty_like(ids)
        ids[single.reshape(-1)] = self.sparse.reshape(-1)
        field[single.reshape(-1)] = torch.arange(f).repeat(n)
        multi = self._compact_multi()  # [T]
        owner = torch.repeat_interleave(torch.arange(n), totals)  # [T] row of each list id
        within = torch.arange(multi.numel()) - (totals.cumsum(0) - totals)[owner]
        at = row[owner] + f + within
        ids[at] = multi
        field[at] = f + torch.repeat_interleave(torch.arange(m).repeat(n), lengths.reshape(-1))
        starts = [single, lists]
        if with_scene:
            scene = row + f + totals  # [N] the last id of each row
            ids[scene], field[scene] = self.scene, f + m
            starts.append(scene[:, None])
        return ids, field, torch.cat(starts, 1).reshape(-1)

    @cached_property
    def multi(self) -> Tensor:
        """[N, M, multi_width] int64 ids of each multi-valued field, padded with -1 (for
        tests and loaders that want a padded view: models read `bags`)."""
        n, m = self.multi_len.shape
        lengths = self.multi_len.reshape(-1).long()
        out = torch.full((n * m, self.multi_width), -1, dtype=torch.int64)
        if lengths.numel() == 0:
            return out.view(n, m, self.multi_width)
        bag = torch.repeat_interleave(torch.arange(n * m), lengths)
        within = torch.arange(bag.numel()) - torch.repeat_interleave(lengths.cumsum(0) - lengths,
                                                                    lengths)  # fmt: skip
        # where each (row, field) list starts in multi_ids
        starts = self.multi_start[:, None] + self.multi_len.long().cumsum(1) - self.multi_len
        out[bag, within] = self.multi_ids[starts.reshape(-1)[bag] + within].long()
        return out.view(n, m, self.multi_width)

    def take(self, index: Tensor, scene_id: int | None = None) -> Batch:
        """Rows `index` (a gather: one copy). The list ids are gathered TAKE_ROWS rows at a
        time: their positions cost 16 bytes an id, a whole day's several GB."""
        rows = {k: v[index] for k, v in self._rows().items()}
        totals = rows["multi_len"].long().sum(1)
        start = totals.cumsum(0) - totals
        ids = torch.empty(int(totals.sum()), dtype=self.multi_ids.dtype)
        for a in range(0, len(index), TAKE_ROWS):
            part, first = slice(a, a + TAKE_ROWS), int(start[a])
            lengths = totals[part]
            src = torch.repeat_interleave(self.multi_start[index[part]] - (start[part] - first),
                                          lengths)  # fmt: skip
            src += torch.arange(src.numel())
            ids[first : first + src.numel()] = self.multi_ids[src]
        return Batch(**rows, multi_ids=ids, multi_start=start, multi_width=self.multi_width,
                     scene_id=scene_id)  # fmt: skip

    def slice(self, start: int, stop: int, scene_id: int | None = None) -> Batch:
        """Rows start:stop as views (no copy): the hot path of the training loop."""
        rows = {k: v[start:stop] for k, v in self._rows().items()}
        return replace(self, **rows, multi_start=self.multi_start[start:stop], scene_id=scene_id)

    @staticmethod
    def concat(blocks: list[Batch]) -> Batch:
        """Rows of several blocks (days of a window); `multi` pads to the longest list."""
        if len(blocks) == 1:
            return blocks[0]
        out = {k: torch.cat([b._rows()[k] for b in blocks]) for k in blocks[0]._rows()}
        shift = torch.tensor([0] + [b.multi_ids.numel() for b in blocks[:-1]]).cumsum(0)
        return Batch(
            **out,
            multi_ids=torch.cat([b.multi_ids for b in blocks]),
            multi_start=torch.cat([b.multi_start + s for b, s in zip(blocks, shift, strict=True)]),
            multi_width=max(b.multi_width for b in blocks),
        )

    @staticmethod
    def from_padded(multi: Tensor, **columns) -> Batch:
        """A Batch from [N, M, L] padded ids (-1 = padding) and the per-row columns."""
        n, m, width = multi.shape
        present = multi >= 0
        lengths = present.sum(2)
        totals = lengths.sum(1)
        # ids of a row must come first in their list: padding only at the end
        return Batch(
            multi_ids=multi[present].to(torch.int32),
            multi_start=totals.cumsum(0) - totals,
            multi_len=lengths.to(torch.int32),
            multi_width=max(width, 1),
            **columns,
        )
