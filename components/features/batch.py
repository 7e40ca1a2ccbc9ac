"""A block of encoded rows: contiguous tensors that batches are sliced from."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    sparse: Tensor  # [N, F] int64 vocabulary row of each single-valued field
    multi: Tensor  # [N, M, L] int64 rows of each multi-valued field, -1 = padding
    dense: Tensor  # [N, Dn] float32 normalised dense features
    scene: Tensor  # [N] int64 index into the model's scenes
    click: Tensor  # [N] float32
    conversion: Tensor  # [N] float32
    daction: Tensor  # [N] float32 (zeros where the data has no post-click action label)
    scene_id: int | None = None  # set when every row belongs to this one scene

    def __len__(self) -> int:
        return self.scene.shape[0]

    def _tensors(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "scene_id"}

    def take(self, index: Tensor, scene_id: int | None = None) -> Batch:
        """Rows `index` (a gather: one copy)."""
        return Batch(**{k: v[index] for k, v in self._tensors().items()}, scene_id=scene_id)

    def slice(self, start: int, stop: int, scene_id: int | None = None) -> Batch:
        """Rows start:stop as views (no copy): the hot path of the training loop."""
        return Batch(**{k: v[start:stop] for k, v in self._tensors().items()}, scene_id=scene_id)

    @staticmethod
    def concat(blocks: list[Batch]) -> Batch:
        """Rows of several blocks (days of a window); multi fields padded to the longest."""
        if len(blocks) == 1:
            return blocks[0]
        width = max(b.multi.shape[2] for b in blocks)
        multis = [torch.nn.functional.pad(b.multi, (0, width - b.multi.shape[2]), value=-1)
                  for b in blocks]  # fmt: skip
        keys = [k for k in blocks[0]._tensors() if k != "multi"]
        out = {k: torch.cat([b._tensors()[k] for b in blocks]) for k in keys}
        return Batch(**out, multi=torch.cat(multis))
