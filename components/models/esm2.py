"""ESM²: Elaborated Entire Space Supervised Multi-task Model (Wen et al., "Entire Space
Multi-Task Modeling via Post-Click Behavior Decomposition for Conversion Rate
Prediction", SIGIR 2020).

impression -> click -> D-action (cart/wish) or O-action (anything else) -> purchase.
One shared embedding (scene included as a field), h = [E(x), dense]; four towers, each
on the entire impression space (Eq. 6):
    y1 = p(click | imp), y2 = p(daction | click), y3 = p(buy | daction), y4 = p(buy | no daction)
composed (Eqs. 1-4):
    p_ctr = y1,  p_ctavr = y1 y2,  p_cvr = y2 y3 + (1 - y2) y4,  p_ctcvr = y1 p_cvr
L = L_CTR + L_CTAVR + L_CTCVR (Eq. 11, weights 1), all over every impression; y3 and y4
have no loss of their own. Probabilities are multiplied, never logits, and the O-branch is
weighted by (1 - y2), not (1 - y2 y3): the two bugs of public ports. The contract's "cvr"
is the logit of p_cvr, so CTCVR = sigmoid(ctr) sigmoid(cvr) as for every model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import ModelError, RankingModel, Stage
from components.models.layers import FieldEmbedding, flat_input, input_width, mlp

HEADS = ("click", "daction", "buy_after_daction", "buy_otherwise")  # y1 .. y4


def cvr_logit(daction: Tensor, buy_d: Tensor, buy_o: Tensor) -> Tensor:
    """logit(y2 y3 + (1 - y2) y4) from the three logits, in log space (no 0/0 or log 0)."""
    ls = F.logsigmoid
    log_p = torch.logaddexp(ls(daction) + ls(buy_d), ls(-daction) + ls(buy_o))
    # 1 - p_cvr = y2 (1 - y3) + (1 - y2)(1 - y4)
    log_not_p = torch.logaddexp(ls(daction) + ls(-buy_d), ls(-daction) + ls(-buy_o))
    return log_p - log_not_p


class ESM2(RankingModel):
    losses = ("ctr", "ctavr", "ctcvr")  # ctavr reads the extra "daction" output

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        if not spec.has_daction:
            raise ModelError(
                "model 'esm2' needs the post-click action label column 'daction' "
                "(cart or wish after a click); this dataset's contract has none"
            )
        self.embedding = FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std, with_scene=True)
        width = input_width(self.embedding, spec)
        self.towers = nn.ModuleDict({k: mlp(width, cfg.tower) for k in HEADS})

    def heads(self, batch: Batch) -> dict[str, Tensor]:
        """Training outputs: ctr, cvr and the D-action logit y2 that L_CTAVR needs."""
        h = flat_input(self.embedding, batch)  # [B, Din]
        y = {k: self.towers[k](h).squeeze(1) for k in HEADS}  # logits, each [B]
        cvr = cvr_logit(y["daction"], y["buy_after_daction"], y["buy_otherwise"])
        return {"ctr": y["click"], "cvr": cvr, "daction": y["daction"]}

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        out = self.heads(batch)
        return {"ctr": out["ctr"], "cvr": out["cvr"]}

    def stages(self) -> list[Stage]:
        return [Stage("train", self.heads, self.embedding_parameters(), self.network_parameters())]
