"""What interrupted runs leave behind, found and cleaned: `mtms doctor`, and every daily run.

A kill -9 or a full disk can leave, besides the registry's own leftovers (a run stuck
RUNNING, a logged model never registered: `Registry.tidy`), temporary files of atomic
writes (bundles, records, partitions, pages) and a day whose record was written but whose
dashboards were not (killed during publish). Each is safe to clean under the run lock:
no daily run is writing then, and a temporary name carries its writer's pid.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from components import atomic, runs
from components.config import Config
from components.records import DayRecord

if TYPE_CHECKING:  # the adapter imports MLflow
    from components.registry.mlflow_registry import Registry

PUBLISHED = ".published"  # in paths.dashboards: the days whose dashboards are built
SWEPT = ("raw", "validation", "quarantine", "models", "runs", "dashboards")


def sweep(cfg: Config) -> list[Path]:
    """Remove the temporary files and folders of writers that are gone; what was removed."""
    removed = []
    for key in SWEPT:
        for path in list(atomic.leftovers(cfg.path(key))):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _marker(cfg: Config) -> Path:
    return cfg.path("dashboards") / PUBLISHED


def published(cfg: Config) -> set[dt.date]:
    try:
        return {dt.date.fromisoformat(d) for d in json.loads(_marker(cfg).read_text())}
    except (OSError, ValueError, TypeError):  # none yet, or unreadable: publish again
        return set()


def mark_published(cfg: Config, days: list[dt.date]) -> None:
    """Called after the dashboards show `days` (atomic: a kill leaves the old list)."""
    every = sorted(published(cfg) | set(days))
    atomic.write_text(_marker(cfg), json.dumps([d.isoformat() for d in every]))


def unpublished(records: list[DayRecord], cfg: Config) -> list[DayRecord]:
    """Finished days the dashboards do not show yet (a run killed while publishing)."""
    done = published(cfg)
    return [r for r in records if r.day not in done]


def clean(cfg: Config, registry: Registry) -> list[str]:
    """Everything above, and the registry's leftovers; one line per thing cleaned. Call it
    holding the run lock (components.runs.lock)."""
    from components.monitoring.publish import publish  # Evidently: only when there is work

    done = [f"removed {p}" for p in sweep(cfg)]
    done += registry.tidy()
    if stale := unpublished(runs.records(cfg), cfg):
        publish(cfg, stale)
        done.append(f"published the dashboards of {', '.join(str(r.day) for r in stale)}")
    return done
