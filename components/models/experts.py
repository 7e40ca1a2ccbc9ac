"""Building blocks of the mixture-of-experts models (MMoE, PLE, M2M).

`ExpertBank`: K expert MLPs evaluated as batched matmuls (one einsum per layer, not K
small Linear calls). `SceneTaskTowers`: one tower per (scene, task), each row through its
own scene's towers. Both grow by appending: experts and scenes added later go to the end,
so warm start's block copy keeps every old expert, gate column and tower in place.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from components.features.batch import Batch
from components.models.base import TASKS
from components.models.layers import mlp


class ExpertBank(nn.Module):
    """K ReLU MLPs of the same shape; output [B, K, hidden[-1]].

    The input is either shared by every expert, [B, In], or each expert's own, [B, K, In]
    (PLE's upper levels, where each expert reads its stream's output).
    """

    def __init__(self, experts: int, width: int, hidden: tuple[int, ...]):
        super().__init__()
        sizes = (width, *hidden)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1 / math.sqrt(n_in)  # nn.Linear's default init, per expert
            self.weights.append(
                nn.Parameter(torch.empty(experts, n_in, n_out).uniform_(-bound, bound))
            )
            self.biases.append(nn.Parameter(torch.empty(experts, n_out).uniform_(-bound, bound)))

    @property
    def width(self) -> int:
        return self.weights[-1].shape[2]

    def forward(self, x: Tensor) -> Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            shared = i == 0 and x.dim() == 2
            x = torch.einsum("bi,kio->bko" if shared else "bki,kio->bko", x, w)  # [B, K, out]
            x = torch.relu(x + b)
        return x


class SceneTaskTowers(nn.Module):
    """A tower per (scene, task) on that task's vector; each row uses its own scene's."""

    def __init__(self, scenes: tuple[str, ...], width: int, hidden: tuple[int, ...]):
        super().__init__()
        self.scenes = scenes
        keys = [f"{s}_{t}" for s in scenes for t in TASKS]
        self.towers = nn.ModuleDict({k: mlp(width, hidden) for k in keys})

    def _scene(self, x: Tensor, scene: int) -> dict[str, Tensor]:
        s = self.scenes[scene]
        return {t: self.towers[f"{s}_{t}"](x[:, i]).squeeze(1) for i, t in enumerate(TASKS)}

    def forward(self, x: Tensor, batch: Batch) -> dict[str, Tensor]:
        """x: [B, T, W], row i's vector for each task (already mixed for its scene)."""
        if batch.scene_id is not None:  # scoring and per-scene batches: no gather
            return self._scene(x, batch.scene_id)
        out = {t: x.new_empty(len(batch)) for t in TASKS}
        for scene in range(len(self.scenes)):
            rows = (batch.scene == scene).nonzero().squeeze(1)
            if rows.numel():
                for t, logits in self._scene(x[rows], scene).items():
                    out[t][rows] = logits
        return out


def pick_scene(per_scene: Tensor, batch: Batch) -> Tensor:
    """[B, S, ...] -> [B, ...]: each row's own scene's slice."""
    if batch.scene_id is not None:
        return per_scene[:, batch.scene_id]
    return per_scene[torch.arange(len(batch), device=per_scene.device), batch.scene]
