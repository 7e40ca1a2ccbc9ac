"""The one model contract: `model(batch) -> {task: logits}` plus the stages it trains in.

A stage names the parameters it trains (embeddings and network, with their own
learning rates), the forward it trains through, and whether its batches hold one
scene each. Most models have a single stage; MTMS has two (embedding update, then
fine-tune on frozen embeddings). The trainer runs any model's stages the same way.

A per-scene stage whose scenes train disjoint parameters says so (`scene_parameters`):
its scenes can then train apart, each in its own process (components.training.scenes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from components.features.batch import Batch
from components.features.encoding import FeatureSpec
from components.models.calibration import Calibrator
from components.models.layers import FieldEmbedding

TASKS = ("ctr", "cvr")  # what every model predicts: {task: logits}; CTCVR is their product


class ModelError(ValueError):
    """A model that cannot be built on this data (a field or label it needs is missing)."""


@dataclass(frozen=True)
class Stage:
    name: str
    forward: Callable[[Batch], dict[str, Tensor]]
    embeddings: list[nn.Parameter]  # trained with train.lr_embedding
    network: list[nn.Parameter]  # trained with train.lr_network
    per_scene: bool = False  # batches hold rows of a single scene (batch.scene_id is set)
    losses: tuple[str, ...] | None = None  # loss terms of this stage; None: the model's `losses`
    # per_scene stages only: the parameters scene i's batches train, none shared with
    # another scene's (None: scenes share parameters and train together)
    scene_parameters: Callable[[int], list[nn.Parameter]] | None = None


class RankingModel(nn.Module):
    """Base of the zoo: subclasses set `losses` and implement forward.

    Every model carries its calibration maps (`calibration`, one per scene and task):
    forward returns raw logits, scoring (evaluation.evaluate.logits) maps them.
    """

    losses: tuple[str, ...] = ("ctr", "cvr", "ctcvr")  # terms of training.losses.LOSS_TERMS

    def __init__(self, spec: FeatureSpec):
        super().__init__()
        self.calibration = Calibrator(len(spec.scenes))

    def embedding_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules() if isinstance(m, FieldEmbedding) for p in m.parameters()]

    def network_parameters(self) -> list[nn.Parameter]:
        emb = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in emb]

    def stages(self) -> list[Stage]:
        """One stage: everything trains together on mixed-scene batches."""
        return [Stage("train", self, self.embedding_parameters(), self.network_parameters())]
