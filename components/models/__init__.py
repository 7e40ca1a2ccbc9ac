"""The model zoo: one name -> class registry; every model follows components.models.base."""

from __future__ import annotations

from components.models.base import RankingModel, Stage
from components.models.esm2 import ESM2
from components.models.esmm import ESMM
from components.models.m2m import M2M
from components.models.mmoe import MMoE
from components.models.mtms import MTMS
from components.models.ple import PLE
from components.models.shared_bottom import SharedBottom
from components.models.single import SingleTask
from components.models.structured import Structured

MODELS: dict[str, type[RankingModel]] = {
    "mtms": MTMS,
    "single": SingleTask,
    "esmm": ESMM,
    "shared_bottom": SharedBottom,
    "structured": Structured,
    "mmoe": MMoE,
    "ple": PLE,
    "esm2": ESM2,
    "m2m": M2M,
}

__all__ = ["MODELS", "RankingModel", "Stage"]
