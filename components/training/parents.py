"""Which bundle a day's training warm-starts from (train.warm_start), and the fallbacks.

The champion's bundle or the newest on disk; one that is missing, corrupt, of another
model or day, or of an architecture params.yaml has changed since, is skipped with a
warning for the next; none left: a cold start.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from components.config import Config
from components.data.partitions import day_of
from components.models import bundle as bundles
from components.models.bundle import Bundle
from components.training.warm_start import architecture_changes, describe

log = logging.getLogger(__name__)


def bundles_before(cfg: Config, name: str, before: dt.date) -> list[Path]:
    """The bundles of `name` trained through a day before `before`, newest first."""
    folder = cfg.path("models") / name
    found = [p for p in folder.glob("day=*.pt") if (d := day_of(p)) and d < before]
    return sorted(found, reverse=True)


def choose_parent(
    cfg: Config,
    name: str,
    day: dt.date,
    champion: Callable[[], Path | None],
    held: Bundle | None = None,
) -> tuple[Bundle | None, str]:
    """The bundle training day `day` warm-starts from, and where it came from.

    train.warm_start: `champion` (the last good bundle: the serving model's) or `latest`
    (the newest intact bundle on disk, a rejected candidate's too), each falling back to
    the other: a bundle that is missing, fails to load (corrupt, truncated) or does not
    fit (another model, a later day, an architecture params.yaml has changed since) is
    skipped with a warning, and the next older bundle on disk is tried; with none left, a
    cold start. `champion` is called only when needed (it may download). A chain with no
    champion yet thus still warm-starts. `held` is the champion's bundle when the caller
    has loaded it already (not read twice).
    """
    on_disk = lambda: iter(bundles_before(cfg, name, day))  # noqa: E731
    served = lambda: iter([] if (p := champion()) is None else [p])  # noqa: E731
    # with no usable champion yet (a new chain), the newest bundle is the best there is
    order = [on_disk, served] if cfg.train.warm_start == "latest" else [served, on_disk]
    tried: set[Path] = set()
    for source in order:
        for path in source():
            if path in tried:
                continue
            tried.add(path)
            is_champion = source is served
            parent = _parent(cfg, name, day, path, held if is_champion else None)
            if parent is not None:
                return parent, str(path)
    return None, "cold start"


def _parent(cfg: Config, name: str, day: dt.date, path: Path, held: Bundle | None) -> Bundle | None:
    """The bundle at `path` if it loads and fits day `day`'s model; None (warned) if not."""
    try:
        parent = held if held is not None else bundles.load(path)
    except bundles.BundleError as err:
        log.warning("cannot warm-start from %s: %s; falling back", path, err)
        return None
    if parent.name != name or parent.meta.get("day", "") >= day.isoformat():
        log.warning(
            "cannot warm-start %s %s from %s (a %s of %s)",
            name,
            day,
            path,
            parent.name,
            parent.meta.get("day"),
        )
        return None
    if changes := architecture_changes(parent.config, cfg.model):
        log.warning(
            "not warm-starting %s %s from %s: params.yaml changes its architecture "
            "(%s); falling back",
            name,
            day,
            path,
            describe(changes),
        )
        return None
    return parent
