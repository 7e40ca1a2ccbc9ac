"""The sections of params.yaml about how the daily pipeline runs: the gate, the registry,
shared stores, parallel jobs, the schedule, monitoring and the bake-off.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from components.config_errors import ConfigProblem
from components.config_sections import Frozen, ModelName, RatioBand


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


class Focus(Frozen):
    scene: str
    task: Literal["ctr", "cvr", "ctcvr"]
    auc_floor: float = Field(ge=0, le=1)
    min_rows: int = Field(ge=0)
    max_auc_drop: float = Field(ge=0, le=1)


class GateConfig(Frozen):
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


class RegistryConfig(Frozen):
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


class SharedConfig(Frozen):
    """Stores several hosts share (docs/scaling.md); all null: this folder alone."""

    database: Annotated[str, AfterValidator(_postgres_url)] | None = None
    prefect_api: Annotated[str, AfterValidator(_prefect_api)] | None = None


def _dask_scheduler(address: str) -> str:
    if not re.fullmatch(r"(tcp|tls|ws|wss)://[^/\s]+:\d+", address):
        raise ValueError("must be a Dask scheduler's address: tcp://HOST:PORT")
    return address


class ParallelConfig(Frozen):
    """Where a model's per-scene training jobs run (MTMS's embedding update; docs/scaling.md)."""

    scenes: Literal["local", "dask"] = "local"
    dask_scheduler: Annotated[str, AfterValidator(_dask_scheduler)] | None = None
    dask_workers: int = Field(default=0, ge=0, le=256)  # LocalCluster workers; 0: one per scene


class ScheduleConfig(Frozen):
    deployment: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    cron: str = Field(pattern=r"^\S+( \S+){4}$")
    timezone: Annotated[str, AfterValidator(_timezone)]


class AlertConfig(Frozen):
    drift_share: float = Field(gt=0, le=1)
    label_shift: float = Field(gt=0)
    new_id_rate: float = Field(gt=0, le=1)


class MonitorConfig(Frozen):
    reference_days: int = Field(ge=1, le=365)
    sample_rows: int = Field(ge=100, le=10_000_000)
    column_threshold: float = Field(gt=0, le=1)
    max_categories: int = Field(ge=2)
    top_k: int = Field(ge=1)
    alert: AlertConfig


class CompareConfig(Frozen):
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
