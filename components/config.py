"""The one config object: params.yaml loaded into strict, frozen, typed models."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A params file that cannot be used; the message is one line naming the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Paths(_Frozen):
    raw: Path
    quarantine: Path
    validation: Path
    models: Path
    runs: Path
    registry: Path
    prefect: Path
    dashboards: Path


class DataConfig(_Frozen):
    dataset: Literal["simulator", "aliccp", "aliccp-raw", "aliexpress"]


class SceneConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    share: float = Field(gt=0)
    ctr: float = Field(gt=0, lt=1)
    cvr_lift: float = Field(gt=0)
    positions: int = Field(ge=1, le=10)
    start_day: int = Field(ge=0)


class ShockConfig(_Frozen):
    day: dt.date | None
    days: int = Field(ge=1)
    strength: float = Field(ge=0, le=1)


class SimulatorConfig(_Frozen):
    start: dt.date
    days: int = Field(ge=1)
    rows_per_day: int = Field(ge=1)
    horizon_days: int = Field(ge=1)
    n_users: int = Field(ge=1)
    new_users_per_day: int = Field(ge=0)
    n_ads: int = Field(ge=1)
    ad_lifetime_days: float = Field(gt=0)
    n_advertisers: int = Field(ge=1)
    advertiser_lifetime_days: float = Field(gt=0)
    n_categories: int = Field(ge=1)
    n_brands: int = Field(ge=1)
    n_tags: int = Field(ge=3)
    latent_dim: int = Field(ge=1)
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
            raise ValueError(f"scene names must be unique, got {names}")
        if self.days > self.horizon_days:
            raise ValueError(f"days ({self.days}) exceeds horizon_days ({self.horizon_days})")
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


class ValidationConfig(_Frozen):
    min_rows: int = Field(ge=0)
    max_null_rate: float = Field(ge=0, le=1)
    ctr_band: tuple[float, float]
    cvr_band: tuple[float, float]
    min_scene_rows: int = Field(ge=0)
    min_scene_clicks: int = Field(ge=0)


class ModelConfig(_Frozen):
    name: Literal["mtms", "single", "esmm", "shared_bottom", "structured"]
    scenes: tuple[str, ...] = Field(min_length=1)
    embedding_dim: int = Field(ge=1)
    tower: tuple[int, ...] = Field(min_length=1)
    ranking: tuple[int, ...] = Field(min_length=1)
    latent_dim: int = Field(ge=1)
    min_count: int = Field(ge=1)
    init_std: float = Field(gt=0)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if len(set(self.scenes)) != len(self.scenes):
            raise ValueError(f"scene names must be unique, got {list(self.scenes)}")
        return self


class TrainConfig(_Frozen):
    window_days: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    epochs: int = Field(ge=1)
    lr_embedding: float = Field(gt=0)
    lr_network: float = Field(gt=0)
    threads: int = Field(ge=0)
    warm_start: Literal["latest", "champion"]


class Focus(_Frozen):
    scene: str
    task: Literal["ctr", "cvr", "ctcvr"]
    auc_floor: float = Field(ge=0, le=1)
    min_rows: int = Field(ge=0)
    max_auc_drop: float = Field(ge=0)


class GateConfig(_Frozen):
    focus: tuple[Focus, ...] = Field(min_length=1)
    calibration_band: tuple[float, float]

    @model_validator(mode="after")
    def _check(self) -> GateConfig:
        low, high = self.calibration_band
        if not 0 < low <= 1 <= high:
            raise ValueError(
                f"calibration_band must hold 1.0 with a positive low end, got {[low, high]}"
            )
        keys = [(f.scene, f.task) for f in self.focus]
        if len(set(keys)) != len(keys):
            raise ValueError(f"focus entries must be unique (scene, task) pairs, got {keys}")
        return self


class RegistryConfig(_Frozen):
    model_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    experiment: str = Field(min_length=1)
    tracking_uri: str | None


class ScheduleConfig(_Frozen):
    deployment: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    cron: str = Field(pattern=r"^\S+( \S+){4}$")
    timezone: str

    @model_validator(mode="after")
    def _check(self) -> ScheduleConfig:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        return self


class AlertConfig(_Frozen):
    drift_share: float = Field(gt=0, le=1)
    label_shift: float = Field(gt=0)
    new_id_rate: float = Field(gt=0, le=1)


class MonitorConfig(_Frozen):
    reference_days: int = Field(ge=1)
    sample_rows: int = Field(ge=100)
    column_threshold: float = Field(gt=0, le=1)
    max_categories: int = Field(ge=2)
    top_k: int = Field(ge=1)
    alert: AlertConfig


class Config(_Frozen):
    seed: int
    paths: Paths
    data: DataConfig
    simulator: SimulatorConfig
    validation: ValidationConfig
    model: ModelConfig
    train: TrainConfig
    gate: GateConfig
    registry: RegistryConfig
    schedule: ScheduleConfig
    monitor: MonitorConfig
    root: Path = Path(".")  # folder of the params file; not a key of params.yaml

    @model_validator(mode="after")
    def _check(self) -> Config:
        unknown = [f.scene for f in self.gate.focus if f.scene not in self.model.scenes]
        if unknown:
            raise ValueError(f"gate.focus scenes {unknown} are not in model.scenes")
        return self

    def path(
        self,
        name: Literal[
            "raw", "quarantine", "validation", "models", "runs", "registry", "prefect", "dashboards"
        ],
    ) -> Path:
        """An absolute workspace path from `paths`."""
        return (self.root / getattr(self.paths, name)).resolve()


def _one_line(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    got = f" (got {first['input']!r})" if first["type"] != "missing" else ""
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'{more}"
    return f"{source}: {key}: {first['msg']}{got}{more}"


def parse(raw: dict, root: Path, source: str = "params") -> Config:
    """Validate a params mapping; JSON mode so YAML lists and dates are read strictly."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    if "root" in raw:
        raise ConfigError(f"{source}: unknown key 'root'")
    text = json.dumps({**raw, "root": str(root)}, default=str)
    try:
        return Config.model_validate_json(text)
    except ValidationError as err:
        raise ConfigError(_one_line(err, source)) from None


def load(path: str | Path = "params.yaml") -> Config:
    """Read params.yaml into the Config; any problem is one ConfigError line."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such params file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse(raw, path.resolve().parent, source=str(path))
