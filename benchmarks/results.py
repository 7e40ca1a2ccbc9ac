"""Where benchmark results go: benchmarks/out/<name>.json (not in git), and stdout."""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def publish(name: str, result: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (OUT / f"{name}.json").write_text(text)
    print(text)
