"""Public datasets, and files of a YAML-declared contract, into day partitions."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

from components import atomic
from components.data.contract import CONTRACTS, Contract
from components.data.loaders import aliccp, aliccp_stream, aliexpress, custom
from components.data.loaders.tables import LoaderError
from components.data.partitions import CONTRACT_FILE, list_days, partition_dir, write_partition

LOADERS = {  # files -> one day's table, in memory
    "aliccp": aliccp.load_preprocessed,
    "aliccp-raw": None,  # streamed (aliccp_stream): its files are ~40 GB
    "aliexpress": aliexpress.load,
}
CUSTOM = "custom"  # files of the contract data.contract declares (data.dataset: custom)


def import_day(
    raw: Path,
    dataset: str,
    paths: list[Path],
    day: dt.date,
    scene: str | None = None,
    contract: Contract | None = None,
    days: int = 1,
) -> list[tuple[Path, int]]:
    """Load files of a public dataset, or of `contract` for dataset custom, as day
    partitions from `day`: one, or `days` pseudo-days of aliccp-raw's files split in file
    order; returns [(folder, rows)]."""
    if dataset == CUSTOM:
        if contract is None:
            raise LoaderError("dataset custom needs its contract (data.contract in params.yaml)")
        load = functools.partial(custom.load, contract)
    elif dataset in LOADERS:
        contract, load = CONTRACTS[dataset], LOADERS[dataset]
    else:
        choices = ", ".join([*LOADERS, CUSTOM])
        raise LoaderError(f"unknown dataset {dataset!r}; choose from {choices}")
    for path in paths:
        if not Path(path).is_file():
            raise LoaderError(f"{path}: no such file")
    marker = Path(raw) / CONTRACT_FILE
    held = json.loads(marker.read_text())["name"] if marker.exists() else None
    if held != contract.name and (held or list_days(raw)):
        holder = held or "simulator"
        raise LoaderError(
            f"{raw} already holds {holder} data; import {contract.name} into another paths.raw"
        )
    if days > 1 and load is not None:
        raise LoaderError(f"--days {days}: only aliccp-raw splits its files into pseudo-days")
    if load is None:
        written = aliccp_stream.import_raw(Path(raw), [Path(p) for p in paths], day, days, scene)
        done = [(partition_dir(raw, d), rows) for d, rows in written]
    else:
        table = load([Path(p) for p in paths], day, scene)
        done = [(write_partition(raw, day, table), table.num_rows)]
    if held is None:
        atomic.write_text(marker, contract.to_json())
    return done
