"""One step of the daily warm-start chain, and the chain over a range of days.

Day D's model trains on the window of days ending at D (train.window_days), starting
from day D-1's bundle when there is one (cold start otherwise): the vocabularies grow
with the window's new ids, known weights are copied, then every stage trains.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from components.config import Config, ModelConfig
from components.data.partitions import (
    CHUNK_ROWS,
    day_name,
    list_days,
    stream_partition,
)
from components.features.batch import Batch
from components.features.encoding import Encoder
from components.models import bundle as bundles
from components.models.base import RankingModel
from components.models.bundle import Bundle
from components.training import distributed
from components.training.calibration import MapFit, calibrate, split_holdout
from components.training.loop import OnStep, StageResult, fit
from components.training.scenes import SceneMap
from components.training.warm_start import WarmStart, architecture_changes, describe, warm_start
from components.validation.quarantine import dataset_contract

log = logging.getLogger(__name__)


class TrainingError(ValueError):
    """A training request that cannot run: no data, or a mismatched warm-start bundle."""


class NoTrainingRows(TrainingError):
    """The window holds partitions but no row of a scene the model has."""


@dataclass(frozen=True)
class TrainedDay:
    day: dt.date
    window: list[dt.date]
    rows: int
    path: Path
    stages: list[StageResult]
    warm: WarmStart | None  # None for a cold start
    encode_seconds: float  # reading the window and growing + applying the vocabularies
    calibration: tuple[MapFit, ...] = ()  # each (scene, task)'s map, fitted on held-out rows


def day_seed(seed: int, day: dt.date, name: str) -> int:
    """A seed per (master seed, day, model): reruns of a day are identical."""
    digest = hashlib.sha256(f"{seed}/{day.isoformat()}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def window(cfg: Config, day: dt.date) -> list[dt.date]:
    """The days of the training window ending at `day` that have a partition."""
    have = set(list_days(cfg.path("raw")))
    span = [day - dt.timedelta(days=i) for i in range(cfg.train.window_days)][::-1]
    return [d for d in span if d in have]


def bundle_path(cfg: Config, name: str, day: dt.date, models: Path | None = None) -> Path:
    return (models or cfg.path("models")) / name / day_name(day, ".pt")


def _start_from(cfg: Config, previous: Bundle | None) -> tuple[Encoder, ModelConfig]:
    """The encoder and model config of a new day: yesterday's, plus any scene added since.

    The caller has checked that `previous` has params.yaml's architecture (`train_day`).
    """
    if previous is None:
        encoder = Encoder(dataset_contract(cfg), cfg.model.scenes, cfg.model.min_count)
        return encoder, cfg.model
    encoder = previous.encoder.copy()
    added = tuple(s for s in cfg.model.scenes if s not in encoder.scenes)
    if added:  # appended, so every existing index, component and column keeps its place
        log.warning("adding scenes %s to a warm-started %s model", added, previous.name)
        encoder.scenes = encoder.scenes + added
    update = {"scenes": encoder.scenes, "expire_days": cfg.model.expire_days}
    return encoder, previous.config.model_copy(update=update)


def train_day(
    cfg: Config,
    name: str,
    day: dt.date,
    previous: Bundle | None,
    on_step: OnStep | None = None,
    models: Path | None = None,
    scene_map: SceneMap | None = None,
) -> tuple[Bundle, TrainedDay]:
    """Train `name` on the window ending at `day`, warm-started from `previous`; saved.

    The bundle goes to `bundle_path` under `models` (default: paths.models). `scene_map`:
    where a stage's scenes train apart, when the model's scenes can (training.scenes).
    """
    days = window(cfg, day)
    if not days:
        raise TrainingError(f"no partition to train on for {day} under {cfg.paths.raw}")
    if previous is not None:
        _check_parent(cfg, name, day, previous)
    encoder, config = _start_from(cfg, previous)
    start = time.perf_counter()
    encoder, blocks, fresh = _encode_window(cfg, encoder, days, previous)
    late = _parents_holdout(cfg, encoder, days, previous)
    encode_seconds = time.perf_counter() - start
    seed = day_seed(cfg.seed, day, name)
    blocks[-1], holdout, held = _hold_out(cfg, name, day, blocks[-1])
    data = Batch.concat(([late] if late is not None else []) + blocks)
    if len(data) == 0:
        raise NoTrainingRows(f"no rows of scenes {list(encoder.scenes)} to train on for {day}")
    model = bundles.build(name, encoder, config, seed)
    warm = _warm_start(model, previous, fresh) if previous else None
    stages = fit(model, data, cfg.train, seed, on_step, scene_map)
    fits = _calibrate(cfg, model, holdout, encoder.scenes)
    meta = {
        "day": day.isoformat(),
        "window": [d.isoformat() for d in days],
        "rows": len(data),
        "parent": previous.meta.get("checksum") if previous else None,
        "stages": [{**asdict(s), "samples_per_s": s.samples_per_s} for s in stages],
        "calibration": [asdict(f) for f in fits],
        "holdout": held,  # how the newest day was split: tomorrow trains on the held-out rows
        "late_rows": 0 if late is None else len(late),  # the parent's held-out rows, trained on
        **_scene_rows(encoder, data, previous),
    }
    rows = len(data)
    del data, blocks, late, holdout  # the window's tensors: not held while the bundle is written
    trained = Bundle(name, config, encoder, model, meta)
    path = bundle_path(cfg, name, day, models)
    saved = bundles.save(trained, path) if distributed.rank() == 0 else None  # one writer
    trained.meta["checksum"] = distributed.broadcast(saved)  # the others wait for it
    result = TrainedDay(day, days, rows, path, stages, warm, encode_seconds, tuple(fits))
    return trained, result


def _hold_out(
    cfg: Config, name: str, day: dt.date, newest: Batch
) -> tuple[Batch, Batch | None, dict | None]:
    """(rows to train on, rows held out for the calibration stage, how they were split);
    nothing is held out when train.calibration is none."""
    if cfg.train.calibration == "none":
        return newest, None, None
    share, seed = cfg.train.calibration_holdout, day_seed(cfg.seed, day, f"{name}/holdout")
    train, holdout = split_holdout(newest, share, torch.Generator().manual_seed(seed))
    return train, holdout, {"share": share, "seed": seed, "of": len(newest)}


def _parents_holdout(
    cfg: Config, encoder: Encoder, days: list[dt.date], previous: Bundle | None
) -> Batch | None:
    """The rows the parent held out of its newest day to fit its calibration maps, to train
    on today: calibration then costs no training data, only a day's delay on a tenth of a
    day. None when the parent held nothing out, its day is in today's window already, its
    partition is gone, or its rows encode differently now (scenes added): then the split
    could not be redone exactly."""
    held = previous.meta.get("holdout") if previous is not None else None
    if not held:
        return None
    newest = dt.date.fromisoformat(previous.meta["day"])
    if newest in days or newest not in set(list_days(cfg.path("raw"))):
        return None
    block = encoder.encode(stream_partition(cfg.path("raw"), newest, CHUNK_ROWS))[0]
    if len(block) != held["of"]:
        return None
    split = torch.Generator().manual_seed(held["seed"])
    return split_holdout(block, held["share"], split)[1]


def _calibrate(
    cfg: Config, model: RankingModel, holdout: Batch | None, scenes: tuple[str, ...]
) -> list[MapFit]:
    """The calibration stage; with train.calibration none, every map is the identity
    (a warm start copied yesterday's)."""
    if holdout is None:
        model.calibration.reset()
        return []
    method, least = cfg.train.calibration, cfg.train.calibration_min_positives
    return calibrate(model, holdout, scenes, method, least)


def _scene_rows(encoder: Encoder, data: Batch, previous: Bundle | None) -> dict:
    """Rows per scene in the window, and every scene trained on by this bundle or its
    ancestors: scoring refuses scenes the model has heads for but never learned."""
    counts = torch.bincount(data.scene, minlength=len(encoder.scenes)).tolist()
    rows = dict(zip(encoder.scenes, counts, strict=True))
    # a parent saved before this record: trusted for every scene it had heads for
    before = previous.meta.get("trained_scenes", previous.encoder.scenes) if previous else ()
    trained = [s for s in encoder.scenes if rows[s] or s in before]
    return {"scene_rows": rows, "trained_scenes": trained}


def _check_parent(cfg: Config, name: str, day: dt.date, previous: Bundle) -> None:
    """An explicit parent must be the same model, of an earlier day, with today's architecture."""
    if previous.name != name:
        raise TrainingError(f"cannot warm-start model {name!r} from a {previous.name!r} bundle")
    if previous.meta.get("day", "") >= day.isoformat():
        raise TrainingError(f"cannot warm-start {day} from a bundle of {previous.meta['day']}")
    if changes := architecture_changes(previous.config, cfg.model):
        raise TrainingError(
            f"cannot warm-start {name} {day} from the {previous.meta.get('day')} bundle: "
            f"params.yaml changes its architecture ({describe(changes)}); train it cold"
        )


def _encode_window(
    cfg: Config, encoder: Encoder, days: list[dt.date], previous: Bundle | None
) -> tuple[Encoder, list[Batch], tuple[torch.Tensor, ...]]:
    """Grow the vocabularies with the window's new days (ids unseen for model.expire_days
    give their rows back), then encode every row: the encoder, one block per day, oldest
    first, and per field the rows given to new ids. Days are streamed from disk in
    chunks, twice (count, encode), so memory holds the encoded tensors, not the tables.
    Under torchrun, rank 0 fits and every rank gets its encoder: the ids are the same."""
    rows = lambda d: stream_partition(cfg.path("raw"), d, CHUNK_ROWS)  # noqa: E731
    given: dict[str, list] = {}
    if distributed.rank() == 0:
        for d in days:  # days already in yesterday's window are counted already
            if previous is None or d.isoformat() > previous.meta.get("day", ""):
                for field, rows_of in encoder.fit(rows(d), d, cfg.model.expire_days).items():
                    given.setdefault(field, []).append(rows_of)
    encoder, given = distributed.broadcast((encoder, given))
    fresh = encoder.per_field({f: np.concatenate(parts) for f, parts in given.items()})
    return encoder, [encoder.encode(rows(d))[0] for d in days], fresh


def _warm_start(model, previous: Bundle, fresh: tuple[torch.Tensor, ...]) -> WarmStart:
    try:
        return warm_start(model, previous.model.state_dict(), fresh)
    except ValueError as err:
        raise TrainingError(
            f"warm start from the {previous.meta.get('day')} bundle: {err}"
        ) from None


def train_chain(
    cfg: Config,
    name: str,
    days: list[dt.date],
    previous: Bundle | None = None,
    on_step: OnStep | None = None,
    on_day: Callable[[TrainedDay], None] | None = None,
    scene_map: SceneMap | None = None,
) -> list[TrainedDay]:
    """Train day after day, each warm-started from the one before."""
    out = []
    for day in days:
        previous, trained = train_day(cfg, name, day, previous, on_step, scene_map=scene_map)
        out.append(trained)
        if on_day:
            on_day(trained)
    return out
