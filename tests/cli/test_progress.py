"""`mtms backfill` on the console: one line as each step of a day starts, a row as each day
ends, every line once (the flow's log lines go to the Prefect run, not twice to stderr)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_params

pytestmark = [pytest.mark.server]  # the real command, with its temporary Prefect API

DAY0, DAY1 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)


def test_backfill_prints_each_step_as_it_starts_and_each_day_as_it_ends(tmp_path):
    from components.data.simulator import simulate

    cfg = write_params(tmp_path / "ws")
    tiny = cfg.simulator.model_copy(update={"rows_per_day": 3000})
    simulate(tiny, cfg.seed, cfg.path("raw"), DAY0, 2)
    clean = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env = {**clean, "PREFECT_HOME": str(cfg.root / ".prefect"), "GX_ANALYTICS_ENABLED": "False"}
    mtms = str(Path(sys.executable).parent / "mtms")
    argv = [mtms, "--params", str(cfg.root / "params.yaml"), "backfill"]
    done = subprocess.run(
        [*argv, "--start", str(DAY0), "--end", str(DAY1)],
        env=env, cwd=cfg.root, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # day 0: validated, nothing to train on; day 1: trains the first model and judges it
    assert f"{DAY0}  validate" in lines and f"{DAY1}  validate" in lines
    for step in ("monitor drift", "evaluate the candidate", "gate", "register"):
        assert lines.count(f"{DAY1}  {step}") == 1, (step, lines)
    assert any(line.startswith(f"{DAY1}  train through {DAY0}") for line in lines)
    assert any(line.startswith(f"{DAY1}  train: ") for line in lines)  # a training stage
    # a row as each day ends, before the next day's first step
    ended = next(i for i, line in enumerate(lines) if line.startswith(f"{DAY0}  no-training-data;"))
    assert ended < lines.index(f"{DAY1}  validate")
    # (3,000 rows a day: too few for the gate's row floors, so day 1 is rejected)
    assert any(line.startswith(f"{DAY1}  rejected: ") and "; champion -; drift no; " in line
               for line in lines)  # fmt: skip
    # the flow's INFO lines are not on the console, and nothing is printed twice
    assert "INFO" not in done.stderr and "validation passed" not in done.stdout + done.stderr
    printed = [line for line in lines + done.stderr.splitlines() if line.strip()]
    steps = [line for line in printed if line.startswith(f"{DAY1}  ")]
    assert len(steps) == len(set(steps)), steps
