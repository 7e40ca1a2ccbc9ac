"""Building blocks shared by the model zoo: fused field embeddings and MLP towers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.features.batch import Batch
from components.features.encoding import FeatureSpec


class _Rows(torch.autograd.Function):
    """weight[rows] for sorted, distinct rows, whose gradient is a sparse tensor over those
    rows (distinct and sorted as made: the row-wise optimizer's update needs no sort)."""

    @staticmethod
    def forward(ctx, weight: Tensor, rows: Tensor) -> Tensor:  # noqa: D102
        ctx.save_for_backward(rows)
        ctx.shape = weight.shape
        return weight.index_select(0, rows)  # [U, D]

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: D102
        (rows,) = ctx.saved_tensors
        # valid by construction (distinct rows of the table): the per-step check is skipped
        sparse = torch.sparse_coo_tensor(
            rows[None], grad, ctx.shape, is_coalesced=True, check_invariants=False
        )
        return sparse, None


class FieldEmbedding(nn.Module):
    """All fields' embeddings in one table (field offsets), pooled per batch in one pass.

    Single-valued fields are bags of one id; each multi-valued list is mean-pooled from
    its ids and offsets (Batch.bags), never padded to the longest list. The gradient is
    sparse (the batch's distinct rows only) and `grad_sq` holds the row-wise Adagrad
    accumulator (training.rowwise): a row costs D + 1 floats, and a step touches the
    batch's rows, not the table. Output: [B, F + M (+1), D]: F sparse fields, then M multi
    fields, then (with_scene) the scene.
    """

    def __init__(self, spec: FeatureSpec, dim: int, init_std: float, with_scene: bool = False):
        super().__init__()
        sizes = list(spec.sizes) + ([len(spec.scenes)] if with_scene else [])
        self.n_sparse, self.n_multi, self.with_scene = len(spec.sparse), len(spec.multi), with_scene
        self.dim, self.init_std = dim, init_std
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.int64))
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0))
        # sparse=True marks the table for distributed.wrap: the row-wise optimizer reduces it
        self.table = nn.Embedding(int(sum(sizes)), dim, sparse=True)
        nn.init.normal_(self.table.weight, std=init_std)
        # saved with the weights, so a warm start continues the optimizer, not just the rows
        self.register_buffer("grad_sq", torch.zeros(int(sum(sizes))))

    @property
    def n_fields(self) -> int:
        return self.n_sparse + self.n_multi + int(self.with_scene)

    def forward(self, batch: Batch) -> Tensor:
        weight = self.table.weight
        if torch.is_grad_enabled() and weight.requires_grad:
            # training: pool from the batch's distinct rows, gathered once; their gradient
            # is the table's, sparse and already coalesced (no sort of every id per step)
            rows, within, sizes, scale = batch.distinct_rows(self.with_scene, self.offsets)
            vectors = _Rows.apply(weight, rows).index_select(0, within)  # [I, D]
            # a bag's ids are contiguous: a segment sum (embedding_bag's backward sorts them)
            summed = torch.segment_reduce(vectors, "sum", lengths=sizes, axis=0, unsafe=True)
            pooled = summed * scale[:, None]  # [N*(F+M(+1)), D] means; 0 for an empty list
        else:
            ids, field, starts = batch.bags(self.with_scene)
            pooled = F.embedding_bag(ids + self.offsets[field], weight, starts, mode="mean")
        return pooled.view(len(batch), self.n_fields, self.dim)  # [B, F + M (+1), D]

    @torch.no_grad()
    def warm_start(
        self, weight: Tensor, sizes: Tensor, grad_sq: Tensor | None = None,
        fresh: Sequence[Tensor] = (),
    ) -> None:  # fmt: skip
        """Copy each field's known rows (and their accumulators) from an older, smaller
        table. Rows beyond the old table keep their init, and so do `fresh` rows (per field:
        rows given to new ids today; one an expired id gave back held that id's vector)."""
        old_offsets = torch.cat([sizes.new_zeros(1), sizes[:-1].cumsum(0)])
        for field, (old, new) in enumerate(zip(sizes.tolist(), self.sizes.tolist(), strict=True)):
            if old > new:
                raise ValueError(f"field {field}: the previous table has more rows ({old} > {new})")
            start, src = int(self.offsets[field]), int(old_offsets[field])
            reset = fresh[field][fresh[field] < old] + start if field < len(fresh) else None
            init = self.table.weight[reset].clone() if reset is not None else None
            self.table.weight[start : start + old] = weight[src : src + old]
            if grad_sq is not None:
                self.grad_sq[start : start + old] = grad_sq[src : src + old]
            if reset is not None:
                self.table.weight[reset], self.grad_sq[reset] = init, 0.0


def mlp(width: int, hidden: tuple[int, ...], out: int = 1) -> nn.Sequential:
    """Linear-ReLU layers down to `out` units."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


def dot_interactions(vectors: Tensor) -> Tensor:
    """[B, N, D] -> [B, N(N-1)/2]: inner products of every pair of fields (DLRM-style).

    MLPs on concatenated embeddings learn dot products (user taste x ad attribute, the
    bulk of the simulator's signal and of real CTR signal) poorly; handing the towers
    the pairwise products makes that structure explicit.
    """
    n = vectors.shape[1]
    gram = torch.bmm(vectors, vectors.transpose(1, 2))  # [B, N, N]
    i, j = torch.triu_indices(n, n, offset=1, device=vectors.device)
    # index_select on the flattened pairs: its backward (index_add) beats advanced indexing's
    return gram.flatten(1).index_select(1, i * n + j)


def field_features(embedding: FieldEmbedding, batch: Batch) -> Tensor:
    """[B, N*D + N(N-1)/2]: flattened field embeddings and their pairwise products."""
    vectors = embedding(batch)  # [B, N, D]
    return torch.cat([vectors.flatten(1), dot_interactions(vectors)], dim=1)


def flat_input(embedding: FieldEmbedding, batch: Batch) -> Tensor:
    """A tower's input: field features and the dense features (one copy, not two)."""
    vectors = embedding(batch)  # [B, N, D]
    return torch.cat([vectors.flatten(1), dot_interactions(vectors), batch.dense], dim=1)


def pair_count(embedding: FieldEmbedding) -> int:
    """Width of dot_interactions: N(N-1)/2."""
    n = embedding.n_fields
    return n * (n - 1) // 2


def feature_width(embedding: FieldEmbedding) -> int:
    return embedding.n_fields * embedding.dim + pair_count(embedding)


def input_width(embedding: FieldEmbedding, spec: FeatureSpec) -> int:
    return feature_width(embedding) + len(spec.dense)
