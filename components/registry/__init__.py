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


__all__ = ["CHAMPION", "PREVIOUS", "RegistryError", "Version"]
