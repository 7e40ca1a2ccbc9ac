"""The structure-matched model: the simulator's own functional form, learned from data.

Not a production model: the realistic best any learner can do on simulator data
(components/data/world.py has the true equations). Per task t in {ctr, cvr}:
    z_t = base[t, s] + <P_s u_t, a_t> + b_u,t + b_a,t + gxc[t, gender, category]
          + slope[t, age] * price + (ctr only) pos[s, position] + hour + weekday + os[os, s]
with user tastes u_t and ad attributes a_t = ad + advertiser + category parts, the
per-scene projection P_s shared by both tasks, exactly as the simulator draws them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import RankingModel
from components.models.layers import FieldEmbedding

NEEDS = ("user_id", "ad_id", "advertiser_id", "category_id", "gender", "age_bucket",
         "device_os", "position", "hour", "weekday")  # fmt: skip
LATENT_STD = 0.1  # products of three factors learn too slowly from the usual 0.01


class Structured(RankingModel):
    losses = ("ctr", "cvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        missing = [f for f in (*NEEDS,) if f not in spec.sparse] + (
            [] if "price" in spec.dense else ["price"]
        )
        if missing:
            raise ValueError(f"model 'structured' needs the simulator's fields; missing {missing}")
        self.field = {f: spec.sparse.index(f) for f in NEEDS}
        self.price = spec.dense.index("price")
        size = dict(zip(spec.sparse, spec.sizes, strict=False))
        s, k = len(spec.scenes), cfg.latent_dim
        self.k = k
        # per id, both tasks: latent vector (k) and bias (1)
        self.ids = FieldEmbedding(spec, 2 * (k + 1), LATENT_STD)
        self.projection = nn.Parameter(torch.eye(k).repeat(s, 1, 1))  # [S, K, K]
        zeros = lambda *shape: nn.Parameter(torch.zeros(*shape))  # noqa: E731
        self.base = zeros(2, s)
        self.gender_x_category = zeros(2, size["gender"], size["category_id"])
        self.age_slope = zeros(2, size["age_bucket"])
        self.position = zeros(s, size["position"])
        self.hour = zeros(size["hour"])
        self.weekday = zeros(size["weekday"])
        self.os_x_scene = zeros(size["device_os"], s)

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        ids = self.ids(batch)  # [B, F+M, 2(K+1)]
        col = lambda name: batch.sparse[:, self.field[name]]  # noqa: E731
        vec = lambda name: ids[:, self.field[name]].view(-1, 2, self.k + 1)  # noqa: E731
        user, ad = vec("user_id"), vec("ad_id")  # [B, 2, K+1]
        attr = ad + vec("advertiser_id") + vec("category_id")
        scene = batch.scene
        seen = torch.einsum("bij,btj->bti", self.projection[scene], user[..., :-1])  # [B, 2, K]
        inter = (seen * attr[..., :-1]).sum(-1)  # [B, 2]
        price = batch.dense[:, self.price]
        z = (self.base[:, scene].T + inter + user[..., -1] + ad[..., -1]
             + self.gender_x_category[:, col("gender"), col("category_id")].T
             + self.age_slope[:, col("age_bucket")].T * price[:, None])  # fmt: skip
        context = (self.position[scene, col("position")] + self.hour[col("hour")]
                   + self.weekday[col("weekday")]
                   + self.os_x_scene[col("device_os"), scene])  # fmt: skip
        return {"ctr": z[:, 0] + context, "cvr": z[:, 1]}
