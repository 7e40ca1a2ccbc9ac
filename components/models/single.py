"""Single-task DNNs: a CTR network and a CVR network with nothing shared.

The baseline of the MTMS paper's Table I (Tan et al., IEEE BigData 2021: "CTR+CVR").

Each has its own embeddings (scene included as a field) and tower;
L = L_CTR + L_CVR(clicked rows). With no shared parameters the joint loss trains
the two exactly as if they were trained separately (the paper's CTR+CVR baseline).
"""

from __future__ import annotations

from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import TASKS, RankingModel
from components.models.layers import FieldEmbedding, flat_input, input_width, mlp


class SingleTask(RankingModel):
    losses = ("ctr", "cvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        emb = {t: FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std, True) for t in TASKS}
        self.embeddings = nn.ModuleDict(emb)
        width = input_width(emb["ctr"], spec)
        self.towers = nn.ModuleDict({t: mlp(width, cfg.tower) for t in TASKS})

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        return {t: self.towers[t](flat_input(self.embeddings[t], batch)).squeeze(1) for t in TASKS}
