"""ESMM: Entire Space Multi-task Model (Ma et al., SIGIR 2018).

One embedding dictionary shared by the CTR and CVR towers (scene included as a field):
h = [E(x), dense]; p_ctr = sigmoid(f_ctr(h)), p_cvr = sigmoid(f_cvr(h)),
p_ctcvr = p_ctr * p_cvr. L = L_CTR + L_CTCVR over all impressions; CVR has no loss
of its own (it is an intermediate variable).
"""

from __future__ import annotations

from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import TASKS, RankingModel
from components.models.layers import FieldEmbedding, flat_input, input_width, mlp


class ESMM(RankingModel):
    losses = ("ctr", "ctcvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        self.embedding = FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std, with_scene=True)
        width = input_width(self.embedding, spec)
        self.towers = nn.ModuleDict({t: mlp(width, cfg.tower) for t in TASKS})

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        h = flat_input(self.embedding, batch)  # [B, N*D + N(N-1)/2 + Dn], N = F+M+1 fields
        return {t: self.towers[t](h).squeeze(1) for t in TASKS}
