"""`mtms rollback`: the champion back to the previous champion."""

from __future__ import annotations

from rich.console import Console

from components import runs
from components.config import Config
from components.registry.mlflow_registry import Registry


def rollback(console: Console, cfg: Config) -> int:
    """Champion back to the previous version, once it is verified to load and score (a
    corrupt one is refused and no alias moves); the served model changes at the next start."""
    registry = Registry(cfg)
    with runs.lock(cfg, "rollback"):  # never in the middle of a daily run's promotion
        before = registry.champion()
        after = registry.rollback()
        previous = registry.previous()
    name = lambda v: f"version {v.number} (trained through {v.trained_through})"  # noqa: E731
    was = name(before) if before else "none"
    then = f"version {previous.number}" if previous else "none"
    console.print(
        f"{registry.name}: champion {was} -> {name(after)}; previous is now {then}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"version {after.number} verified: its bundle loads and scores")
    console.print("a running `mtms serve` serves it at its next alias check (--follow-every)")
    return 0
