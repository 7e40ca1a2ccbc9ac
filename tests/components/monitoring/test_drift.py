"""Drift monitoring on a small simulated world whose third day is shocked."""

from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from components.data.contract import CONTRACTS
from components.data.partitions import read_partition
from components.monitoring import evidently_report as report
from components.monitoring.alerts import MIN_CLICKS, alert_limits, alerts
from components.monitoring.drift import (
    Frames,
    Sides,
    id_counts,
    id_stats,
    monitor_day,
)
from tests.helpers import write_params

NORMAL, SHOCKED = dt.date(2026, 1, 6), dt.date(2026, 1, 7)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three days of 20k rows; 2026-01-07 is shocked (new OS, prices up, feed CTR down)."""
    from components.data.simulator import simulate

    shock = {"day": "2026-01-07", "days": 1, "strength": 1.0}
    alert = {"drift_share": 0.15, "label_shift": 0.3}  # the small world's shock, not the demo's
    cfg = write_params(
        tmp_path_factory.mktemp("drift"),
        {"simulator": {"shock": shock}, "monitor": {"alert": alert}},
    )
    simulate(cfg.simulator, cfg.seed, cfg.path("raw"), cfg.simulator.start, 3)
    days = {d: read_partition(cfg.path("raw"), d) for d in (NORMAL, SHOCKED)}
    return cfg, days


@pytest.fixture(scope="module")
def shocked(world):
    """The shocked day against the normal day before, with the warnings it logged."""
    cfg, days = world
    logged, handler = [], logging.Handler()
    handler.emit = logged.append
    logger = logging.getLogger("components.monitoring.drift")
    logger.addHandler(handler)
    try:
        summary = monitor_day(
            cfg, Sides(SHOCKED, days[SHOCKED], days[NORMAL], [NORMAL]), None, day_dir(cfg, SHOCKED)
        )
    finally:
        logger.removeHandler(handler)
    return summary, [r.getMessage() for r in logged]


def day_dir(cfg, day: dt.date):
    return cfg.path("dashboards") / f"day={day.isoformat()}"


def champion(cfg, table: pa.Table):
    """An untrained model is enough to check that predictions join the compared columns."""
    from components.features.encoding import Encoder
    from components.models import bundle as bundles

    encoder = Encoder(CONTRACTS[cfg.data.dataset], cfg.model.scenes)
    encoder.fit(table)
    model = bundles.build("esmm", encoder, cfg.model, seed=1)
    return bundles.Bundle("esmm", cfg.model, encoder, model)


@pytest.mark.slow  # an Evidently report
def test_a_day_against_an_identical_copy_shows_no_drift(world):
    cfg, days = world
    table = days[NORMAL]
    summary = monitor_day(
        cfg, Sides(NORMAL, table, table, [NORMAL]), champion(cfg, table), day_dir(cfg, NORMAL)
    )
    assert summary.drifted_columns == [] and summary.alerts == [] and not summary.drifted
    assert summary.drift_share == 0.0
    assert {"device_os", "price", "pred_ctr", "pred_cvr", "user_id__log_freq"} <= set(
        summary.columns
    )
    assert "weekday" not in summary.columns  # a per-day constant is not compared
    assert all(v == 0.0 for v in summary.new_id_rate.values())
    assert all(r["ctr_shift"] == 0.0 for r in summary.label_rates.values())


@pytest.mark.slow  # an Evidently report
def test_a_shocked_day_drifts_and_alerts(world, shocked):
    cfg, _ = world
    summary, logged = shocked
    assert {"device_os", "price"} <= set(summary.drifted_columns)
    assert {"gender", "scene", "hour"}.isdisjoint(summary.drifted_columns)
    assert summary.drift_share == len(summary.drifted_columns) / len(summary.columns)
    feed = summary.label_rates["feed"]
    assert feed["ctr_shift"] < -0.3 and feed["ctr"][1] < feed["ctr"][0]
    judged = min(feed["clicks"]) >= MIN_CLICKS  # this small world's feed has ~170 clicks
    assert any(a.startswith("feed ctr shift -0.") for a in summary.alerts) == judged
    assert summary.drifted
    share_alert = any(a.startswith("drift share") for a in summary.alerts)
    assert share_alert and summary.drift_share >= cfg.monitor.alert.drift_share
    line = alerts(cfg.monitor.alert, 0.45, ["device_os", "price"], {}, {})
    assert line == [f"drift share 0.45 >= {cfg.monitor.alert.drift_share} (device_os, price)"]
    assert logged == [f"drift alert 2026-01-07: {a}" for a in summary.alerts]
    record = json.loads(json.dumps(summary.to_record(), allow_nan=False))
    assert record["drifted"] and record["day"] == "2026-01-07"
    metrics = summary.mlflow_metrics()
    assert metrics["drift.label_shift.feed.ctr"] == feed["ctr_shift"]
    assert "drift.new_id_rate.user_id" in metrics and "drift.share" in metrics


@pytest.mark.slow  # an Evidently report
def test_report_files_are_complete_and_alone(world, shocked):
    cfg, _ = world
    folder = day_dir(cfg, SHOCKED)
    assert sorted(p.name for p in folder.iterdir()) == ["drift.html", "drift.json"]
    html = (folder / "drift.html").read_text()
    assert html.rstrip().endswith("</html>") and "device_os" in html
    body = json.loads((folder / "drift.json").read_text())
    names = {m["config"].get("name") for m in body["metrics"]}
    assert {"label.feed.ctr", "new_id_rate.user_id", "top_k_share.ad_id"} <= names
    # titled with its day and reference; its verdict is the day's: the share test fails
    summary = shocked[0]
    heading = "Drift of 2026-01-07 against 2026-01-06 (1 day)"
    assert body["title"] == heading and body["reference"] == ["2026-01-06"]
    assert body["alerts"] == summary.alerts and f"<title>{heading}</title>" in html
    assert "Alert: drift share" in html
    status = {t["name"]: t["status"] for t in body["tests"]}
    [share] = [n for n in status if n.startswith("Share of Drifted Columns")]
    assert status[share] == "FAIL"
    new_ids = f"new-id rate user_id: Less {cfg.monitor.alert.new_id_rate:.3f}"
    assert status[new_ids] == ("FAIL" if any("new-id" in a for a in summary.alerts) else "SUCCESS")


@pytest.mark.slow  # an Evidently report
def test_workspace_keeps_one_run_per_day_and_a_stable_dashboard(world, shocked):
    cfg, days = world
    sides = Sides(SHOCKED, days[SHOCKED], days[NORMAL], [NORMAL])
    monitor_day(cfg, sides, None, day_dir(cfg, SHOCKED))
    for auc in (0.70, 0.71):  # a rerun of the day replaces its model values
        report.add_day_values(cfg, SHOCKED, {"auc.feed.ctr": auc, "gate.passed": 1.0})
    ws, project = report._project(cfg)
    runs = [ws.get_run(project, r) for r in ws.list_runs(project)]
    keys = sorted((r.metadata["day"], *r.tags) for r in runs if r.metadata["day"] == "2026-01-07")
    assert keys == [("2026-01-07", "daily"), ("2026-01-07", "model")]
    first = report.build_dashboard(cfg, {"loss.feed": 0.1})
    once = ws.get_dashboard(project)
    assert report.build_dashboard(cfg, {"loss.feed": 0.1}) == first
    assert ws.get_dashboard(project) == once and len(set(first)) == len(first)
    assert "Model values: loss" in first
    served = ["ui", "--workspace", str(report.workspace_path(cfg)), "--host", "127.0.0.1"]
    assert report.ui_command(cfg, 8123)[1:] == [*served, "--port", "8123"]  # loopback only


def test_new_id_rate_and_top_k_share_are_exact():
    reference = pa.table({"user_id": np.arange(2000) % 200})  # 200 ids, 10 rows each
    current = pa.table({"user_id": np.arange(2000) % 400})  # ids 200..399 are new
    new, top = id_stats(current, id_counts(reference, ["user_id"]), top_k=100)
    assert new == {"user_id": 0.5}
    assert top == {"user_id": 0.25}  # ties broken by the smaller id: top ids are 0..99
    skewed = pa.table({"user_id": [5, 5, 5, 7, 7, 9]})
    new, top = id_stats(pa.table({"user_id": [5, 7, 9, 11]}), id_counts(skewed, ["user_id"]), 1)
    assert new == {"user_id": 0.25} and top == {"user_id": 0.25}


def test_label_shifts_alert_only_with_enough_positives(world):
    cfg, _ = world
    rates = {"ctr": [0.04, 0.02], "ctr_shift": -0.5, "cvr": [0.05, 0.05], "cvr_shift": 0.0}
    enough = {"rows": [50000, 50000], "clicks": [2000, 1000], "conversions": [100, 50], **rates}
    few = {**enough, "clicks": [300, MIN_CLICKS - 1]}
    lines = alerts(cfg.monitor.alert, 0.0, [], {"feed": enough, "mall": few}, {})
    assert lines == ["feed ctr shift -0.50 (0.0400 -> 0.0200), |shift| >= 0.3"]


def test_a_reference_streamed_in_chunks_gives_the_same_drift(world, shocked, monkeypatch, tmp_path):
    """The daily flow streams its reference days from their partitions (ids counted and
    the sample taken chunk by chunk): the summary is the one of the reference as a table."""
    from dataclasses import replace

    from components.features import vocabulary
    from components.monitoring import drift

    cfg, days = world
    monkeypatch.setattr(drift, "CHUNK_ROWS", 997)  # ~20 chunks, partial counts merged often
    monkeypatch.setattr(vocabulary, "MERGE_EVERY", 3)
    reference = drift.read_reference(cfg, [NORMAL], CONTRACTS[cfg.data.dataset])
    assert reference.rows == days[NORMAL].num_rows and reference.sample.num_rows > 0
    summary = monitor_day(cfg, Sides(SHOCKED, days[SHOCKED], reference, [NORMAL]), None, tmp_path)
    assert replace(summary, seconds=0) == replace(shocked[0], seconds=0)


def label_rates_of(shifts: dict[str, tuple[float, int]]) -> dict[str, dict]:
    """scene -> (CTR shift, clicks a side) as drift's label_rates, CVR unmoved."""
    out = {}
    for scene, (shift, clicks) in shifts.items():
        ctr = [0.02, 0.02 * (1 + shift)]
        counts = {"rows": [100_000] * 2, "clicks": [clicks] * 2, "conversions": [300] * 2}
        out[scene] = {**counts, "ctr": ctr, "cvr": [0.1, 0.1], "ctr_shift": shift, "cvr_shift": 0.0}
    return out


def test_the_alert_limits_break_exactly_where_alerts_writes_a_line(world):
    cfg, _ = world
    rules = cfg.monitor.alert
    rates = label_rates_of({"feed": (1.47, 5000), "search": (rules.label_shift, 5000),
                            "video": (0.1, 5000), "mall": (3.0, MIN_CLICKS - 1)})  # fmt: skip
    new_ids = {"user_id": 0.9, "ad_id": 0.01}
    limits = alert_limits(rules, rates, new_ids)
    assert not any("mall ctr" in name for name in limits)  # too few clicks: never judged
    broken = sorted(name for name, (value, bound) in limits.items() if value >= bound)
    assert broken == ["label shift feed ctr |cur/ref - 1|", "label shift search ctr |cur/ref - 1|",
                      "new-id rate user_id"]  # fmt: skip
    lines = alerts(rules, 0.0, [], rates, new_ids)
    assert [line.split(" shift ")[0] for line in lines[:2]] == ["feed ctr", "search ctr"]
    assert len(lines) == len(broken)


@pytest.mark.slow  # an Evidently report
def test_a_label_shift_day_fails_its_report_test_though_no_column_drifted(world, tmp_path):
    cfg, _ = world
    rng = np.random.default_rng(3)
    same = pd.DataFrame({"price": rng.normal(10, 1, 400)})
    frames = Frames(same.iloc[:200], same.iloc[200:], ["price"], [])
    rates = label_rates_of({"feed": (1.47, 5000), "search": (0.05, 5000), "mall": (2.0, 10)})
    rules = cfg.monitor.alert
    found = alerts(rules, 0.0, [], rates, {})
    snapshot = report.run_drift(
        cfg, frames, {}, dt.date(2026, 1, 16), ["2026-01-15"], alert_limits(rules, rates, {})
    )
    share, columns = report.drift_results(snapshot)
    assert share == 0.0 and not columns["price"]["drifted"]
    report.save_report(snapshot, tmp_path, "2026-01-16", ["2026-01-15"], found)
    body = json.loads((tmp_path / "drift.json").read_text())
    status = {t["name"]: t["status"] for t in body["tests"]}
    bound = f"{rules.label_shift:.3f}"
    assert status[f"label shift feed ctr |cur/ref - 1|: Less {bound}"] == "FAIL"
    assert status[f"label shift search ctr |cur/ref - 1|: Less {bound}"] == "SUCCESS"
    assert not [n for n in status if "mall ctr" in n]
    failed = sorted(n for n, v in status.items() if v == "FAIL")
    assert failed == [f"label shift feed ctr |cur/ref - 1|: Less {bound}"]  # the day's one
    assert body["title"] == "Drift of 2026-01-16 against 2026-01-15 (1 day)"
    assert body["alerts"] == found and found[0].startswith("feed ctr shift +1.47")
    html = (tmp_path / "drift.html").read_text()
    assert "<title>Drift of 2026-01-16 against 2026-01-15 (1 day)</title>" in html
    assert f"Alert: {found[0]}" in html.replace("&gt;", ">")
    assert "label shift feed ctr |cur/ref - 1|" in html  # the test, in the report's own data


def test_a_report_page_is_titled_above_its_widgets_or_left_as_it_is():
    page = "<html><head><meta charset='utf-8'></head><body><div id='root'></div></body></html>"
    heading = report.title("2026-01-16", ["2026-01-09", "2026-01-15"])
    assert heading == "Drift of 2026-01-16 against 2026-01-09 to 2026-01-15 (2 days)"
    out = report._headed(page, heading, ["Alert: feed ctr shift <b>"])
    assert f"<head><title>{heading}</title>" in out and "&lt;b&gt;" in out
    assert out.index("<body>") < out.index("<header") < out.index("<div id='root'>")
    assert report._headed("<div></div>", heading, []) == "<div></div>"  # never fails a day
