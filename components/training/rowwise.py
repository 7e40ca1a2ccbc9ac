"""Row-wise Adagrad: the embedding tables' optimizer, whose step costs the batch's rows.

A batch touches thousands of a table's millions of rows. Dense Adam over a table would
build a full-table gradient every step and move every row on its two moments (rows the
batch never saw keep drifting on stale momentum): memory ~4x the weights, time per step
growing with the vocabulary. Here a table's gradient is sparse (FieldEmbedding trains
from the batch's distinct rows) and only the rows it names change, with one accumulator
per row, as FBGEMM's and TorchRec's EXACT_ROWWISE_ADAGRAD:

    G_r += mean_d(g_rd^2);   w_r -= lr * g_r / (sqrt(G_r) + eps)

The accumulator is the table's `grad_sq` buffer, so it is saved in the bundle and a warm
start carries it: a day's steps continue the previous day's, and a row costs D + 1 floats.
"""

from __future__ import annotations

import torch
from torch import Tensor

from components.models.layers import FieldEmbedding
from components.training import distributed

EPS = 1e-8  # FBGEMM's default


@torch.no_grad()
def update_rows(weight: Tensor, grad_sq: Tensor, grad: Tensor, lr: float, eps: float) -> None:
    """One row-wise Adagrad step on the rows a sparse gradient names; others untouched."""
    rows, values = grad._indices()[0], grad._values()  # [U], [U, D]
    if not bool((rows[1:] > rows[:-1]).all()):  # repeated rows (several lookups): sum them
        grad = grad.coalesce()
        rows, values = grad.indices()[0], grad.values()
    state = grad_sq.index_select(0, rows).add_(values.square().mean(1))  # [U]
    grad_sq.index_copy_(0, rows, state)
    weight.index_add_(0, rows, values * (-lr / (state.sqrt() + eps)).unsqueeze(1))


class RowWiseAdagrad(torch.optim.Optimizer):
    """Row-wise Adagrad over FieldEmbedding tables (their sparse gradients)."""

    def __init__(self, tables: list[FieldEmbedding], lr: float, eps: float = EPS):
        super().__init__([t.table.weight for t in tables], {"lr": lr, "eps": eps})
        for t in tables:  # the table's own buffer, updated in place
            self.state[t.table.weight]["grad_sq"] = t.grad_sq

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: D102
        for group in self.param_groups:
            for weight in group["params"]:
                if weight.grad is None:  # not reached by this batch (another scene's table)
                    continue
                if not weight.grad.is_sparse:
                    raise TypeError("RowWiseAdagrad needs sparse gradients (FieldEmbedding's)")
                grad = distributed.average_sparse(weight.grad)  # under torchrun
                grad_sq = self.state[weight]["grad_sq"]
                update_rows(weight, grad_sq, grad, group["lr"], group["eps"])
