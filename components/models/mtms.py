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

`model.mtms_finetune` chooses the fine-tune's network (the paper fixes only that it reads
every component's frozen embeddings): `concat` is the reconstruction above; `residual`
keeps each (scene, task)'s embedding-update tower, frozen, and learns a correction from
the pairwise dot products of every component's fields (T * N(N-1)/2 inputs instead of
T * (N*D + N(N-1)/2), last layer zero-initialised so the fine-tune starts from the
component model): logit = f_s^t(E^(s,t)(x)) + g_s^t([dense, dots(E^c(x)) for all c]).
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
    dot_interactions,
    feature_width,
    field_features,
    flat_input,
    input_width,
    mlp,
    pair_count,
)


class MTMS(RankingModel):
    losses = ("ctr", "cvr", "ctcvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        self.scenes = spec.scenes
        self.shared = cfg.mtms_shared
        self.losses, self.finetune_losses = cfg.mtms_losses, cfg.mtms_finetune_losses
        keys = [f"{s}_{t}" for s in spec.scenes for t in TASKS]
        tables = list(spec.scenes) if self.shared else keys  # shared: one table per scene
        emb = {k: FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std) for k in tables}
        self.embeddings = nn.ModuleDict(emb)
        first = emb[tables[0]]
        self.residual = cfg.mtms_finetune == "residual"
        per_table = pair_count(first) if self.residual else feature_width(first)
        wide = len(tables) * per_table + len(spec.dense)
        self.towers = nn.ModuleDict({k: mlp(input_width(first, spec), cfg.tower) for k in keys})
        self.ranking = nn.ModuleDict({k: mlp(wide, cfg.ranking) for k in keys})
        if self.residual:  # g starts at 0: the first fine-tune starts from the component model
            for net in self.ranking.values():
                nn.init.zeros_(net[-1].weight), nn.init.zeros_(net[-1].bias)

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
        """Ranking networks on all components' frozen embeddings (one scene per batch, or
        mixed rows routed to their scene's networks)."""
        if batch.scene_id is None:
            out = {t: batch.dense.new_empty(len(batch)) for t in TASKS}
            for i in range(len(self.scenes)):
                rows = (batch.scene == i).nonzero().squeeze(1)
                if rows.numel():
                    for t, logits in self.forward(batch.take(rows, scene_id=i)).items():
                        out[t][rows] = logits
            return out
        s = self.scenes[batch.scene_id]
        # dense first: a scene added later appends its components at the end, so warm
        # start's block copy keeps every old input column of the first ranking layer
        if not self.residual:
            parts = [field_features(e, batch) for e in self.embeddings.values()]
            h = torch.cat([batch.dense, *parts], dim=1)  # [B, Dn + T*(N*D + N(N-1)/2)]
            return {t: self.ranking[f"{s}_{t}"](h).squeeze(1) for t in TASKS}
        dots = [dot_interactions(e(batch)) for e in self.embeddings.values()]
        h = torch.cat([batch.dense, *dots], dim=1)  # [B, Dn + T*N(N-1)/2]
        base = self.component_forward(batch)  # the frozen component towers
        return {t: base[t] + self.ranking[f"{s}_{t}"](h).squeeze(1) for t in TASKS}

    def scene_components(self, scene: int) -> list[nn.Parameter]:
        """What the embedding update trains on scene `scene`'s rows: its tables and towers,
        no other scene's (so the scenes' updates can run apart and be merged)."""
        s = self.scenes[scene]
        parts = {id(m): m for t in TASKS for m in (self.table(s, t), self.towers[f"{s}_{t}"])}
        return [p for m in parts.values() for p in m.parameters()]

    def stages(self) -> list[Stage]:
        tower_params = list(self.towers.parameters())
        ranking_params = list(self.ranking.parameters())
        return [
            Stage("embedding", self.component_forward, self.embedding_parameters(), tower_params,
                  per_scene=True, losses=self.losses, scene_parameters=self.scene_components),
            Stage("finetune", self.forward, [], ranking_params, per_scene=True,
                  losses=self.finetune_losses),
        ]  # fmt: skip
