"""The DVC adapter: data.dvc tracks the raw partitions; its md5 is the data version.

DVC's Python internals are not a stable API, so this drives its CLI (`python -m dvc`).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import yaml

log = logging.getLogger(__name__)
DVC_FILE = "data.dvc"  # at the workspace root; its single out is paths.raw


class VersioningError(RuntimeError):
    """DVC refused a command; the message is DVC's last line."""


def is_dvc_repo(root: Path) -> bool:
    return (Path(root) / ".dvc").is_dir()


def dvc(root: Path, *args: str) -> str:
    """Run one DVC command in the workspace; its stdout, or a one-line VersioningError."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        raise VersioningError(f"dvc {' '.join(args)}: {lines[-1]}")
    return proc.stdout


def _tracked_out(root: Path) -> dict | None:
    """data.dvc's single out entry ({path, md5, ...}); None without data.dvc."""
    dvc_file = Path(root) / DVC_FILE
    if not dvc_file.exists():
        return None
    return yaml.safe_load(dvc_file.read_text())["outs"][0]


def tracked_path(root: Path) -> Path | None:
    """The folder data.dvc tracks, relative to the workspace (None without data.dvc)."""
    out = _tracked_out(root)
    return Path(out["path"]) if out else None


def data_version(root: Path) -> str | None:
    """The md5 of the tracked data as recorded in data.dvc, for lineage; None if untracked."""
    out = _tracked_out(root)
    return out.get("md5") if out else None


def track(root: Path, raw: Path) -> str | None:
    """Record the current raw partitions in data.dvc (and the DVC cache); the new version.

    Outside a DVC workspace this does nothing and returns None.
    """
    root = Path(root)
    if not is_dvc_repo(root):
        log.info("%s is not a DVC workspace; data not versioned", root)
        return None
    relative = Path(raw).resolve().relative_to(root.resolve())
    held = tracked_path(root)
    if held is not None and held != relative:
        raise VersioningError(f"{DVC_FILE} tracks {held} but paths.raw is {relative}")
    if held is None:
        (root / DVC_FILE).write_text(yaml.safe_dump({"outs": [{"path": str(relative)}]}))
    dvc(root, "commit", "--force", "--quiet", DVC_FILE)
    return data_version(root)
