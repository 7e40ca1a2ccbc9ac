"""The bake-off: its contenders, its paired statistics, and one tiny run end to end."""

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cli.main import main
from components.evaluation.compare import CompareError, Contender, contenders, isolated, run_chain
from components.evaluation.compare_stats import Table, bootstrap_ci, verdict
from components.models.base import ModelError
from tests.helpers import REPO, aliccp_workspace, write_params


def test_the_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    trials = 300
    hits = 0
    for i in range(trials):
        diffs = rng.normal(0.01, 0.02, size=12)  # 3 seeds x 4 days of paired differences
        lo, hi = bootstrap_ci(diffs, reps=1000, seed=i)
        hits += lo <= 0.01 <= hi
    # a percentile bootstrap on 12 pairs is a little narrow: ~91-93 %, never ~50 % or 100 %
    assert 0.86 <= hits / trials <= 0.98


def _result(values: dict[str, dict[tuple[int, str], float]]) -> dict:
    chains = []
    for label, by_key in values.items():
        for seed in sorted({s for s, _ in by_key}):
            days = [{"day": d, "metrics": [{"scene": "feed", "task": "ctr", "auc": v,
                                            "oracle_auc": 0.8}]}
                    for (s, d), v in sorted(by_key.items()) if s == seed]  # fmt: skip
            chains.append({"seed": seed, "label": label, "days": days})
    return {"chains": chains}


def test_differences_pair_by_seed_and_day_within_the_headline_window():
    a = {(1, "d1"): 0.9, (1, "d2"): 0.70, (1, "d3"): 0.72, (2, "d2"): 0.71, (2, "d3"): 0.73}
    b = {(1, "d1"): 0.5, (1, "d2"): 0.68, (1, "d3"): 0.70, (2, "d3"): 0.70}  # no (2, d2)
    table = Table(_result({"a": a, "b": b}), last_days=2)
    assert table.days == ["d2", "d3"]  # d1 is outside the window
    diff = table.paired("a", "b", "feed", "ctr", reps=500)
    assert diff["n"] == 3  # (1, d2), (1, d3), (2, d3): the unpaired (2, d2) is left out
    assert math.isclose(diff["mean"], (0.02 + 0.02 + 0.03) / 3)
    assert diff["lo"] <= diff["mean"] <= diff["hi"]
    shares = [(v - 0.5) / 0.3 for v in (0.70, 0.72, 0.71, 0.73)]  # (AUC - 0.5) / (oracle - 0.5)
    assert table.mean("a", "feed", "ctr", "share") == pytest.approx(np.mean(shares))
    assert table.paired("a", "missing", "feed", "ctr", reps=500) is None


def test_verdicts_follow_the_interval():
    assert verdict({"mean": 0.01, "lo": 0.002, "hi": 0.02}) == "reproduced"
    assert verdict({"mean": -0.01, "lo": -0.02, "hi": -0.001}) == "not reproduced"
    assert verdict({"mean": 0.01, "lo": -0.002, "hi": 0.02}).startswith("not resolved")
    assert verdict(None) == "not run"


def test_contenders_are_the_zoo_then_the_claim_variants(tmp_path):
    cfg = write_params(tmp_path, {"compare": {"models": ["mtms", "esmm"]}})
    found = {c.label: c for c in contenders(cfg)}
    assert [c.label for c in contenders(cfg) if c.kind == "zoo"] == ["mtms", "esmm"]
    ablation = [c.config(cfg).model for c in contenders(cfg) if c.kind == "ablation"]
    assert {m.mtms_finetune for m in ablation} == {"concat", "residual"}
    table_one = [c for label, c in found.items() if label.endswith("@feed") and "+" in label]
    assert len(table_one) == 4
    for c in table_one:  # feed only, fine-tuned on CVR alone, as the paper's Table I
        model = c.config(cfg).model
        assert model.scenes == ("feed",) and model.mtms_finetune_losses == ("cvr",)
    assert found["mtms ctr+ctcvr shared @feed"].config(cfg).model.mtms_shared
    one_scene = [found[f"mtms @{s}"].config(cfg).model.scenes for s in cfg.model.scenes]
    assert one_scene == [(s,) for s in cfg.model.scenes]
    quick = cfg.model_copy(update={"compare": cfg.compare.model_copy(update={"claims": False})})
    assert [c.label for c in contenders(quick)] == ["mtms", "esmm"]


@pytest.mark.slow
def test_compare_on_a_tiny_config_writes_its_metrics_and_page(tmp_path, capsys):
    tiny = {"models": ["mtms", "esmm"], "seeds": [3], "days": 3, "last_days": 2,
            "rows_per_day": 20000, "claims": False, "full_history": ["esmm"],
            "full_history_epochs": 1, "bootstrap": 200}  # fmt: skip
    small = {"embedding_dim": 8, "tower": [16], "ranking": [16]}
    write_params(tmp_path, {"compare": tiny, "model": small, "train": {"threads": 2}})
    out, doc = tmp_path / "metrics" / "compare.json", tmp_path / "docs" / "zoo.md"
    argv = ["--params", str(tmp_path / "params.yaml"), "compare", "--out", str(out)]
    assert main([*argv, "--doc", str(doc)]) == 0
    summary = json.loads(out.read_text())
    assert summary["seeds"] == [3] and len(summary["scored_days"]) == 2
    for key in ("feed/ctr", "search/cvr"):
        assert 0.3 < summary["models"]["esmm"][key]["auc"] < 1
        assert summary["vs_mtms"]["esmm"][key]["n"] == 2  # 1 seed x 2 scored days
    assert {t["best"] for t in summary["targets"]} == {"esmm"}
    assert summary["speed"]["mtms"]["time_vs_esmm"] > 0
    assert "feed/ctr" in summary["full_history"]["esmm"]["auc"]
    short = json.loads((out.parent / "compare_summary.json").read_text())  # dvc metrics
    gap = next(t["value"] for t in summary["targets"] if t["target"].startswith("feed/ctr"))
    assert short["mtms"]["vs_best.feed/ctr"] == round(gap, 4) and short["seeds"] == 1
    own = [t for t in summary["targets"] if t["model"] == "mtms"]
    assert short["mtms"]["targets"] == len(own) == 5 and len(json.dumps(short)) < 600
    runs = json.loads((out.parent / "compare_runs.json").read_text())
    assert {c["label"] for c in runs["chains"]} == {"mtms", "esmm"}
    page = doc.read_text()
    assert "| esmm |" in page and "MTMS's targets" in page and "Full-history" in page
    assert (doc.parent / "zoo_diffs.svg").read_text().startswith("<svg")


def test_command_line_overrides_are_validated_before_anything_runs(tmp_path, capsys):
    write_params(tmp_path)
    out = tmp_path / "metrics" / "compare.json"
    argv = ["--params", str(tmp_path / "params.yaml"), "compare", "--out", str(out)]
    assert main([*argv, "--days", "5", "--last-days", "20", "--no-doc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mtms: error: compare: last_days: 20: must be below days (5)"
    assert not out.parent.exists()


def _killed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would


def test_a_contender_whose_process_dies_is_one_named_error():
    assert isolated(abs, -3) == 3  # what the bake-off's child returns comes back
    with pytest.raises(CompareError, match="^seed 7, m2m: its process died") as err:
        isolated(_killed, what="seed 7, m2m")
    assert "\n" not in str(err.value)


ORPHAN = """
import sys
from components.evaluation.compare import isolated
from tests.helpers import sleeper
isolated(sleeper, sys.argv[1])
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = open(f"/proc/{pid}/stat").read()  # a zombie (reaped later by init) is gone too
    return stat.split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_contender_dies_with_a_killed_bake_off(tmp_path):
    """SIGKILL the bake-off's process: its contender must not train on, orphaned."""
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN, str(pid_file)], cwd=REPO)
    try:
        deadline = time.monotonic() + 300  # a forkserver on a busy 2-core machine starts slowly
        while not pid_file.exists() or not pid_file.read_text():
            assert parent.poll() is None and time.monotonic() < deadline, "no contender started"
            time.sleep(0.2)
        child = int(pid_file.read_text())
        assert alive(child)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(child), "the contender outlived the killed bake-off"


def test_a_model_the_data_cannot_build_fails_as_itself_across_the_process_boundary(tmp_path):
    """compare() leaves such a model out (a warning) and goes on: it must see a ModelError."""
    days = [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
    cfg = aliccp_workspace(tmp_path, days)
    with pytest.raises(ModelError, match="column 'daction'"):
        isolated(run_chain, cfg, Contender("esm2", "esm2"), days)


@pytest.mark.slow
def test_only_runs_the_named_contenders_and_judges_their_claims(tmp_path):
    tiny = {"seeds": [3], "days": 2, "last_days": 1, "rows_per_day": 20000}
    write_params(tmp_path, {"compare": tiny, "model": {"embedding_dim": 8, "tower": [16]}})
    out = tmp_path / "compare.json"
    rows = ["mtms ctr+cvr+ctcvr @feed", "mtms ctr+ctcvr shared @feed"]
    argv = ["--params", str(tmp_path / "params.yaml"), "compare", "--out", str(out)]
    assert main([*argv, "--doc", str(tmp_path / "zoo.md"), "--only", *rows]) == 0
    assert "| mtms ctr+cvr+ctcvr @feed |" in (tmp_path / "zoo.md").read_text()  # no MTMS run
    runs = json.loads((tmp_path / "compare_runs.json").read_text())
    assert sorted(c["label"] for c in runs["chains"]) == sorted(rows) and not runs["full_history"]
    summary = json.loads(out.read_text())
    [claim] = [c for c in summary["claims"] if c["diff"]]  # the one claim these two decide
    assert claim["a"] == rows[0] and claim["b"] == rows[1] and claim["diff"]["n"] == 1


def test_only_names_an_unknown_contender_in_one_line(tmp_path, capsys):
    write_params(tmp_path)
    argv = ["--params", str(tmp_path / "params.yaml"), "compare", "--no-doc"]
    assert main([*argv, "--out", str(tmp_path / "c.json"), "--only", "mtms @moon"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtms: error: --only 'mtms @moon': not a contender; one of mtms, esmm")
    assert err.count("\n") == 1 and not (tmp_path / "c.json").exists()
