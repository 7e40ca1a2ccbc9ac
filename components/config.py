"""The one config object: params.yaml loaded into strict, frozen, typed models.

Every value is range-checked at load: floats finite, bands ordered, sizes bounded far above
any sane run, so a typo (an extra zero, swapped band ends) fails here, not hours into a day.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from components.config_errors import ConfigError, ConfigProblem, one_line
from components.config_runs import (  # noqa: F401 (re-exported: the sections' one home for callers)
    AlertConfig,
    CompareConfig,
    Focus,
    GateConfig,
    MonitorConfig,
    ParallelConfig,
    RegistryConfig,
    ScheduleConfig,
    SharedConfig,
)
from components.config_sections import (  # noqa: F401
    DataConfig,
    Frozen,
    LearningRate,
    ModelConfig,
    ModelName,
    MtmsLoss,
    Paths,
    ProbabilityBand,
    RatioBand,
    SceneConfig,
    ShockConfig,
    SimulatorConfig,
    TrainConfig,
    ValidationConfig,
    Width,
)
from components.safe_yaml import read_yaml


class Config(Frozen):
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
