"""AliExpress in the MTReclib layout: one CSV per country; the country is the scene."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa

from components.data.contract import ALIEXPRESS
from components.data.loaders.tables import require_columns, to_table


def _country(path: Path) -> str:
    """AliExpress_NL/train.csv -> 'nl' (the folder names the country)."""
    name = path.parent.name if path.stem in ("train", "test") else path.stem
    return re.sub(r"^aliexpress_", "", name.lower())


def load(paths: list[Path], day: dt.date, scene: str | None = None) -> pa.Table:
    frames = []
    for path in map(Path, paths):
        frame = pd.read_csv(path)
        needed = ["search_id", "click", "conversion", *(c.name for c in ALIEXPRESS.features)]
        require_columns(frame, needed, str(path))
        frame["scene"] = scene or _country(path)
        frames.append(frame)
    return to_table(pd.concat(frames, ignore_index=True), ALIEXPRESS, day)
