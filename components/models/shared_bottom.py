"""Shared-bottom multi-task network (Caruana, 1997), the classic hard-sharing baseline.

Shared embeddings (scene included as a field) and a shared bottom layer,
b = ReLU(W h); one small tower per task on b. L = L_CTR + L_CVR(clicked rows).
"""

from __future__ import annotations

from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import TASKS, RankingModel
from components.models.layers import FieldEmbedding, flat_input, input_width, mlp


class SharedBottom(RankingModel):
    losses = ("ctr", "cvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        self.embedding = FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std, with_scene=True)
        bottom = cfg.tower[0]
        self.bottom = nn.Sequential(nn.Linear(input_width(self.embedding, spec), bottom), nn.ReLU())
        self.towers = nn.ModuleDict({t: mlp(bottom, cfg.tower[1:]) for t in TASKS})

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        b = self.bottom(flat_input(self.embedding, batch))  # [B, tower[0]]
        return {t: self.towers[t](b).squeeze(1) for t in TASKS}
