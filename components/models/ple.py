"""PLE: Progressive Layered Extraction (Tang et al., "Progressive Layered Extraction (PLE):
A Novel Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys 2020),
with one stream per (scene, task): G = S*T streams and a shared one.

A CGC level j has SPECIFIC experts per stream g and model.experts shared experts. Stream
g's gate mixes its own and the shared experts, reading the stream's own input:
    x_g^j = sum_{k in Exp_g ∪ Exp_sh} softmax(W_g^j x_g^{j-1})_k f_k(x_{owner(k)}^{j-1})
Below the last level the shared stream's gate mixes every expert of the level:
    x_sh^j = sum_{k in all experts} softmax(W_sh^j x_sh^{j-1})_k f_k(...)
Level 1 reads h = [E(x), dense] (scene included as a field) in every stream; PLE stacks
model.ple_levels levels (CGC is one level). Towers per (scene, task) on the last level's
streams; a row uses its own scene's. L = L_CTR + L_CVR(clicked rows) (the paper's Eq. 9).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import TASKS, RankingModel
from components.models.experts import ExpertBank, SceneTaskTowers, pick_scene
from components.models.layers import FieldEmbedding, flat_input, input_width

SPECIFIC = 1  # experts per (scene, task) stream: 4 scenes x 2 tasks already make 8 a level


class CGCLevel(nn.Module):
    """One level. Experts and gate rows are ordered [shared, stream 0, stream 1, ...], so
    streams of a scene added later append; the shared gate exists below the last level."""

    def __init__(self, streams: int, shared: int, width: int, cfg: ModelConfig, last: bool):
        super().__init__()
        k = shared + SPECIFIC * streams
        owner = torch.tensor(
            [0] * shared + [1 + g for g in range(streams) for _ in range(SPECIFIC)]
        )
        member = owner[None, :] == torch.arange(1 + streams)[:, None]  # [G+1, K] own experts
        member[:, :shared] = True  # every stream mixes the shared experts
        member[0] = True  # the shared gate mixes them all
        self.rows = slice(1 if last else 0, 1 + streams)  # the last level drops the shared gate
        self.register_buffer("owner", owner, persistent=False)
        self.register_buffer("member", member[self.rows], persistent=False)
        self.experts = ExpertBank(k, width, cfg.expert)
        n = self.member.shape[0]
        self.gate_weight = nn.Parameter(
            torch.empty(n, width, k).uniform_(-(width**-0.5), width**-0.5)
        )
        self.gate_bias = nn.Parameter(torch.zeros(n, k))

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, In] (level 1: every stream reads h) or [B, 1+G, In] -> [B, rows, E]."""
        if x.dim() == 2:
            experts = self.experts(x)  # [B, K, E]
            logits = torch.einsum("bi,gik->bgk", x, self.gate_weight)  # [B, rows, K]
        else:
            experts = self.experts(x[:, self.owner])  # [B, K, E], each on its stream
            logits = torch.einsum("bgi,gik->bgk", x[:, self.rows], self.gate_weight)
        logits = (logits + self.gate_bias).masked_fill(~self.member, float("-inf"))
        return torch.bmm(logits.softmax(-1), experts)  # [B, rows, E]


class PLE(RankingModel):
    losses = ("ctr", "cvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        self.embedding = FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std, with_scene=True)
        streams, width = len(spec.scenes) * len(TASKS), input_width(self.embedding, spec)
        levels = []
        for j in range(cfg.ple_levels):
            last = j == cfg.ple_levels - 1
            levels.append(CGCLevel(streams, cfg.experts, width, cfg, last))
            width = cfg.expert[-1]
        self.levels = nn.ModuleList(levels)
        self.towers = SceneTaskTowers(spec.scenes, width, cfg.tower)
        self.shape = (len(spec.scenes), len(TASKS))

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        x = flat_input(self.embedding, batch)  # [B, Din]
        for level in self.levels:
            x = level(x)  # [B, 1+G, E], the last level [B, G, E]
        per_scene = x.view(len(batch), *self.shape, x.shape[-1])  # [B, S, T, E]
        return self.towers(pick_scene(per_scene, batch), batch)
