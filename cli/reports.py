"""Tables the CLI prints; the numbers come from components."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table

from components.config import SimulatorConfig
from components.data.contract import SIMULATOR
from components.data.signal import oracle_aucs, variance_shares
from components.data.simulator import PARTS, simulate_day
from components.data.world import build_world


def table(title: str, columns: list[str], rows: list[list]) -> Table:
    """A left-titled table; floats to 4 decimals, None as '-'."""
    out = Table(title=title, title_justify="left")
    for col in columns:
        out.add_column(
            col, justify="left" if col in ("day", "scene", "status", "task") else "right"
        )
    for row in rows:
        out.add_row(
            *("-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v) for v in row)
        )
    return out


def print_signal(console: Console, sim: SimulatorConfig, seed: int, day: dt.date) -> None:
    """Where the true logits' variance comes from, and the oracle AUC, for one day."""
    simulated = simulate_day(build_world(sim, seed), sim, seed, day)
    shares = variance_shares(simulated)
    table = Table(title=f"share of true-logit variance, {day}", title_justify="left")
    table.add_column("task")
    for part in PARTS:
        table.add_column(part, justify="right")
    for task, by_part in shares.items():
        table.add_row(task, *(f"{by_part[p]:.2f}" for p in PARTS))
    console.print(table)
    table = Table(title=f"oracle AUC (the ceiling), {day}", title_justify="left")
    for col in ("scene", "task", "rows", "positives", "oracle AUC"):
        table.add_column(col, justify="left" if col in ("scene", "task") else "right")
    for o in oracle_aucs(simulated.table, SIMULATOR):
        table.add_row(o.scene, o.task, str(o.rows), str(o.positives), f"{o.auc:.4f}")
    console.print(table)
