"""Atomic file writes: a temporary file beside the target, then one rename.

A temporary name says whose it is (`.<target>.pid<N>.<random>.tmp`), so a file left by a
killed writer can be told from one being written now (`leftovers`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from components import failpoints

SUFFIX = ".tmp"
_OURS = re.compile(r"^\..+\.pid(\d+)\.[^.]+\.tmp$")
# written before temporary names carried the pid: bundles, records, pages, partitions
_LEGACY = re.compile(r"^\.(day=[^/]+|index\.html)\.[a-z0-9_]{8}$")


def temp_prefix(target: Path) -> str:
    """mkstemp/mkdtemp prefix of a temporary file or folder for `target` (with SUFFIX)."""
    return f".{Path(target).name}.pid{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def leftovers(folder: Path) -> Iterator[Path]:
    """Temporary files and folders under `folder` whose writer is gone (killed mid-write)."""
    if not Path(folder).is_dir():
        return
    for path in Path(folder).rglob(".*"):
        ours = _OURS.match(path.name)
        if (ours and not _alive(int(ours.group(1)))) or _LEGACY.match(path.name):
            yield path


def write_text(path: Path, text: str) -> Path:
    """Replace `path` with `text` so readers see the old file or the new one, never half."""
    return write_bytes(path, text.encode())


def write_bytes(path: Path, data: bytes) -> Path:
    """Replace `path` atomically and durably: data fsynced before the rename, then the folder."""
    return write_stream(path, lambda f: f.write(data))


def write_stream(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """write_bytes for data written by `write(file)` as it is produced (a file bigger than
    one wants to hold in memory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only
        failpoints.hit(f"atomic:rename{path.suffix}")  # e.g. atomic:rename.pt
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path
