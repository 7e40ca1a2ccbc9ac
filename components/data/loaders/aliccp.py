"""Ali-CCP loaders: the AITM/torch-rechub preprocessed CSV, and the raw sample files.

Field 301 (the position/scene expression) names the scene: "301_<value>".
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow as pa

from components.data.contract import ALICCP, ALICCP_RAW, Role
from components.data.loaders.tables import LoaderError, require_columns, to_table

FIELD_SEP, ID_SEP, VALUE_SEP = "\x01", "\x02", "\x03"


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


def _parse_features(text: str, source: str) -> dict[str, list[tuple[int, float]]]:
    """'field\\x02id\\x03value' records separated by \\x01, grouped by field."""
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for record in filter(None, text.split(FIELD_SEP)):
        try:
            field, rest = record.split(ID_SEP)
            fid, value = rest.split(VALUE_SEP)
            out[field].append((int(fid), float(value)))
        except ValueError:
            raise LoaderError(f"{source}: bad feature record {record[:40]!r}") from None
    return out


def _read_common(path: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    common = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split(",", 2)
            if len(parts) != 3:
                raise LoaderError(
                    f"{path}:{n}: expected common_feature_index,feature_num,feature_list"
                )
            common[parts[0]] = _parse_features(parts[2], f"{path}:{n}")
    return common


def _row(features: dict[str, list[tuple[int, float]]]) -> dict:
    row = {}
    for col in ALICCP_RAW.features:
        name = col.name.removeprefix("D") if col.role is Role.DENSE else col.name
        found = features.get(name, [])
        if col.role is Role.MULTI:
            row[col.name] = [fid for fid, _ in found]
        elif col.role is Role.DENSE:
            row[col.name] = found[0][1] if found else 0.0
        else:
            row[col.name] = found[0][0] if found else 0
    return row


def load_raw(paths: list[Path], day: dt.date, scene: str | None = None) -> pa.Table:
    """sample_skeleton_*.csv files plus their common_features_*.csv (joined on the index)."""
    skeletons = [p for p in paths if "common_features" not in Path(p).name]
    commons = [p for p in paths if "common_features" in Path(p).name]
    if not skeletons or not commons:
        raise LoaderError("aliccp-raw needs sample_skeleton_*.csv and common_features_*.csv files")
    common = {k: v for p in commons for k, v in _read_common(Path(p)).items()}
    rows = []
    for path in skeletons:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                parts = line.rstrip("\n").split(",", 5)
                if len(parts) != 6:
                    raise LoaderError(f"{path}:{n}: expected 6 comma-separated fields")
                features = _parse_features(parts[5], f"{path}:{n}")
                for field, found in common.get(parts[3], {}).items():
                    features.setdefault(field, found)
                rows.append({"click": int(parts[1]), "conversion": int(parts[2]), **_row(features)})
    frame = pd.DataFrame(rows)
    frame["scene"] = scene or ("301_" + frame["301"].astype(str))
    return to_table(frame, ALICCP_RAW, day)
