"""The sections of params.yaml about what is trained: paths, data, simulator, validation,
model, training (components.config assembles them; config_runs has the rest).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from components.config_errors import ConfigError, ConfigProblem


def _probability_band(band: tuple[float, float]) -> tuple[float, float]:
    if not 0 <= band[0] < band[1] <= 1:
        raise ValueError("must be [low, high] with 0 <= low < high <= 1")
    return band


def _ratio_band(band: tuple[float, float]) -> tuple[float, float]:
    if not 0 < band[0] <= 1 <= band[1]:
        raise ValueError("must be [low, high] with 0 < low <= 1 <= high")
    return band


ProbabilityBand = Annotated[tuple[float, float], AfterValidator(_probability_band)]
RatioBand = Annotated[tuple[float, float], AfterValidator(_ratio_band)]
Width = Annotated[int, Field(ge=1, le=8192)]  # a hidden layer: 32x the default's widest
MtmsLoss = Literal["ctr", "cvr", "ctcvr"]  # terms of components.training.losses
LearningRate = Annotated[float, Field(gt=0, le=10)]  # Adam diverges long before 10


class Frozen(BaseModel):
    """A params section: unknown keys refused, values strict and finite, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Paths(Frozen):
    raw: Path
    quarantine: Path
    validation: Path
    models: Path
    runs: Path
    registry: Path
    prefect: Path
    dashboards: Path


class DataConfig(Frozen):
    dataset: Literal["simulator", "aliccp", "aliccp-raw", "aliexpress", "custom"]
    # custom: the contract YAML (components/data/contract_yaml.py), relative to params.yaml
    contract: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.dataset == "custom" and self.contract is None:
            raise ConfigProblem(
                "contract", None, "required with dataset custom: a contract YAML path"
            )
        if self.dataset != "custom" and self.contract is not None:
            allowed = f"only read with dataset custom (dataset is {self.dataset}): set it or null"
            raise ConfigProblem("contract", str(self.contract), allowed)
        return self


class SceneConfig(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    share: float = Field(gt=0)
    ctr: float = Field(gt=0, lt=1)
    cvr_lift: float = Field(gt=0)
    positions: int = Field(ge=1, le=10)
    start_day: int = Field(ge=0)


class ShockConfig(Frozen):
    day: dt.date | None
    days: int = Field(ge=1)
    strength: float = Field(ge=0, le=1)


class SimulatorConfig(Frozen):
    # Size bounds are typo guards: ~50x the defaults (the world and one day stay in memory).
    start: dt.date
    days: int = Field(ge=1)
    rows_per_day: int = Field(ge=1, le=10_000_000)
    horizon_days: int = Field(ge=1, le=1000)
    n_users: int = Field(ge=1, le=10_000_000)
    new_users_per_day: int = Field(ge=0, le=100_000)
    n_ads: int = Field(ge=1, le=1_000_000)
    ad_lifetime_days: float = Field(gt=0)
    n_advertisers: int = Field(ge=1, le=1_000_000)
    advertiser_lifetime_days: float = Field(gt=0)
    n_categories: int = Field(ge=1, le=10_000)
    n_brands: int = Field(ge=1, le=1_000_000)
    n_tags: int = Field(ge=3, le=100_000)
    latent_dim: int = Field(ge=1, le=256)
    user_zipf: float = Field(gt=0)
    ad_zipf: float = Field(gt=0)
    zipf_offset: float = Field(ge=0)
    interaction_scale: float = Field(ge=0)
    id_bias_scale: float = Field(ge=0)
    feature_scale: float = Field(ge=0)
    context_scale: float = Field(ge=0)
    taste_correlation: float = Field(ge=-1, le=1)
    scene_divergence: float = Field(ge=0, le=1)
    taste_drift: float = Field(ge=0)
    weekend_lift: float = Field(ge=0)
    daction_rate: float = Field(gt=0, lt=1)
    buy_after_daction: float = Field(gt=0, lt=1)
    buy_without_daction: float = Field(gt=0, lt=1)
    scenes: tuple[SceneConfig, ...] = Field(min_length=1)
    shock: ShockConfig

    @model_validator(mode="after")
    def _check(self) -> SimulatorConfig:
        names = [s.name for s in self.scenes]
        if len(set(names)) != len(names):
            raise ConfigProblem("scenes", names, "must be unique scene names")
        if self.days > self.horizon_days:
            raise ConfigProblem(
                "days", self.days, f"must be at most horizon_days ({self.horizon_days})"
            )
        return self

    def day_index(self, day: dt.date) -> int:
        """Days since the world's day 0; a day outside the world is an error."""
        index = (day - self.start).days
        if not 0 <= index < self.horizon_days:
            raise ConfigError(
                f"day {day} is outside the simulated world "
                f"({self.start} + {self.horizon_days} days, simulator.start/horizon_days)"
            )
        return index


class ValidationConfig(Frozen):
    min_rows: int = Field(ge=0)
    max_null_rate: float = Field(ge=0, le=1)
    ctr_band: ProbabilityBand
    cvr_band: ProbabilityBand
    min_scene_rows: int = Field(ge=0)
    min_scene_clicks: int = Field(ge=0)
    max_unknown_scene_share: float = Field(ge=0, le=1)
    max_list_length: int = Field(ge=1)


ModelName = Literal[
    "mtms", "single", "esmm", "shared_bottom", "structured", "mmoe", "ple", "esm2", "m2m"
]


class ModelConfig(Frozen):
    name: ModelName
    scenes: tuple[str, ...] = Field(min_length=1)
    # D: CTR models use 8-64; 1024 already means GBs of tables (one per scene and task)
    embedding_dim: int = Field(ge=1, le=1024)
    tower: tuple[Width, ...] = Field(min_length=1, max_length=8)
    ranking: tuple[Width, ...] = Field(min_length=1, max_length=8)
    latent_dim: int = Field(ge=1, le=256)
    min_count: int = Field(ge=1)
    expire_days: int = Field(default=0, ge=0, le=3650)  # 0: ids never expire
    init_std: float = Field(gt=0, le=1)  # larger saturates the sigmoid from the first step
    # mixture-of-experts models (mmoe, ple, m2m); defaults keep older params files loading
    experts: int = Field(default=4, ge=1, le=64)
    expert: tuple[Width, ...] = Field(default=(32,), min_length=1, max_length=8)
    ple_levels: int = Field(default=2, ge=1, le=8)
    # MTMS's loss and sharing switches (the rows of the paper's Table I); defaults: its model
    mtms_losses: tuple[MtmsLoss, ...] = ("ctr", "cvr", "ctcvr")  # embedding-update loss terms
    mtms_finetune_losses: tuple[MtmsLoss, ...] = ("ctr", "cvr", "ctcvr")  # fine-tune loss terms
    mtms_shared: bool = False  # one embedding table per scene for both tasks (ESMM-style sharing)
    mtms_finetune: Literal["concat", "residual"] = "concat"  # the fine-tune's network (mtms.py)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if len(set(self.scenes)) != len(self.scenes):
            raise ConfigProblem("scenes", list(self.scenes), "must be unique scene names")
        for key in ("mtms_losses", "mtms_finetune_losses"):
            terms = getattr(self, key)
            if not terms or len(set(terms)) != len(terms):
                raise ConfigProblem(key, list(terms), "must be distinct terms of [ctr, cvr, ctcvr]")
        return self


class TrainConfig(Frozen):
    window_days: int = Field(ge=1, le=365)
    batch_size: int = Field(ge=1, le=1 << 20)
    epochs: int = Field(ge=1, le=100)
    lr_embedding: LearningRate
    lr_network: LearningRate
    threads: int = Field(ge=0, le=256)  # 0: one per core; more than 256 is a typo
    warm_start: Literal["latest", "champion"]
    # the calibration stage (components/training/calibration.py); defaults keep older params loading
    calibration: Literal["none", "platt", "isotonic"] = "none"
    calibration_holdout: float = Field(default=0.1, gt=0, lt=1)  # share of the newest day held out
    calibration_min_positives: int = Field(default=30, ge=1)  # fewer: the previous map is kept
