"""`mtms dashboard`: the Evidently UI on the workspace the daily runs fill (loopback only)."""

from __future__ import annotations

import subprocess

from rich.console import Console

from components.config import Config


def dashboard(console: Console, cfg: Config, port: int) -> int:
    from components.monitoring.evidently_report import ui_command

    argv = ui_command(cfg, port)
    index = cfg.path("dashboards") / "index.html"
    console.print(
        f"Evidently UI on http://127.0.0.1:{port} (Ctrl-C stops it); the static page: {index}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    try:
        return subprocess.run(argv).returncode
    except KeyboardInterrupt:
        return 0
