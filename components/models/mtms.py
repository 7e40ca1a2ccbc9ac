"""MTMS: Multi-Task and Multi-Scene unified ranking (Tan et al., Baidu, IEEE BigData 2021).

Components c = (scene s, task t), t in {ctr, cvr}; each owns its embedding tables E^c.
Alternate update, once per day:
  1. Embedding update, each scene on its own rows: p_ctr = sigmoid(f_s^ctr(E^(s,ctr)(x))),
     (a tower's input: the component's field embeddings, their pairwise dot products, dense)
     p_cvr = sigmoid(f_s^cvr(E^(s,cvr)(x))); L = L_CTR + L_CVR(clicked) + L_CTCVR.
     Embeddings and these component towers train; nothing is shared across components.
  2. Fine-tune: every E^c frozen and concatenated, h = [E^c(x) for all c] (2S times
     wider); per scene a ranking network g_s^ctr, g_s^cvr on h, same loss.
Serving uses the fine-tuned ranking networks: forward(batch).

The rows of the paper's Table I are switches, not classes: `model.mtms_losses` (the
embedding update's terms), `model.mtms_finetune_losses` (the fine-tune's; Table I
fine-tunes on CVR alone) and `model.mtms_shared` (one table E^s per scene, shared by
its CTR and CVR towers as in ESMM, instead of one per (scene, task)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import TASKS, RankingModel, Stage
from components.models.layers import (
    FieldEmbedding,
    feature_width,
    field_features,
    flat_input,
    input_width,
    mlp,
)


class MTMS(RankingModel):
    losses = ("ctr", "cvr", "ctcvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__()
        self.scenes = spec.scenes
        self.shared = cfg.mtms_shared
        self.losses, self.finetune_losses = cfg.mtms_losses, cfg.mtms_finetune_losses
        keys = [f"{s}_{t}" for s in spec.scenes for t in TASKS]
        tables = list(spec.scenes) if self.shared else keys  # shared: one table per scene
        emb = {k: FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std) for k in tables}
        self.embeddings = nn.ModuleDict(emb)
        width = input_width(emb[tables[0]], spec)
        wide = len(tables) * feature_width(emb[tables[0]]) + len(spec.dense)
        self.towers = nn.ModuleDict({k: mlp(width, cfg.tower) for k in keys})
        self.ranking = nn.ModuleDict({k: mlp(wide, cfg.ranking) for k in keys})

    def table(self, scene: str, task: str) -> FieldEmbedding:
        return self.embeddings[scene if self.shared else f"{scene}_{task}"]

    def component_forward(self, batch: Batch) -> dict[str, Tensor]:
        """Embedding-update step: each task's tower sees only its own component."""
        s = self.scenes[batch.scene_id]
        out = {}
        for t in TASKS:
            x = flat_input(self.table(s, t), batch)  # [B, N*D + N(N-1)/2 + Dn]
            out[t] = self.towers[f"{s}_{t}"](x).squeeze(1)  # [B]
        return out

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """Ranking networks on all components' embeddings, concatenated."""
        # dense first: a scene added later appends its components at the end, so warm
        # start's block copy keeps every old input column of the first ranking layer
        parts = [field_features(e, batch) for e in self.embeddings.values()]
        # [B, Dn + T*(N*D + N(N-1)/2)], N = F+M fields, T = 2S tables (S if shared)
        h = torch.cat([batch.dense, *parts], dim=1)
        if batch.scene_id is not None:
            s = self.scenes[batch.scene_id]
            return {t: self.ranking[f"{s}_{t}"](h).squeeze(1) for t in TASKS}
        out = {t: h.new_empty(len(batch)) for t in TASKS}
        for i, s in enumerate(self.scenes):
            rows = (batch.scene == i).nonzero().squeeze(1)
            if rows.numel():
                for t in TASKS:
                    out[t][rows] = self.ranking[f"{s}_{t}"](h[rows]).squeeze(1)
        return out

    def stages(self) -> list[Stage]:
        tower_params = list(self.towers.parameters())
        ranking_params = list(self.ranking.parameters())
        return [
            Stage("embedding", self.component_forward, self.embedding_parameters(), tower_params,
                  per_scene=True, losses=self.losses),
            Stage("finetune", self.forward, [], ranking_params, per_scene=True,
                  losses=self.finetune_losses),
        ]  # fmt: skip
