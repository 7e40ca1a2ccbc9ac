"""Files of a YAML-declared contract (components/data/contract_yaml.py): CSV or Parquet
whose columns carry the contract's names. Other columns are dropped; request id and day
are filled when the files have none, as for the public datasets."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components.data.contract import Contract, Role
from components.data.loaders.tables import LoaderError, require_columns, to_table

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
LIST_SEPARATORS = re.compile(r"[|,;\s]+")  # a CSV cell of ids: "3|17|42", "[3, 17, 42]"


def _ids(cell: object, path: Path, name: str) -> list[int]:
    """A CSV cell of a multi column as its ids; empty or missing is no id."""
    if not isinstance(cell, str):
        return []
    try:
        return [int(i) for i in LIST_SEPARATORS.split(cell.strip().strip("[]")) if i]
    except ValueError:
        shown = cell[:40]
        raise LoaderError(f"{path}: column {name!r}: {shown!r} is not ids like 3|17|42") from None


def _read(path: Path, contract: Contract) -> pd.DataFrame:
    wanted = {c.name for c in contract.columns}
    # text columns stay text (a scene "01" keeps its zero); multi cells are parsed below
    texts = {c.name: str for c in contract.columns if c.dtype == "string" or c.role is Role.MULTI}
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            present = [n for n in pq.read_schema(path).names if n in wanted]
            return pq.read_table(path, columns=present).to_pandas()
        frame = pd.read_csv(path, usecols=lambda c: c in wanted, dtype=texts)
    except (OSError, ValueError, pa.ArrowException, UnicodeDecodeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:100]
        raise LoaderError(f"{path}: cannot be read: {reason}") from None
    for column in contract.by_role(Role.MULTI):
        if column.name in frame.columns:
            frame[column.name] = [_ids(c, path, column.name) for c in frame[column.name]]
    return frame


def load(contract: Contract, paths: list[Path], day: dt.date, scene: str | None = None) -> pa.Table:
    """One day's table of the files' rows (`scene`, when given, for every row)."""
    filled = {contract.request_id, contract.day} | ({contract.scene} if scene else set())
    needed = [c.name for c in contract.columns if c.name not in filled]
    frames = []
    for path in map(Path, paths):
        if not path.name.lower().endswith(SUFFIXES):
            allowed = ", ".join(SUFFIXES)
            raise LoaderError(f"{path}: not a data file: the name must end in {allowed}")
        frame = _read(path, contract)
        require_columns(frame, needed, str(path))
        if scene:
            frame[contract.scene] = scene
        for column in contract.columns:  # ints in a text column (a Parquet scene 3) as text
            if column.dtype == "string" and column.name in frame.columns:
                frame[column.name] = frame[column.name].astype("string")
        frames.append(frame)
    return to_table(pd.concat(frames, ignore_index=True), contract, day)
