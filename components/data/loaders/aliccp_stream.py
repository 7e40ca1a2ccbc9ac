"""Raw Ali-CCP in bounded memory: the sample skeleton joined with its common features.

The real pair is ~40 GB, so nothing holds a file: both are read in blocks by pyarrow's CSV
reader (six and three comma-separated fields; the feature lists use \\x01 \\x02 \\x03), each
block's feature records are parsed with Arrow kernels, not per line in Python, and every
row goes to one of `buckets` Parquet spill files by its common_feature_index. Each bucket
is then joined on its own (a 1/buckets share of the data in memory), and its rows are
written into their days. A file without timestamps is split into `days` pseudo-days by
position: the first 1/days of the skeleton's rows (in file order) is the first day, and so
on, so an importer run twice gives the same days. A skeleton field wins over the same
field in the common features. Rows with a purchase but no click are dropped.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from components.data.contract import ALICCP_RAW, Role
from components.data.loaders.tables import LoaderError
from components.data.partitions import atomic_dir, partition_dir, publish_dir

FIELD_SEP, ID_SEP, VALUE_SEP = "\x01", "\x02", "\x03"
JOIN_ROWS = 100_000  # skeleton rows joined at once: bounds the memory of the joined lists
# Parquet options, measured on 250k joined rows: a dictionary of random ids is wasted work
# and no reader uses the statistics; zstd writes 2.87 s -> 1.61 s at the same size. The
# spill is read once: lz4.
WRITE = {"compression": "zstd", "use_dictionary": ["scene", "day"], "write_statistics": False}
SPILL = {"compression": "lz4", "use_dictionary": False, "write_statistics": False}
BLOCK_BYTES = 16 << 20  # CSV read block: ~60k skeleton rows; bounds a block's parse memory
SKELETON = ["sample_id", "click", "conversion", "cfi", "feature_num", "features"]
COMMON = ["cfi", "feature_num", "features"]
# the contract's feature columns by the raw field that fills each (D508 <- field 508's value)
FIELDS = tuple(
    (c.name.removeprefix("D") if c.role is Role.DENSE else c.name, c) for c in ALICCP_RAW.features
)  # field 508 fills both the sparse column 508 (its id) and D508 (its value)


def _blocks(path: Path, names: list[str], types: dict[str, pa.DataType]):
    """(first line number, record batch) of a headerless CSV, block by block."""
    options = pacsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES)
    convert = pacsv.ConvertOptions(column_types=types)
    try:
        reader = pacsv.open_csv(path, read_options=options, convert_options=convert)
        line = 1
        for batch in reader:
            yield line, batch
            line += batch.num_rows
    except pa.ArrowInvalid as err:
        reason = str(err).splitlines()[0]
        raise LoaderError(f"{path}: expected {','.join(names)} per line ({reason[:80]})") from None


def _check(ok: pa.Array, flat: pa.Array, row: np.ndarray, source: str, first_line: int):
    if pc.all(ok).as_py() is False:
        bad = int(np.flatnonzero(~ok.to_numpy(zero_copy_only=False))[0])
        raise LoaderError(f"{source}:{first_line + row[bad]}: bad feature record {flat[bad]!s:.40}")


def _records(features: pa.Array, source: str, first_line: int):
    """Every row's 'field\\x02id\\x03value' records: (row index, field, id, value) arrays."""
    lists = pc.split_pattern(features, FIELD_SEP)
    row = pc.list_parent_indices(lists).to_numpy()
    flat = pc.list_flatten(lists)
    keep = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    row, flat = row[keep], flat.filter(pa.array(keep))
    parts = pc.split_pattern(flat, ID_SEP)
    _check(pc.equal(pc.list_value_length(parts), 2), flat, row, source, first_line)
    idv = pc.split_pattern(pc.list_element(parts, 1), VALUE_SEP)
    _check(pc.equal(pc.list_value_length(idv), 2), flat, row, source, first_line)
    try:
        ids = pc.cast(pc.list_element(idv, 0), pa.int64()).to_numpy()
        values = pc.cast(pc.list_element(idv, 1), pa.float32()).to_numpy()
    except pa.ArrowInvalid as err:
        raise LoaderError(f"{source}: a feature id or value is not a number ({err})") from None
    return row, pc.list_element(parts, 0), ids, values


def _columns(features: pa.Array, source: str, first_line: int) -> dict[str, pa.Array]:
    """One value column and one `<field>?` presence column per contract feature."""
    n = len(features)
    row, field, ids, values = _records(features, source, first_line)
    out, masks = {}, {}
    for name, col in FIELDS:
        if name not in masks:  # 508, 509, 702, 853 fill two columns each: one scan
            masks[name] = pc.equal(field, name).to_numpy(zero_copy_only=False)
        mask = masks[name]
        rows, found_ids, found_values = row[mask], ids[mask], values[mask]
        present = np.zeros(n, bool)
        present[rows] = True
        if col.role is Role.MULTI:  # rows are ascending: a row's ids are contiguous
            offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
            out[col.name] = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                                     pa.array(found_ids, pa.int64()))  # fmt: skip
        else:
            first = np.ones(len(rows), bool)
            first[1:] = rows[1:] != rows[:-1]
            dense = col.role is Role.DENSE
            column = np.zeros(n, np.float32 if dense else np.int64)
            column[rows[first]] = (found_values if dense else found_ids)[first]
            out[col.name] = pa.array(column)
        out[f"{col.name}?"] = pa.array(present)
    return out


def _bucket_of(cfi: pa.Array, buckets: int) -> np.ndarray:
    if buckets == 1:
        return np.zeros(len(cfi), np.int64)
    return np.fromiter((zlib.crc32(s.encode()) % buckets for s in cfi.to_pylist()), np.int64,
                       count=len(cfi))  # fmt: skip


def _spill(writers: dict, folder: Path, side: str, table: pa.Table, buckets: int) -> None:
    """Append each row of `table` to its bucket's Parquet file."""
    which = _bucket_of(table["cfi"], buckets)
    for b in np.unique(which):
        part = table.filter(pa.array(which == b))
        key = (side, int(b))
        if key not in writers:
            writers[key] = pq.ParquetWriter(folder / f"{side}-{b}.parquet", part.schema, **SPILL)
        writers[key].write_table(part)


def _pick(joined: pa.Table, col) -> pa.Array:
    """The skeleton's value of a field where the row has it, else the common features'."""
    own, common = joined[col.name], joined[f"{col.name}_common"]
    have_common = pc.fill_null(joined[f"{col.name}?_common"], False)
    use_common = pc.and_(pc.invert(joined[f"{col.name}?"]), have_common)
    empty = pa.scalar([], col.arrow_type) if col.role is Role.MULTI else pa.scalar(0, own.type)
    return pc.if_else(use_common, pc.fill_null(common, empty), own).combine_chunks()


def _rows(joined: pa.Table, first: dt.date, days: int, total: int, scene: str | None):
    """The contract's columns of joined rows, and each row's pseudo-day index."""
    cols = {c.name: pc.cast(_pick(joined, c), c.arrow_type) for c in ALICCP_RAW.features}
    named = pc.binary_join_element_wise("301", pc.cast(cols["301"], pa.string()), "_")
    cols["scene"] = pa.array([scene] * len(joined), pa.string()) if scene else named
    position = joined["sample_id"].to_numpy()
    day_index = position * days // max(total, 1)
    cols["request_id"] = pa.array(position, pa.int64())
    labels = pa.array([(first + dt.timedelta(i)).isoformat() for i in range(days)])
    cols["day"] = pc.take(labels, pa.array(day_index))
    cols["click"] = pc.cast(joined["click"], pa.int8())
    cols["conversion"] = pc.cast(joined["conversion"], pa.int8())
    schema = ALICCP_RAW.schema()
    table = pa.table([cols[n] for n in schema.names], schema=schema)
    return table, day_index


def import_raw(
    raw: Path,
    paths: list[Path],
    first: dt.date,
    days: int = 1,
    scene: str | None = None,
    buckets: int | None = None,
) -> list[tuple[dt.date, int]]:
    """Stream the raw files into `days` day partitions from `first`; [(day, rows)]."""
    skeletons = [Path(p) for p in paths if "common_features" not in Path(p).name]
    commons = [Path(p) for p in paths if "common_features" in Path(p).name]
    if not skeletons or not commons:
        raise LoaderError("aliccp-raw needs sample_skeleton_*.csv and common_features_*.csv files")
    targets = [first + dt.timedelta(i) for i in range(days)]
    for day in targets:
        if partition_dir(raw, day).exists():
            raise LoaderError(
                f"{partition_dir(raw, day)} already exists: raw partitions are immutable"
            )
    size = sum(p.stat().st_size for p in paths)
    buckets = buckets or min(256, max(1, -(-size // (256 << 20))))  # ~256 MB of text a bucket
    raw.mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix=".import-", dir=raw))
    outs = {day: atomic_dir(partition_dir(raw, day)) for day in targets}
    try:
        total = _spill_all(spill, skeletons, commons, buckets)
        counts = dict.fromkeys(targets, 0)
        for b in range(buckets):
            _join_bucket(spill, b, outs, first, days, total, scene, counts)
        for day, tmp in outs.items():
            publish_dir(tmp, partition_dir(raw, day))
        return list(counts.items())
    except BaseException:
        for tmp in outs.values():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _spill_all(spill: Path, skeletons: list[Path], commons: list[Path], buckets: int) -> int:
    """Parse both sides into bucket files; returns the skeleton's row count."""
    writers: dict = {}
    text = {"cfi": pa.string(), "features": pa.string()}
    try:
        for path in commons:
            for line, batch in _blocks(path, COMMON, text):
                cols = {"cfi": batch["cfi"], **_columns(batch["features"], str(path), line)}
                _spill(writers, spill, "common", pa.table(cols), buckets)
        total = 0
        types = {**text, "sample_id": pa.int64(), "click": pa.int8(), "conversion": pa.int8()}
        for path in skeletons:
            for line, batch in _blocks(path, SKELETON, types):
                cols = {"cfi": batch["cfi"], "click": batch["click"],
                        "conversion": batch["conversion"],
                        "sample_id": pa.array(np.arange(total, total + batch.num_rows)),
                        **_columns(batch["features"], str(path), line)}  # fmt: skip
                total += batch.num_rows
                _spill(writers, spill, "skeleton", pa.table(cols), buckets)
    finally:
        for writer in writers.values():
            writer.close()
    return total


def _join_bucket(spill: Path, b: int, outs: dict, first: dt.date, days: int, total: int,
                 scene: str | None, counts: dict) -> None:  # fmt: skip
    """Join one bucket's skeleton rows with their common features; write them by day."""
    left = spill / f"skeleton-{b}.parquet"
    if not left.exists():
        return
    skeleton, batch_no = pq.read_table(left), [0]
    right = spill / f"common-{b}.parquet"
    # no common features in the bucket: a table of none, so every row gets empty ones
    common = pq.read_table(right) if right.exists() else _no_common(skeleton.schema)
    # Arrow's hash join carries no list columns: join the keys to row numbers, then take
    last = common.append_column("_row", pa.array(np.arange(len(common), dtype=np.int64)))
    index = last.select(["cfi", "_row"]).group_by("cfi").aggregate([("_row", "max")])
    for batch in skeleton.to_batches(max_chunksize=JOIN_ROWS):  # bounds the joined lists
        own = pa.Table.from_batches([batch])
        keys = own.select(["cfi"]).append_column("_left", pa.array(np.arange(len(own))))
        rows = keys.join(index, "cfi", join_type="left outer", use_threads=False)
        rows = rows.sort_by("_left")["_row_max"]  # one per skeleton row: cfi is unique there
        theirs = common.drop_columns(["cfi"]).take(rows)
        joined = own
        for name in theirs.column_names:
            joined = joined.append_column(f"{name}_common", theirs[name])
        bought_unclicked = pc.and_(pc.equal(joined["click"], 0), pc.equal(joined["conversion"], 1))
        joined = joined.filter(pc.invert(bought_unclicked)).sort_by("sample_id")
        table, day_index = _rows(joined, first, days, total, scene)
        for i in np.unique(day_index):
            day = first + dt.timedelta(int(i))
            part = table.filter(pa.array(day_index == i))
            counts[day] += part.num_rows
            name = f"part-{b:05d}-{batch_no[0]:06d}.parquet"
            pq.write_table(part, outs[day] / name, **WRITE)
        batch_no[0] += 1


def _no_common(skeleton: pa.Schema) -> pa.Table:
    own = ("click", "conversion", "sample_id")
    return pa.schema([f for f in skeleton if f.name not in own]).empty_table()
