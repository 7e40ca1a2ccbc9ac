"""Where a model came from: the tags that tie a registered version to its data, code and params."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess

from components.config import Config
from components.data.partitions import partition_dir
from components.data.versioning import data_version
from components.evaluation.metrics import Metrics
from components.registry import DataInput


def params_hash(cfg: Config) -> str:
    """sha256 of the config (not the file: comments and key order do not count), less where
    its stores are and where its scene jobs run: hosts sharing them train the same model
    under the same hash, and scenes trained apart are the scenes trained in turn."""
    dumped = cfg.model_dump_json(exclude={"root", "shared", "parallel"})
    return hashlib.sha256(dumped.encode()).hexdigest()[:16]


def git_commit(cfg: Config) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cfg.root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=cfg.root,
        capture_output=True,
        text=True,
        timeout=10,
    )
    commit = out.stdout.strip() if out.returncode == 0 else "unknown"
    return commit + ("-dirty" if commit != "unknown" and dirty.stdout.strip() else "")


def window_md5(cfg: Config, days: list[dt.date]) -> str:
    """md5 of the training window's partitions (each day's name, its files' names and bytes):
    the data a model saw, unlike data_md5 (all of data/raw, later days included). Raw
    partitions are immutable, so the hash of a window never changes."""
    digest = hashlib.md5(usedforsecurity=False)
    for day in sorted(days):
        folder = partition_dir(cfg.path("raw"), day)
        for path in sorted(folder.glob("*.parquet")):
            digest.update(f"{folder.name}/{path.name}\n".encode())
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


def data_inputs(
    cfg: Config, day: dt.date, window: list[dt.date], rows: int, window_md5_: str
) -> list[DataInput]:
    """The run's datasets for MLflow: the training window and the judged day's partitions."""
    raw = cfg.path("raw")
    where = partition_dir(raw, day).as_uri()
    judged = DataInput(f"raw {day}", window_md5(cfg, [day]), where, "evaluation", rows)
    if not window:
        return [judged]
    span = f"{min(window)}..{max(window)}" if len(window) > 1 else str(window[0])
    return [DataInput(f"raw {span}", window_md5_, raw.as_uri(), "training"), judged]


def source_tags(tags: dict[str, str]) -> dict[str, str]:
    """MLflow's own source tags (its UI shows the commit and the entry point) from lineage."""
    out = {"mlflow.source.name": "flows/daily.py", "mlflow.source.type": "JOB"}
    commit = tags.get("git_commit", "")
    if re.fullmatch(r"[0-9a-f]{40}", commit):  # not "unknown", not a dirty tree's
        out["mlflow.source.git.commit"] = commit
    return out


def lineage(
    cfg: Config, day: dt.date, trained_through: str, parent: str, window: list[dt.date] = ()
) -> dict[str, str]:
    """Tags of a run and its version: run day, data version (all of data/raw, and the
    training window's own), code, params, warm-start parent."""
    return {
        "run_day": day.isoformat(),
        "trained_through": trained_through,
        "data_md5": data_version(cfg.root) or "untracked",
        "data_window_md5": window_md5(cfg, list(window)) if window else "none",
        "git_commit": git_commit(cfg),
        "params_hash": params_hash(cfg),
        "parent": parent,
        "model": cfg.model.name,
    }


def run_params(cfg: Config) -> dict[str, str | int | float]:
    """The knobs a day's model depends on, flat, for the MLflow run."""
    flat: dict[str, str | int | float] = {"seed": cfg.seed}
    for section in ("model", "train"):
        for key, value in getattr(cfg, section).model_dump().items():
            flat[f"{section}.{key}"] = value if isinstance(value, int | float | str) else str(value)
    return flat


def run_metrics(role: str, metrics: list[Metrics]) -> dict[str, float]:
    """{role}.{scene}.{task}.{auc|oracle_auc|gauc|logloss|mae|calibration|rows}."""
    out = {}
    for m in metrics:
        for key, value in m.to_record().items():
            if key not in ("scene", "task", "positives") and value is not None:
                out[f"{role}.{m.scene}.{m.task}.{key}"] = float(value)
    return out
