"""The model registry: which bundle is the champion, which it replaced, and every daily run.

The MLflow adapter lives in components.registry.mlflow_registry (the one module that imports
mlflow, itself imported only where a registry is used). The error and the version record
live here, so a command line can catch and print them without importing MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAMPION = "champion"  # the alias served and gated against
PREVIOUS = "previous"  # the alias rollback returns to


class RegistryError(ValueError):
    """A registry request that cannot be met: no such version, nothing to roll back to."""


@dataclass(frozen=True)
class Version:
    """One registered bundle, as the registry records it."""

    number: int
    trained_through: str  # YYYY-MM-DD: the last day the bundle trained on
    run_id: str  # the daily run that registered it
    checksum: str  # sha256 of the bundle file
    aliases: tuple[str, ...]
    tags: dict[str, str]  # every version tag: day (its daily run's), trained_through, checksum…


@dataclass(frozen=True)
class DataInput:
    """A dataset a daily run read, as MLflow lists a run's inputs (mlflow.data.context)."""

    name: str  # raw D1..D2 (the training window) or raw D (the day judged on)
    digest: str  # md5 of its partitions' bytes (lineage.window_md5)
    uri: str  # where its partitions lie
    context: str  # training | evaluation
    rows: int | None = None


__all__ = ["CHAMPION", "PREVIOUS", "DataInput", "RegistryError", "Version"]
