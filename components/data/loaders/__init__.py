"""Public datasets into day partitions, each with its own contract."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from components import atomic
from components.data.contract import CONTRACTS
from components.data.loaders import aliccp, aliexpress
from components.data.loaders.tables import LoaderError
from components.data.partitions import CONTRACT_FILE, list_days, write_partition

LOADERS = {
    "aliccp": aliccp.load_preprocessed,
    "aliccp-raw": aliccp.load_raw,
    "aliexpress": aliexpress.load,
}


def import_day(
    raw: Path, dataset: str, paths: list[Path], day: dt.date, scene: str | None = None
) -> tuple[Path, int]:
    """Load files of a public dataset as one day's partition; returns (folder, rows)."""
    if dataset not in LOADERS:
        raise LoaderError(f"unknown dataset {dataset!r}; choose from {', '.join(LOADERS)}")
    for path in paths:
        if not Path(path).is_file():
            raise LoaderError(f"{path}: no such file")
    marker = Path(raw) / CONTRACT_FILE
    held = json.loads(marker.read_text())["name"] if marker.exists() else None
    if held != dataset and (held or list_days(raw)):
        holder = held or "simulator"
        raise LoaderError(
            f"{raw} already holds {holder} data; import {dataset} into another paths.raw"
        )
    table = LOADERS[dataset]([Path(p) for p in paths], day, scene)
    folder = write_partition(raw, day, table)
    if held is None:
        atomic.write_text(marker, CONTRACTS[dataset].to_json())
    return folder, table.num_rows
