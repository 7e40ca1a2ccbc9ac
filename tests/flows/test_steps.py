"""The daily flow's steps on their own (their Python bodies, no Prefect run): which candidate a
day gets, what register accepts, and when the champion may not be judged."""

from __future__ import annotations

import datetime as dt

import pytest

from components.config import Config
from components.data.simulator import simulate
from components.evaluation.evaluate import EvaluationError
from components.lineage import params_hash
from components.models import bundle as bundles
from components.models.bundle import BundleError
from components.records import Trained
from components.registry import Version
from components.registry.mlflow_registry import Registry
from components.training.chain import train_day
from flows import steps
from flows.steps import Serving

pytestmark = pytest.mark.slow


def version(day: str, tags: dict[str, str] | None = None) -> Version:
    return Version(3, day, "run", "sha", ("champion",), tags or {})


def test_the_champion_is_never_judged_on_a_day_it_trained_on():
    serving = Serving(version("2026-01-06"))
    for day in (dt.date(2026, 1, 6), dt.date(2026, 1, 5)):
        with pytest.raises(EvaluationError, match="v3 was trained through 2026-01-06|rows it saw"):
            serving.check_unseen(day)
    serving.check_unseen(dt.date(2026, 1, 7))  # the next, unseen day
    Serving(None).check_unseen(dt.date(2026, 1, 6))  # no champion: nothing to refuse


@pytest.fixture
def trained_day0(cfg: Config) -> tuple[Config, Registry, Trained, str]:
    """Day 0's model (the small world) trained and its MLflow run logged; not registered."""
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 2)
    through = cfg.simulator.start
    bundle, day = train_day(cfg, cfg.model.name, through, None)
    reg = Registry(cfg)
    run_id = reg.log_run(through, {}, {}, {}, {})
    return cfg, reg, Trained.of(bundle, day.path, "cold start", day), run_id


def test_a_version_registered_under_other_params_is_not_finished_but_retrained(trained_day0):
    cfg, reg, trained, run_id = trained_day0
    found = reg.register(run_id, trained.bundle, {"params_hash": "other params"})
    day = trained.through + dt.timedelta(days=1)
    fresh = steps.candidate.fn(cfg, reg, day, Serving(None), False)
    assert fresh.version is None and fresh.trained.parent == "cold start"  # trained now

    reg._client.set_model_version_tag(reg.name, str(found.number), "params_hash", params_hash(cfg))
    resumed = steps.candidate.fn(cfg, reg, day, Serving(None), False)
    assert resumed.version.number == found.number and resumed.trained.checksum == found.checksum
    assert steps.candidate.fn(cfg, reg, day, Serving(None), True).version is None  # --force


def test_register_refuses_a_bundle_changed_after_it_was_evaluated(trained_day0):
    _, reg, trained, run_id = trained_day0
    rewritten = bundles.load(trained.bundle)  # e.g. another run rewrote it in between
    rewritten.meta["rows"] += 1
    bundles.save(rewritten, trained.bundle)
    with pytest.raises(BundleError, match="changed after it was evaluated"):
        steps.register.fn(reg, run_id, trained, {})
    assert reg.versions() == []
