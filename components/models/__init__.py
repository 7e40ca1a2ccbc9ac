"""The model zoo: one name -> class registry; every model follows components.models.base."""

from __future__ import annotations

from components.models.base import RankingModel, Stage
from components.models.esmm import ESMM
from components.models.mtms import MTMS
from components.models.shared_bottom import SharedBottom
from components.models.single import SingleTask
from components.models.structured import Structured

MODELS: dict[str, type[RankingModel]] = {
    "mtms": MTMS,
    "single": SingleTask,
    "esmm": ESMM,
    "shared_bottom": SharedBottom,
    "structured": Structured,
}

__all__ = ["MODELS", "RankingModel", "Stage"]
