"""Day partitions on disk: data/raw/day=YYYY-MM-DD/part-0.parquet, immutable once written.

Writes go to a hidden temporary folder that is renamed into place, so a crash never
leaves a half-written partition where readers look.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components.atomic import SUFFIX, temp_prefix

PART_FILE = "part-0.parquet"
CONTRACT_FILE = "_contract.json"  # written beside the partitions by dataset importers
CHUNK_ROWS = 262_144  # rows read at a time where a day is streamed (validation, encoding)


class PartitionError(ValueError):
    """A partition that is missing, already there, or unreadable."""


def day_name(day: dt.date, suffix: str = "") -> str:
    """`day=YYYY-MM-DD` + suffix: how every per-day file and folder is named (partitions,
    day records, validation results, bundles, dashboards), so they sort by day."""
    return f"day={day.isoformat()}{suffix}"


def day_of(path: Path) -> dt.date | None:
    """The day a per-day file or folder is named after (None for any other name)."""
    stem = path.name.split(".", 1)[0]
    try:
        return dt.date.fromisoformat(stem.removeprefix("day=")) if stem.startswith("day=") else None
    except ValueError:
        return None


def partition_dir(root: Path, day: dt.date) -> Path:
    return Path(root) / day_name(day)


def parse_day(text: str) -> dt.date:
    """A YYYY-MM-DD date; anything else is a one-line error."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PartitionError(f"not a date (YYYY-MM-DD): {text!r}") from None


def list_days(root: Path) -> list[dt.date]:
    """The days that have a partition under root, oldest first; a `day=` folder that names
    no date is an error naming it (every command reads this list: say what to move)."""
    root = Path(root)
    if not root.is_dir():
        return []
    days = []
    for path in root.glob("day=*"):
        try:
            days.append(dt.date.fromisoformat(path.name.removeprefix("day=")))
        except ValueError:
            raise PartitionError(
                f"{path}: not a day partition (day=YYYY-MM-DD): move it out of {root}"
            ) from None
    return sorted(days)


def atomic_dir(final: Path) -> Path:
    """A fresh temporary folder beside `final`, to be published with publish_dir."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(final), suffix=SUFFIX, dir=final.parent))


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished temporary folder into place; refuses to replace a partition."""
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        raise PartitionError(f"{final} already exists: raw partitions are immutable")
    os.replace(tmp, final)


def write_partition(root: Path, day: dt.date, table: pa.Table) -> Path:
    """Write one day's table atomically; an existing partition is never overwritten."""
    final = partition_dir(root, day)
    if final.exists():
        raise PartitionError(f"{final} already exists: raw partitions are immutable")
    tmp = atomic_dir(final)
    try:
        pq.write_table(table, tmp / PART_FILE, compression="zstd")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_dir(tmp, final)
    return final


def read_partition(root: Path, day: dt.date, columns: list[str] | None = None) -> pa.Table:
    """Read one day; a missing or unreadable partition is a PartitionError."""
    folder = partition_dir(root, day)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise PartitionError(f"no partition for {day} under {root}")
    try:
        return pa.concat_tables(pq.read_table(f, columns=columns) for f in files)
    except (pa.ArrowException, OSError) as err:
        raise PartitionError(f"{folder}: unreadable parquet ({err})") from None


def partition_rows(root: Path, day: dt.date) -> int:
    """A day's rows, from its files' metadata (nothing is read)."""
    files = sorted(partition_dir(root, day).glob("*.parquet"))
    if not files:
        raise PartitionError(f"no partition for {day} under {root}")
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except (pa.ArrowException, OSError) as err:
        raise PartitionError(f"{partition_dir(root, day)}: unreadable parquet ({err})") from None


def stream_partition(root: Path, day: dt.date, rows: int) -> Iterator[pa.RecordBatch]:
    """One day's rows as record batches of at most `rows`, read as they are consumed: a
    day bigger than memory is read one batch at a time."""
    folder = partition_dir(root, day)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise PartitionError(f"no partition for {day} under {root}")
    for f in files:
        try:
            yield from pq.ParquetFile(f).iter_batches(batch_size=rows)
        except (pa.ArrowException, OSError) as err:
            raise PartitionError(f"{folder}: unreadable parquet ({err})") from None


def move_partition(src_root: Path, dst_root: Path, day: dt.date) -> Path:
    """Move a day's folder to another root (quarantine), replacing an older copy there."""
    src, dst = partition_dir(src_root, day), partition_dir(dst_root, day)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)
    return dst
