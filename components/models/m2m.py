"""M2M: multi-scenario multi-task meta learning (Zhang et al., "Leaving No One Behind: A
Multi-Scenario Multi-Task Meta Learning Approach for Advertiser Modeling", WSDM 2022),
as a binary CTR/CVR ranker.

Shared embeddings E(x) (scene included as a field), h = [E(x), dense]; every layer
activation σ is LeakyReLU.
    expert views         E_i = f_i(h), i = 1..K                                  (Eq. 6)
    task views           T_t = σ(W_T emb(t) + b_T)                               (Eq. 7)
    scenario knowledge   S~ = σ(W_S [e_scene, E(x)] + b_S), per row              (Eq. 8)
    meta unit            h^(i) = σ(W^(i-1) h^(i-1) + b^(i-1)),
                         W = reshape(V_w S~ + v_w), b = reshape(V_b S~ + v_b)    (Eqs. 9-13)
    meta attention       a_{t,i} = v_t' Meta_t([E_i ; T_t]), α_t = softmax_i(a_t),
                         R_t = sum_i α_{t,i} E_i                                 (Eqs. 14-16)
    meta residual tower  L^(0) = R_t, L^(j) = σ(Meta_t^(j)(L^(j-1)) + L^(j-1))   (Eqs. 17-18)
    head                 logit_t = w_t' L^(J) + b_t (a sigmoid and BCE in place of the
                         paper's Poisson rate exp(.) and its NLL: CTR and CVR are binary)
The paper's advertiser profile A is here every field of the row (the simulator has no
separate advertiser profile) and its Transformer over behaviour sequences is left out:
the data has no sequences. L = L_CTR + L_CVR(clicked rows).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.config import ModelConfig
from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.base import TASKS, RankingModel
from components.models.experts import ExpertBank
from components.models.layers import FieldEmbedding, dot_interactions, input_width

# size of S~: a meta layer's cost is linear in it (In x (S+1) x Out multiply-adds a row);
# the paper searched 8..128. 8 trains ~1.5x faster than 16 (5.8x vs 9x ESMM's time on 2 cores)
SCENARIO_DIM = 8
ATTENTION_DEPTH = 1  # meta layers in the attention unit (one per task), as Scenario-Wise-Rec
TOWER_DEPTH = 2  # residual meta layers in each task's tower


def _generator(n_in: int, n_out: int, fan_in: int) -> nn.Parameter:
    """[In, S+1, Out]: V (the S~ slices) and v (the last slice) of W = reshape(V S~ + v);
    the generated W starts at nn.Linear's scale for `fan_in`, whatever S~ holds."""
    bound = 1 / math.sqrt(fan_in)
    weight = torch.empty(n_in, SCENARIO_DIM + 1, n_out).uniform_(-bound, bound)
    weight[:, :SCENARIO_DIM] /= math.sqrt(SCENARIO_DIM)
    return nn.Parameter(weight)


class MetaLayer(nn.Module):
    """A layer whose weight and bias are generated per row from the scenario knowledge S~:
    W = reshape(V_w S~ + v_w), b = V_b S~ + v_b (pre-activation output; σ is the caller's).

    With s = [S~; 1], h W = (h ⊗ s) V': one large matmul on the outer product, never a
    [B, In, Out] weight per row and B tiny matmuls (5-50x slower on 2 cores). The input may
    end with a vector c shared by every row (the task view T_t): its rows of W are
    contracted with c once, before the batch, and act like a bias.
    """

    def __init__(self, n_in: int, n_out: int, n_const: int = 0):
        super().__init__()
        self.n_in = n_in
        self.weight = _generator(n_in + n_const, n_out, n_in + n_const)  # [In+C, S+1, Out]
        self.bias = _generator(1, n_out, n_in + n_const)  # [1, S+1, Out]

    def forward(self, h: Tensor, scenario: Tensor, const: Tensor | None = None) -> Tensor:
        """h: [B, N, In], scenario: [B, S] (S = SCENARIO_DIM), const: [C] -> [B, N, Out]."""
        s = F.pad(scenario, (0, 1), value=1.0)  # [B, S+1]
        outer = (h.unsqueeze(-1) * s[:, None, None, :]).flatten(2)  # [B, N, In*(S+1)]
        out = outer @ self.weight[: self.n_in].flatten(0, 1)  # [B, N, Out]
        bias = self.bias[0]  # [S+1, Out]
        if const is not None:
            bias = bias + torch.einsum("c,cso->so", const, self.weight[self.n_in :])
        return out + (s @ bias).unsqueeze(1)  # [B, N, Out]


class MetaTask(nn.Module):
    """One task's meta attention over the expert views and its meta residual tower."""

    def __init__(self, dim: int):
        super().__init__()
        first = MetaLayer(dim, 2 * dim, n_const=dim)  # on [E_i ; T_t]
        rest = [MetaLayer(2 * dim, 2 * dim) for _ in range(ATTENTION_DEPTH - 1)]
        self.attention = nn.ModuleList([first, *rest])
        self.score = nn.Parameter(torch.ones(2 * dim) / (2 * dim))  # v_t: uniform α at first
        self.tower = nn.ModuleList(MetaLayer(dim, dim) for _ in range(TOWER_DEPTH))
        self.head = nn.Linear(dim, 1)

    def forward(self, experts: Tensor, task: Tensor, scenario: Tensor) -> Tensor:
        """experts: [B, K, E], task: [E] -> logits [B]."""
        h = F.leaky_relu(self.attention[0](experts, scenario, task))  # Meta_t([E_i ; T_t])
        for layer in self.attention[1:]:
            h = F.leaky_relu(layer(h, scenario))  # [B, K, 2E]
        alpha = (h @ self.score).softmax(1)  # [B, K]
        out = torch.bmm(alpha.unsqueeze(1), experts)  # [B, 1, E]
        for layer in self.tower:
            out = F.leaky_relu(F.leaky_relu(layer(out, scenario)) + out)  # residual, Eq. 18
        return self.head(out.squeeze(1)).squeeze(1)  # [B]


class M2M(RankingModel):
    losses = ("ctr", "cvr")

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig):
        super().__init__(spec)
        self.embedding = FieldEmbedding(spec, cfg.embedding_dim, cfg.init_std, with_scene=True)
        self.experts = ExpertBank(cfg.experts, input_width(self.embedding, spec), cfg.expert)
        dim = self.experts.width
        self.task_embedding = nn.Embedding(len(TASKS), dim)
        self.task_view = nn.Linear(dim, dim)
        fields = self.embedding.n_fields * cfg.embedding_dim
        self.scenario = nn.Linear(fields, SCENARIO_DIM)
        self.tasks = nn.ModuleDict({t: MetaTask(dim) for t in TASKS})

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        vectors = self.embedding(batch)  # [B, N, D], the scene among the fields
        scenario = F.leaky_relu(self.scenario(vectors.flatten(1)))  # [B, SCENARIO_DIM]
        h = torch.cat([vectors.flatten(1), dot_interactions(vectors), batch.dense], dim=1)
        experts = self.experts(h)  # [B, K, E]
        views = F.leaky_relu(self.task_view(self.task_embedding.weight))  # [T, E]
        return {t: self.tasks[t](experts, views[i], scenario) for i, t in enumerate(TASKS)}
