"""The one config object: params.yaml loaded into strict, frozen, typed models.

Every value is range-checked at load: floats finite, bands ordered, sizes bounded far above
any sane run, so a typo (an extra zero, swapped band ends) fails here, not hours into a day.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from components.config_errors import ConfigError, ConfigProblem, one_line
from components.safe_yaml import read_yaml


def _probability_band(band: tuple[float, float]) -> tuple[float, float]:
    if not 0 <= band[0] < band[1] <= 1:
        raise ValueError("must be [low, high] with 0 <= low < high <= 1")
    return band


def _ratio_band(band: tuple[float, float]) -> tuple[float, float]:
    if not 0 < band[0] <= 1 <= band[1]:
        raise ValueError("must be [low, high] with 0 < low <= 1 <= high")
    return band


def _timezone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA timezone such as Europe/Berlin") from None
    return name


# The stores MLflow 3 can keep both runs and registered models in: anything else (a typo,
# `garbage://x`) used to be read as "no champion" and the command went on.
TRACKING_URI = re.compile(
    r"(https?://[^/\s]+\S*|file:/\S+|sqlite:///\S+|(postgresql|mysql|mssql)(\+\w+)?://\S+"
    r"|databricks(://\S*)?)"
)


def _tracking_uri(uri: str) -> str:
    if not TRACKING_URI.fullmatch(uri):
        raise ValueError(
            "must be an MLflow tracking URI: http(s)://HOST[:PORT], sqlite:///PATH, "
            "postgresql|mysql|mssql[+DRIVER]://..., file:///PATH or databricks[://PROFILE] "
            "(null: the embedded store under paths.registry)"
        )
    return uri


ProbabilityBand = Annotated[tuple[float, float], AfterValidator(_probability_band)]
RatioBand = Annotated[tuple[float, float], AfterValidator(_ratio_band)]
Width = Annotated[int, Field(ge=1, le=8192)]  # a hidden layer: 32x the default's widest
MtmsLoss = Literal["ctr", "cvr", "ctcvr"]  # terms of components.training.losses
LearningRate = Annotated[float, Field(gt=0, le=10)]  # Adam diverges long before 10


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


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


class ValidationConfig(_Frozen):
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


class ModelConfig(_Frozen):
    name: ModelName
    scenes: tuple[str, ...] = Field(min_length=1)
    # D: CTR models use 8-64; 1024 already means GBs of tables (one per scene and task)
    embedding_dim: int = Field(ge=1, le=1024)
    tower: tuple[Width, ...] = Field(min_length=1, max_length=8)
    ranking: tuple[Width, ...] = Field(min_length=1, max_length=8)
    latent_dim: int = Field(ge=1, le=256)
    min_count: int = Field(ge=1)
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


class TrainConfig(_Frozen):
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


class Focus(_Frozen):
    scene: str
    task: Literal["ctr", "cvr", "ctcvr"]
    auc_floor: float = Field(ge=0, le=1)
    min_rows: int = Field(ge=0)
    max_auc_drop: float = Field(ge=0, le=1)


class GateConfig(_Frozen):
    focus: tuple[Focus, ...] = Field(min_length=1)
    calibration_band: RatioBand
    # the paired test's confidence that the candidate is worse before it is rejected
    confidence: float = Field(default=0.95, ge=0.5, lt=1)
    # a champion unreplaced this many days marks the day stale (an alert, never a block)
    max_champion_age_days: int = Field(default=3, ge=1, le=365)

    @model_validator(mode="after")
    def _check(self) -> GateConfig:
        keys = [(f.scene, f.task) for f in self.focus]
        if len(set(keys)) != len(keys):
            raise ConfigProblem("focus", keys, "must be unique (scene, task) pairs")
        return self


class RegistryConfig(_Frozen):
    model_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    experiment: str = Field(min_length=1)
    tracking_uri: Annotated[str, AfterValidator(_tracking_uri)] | None


POSTGRES_URL = re.compile(r"postgres(ql)?://\S+")


def _postgres_url(url: str) -> str:
    if not POSTGRES_URL.fullmatch(url):
        raise ValueError(
            "must be a PostgreSQL URL: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        )
    return url


def _prefect_api(url: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+\S*/api", url):
        raise ValueError("must be a Prefect server's API URL: http(s)://HOST[:PORT]/api")
    return url


class SharedConfig(_Frozen):
    """Stores several hosts share (docs/scaling.md); all null: this folder alone."""

    database: Annotated[str, AfterValidator(_postgres_url)] | None = None
    prefect_api: Annotated[str, AfterValidator(_prefect_api)] | None = None


def _dask_scheduler(address: str) -> str:
    if not re.fullmatch(r"(tcp|tls|ws|wss)://[^/\s]+:\d+", address):
        raise ValueError("must be a Dask scheduler's address: tcp://HOST:PORT")
    return address


class ParallelConfig(_Frozen):
    """Where a model's per-scene training jobs run (MTMS's embedding update; docs/scaling.md)."""

    scenes: Literal["local", "dask"] = "local"
    dask_scheduler: Annotated[str, AfterValidator(_dask_scheduler)] | None = None
    dask_workers: int = Field(default=0, ge=0, le=256)  # LocalCluster workers; 0: one per scene


class ScheduleConfig(_Frozen):
    deployment: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    cron: str = Field(pattern=r"^\S+( \S+){4}$")
    timezone: Annotated[str, AfterValidator(_timezone)]


class AlertConfig(_Frozen):
    drift_share: float = Field(gt=0, le=1)
    label_shift: float = Field(gt=0)
    new_id_rate: float = Field(gt=0, le=1)


class MonitorConfig(_Frozen):
    reference_days: int = Field(ge=1, le=365)
    sample_rows: int = Field(ge=100, le=10_000_000)
    column_threshold: float = Field(gt=0, le=1)
    max_categories: int = Field(ge=2)
    top_k: int = Field(ge=1)
    alert: AlertConfig


class CompareConfig(_Frozen):
    """The bake-off (`mtms compare`); defaults keep older params files loading."""

    models: tuple[ModelName, ...] = Field(
        default=("mtms", "esmm", "structured", "shared_bottom", "mmoe", "ple", "esm2", "m2m"),
        min_length=1,
    )
    seeds: tuple[int, ...] = Field(default=(7, 8, 9), min_length=1, max_length=32)
    days: int = Field(default=14, ge=2, le=365)  # chain length; each day's model scored on the next
    last_days: int = Field(default=4, ge=1, le=365)  # the headline: the chain's last N scored days
    rows_per_day: int | None = Field(default=100_000, ge=1000)  # None: simulator.rows_per_day
    claims: bool = True  # also run the variants the papers' headline claims need
    full_history: tuple[ModelName, ...] = ("esmm",)  # also retrained from scratch
    full_history_epochs: int = Field(default=3, ge=1, le=100)
    bootstrap: int = Field(default=2000, ge=100, le=100_000)  # resamples of each paired CI

    @model_validator(mode="after")
    def _check(self) -> CompareConfig:
        if "mtms" not in self.models:
            raise ConfigProblem("models", list(self.models), "must include mtms (the reference)")
        if self.last_days >= self.days:
            raise ConfigProblem("last_days", self.last_days, f"must be below days ({self.days})")
        return self


class Config(_Frozen):
    seed: int = Field(ge=0, le=2**32 - 1)  # numpy seeds are non-negative
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
    compare: CompareConfig = CompareConfig()
    shared: SharedConfig = SharedConfig()
    parallel: ParallelConfig = ParallelConfig()
    root: Path = Path(".")  # folder of the params file; not a key of params.yaml

    @model_validator(mode="after")
    def _check(self) -> Config:
        for i, focus in enumerate(self.gate.focus):
            if focus.scene not in self.model.scenes:
                allowed = f"must be one of model.scenes ({', '.join(self.model.scenes)})"
                raise ConfigProblem(f"gate.focus[{i}].scene", focus.scene, allowed)
        # Quarantine moves folders out of raw, clean-workspace deletes them: two workspace
        # paths that coincide or nest would move or delete each other's files.
        where = {name: (self.root / path).resolve() for name, path in self.paths}
        for (a, path_a), (b, path_b) in itertools.combinations(where.items(), 2):
            if path_a == path_b or path_a in path_b.parents or path_b in path_a.parents:
                allowed = f"must be a folder apart from paths.{a} ({str(getattr(self.paths, a))!r})"
                raise ConfigProblem(f"paths.{b}", str(getattr(self.paths, b)), allowed)
        return self

    def contract_path(self) -> Path | None:
        """The absolute path of data.contract (None unless data.dataset is custom)."""
        return None if self.data.contract is None else (self.root / self.data.contract).resolve()

    def path(
        self,
        name: Literal[
            "raw", "quarantine", "validation", "models", "runs", "registry", "prefect", "dashboards"
        ],
    ) -> Path:
        """An absolute workspace path from `paths`."""
        return (self.root / getattr(self.paths, name)).resolve()


def parse(raw: dict, root: Path, source: str = "params") -> Config:
    """Validate a params mapping; JSON mode so YAML lists and dates are read strictly."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    if "root" in raw:
        raise ConfigError(f"{source}: unknown key 'root'")
    try:
        text = json.dumps({**raw, "root": str(root)}, default=str)
    except (TypeError, ValueError, RecursionError) as err:
        raise ConfigError(f"{source}: not a params mapping ({err})") from None
    try:
        return Config.model_validate_json(text)
    except ValidationError as err:
        raise ConfigError(one_line(err, source, Config)) from None


def with_compare(cfg: Config, overrides: dict) -> Config:
    """`cfg` with compare.* keys replaced (command-line flags), validated like params.yaml."""
    if not overrides:
        return cfg
    try:
        section = CompareConfig.model_validate({**cfg.compare.model_dump(), **overrides})
    except ValidationError as err:
        raise ConfigError(one_line(err, "compare", Config)) from None
    return cfg.model_copy(update={"compare": section})


def load(path: str | Path = "params.yaml") -> Config:
    """Read params.yaml into the Config; any problem is one ConfigError line."""
    path = Path(path)
    return parse(read_yaml(path), path.resolve().parent, source=str(path))
