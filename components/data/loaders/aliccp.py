"""Ali-CCP as the AITM/torch-rechub scripts preprocess it (the raw files: aliccp_stream).

Field 301 (the position/scene expression) names the scene: "301_<value>".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa

from components.data.contract import ALICCP
from components.data.loaders.tables import require_columns, to_table


def load_preprocessed(paths: list[Path], day: dt.date, scene: str | None = None) -> pa.Table:
    """CSV with header: click, purchase, the label-encoded fields and D* dense columns."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        require_columns(frame, ["click", "purchase", *(c.name for c in ALICCP.features)], str(path))
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True).rename(columns={"purchase": "conversion"})
    frame["scene"] = scene or ("301_" + frame["301"].astype(str))
    return to_table(frame, ALICCP, day)
