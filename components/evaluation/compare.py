"""The bake-off behind `mtms compare`: every model's daily warm-start chain, side by side.

For each seed, a world: on the simulator, `compare.days + 1` days simulated with that seed
(so seeds vary the data and the training); on real data, the last days under paths.raw
(seeds vary the training only). On it, each contender trains its warm-start chain (one
day, `train_day`, exactly as the daily flow does) and every day's model is scored on the
next, unseen day. Contenders: the zoo (`compare.models`), and with `compare.claims` the
variants the papers' headline claims need (MTMS Table I's loss/sharing rows and Table II's
one-scene models). With `compare.full_history`, a reference per model: trained from
scratch on every day of the chain for several epochs, scored on the same last day.

Each (seed, contender) runs in a fresh process forked from a forkserver that has imported
torch and the trainer once (a child starts in well under a second): its peak RSS is its
own (imports included), and nothing it leaves in torch's state reaches the next. A day
with no row of a contender's scenes (a one-scene model before its scene launches) is
skipped by that contender's chain, as the daily flow skips it. The statistics live in
`compare_stats`; this module only produces the raw records.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import resource
import select
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from components.codec import encode
from components.config import Config
from components.data.partitions import list_days, read_partition
from components.models.base import ModelError

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
PARAMS = ("data", "simulator", "model", "train", "gate", "compare")  # as dvc.yaml lists them


@dataclass(frozen=True)
class Contender:
    label: str  # how tables name it
    model: str  # a key of components.models.MODELS
    overrides: dict = field(default_factory=dict)  # model.* keys changed for this contender
    kind: str = "zoo"  # zoo | ablation (an MTMS implementation choice) | claim (a paper's variant)

    def config(self, cfg: Config) -> Config:
        model = cfg.model.model_copy(update={"name": self.model, **self.overrides})
        return cfg.model_copy(update={"model": model})


# MTMS Table I (feed only; every row fine-tuned on CVR alone, as the paper's table states)
TABLE_ONE = {
    "mtms ctr+cvr": {"mtms_losses": ("ctr", "cvr")},
    "mtms ctr+ctcvr shared": {"mtms_losses": ("ctr", "ctcvr"), "mtms_shared": True},
    "mtms ctr+cvr+ctcvr shared": {"mtms_shared": True},
    "mtms ctr+cvr+ctcvr": {},
}
TABLE_ONE_SCENE = "feed"
# MTMS implementation choices the paper leaves open, measured beside the shipped one
ABLATION = {
    "mtms ranking [32]": {"ranking": (32,)},
    "mtms residual": {"mtms_finetune": "residual", "ranking": (32,)},
}


def contenders(cfg: Config) -> list[Contender]:
    """The zoo, then (compare.claims) MTMS's ablation, Table I's rows and Table II's
    one-scene MTMS models."""
    out = [Contender(name, name) for name in cfg.compare.models]
    if not cfg.compare.claims:
        return out
    out += [Contender(label, "mtms", over, "ablation") for label, over in ABLATION.items()]
    for label, switches in TABLE_ONE.items():
        over = {"scenes": (TABLE_ONE_SCENE,), "mtms_finetune_losses": ("cvr",), **switches}
        out.append(Contender(f"{label} @{TABLE_ONE_SCENE}", "mtms", over, "claim"))
    # Table II: one MTMS per scene, each trained on its scene's rows alone
    out += [Contender(f"mtms @{s}", "mtms", {"scenes": (s,)}, "claim") for s in cfg.model.scenes]
    return out


def world(cfg: Config, seed: int, root: Path) -> tuple[Config, list[dt.date]]:
    """The config of one seed's world (data and models under `root`) and its days."""
    from components.data.simulator import simulate

    days = cfg.compare.days + 1  # the last one is only scored on
    if cfg.data.dataset != "simulator":
        have = list_days(cfg.path("raw"))[-days:]
        paths = cfg.paths.model_copy(update={"models": root / "models"})
        return cfg.model_copy(update={"seed": seed, "paths": paths}), have
    rows = cfg.compare.rows_per_day or cfg.simulator.rows_per_day
    sim = cfg.simulator.model_copy(update={"rows_per_day": rows})
    paths = cfg.paths.model_copy(update={"raw": root / "raw", "models": root / "models"})
    seeded = cfg.model_copy(update={"seed": seed, "paths": paths, "simulator": sim})
    simulate(sim, seed, paths.raw, sim.start, days)
    return seeded, [sim.start + dt.timedelta(d) for d in range(days)]


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def _quiet(cfg: Config) -> None:
    """A child's setup: torch threads as configured; no per-day warnings (a one-scene
    contender skips the other scenes' rows every day, on purpose)."""
    from components.training.loop import set_threads

    set_threads(cfg.train)
    logging.disable(logging.WARNING)


def run_chain(cfg: Config, contender: Contender, days: list[dt.date]) -> dict:
    """One contender's warm-start chain over `days[:-1]`, each model scored on the next day."""
    from components.evaluation.evaluate import evaluate
    from components.training.chain import NoTrainingRows, train_day

    _quiet(cfg)
    run = contender.config(cfg)
    models = cfg.path("models") / _slug(contender.label)
    previous, scored = None, []
    for day, test_day in zip(days, days[1:], strict=False):
        try:
            previous, trained = train_day(run, contender.model, day, previous, models=models)
        except NoTrainingRows:
            continue
        metrics = evaluate(previous, read_partition(cfg.path("raw"), test_day))
        scored.append({
            "day": test_day.isoformat(),
            "rows": trained.rows,
            "train_s": sum(s.seconds for s in trained.stages),
            "stages": {s.stage: {"seconds": s.seconds, "samples_per_s": s.samples_per_s}
                       for s in trained.stages},
            "metrics": [m.to_record() for m in metrics],
        })  # fmt: skip
    return {"label": contender.label, "days": scored, "peak_rss_mb": _peak_rss_mb()}


def run_full_history(cfg: Config, name: str, days: list[dt.date]) -> dict:
    """`name` trained from scratch on every chain day for several epochs, scored on the last."""
    from components.evaluation.evaluate import evaluate
    from components.training.chain import train_day

    _quiet(cfg)
    train = cfg.train.model_copy(
        update={"window_days": len(days) - 1, "epochs": cfg.compare.full_history_epochs}
    )
    run = Contender(name, name).config(cfg).model_copy(update={"train": train})
    models = cfg.path("models") / f"full-{name}"
    trained_bundle, trained = train_day(run, name, days[-2], None, models=models)
    metrics = evaluate(trained_bundle, read_partition(cfg.path("raw"), days[-1]))
    return {
        "label": name,
        "day": days[-1].isoformat(),
        "rows": trained.rows,
        "epochs": train.epochs,
        "train_s": sum(s.seconds for s in trained.stages),
        "metrics": [m.to_record() for m in metrics],
        "peak_rss_mb": _peak_rss_mb(),
    }


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label)


class CompareError(RuntimeError):
    """A contender's process died (killed, out of memory): named, in one line."""


def _die_with(parent: int) -> None:
    """A contender's process ends with the bake-off's (killed included), instead of training
    on for an hour unseen. Its parent is the forkserver, which lives as long as any child
    does, so the parent-death signal cannot say it: a daemon thread waits for the bake-off's
    process to exit (a pidfd on Linux; a 1 s poll elsewhere), then kills this process."""

    def watch() -> None:
        try:
            select.select([os.pidfd_open(parent)], [], [])
        except ProcessLookupError:  # gone already
            pass
        except (AttributeError, OSError):  # no pidfd: poll
            while _alive(parent):
                time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mtms-die-with-bake-off", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def isolated(fn, *args, what: str = "a bake-off run"):
    """fn(*args) in a fresh process (own peak RSS; no torch state shared with the caller)."""
    context = multiprocessing.get_context("forkserver")
    # the server imports these once; each child is a fork of it (a torch-free parent could
    # not be forked safely once it has run torch's thread pools). torch._dynamo is what the
    # first optimizer imports, evaluate brings scipy.stats: ~3.5 s a child when not preloaded
    preload = ["torch", "torch._dynamo", "components.training.chain",
               "components.evaluation.evaluate", __name__]  # fmt: skip
    context.set_forkserver_preload(preload)
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=_die_with, initargs=(os.getpid(),)
    ) as pool:
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            raise CompareError(f"{what}: its process died before it finished") from None


def compare(cfg: Config, progress: Progress | None = None, only: tuple[str, ...] = ()) -> dict:
    """Every contender's chain for every seed, and the full-history references: raw records.

    `only`: run just these contenders (labels) and full-history models, e.g. Table I's rows.
    """
    say = progress or (lambda _: None)
    known = [c.label for c in contenders(cfg)]
    if unknown := [label for label in only if label not in known]:
        raise CompareError(f"--only {unknown[0]!r}: not a contender; one of {', '.join(known)}")
    picked = lambda c: not only or c.label in only  # noqa: E731
    chains, full = [], []
    start = time.perf_counter()
    for seed in cfg.compare.seeds:
        with tempfile.TemporaryDirectory(prefix="mtms-compare-") as tmp:
            seeded, days = world(cfg, seed, Path(tmp))
            for c in filter(picked, contenders(seeded)):
                say(f"seed {seed}: {c.label}")
                try:
                    run = isolated(run_chain, seeded, c, days, what=f"seed {seed}, {c.label}")
                except ModelError as err:  # e.g. ESM2 on data without a daction label
                    log.warning("%s is left out of the bake-off: %s", c.label, err)
                    continue
                chains.append({"seed": seed, **run})
            for name in [n for n in cfg.compare.full_history if not only or n in only]:
                say(f"seed {seed}: {name} full-history retrain")
                what = f"seed {seed}, {name} full-history retrain"
                run = isolated(run_full_history, seeded, name, days, what=what)
                full.append({"seed": seed, **run})
    return {
        "contenders": [encode(c) for c in filter(picked, contenders(cfg))],
        "chains": chains,
        "full_history": full,
        "wall_s": time.perf_counter() - start,
    }
