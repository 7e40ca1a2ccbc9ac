"""MMoE: Multi-gate Mixture-of-Experts (Ma et al., "Modeling Task Relationships in
Multi-task Learning with Multi-gate Mixture-of-Experts", KDD 2018), multi-scene.

Shared embeddings (scene included as a field), h = [E(x), dense]; K shared experts
f_k(h); one gate per (scene s, task t), a linear map and a softmax (the paper's Eq. 8):
    g_{s,t}(h) = softmax(W_{s,t} h)                          [K]
    y_{s,t}    = tower_{s,t}( sum_k g_{s,t}(h)_k f_k(h) )
A row uses its own scene's gates and towers. L = L_CTR + L_CVR(clicked rows): each task's
own loss on its own sample space (the PLE paper's Eq. 9 masking).
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


class MMoE(RankingModel):
    losses = ("ctr", "cvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        self.embedding = FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std, with_scene=True)
        width = input_width(self.embedding, spec)
        self.experts = ExpertBank(cfg.experts, width, cfg.expert)
        # scene-major rows: a scene added later appends its gates at the end
        self.gates = nn.Linear(width, len(spec.scenes) * len(TASKS) * cfg.experts)
        self.towers = SceneTaskTowers(spec.scenes, self.experts.width, cfg.tower)
        self.shape = (len(spec.scenes), len(TASKS), cfg.experts)

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        h = flat_input(self.embedding, batch)  # [B, Din]
        experts = self.experts(h)  # [B, K, E]
        gates = pick_scene(self.gates(h).view(len(batch), *self.shape), batch)  # [B, T, K]
        mixed = torch.bmm(gates.softmax(-1), experts)  # [B, T, E]
        return self.towers(mixed, batch)
