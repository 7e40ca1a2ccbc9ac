"""The training losses, shared by every model: CTR, CVR on clicked rows, CTCVR, CTAVR.

    L_CTR   = mean_i BCE(p_ctr_i, click_i)                          all impressions
    L_CVR   = sum_i click_i BCE(p_cvr_i, conv_i) / max(1, sum click)  clicked rows only
    L_CTCVR = mean_i BCE(p_ctr_i * p_cvr_i, click_i * conv_i)        all impressions
    L_CTAVR = mean_i BCE(p_ctr_i * p_daction_i, click_i * daction_i)  all impressions

A model lists the terms it trains on (MTMS: ctr + cvr + ctcvr; ESMM: ctr + ctcvr; ESM²:
ctr + ctavr + ctcvr, its training forward adding the "daction" logit, p(daction | click)).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from components.features.batch import Batch
from components.probability import PROB_EPS


def masked_bce(logits: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
    """BCE with logits, averaged over the rows where mask is 1 (all rows without a mask)."""
    loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if mask is None:
        return loss.mean()
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def product_bce(logit_a: Tensor, logit_b: Tensor, labels: Tensor) -> Tensor:
    """Mean BCE of sigmoid(a) * sigmoid(b): log-space, so tiny products stay finite."""
    log_p = F.logsigmoid(logit_a) + F.logsigmoid(logit_b)
    log_not_p = torch.log1p(-log_p.exp().clamp(max=1 - PROB_EPS))
    return -(labels * log_p + (1 - labels) * log_not_p).mean()


LOSS_TERMS: dict[str, Callable[[dict[str, Tensor], Batch], Tensor]] = {
    "ctr": lambda out, b: masked_bce(out["ctr"], b.click),
    "cvr": lambda out, b: masked_bce(out["cvr"], b.conversion, mask=b.click),
    "ctcvr": lambda out, b: product_bce(out["ctr"], out["cvr"], b.click * b.conversion),
    "ctavr": lambda out, b: product_bce(out["ctr"], out["daction"], b.click * b.daction),
}


def multitask_loss(out: dict[str, Tensor], batch: Batch, terms: tuple[str, ...]) -> Tensor:
    """Sum of the named loss terms."""
    return sum(LOSS_TERMS[t](out, batch) for t in terms)
