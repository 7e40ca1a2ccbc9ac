"""Data-parallel training under torchrun: one process per rank, PyTorch's DDP.

`torchrun --standalone --nproc_per_node=N -m cli.main train ...` starts N copies of the
command. Each finds its rank in the environment torchrun sets (RANK, WORLD_SIZE, ...) and
joins the process group (`start`, gloo: the trainer keeps model and batches on the CPU,
and nccl reduces CUDA tensors only; docs/scaling.md says what a GPU needs). Then, in
components.training:

- rank 0 fits the vocabularies and broadcasts the encoder (`broadcast`): every rank
  encodes the window with the same ids;
- every rank builds the same model (same seed) and walks the same batch plan (same
  generator); a rank trains on its interleaved share of each batch (`shard`), DDP
  averages the dense gradients (`wrap`) and the row-wise optimizer the tables' sparse
  ones (`average_sparse`), so every replica takes the same optimizer step;
- rank 0 writes the bundle; the others wait for it (`barrier`).

Outside torchrun (WORLD_SIZE unset or 1) every function here is the identity.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel


def start() -> bool:
    """Join the process group when torchrun started this process; whether it is parallel."""
    if active():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    dist.init_process_group("gloo")
    return True


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def shard(rows: Tensor) -> Tensor:
    """This rank's share of a batch's rows (every `world`-th row). A batch smaller than the
    world goes whole to every rank: each rank must take part in every step."""
    n = world()
    return rows if n == 1 or len(rows) < n else rows[rank() :: n]


def broadcast(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (pickled)."""
    if not active():
        return obj
    box = [obj if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if active():
        dist.barrier()


class _Forward(nn.Module):
    """A stage's forward as a module, so DDP sees the model's parameters and hooks them."""

    def __init__(self, model: nn.Module, forward: Callable) -> None:
        super().__init__()
        self.model = model
        self._forward = forward

    def forward(self, batch):  # noqa: D102
        return self._forward(batch)


def wrap(model: nn.Module, forward: Callable) -> Callable:
    """The stage's forward, under DDP when parallel. Built after the stage has frozen what
    it does not train (DDP reduces the gradients of trainable parameters only);
    find_unused_parameters: a scene's batch reaches only that scene's components. The
    sparse tables are left out: DDP cannot mark a sparse parameter a batch did not reach
    as ready (another scene's table), so the row-wise optimizer averages them itself."""
    if not active():
        return forward
    wrapped = _Forward(model, forward)
    sparse = [f"{name}.weight" for name, m in wrapped.named_modules()
              if isinstance(m, nn.Embedding) and m.sparse]  # fmt: skip
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(wrapped, sparse)
    return DistributedDataParallel(wrapped, find_unused_parameters=True)


def average_sparse(grad: Tensor) -> Tensor:
    """A sparse gradient averaged over the ranks (gloo's sparse all-reduce concatenates
    the ranks' rows); as is outside torchrun. Every rank calls it for the same tables in
    the same order: they walk the same batch plan, so the same tables have gradients."""
    if not active():
        return grad
    dist.all_reduce(grad)
    return grad / world()
