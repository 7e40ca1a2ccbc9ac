"""Warm start: a new day's model begins from yesterday's weights.

Every known id keeps its vocabulary row: field embedding tables copy each field's old
rows, with their row-wise Adagrad accumulators, into the (larger) new table; other
tensors copy their overlapping block (cross tables indexed by vocabulary rows grow the
same way); anything new (a new id, a row an expired id gave back to a new one, a new
scene's components) keeps its fresh init. The tables' optimizer state carries over (it
lives in them); the networks' Adam starts fresh each stage.

A warm start continues only the architecture params.yaml asks for: every key of
`ModelConfig` but `name` (a bundle of another model is never a parent), `scenes` (new
scenes are appended) and `expire_days` (it only decides which rows are recycled) must be
the parent's, and no scene may be dropped; otherwise the day starts cold
(`architecture_changes`). A key added to ModelConfig counts by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from components.config import ModelConfig
from components.models.base import RankingModel
from components.models.layers import FieldEmbedding

# name and scenes have their own rule; expire_days only decides which rows are recycled
NOT_ARCHITECTURE = frozenset({"name", "scenes", "expire_days"})


def architecture_changes(old: ModelConfig, new: ModelConfig) -> dict[str, tuple]:
    """The model keys whose change forbids warm-starting `new` from `old`: {key: (old, new)}.

    Scenes may be added or reordered (a warm start appends new ones and keeps the parent's
    order, so no index moves); a removed scene counts, its components cannot be dropped.
    """
    changes = {
        key: (getattr(old, key), getattr(new, key))
        for key in type(new).model_fields
        if key not in NOT_ARCHITECTURE and getattr(old, key) != getattr(new, key)
    }
    if set(old.scenes) - set(new.scenes):
        changes["scenes"] = (old.scenes, new.scenes)
    return changes


def describe(changes: dict[str, tuple]) -> str:
    """`model.embedding_dim 16 → 8, ...`: one line for a warning or an error."""
    as_yaml = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731  [128, 64], not (128, 64)
    return ", ".join(f"model.{k} {as_yaml(a)} → {as_yaml(b)}" for k, (a, b) in changes.items())


@dataclass(frozen=True)
class WarmStart:
    copied: int  # tensors copied whole
    grown: int  # tensors copied into a larger one (new rows fresh)
    fresh: int  # tensors with no counterpart in the previous model


@torch.no_grad()
def warm_start(
    model: RankingModel, previous: dict[str, Tensor], new_rows: Sequence[Tensor] = ()
) -> WarmStart:
    """Copy `previous` (a state dict) into `model` wherever the two agree. `new_rows`: per
    field (sparse, then multi), the rows given to new ids today; they keep their init."""
    own = model.state_dict()
    done: set[str] = set()
    copied = grown = fresh = 0
    for name, module in model.named_modules():
        key = f"{name}.table.weight"
        if isinstance(module, FieldEmbedding) and key in previous:
            sizes, grad_sq = previous[f"{name}.sizes"], previous.get(f"{name}.grad_sq")
            module.warm_start(previous[key], sizes, grad_sq, new_rows)
            same = torch.equal(sizes, module.sizes)
            copied, grown = copied + same, grown + (not same)
            done |= {key, f"{name}.sizes", f"{name}.offsets", f"{name}.grad_sq"}
    for key, tensor in own.items():
        if key in done:
            continue
        if key not in previous:
            fresh += 1
            continue
        old = previous[key]
        if old.shape == tensor.shape:
            tensor.copy_(old)
            copied += 1
        elif old.dim() == tensor.dim() and all(map(int.__le__, old.shape, tensor.shape)):
            tensor[tuple(slice(0, o) for o in old.shape)] = old
            grown += 1
        else:
            raise ValueError(f"warm start: {key} was {tuple(old.shape)}, is {tuple(tensor.shape)}")
    return WarmStart(copied, grown, fresh)
