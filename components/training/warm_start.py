"""Warm start: a new day's model begins from yesterday's weights.

Vocabularies only append rows, so every known id keeps its row: field embedding
tables copy each field's old rows into the (larger) new table, other tensors copy
their overlapping block (cross tables indexed by vocabulary rows grow the same way),
and anything new (a new id, a new scene's components) keeps its fresh init.
Optimizer state is not carried over: each day's Adam starts fresh (its moments
describe yesterday's data and the tables' old shapes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from components.models.base import RankingModel
from components.models.layers import FieldEmbedding


@dataclass(frozen=True)
class WarmStart:
    copied: int  # tensors copied whole
    grown: int  # tensors copied into a larger one (new rows fresh)
    fresh: int  # tensors with no counterpart in the previous model


@torch.no_grad()
def warm_start(model: RankingModel, previous: dict[str, Tensor]) -> WarmStart:
    """Copy `previous` (a state dict) into `model` wherever the two agree."""
    own = model.state_dict()
    done: set[str] = set()
    copied = grown = fresh = 0
    for name, module in model.named_modules():
        key = f"{name}.table.weight"
        if isinstance(module, FieldEmbedding) and key in previous:
            sizes = previous[f"{name}.sizes"]
            module.warm_start(previous[key], sizes)
            same = torch.equal(sizes, module.sizes)
            copied, grown = copied + same, grown + (not same)
            done |= {key, f"{name}.sizes", f"{name}.offsets"}
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
