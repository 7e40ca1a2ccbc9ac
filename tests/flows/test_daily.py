"""The daily flow end to end: Prefect test harness, MLflow in the workspace, small sim days."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from mlflow import MlflowClient

from cli.main import main
from components import runs
from components.config import load
from components.data.corruption import corrupt_table
from components.data.partitions import read_partition
from components.models import bundle as bundles
from components.models.scoring import score
from components.records import DayRecord
from components.registry.mlflow_registry import Registry
from components.runs import RunLockedError
from tests.helpers import daily_workspace, rewrite_day, shuffle_labels

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]


def day(i: int) -> dt.date:
    return dt.date(2026, 1, 5) + dt.timedelta(days=i)


def run(params, i: int, **kwargs) -> DayRecord:
    from flows.daily import daily

    return daily(day=day(i).isoformat(), params=str(params), **kwargs)


def prefect_run(name: str):
    """The newest flow run of that name on the test server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    by_name = FlowRunFilter(name=FlowRunFilterName(any_=[name]))
    with get_client(sync_client=True) as client:
        found = client.read_flow_runs(flow_run_filter=by_name, sort=FlowRunSort.START_TIME_DESC)
    assert found, f"no flow run named {name}"
    return found[0]


def prefect_artifact(key: str):
    from prefect.artifacts import Artifact

    found = Artifact.get(key)
    assert found is not None, f"no artifact {key}"
    return found


def champion_scores(cfg, registry: Registry, i: int):
    """The champion loads from the registry and scores raw rows of day i."""
    bundle = bundles.load(registry.bundle_path(registry.champion()))
    rows = read_partition(cfg.path("raw"), day(i)).slice(0, 50).to_pandas()
    return score(bundle, rows.drop(columns=["click", "conversion", "daction"]))


def test_promote_reject_quarantine_and_rollback(tmp_path, sim_days, capsys):
    params = daily_workspace(tmp_path / "ws", sim_days)
    cfg = load(params)
    registry = Registry(cfg)

    # days 0-2: nothing to train on day 0; day 1's model is the first champion; day 2 improves
    assert (
        main(["--params", str(params), "backfill", "--start", str(day(0)), "--end", str(day(2))])
        == 0
    )
    out = capsys.readouterr().out
    assert "no-training-data" in out and "promoted" in out and "feed/ctr" in out
    first, second = runs.load_record(cfg, day(1)), runs.load_record(cfg, day(2))
    assert first.outcome == "promoted" and first.decision.first_model
    assert first.trained.parent == "cold start"
    assert second.outcome == "promoted", second.decision.reasons
    assert second.trained.warm and second.champion_before == first.version
    assert registry.champion().number == second.version
    assert registry.previous().number == first.version
    candidate = {(m.scene, m.task): m.auc for m in second.candidate}
    assert candidate[("feed", "ctr")] > 0.6 and candidate[("search", "ctr")] > 0.6
    assert set(second.timings) >= {"validation", "train", "evaluate", "register", "flow"}
    logged = MlflowClient(registry.tracking_uri).get_run(second.run_id).data
    assert logged.tags["drift"] == ("yes" if second.drift.drifted else "no")
    assert logged.metrics["drift.share"] == pytest.approx(second.drift.drift_share)
    assert logged.tags["parent_version"] == str(first.version)
    assert registry.get(second.version).tags["parent_version"] == str(first.version)  # named
    # both models' calibration per focus on the same rows, in the record and the run
    assert {c.focus for c in second.calibration} == {f"{f.scene}/{f.task}" for f in cfg.gate.focus}
    assert all(c.champion is not None and len(c.candidate.curve) == 10 for c in second.calibration)
    artifacts = {a.path for a in MlflowClient(registry.tracking_uri).list_artifacts(second.run_id)}
    assert "calibration.json" in artifacts
    assert second.serving.champion == second.version and second.serving.age_days == 0
    assert logged.tags["stale"] == "no" and logged.metrics["champion.age_days"] == 0

    # a rerun of a finished day returns its record: no second version, no promotion
    versions = len(registry.versions())
    rerun = run(params, 2)  # the record, as it was written
    assert (rerun.version, rerun.finished) == (second.version, second.finished)
    assert len(registry.versions()) == versions

    # day 3 is corrupt: quarantined, the registry untouched; day 4 has nothing to train on
    rewrite_day(cfg, day(3), lambda t: corrupt_table(t, "nulls", 0))
    assert run(params, 3).outcome == "quarantined"
    assert (cfg.path("quarantine") / f"day={day(3)}").is_dir()
    assert runs.load_record(cfg, day(3)).serving is None  # the registry is not read
    idle = run(params, 4)
    assert idle.outcome == "no-training-data" and idle.serving.age_days == 2  # since day 2
    assert registry.champion().number == second.version and len(registry.versions()) == versions

    # day 4's logs lost their labels' alignment (passes validation: the rates are intact):
    # day 5's candidate, trained on them, is rejected and champion stays
    rewrite_day(cfg, day(4), shuffle_labels)
    (cfg.path("validation") / f"day={day(4)}.json").unlink()  # it changed since it was validated
    bad = run(params, 5)
    assert bad.outcome == "rejected", bad.candidate
    assert any("vs champion" in r for r in bad.decision.reasons)
    assert bad.trained.parent.endswith(f"day={day(1)}.pt")  # the last good bundle
    assert registry.champion().number == second.version
    assert len(registry.versions()) == versions + 1  # registered, not promoted
    rejected = MlflowClient(registry.tracking_uri).get_model_version(
        cfg.registry.model_name, str(bad.version)
    )
    assert rejected.tags["gate"] == "reject" and rejected.description.startswith("rejected: ")
    assert bad.decision.reasons[0] in rejected.tags["gate_reasons"]
    assert registry.get(second.version).tags["gate"] == "pass"
    # day 2's champion (data through day 1) is unreplaced on days 3, 4, 5: stale, never a block
    assert bad.serving.champion == second.version and bad.serving.age_days == 3
    assert bad.serving.stale == (cfg.gate.max_champion_age_days <= 3)
    stale = MlflowClient(registry.tracking_uri).get_run(bad.run_id).data.tags["stale"]
    assert stale == ("yes" if bad.serving.stale else "no")
    # in Prefect: the run is named after its day, tagged with its outcome, and carries the
    # day (the gate's failed checks) as a markdown artifact
    flow_run, note = prefect_run(f"day={day(5)}"), prefect_artifact(f"mtms-day-{day(5)}")
    assert (
        "outcome:rejected" in flow_run.tags
        and "outcome:quarantined" in prefect_run(f"day={day(3)}").tags
    )
    assert note.flow_run_id == flow_run.id and "## Gate: reject" in note.data
    # and its final state says so at a glance: Completed, named Rejected (Promoted: day 1)
    assert flow_run.state.is_completed() and flow_run.state.name == "Rejected"
    assert prefect_run(f"day={day(1)}").state.name == "Promoted"
    # the record links its flow run, and says the data version its candidate trained on
    assert runs.load_record(cfg, day(5)).flow_run == str(flow_run.id)
    assert bad.lineage["data_window_md5"] == rejected.tags["data_window_md5"] != "none"
    assert "**fail**" in note.data and bad.decision.reasons[0].split(": ", 1)[1] in note.data

    # rollback: champion back to day 1's model, which loads and scores
    assert main(["--params", str(params), "rollback"]) == 0
    assert registry.champion().number == first.version
    assert len(champion_scores(cfg, registry, 5)) == 50

    capsys.readouterr()
    assert main(["--params", str(params), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert main(["--params", str(params), "status"]) == 0
    text = capsys.readouterr().out
    assert f"champion: v{first.version} (trained through {day(0)}, run day {day(1)})" in text
    assert status["champion"]["version"] == first.version
    assert status["serving"]["age_days"] == 3 and status["days"][-1]["stale"] == bad.serving.stale
    assert f"serving on {day(5)}: v{second.version} unreplaced 3 days" in text
    assert [d["outcome"] for d in status["days"]] == [
        "no-training-data", "promoted", "promoted", "quarantined", "no-training-data", "rejected"
    ]  # fmt: skip


def test_crashes_leave_champion_loadable_and_reruns_finish(tmp_path, sim_days, monkeypatch):
    params = daily_workspace(tmp_path / "ws", sim_days)
    cfg = load(params)
    registry = Registry(cfg)
    run(params, 0)
    champion = run(params, 1).version

    def crash(*args, **kwargs):
        raise RuntimeError("injected crash")

    # after training, before anything is registered
    with monkeypatch.context() as m:
        m.setattr("flows.steps.decide", crash)
        with pytest.raises(RuntimeError, match="injected"):
            run(params, 2)
    assert (cfg.path("models") / "mtms" / f"day={day(1)}.pt").exists()
    assert registry.champion().number == champion and runs.load_record(cfg, day(2)) is None
    assert len(champion_scores(cfg, registry, 2)) == 50

    # after registration, before the alias moves
    with monkeypatch.context() as m:
        m.setattr(Registry, "promote", crash)
        with pytest.raises(RuntimeError, match="injected"):
            run(params, 2)
    assert registry.champion().number == champion and len(registry.versions()) == 2
    assert len(champion_scores(cfg, registry, 2)) == 50

    # the rerun finishes the registered version instead of adding one
    done = run(params, 2)
    assert done.outcome == "promoted" and len(registry.versions()) == 2
    assert registry.champion().number == done.version != champion

    # --force retrains: a new version, gated like any other
    forced = run(params, 2, force=True)
    assert forced.version not in (champion, done.version)


def test_two_runs_of_a_day_cannot_both_promote(tmp_path, sim_days):
    params = daily_workspace(tmp_path / "ws", sim_days)
    cfg = load(params)
    with runs.lock(cfg, f"day {day(1)}"):  # a run of day 1 is in progress
        with pytest.raises(RunLockedError, match="another mtms run holds"):
            run(params, 1)
    assert Registry(cfg).champion() is None and runs.load_record(cfg, day(1)) is None


def test_a_bad_day_is_one_line_on_stderr_without_prefect_tracebacks(tmp_path, sim_days, capfd):
    params = daily_workspace(tmp_path / "ws", sim_days)
    assert main(["--params", str(params), "run", "--day", "2030-01-01"]) == 2
    err = capfd.readouterr().err.strip()  # (the CLI runs Prefect at WARNING; the harness at INFO)
    assert "partitions.PartitionError" not in err  # how a traceback's last line names it
    assert err.splitlines()[-1] == (
        f"mtms: error: no partition for 2030-01-01 under {tmp_path / 'ws/data/raw'}"
    )
