"""The one config object: params.yaml loaded into strict, frozen, typed models.

Every value is range-checked at load: floats finite, bands ordered, sizes bounded far above
any sane run, so a typo (an extra zero, swapped band ends) fails here, not hours into a day.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import json
import re
import reprlib
import types
from pathlib import Path
from typing import Annotated, Literal, Union, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

MAX_PARAMS_BYTES = 1 << 20  # params.yaml is ~10 KB
MAX_DEPTH = 16  # nesting of YAML collections; params.yaml's deepest is 4
MAX_PROBLEMS_CHARS = 150  # an error line lists problems up to this length, then "and N more"


class ConfigError(ValueError):
    """A params file that cannot be used; the message is one line naming the key."""


class _Problem(ValueError):
    """A cross-field check's failure: key (below the model checked), value, what is allowed."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"{key}: {value!r}: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


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
            raise _Problem("contract", None, "required with dataset custom: a contract YAML path")
        if self.dataset != "custom" and self.contract is not None:
            allowed = f"only read with dataset custom (dataset is {self.dataset}): set it or null"
            raise _Problem("contract", str(self.contract), allowed)
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
            raise _Problem("scenes", names, "must be unique scene names")
        if self.days > self.horizon_days:
            raise _Problem("days", self.days, f"must be at most horizon_days ({self.horizon_days})")
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
            raise _Problem("scenes", list(self.scenes), "must be unique scene names")
        for key in ("mtms_losses", "mtms_finetune_losses"):
            terms = getattr(self, key)
            if not terms or len(set(terms)) != len(terms):
                raise _Problem(key, list(terms), "must be distinct terms of [ctr, cvr, ctcvr]")
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
            raise _Problem("focus", keys, "must be unique (scene, task) pairs")
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
            raise _Problem("models", list(self.models), "must include mtms (the reference)")
        if self.last_days >= self.days:
            raise _Problem("last_days", self.last_days, f"must be below days ({self.days})")
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
    root: Path = Path(".")  # folder of the params file; not a key of params.yaml

    @model_validator(mode="after")
    def _check(self) -> Config:
        for i, focus in enumerate(self.gate.focus):
            if focus.scene not in self.model.scenes:
                allowed = f"must be one of model.scenes ({', '.join(self.model.scenes)})"
                raise _Problem(f"gate.focus[{i}].scene", focus.scene, allowed)
        # Quarantine moves folders out of raw, clean-workspace deletes them: two workspace
        # paths that coincide or nest would move or delete each other's files.
        where = {name: (self.root / path).resolve() for name, path in self.paths}
        for (a, path_a), (b, path_b) in itertools.combinations(where.items(), 2):
            if path_a == path_b or path_a in path_b.parents or path_b in path_a.parents:
                allowed = f"must be a folder apart from paths.{a} ({str(getattr(self.paths, a))!r})"
                raise _Problem(f"paths.{b}", str(getattr(self.paths, b)), allowed)
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


_REPR = reprlib.Repr()
_REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxlevel = 0, 6, 6, 2
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = 40


def _field(loc: tuple) -> tuple[object, list]:
    """The type at `loc` below Config and its constraints (tuple items and Optional unwrapped)."""
    tp: object = Config
    meta: list = []
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            info = tp.model_fields[part]
            tp, meta = info.annotation, list(info.metadata)
        elif isinstance(part, int) and get_origin(tp) is tuple:
            args = get_args(tp)
            tp, meta = args[0] if args[-1] is Ellipsis else args[min(part, len(args) - 1)], []
        else:
            return None, []
        if get_origin(tp) is Annotated:
            tp, *extra = get_args(tp)
            meta = [m for e in extra for m in getattr(e, "metadata", [e])]
        if get_origin(tp) in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
    return tp, meta


def _range(tp: object, meta: list) -> str:
    """What a numeric field allows, e.g. 'an integer in [1, 1024]', 'a finite number > 0'."""
    bound = {k: getattr(m, k) for m in meta for k in ("gt", "ge", "lt", "le") if hasattr(m, k)}
    kind = "an integer" if tp is int else "a finite number"
    low = f"[{bound['ge']}" if "ge" in bound else f"({bound['gt']}" if "gt" in bound else ""
    high = f"{bound['le']}]" if "le" in bound else f"{bound['lt']})" if "lt" in bound else ""
    if low and high:
        return f"{kind} in {low}, {high}"
    if low:
        return f"{kind} {'>=' if low[0] == '[' else '>'} {low[1:]}"
    if high:
        return f"{kind} {'<=' if high[-1] == ']' else '<'} {high[:-1]}"
    return kind


def _key(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _problem(error: dict) -> str:
    """One `key: value: what is allowed` for a pydantic error."""
    loc, cause = error["loc"], error.get("ctx", {}).get("error")
    if isinstance(cause, _Problem):
        key = ".".join(filter(None, (_key(loc), cause.key)))
        return f"{key}: {_REPR.repr(cause.value)}: {cause.allowed}"
    key = _key(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        parent, _ = _field(loc[:-1])
        names = [n for n in getattr(parent, "model_fields", {}) if n != "root"]
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        hint = f" (did you mean '{_key((*loc[:-1], close[0]))}'?)" if close else ""
        return f"unknown key '{key}'{hint}"
    if error["type"] == "missing":
        return f"{key}: missing: required"
    tp, meta = _field(loc)
    if tp in (int, float):
        allowed = f"must be {_range(tp, meta)}"
    else:
        allowed = re.sub(r"^\w+ should", "must", error["msg"].removeprefix("Value error, "))
        allowed = allowed.replace("must be an object", "must be a mapping")
        if error["type"] == "string_type" and isinstance(error["input"], int | float):
            allowed += " (YAML read it as a number: quote it)"  # 301_1 is the integer 3011
    return f"{key}: {_REPR.repr(error['input'])}: {allowed}"


def _one_line(err: ValidationError, source: str) -> str:
    errors = err.errors(include_url=False)
    # A tuple's own error ("at least 1 item after validation") repeats its items' errors
    inner = {e["loc"][:n] for e in errors for n in range(len(e["loc"]))}
    problems = [_problem(e) for e in errors if e["loc"] not in inner]
    shown = problems[:1]  # the first in full; then as many as keep the line short
    for problem in problems[1:]:
        if len("; ".join([*shown, problem])) > MAX_PROBLEMS_CHARS:
            break
        shown.append(problem)
    more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return f"{source}: {'; '.join(shown)}{more}"


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
        raise ConfigError(_one_line(err, source)) from None


def with_compare(cfg: Config, overrides: dict) -> Config:
    """`cfg` with compare.* keys replaced (command-line flags), validated like params.yaml."""
    if not overrides:
        return cfg
    try:
        section = CompareConfig.model_validate({**cfg.compare.model_dump(), **overrides})
    except ValidationError as err:
        raise ConfigError(_one_line(err, "compare")) from None
    return cfg.model_copy(update={"compare": section})


def _refusal(text: str, loader: type) -> str | None:
    """Why the YAML must not be constructed: an alias (a "billion laughs" expands them
    without bound downstream; params.yaml uses none), nesting far deeper than params, or a
    key given twice in one mapping (YAML keeps the last silently: a setting would vanish)."""
    keys: list[tuple[set, list] | None] = []  # per open collection: a mapping's keys, next-is-key
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            return f"line {line}: YAML alias *{event.anchor}: aliases are not allowed"
        if isinstance(event, yaml.NodeEvent) and keys and keys[-1] is not None:
            seen, is_key = keys[-1]
            if is_key[0] and isinstance(event, yaml.ScalarEvent):
                if event.value in seen:
                    return f"line {line}: key {event.value!r} given twice: each key once"
                seen.add(event.value)
            is_key[0] = not is_key[0]
        if isinstance(event, yaml.CollectionStartEvent):
            keys.append((set(), [True]) if isinstance(event, yaml.MappingStartEvent) else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            keys.pop()
        if len(keys) > MAX_DEPTH:
            return f"line {line}: nested deeper than {MAX_DEPTH} levels"
    return None


def read_yaml(path: Path, what: str = "params file") -> object:
    """Safe YAML of a small file, checked event by event before anything is built."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PARAMS_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the {what} ({err})") from None
    if len(data) > MAX_PARAMS_BYTES:
        raise ConfigError(f"{path}: over {MAX_PARAMS_BYTES >> 20} MiB: too large for a {what}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        refusal = _refusal(text, loader)
        if refusal is None:
            return yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        if isinstance(err, yaml.constructor.ConstructorError):  # !!python/object and the like
            raise ConfigError(f"{path}: unsafe YAML tag{where}: plain YAML only") from None
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{path}: unreadable value ({err})") from None
    raise ConfigError(f"{path}: {refusal}")


def load(path: str | Path = "params.yaml") -> Config:
    """Read params.yaml into the Config; any problem is one ConfigError line."""
    path = Path(path)
    return parse(read_yaml(path), path.resolve().parent, source=str(path))
