"""The static page index.html, built from hand-made day records and read back as HTML."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import replace
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from components import runs
from components.evaluation.metrics import Metrics
from components.evaluation.paired import Calibrated, FocusCalibration
from components.evaluation.promotion import Decision, GateCheck, ServingHealth
from components.monitoring.alerts import alerts
from components.monitoring.drift import DriftSummary
from components.monitoring.index import build_index
from components.records import DayRecord
from components.validation.quarantine import ValidationReport, result_path
from components.validation.suite import ExpectationResult as Expectation
from tests.helpers import write_params

NAN = float("nan")


def metrics(auc: float, **overrides: dict) -> list[Metrics]:
    """One metric per (scene, task); `overrides` maps 'scene_task' to changed fields."""
    out = []
    for scene in ("feed", "search", "video"):
        for i, task in enumerate(("ctr", "cvr", "ctcvr")):
            m = Metrics(scene, task, rows=30000, positives=900, auc=auc - 0.01 * i,
                        oracle_auc=auc + 0.05, gauc=auc - 0.05, logloss=0.15, mae=0.05,
                        calibration=1.02 + 0.01 * i)  # fmt: skip
            out.append(replace(m, **overrides.get(f"{scene}_{task}", {})))
    return out


def validation(day: str, *failed: str) -> ValidationReport:
    checks = [Expectation("expect_rates", "label rates", False, why) for why in failed]
    return ValidationReport(dt.date.fromisoformat(day), "simulator", not failed, 100, checks, 0.1)


def decision(*failed: tuple[str, str]) -> Decision:
    checks = tuple(GateCheck(focus, "regression", False, why) for focus, why in failed)
    return Decision(not failed, checks or (GateCheck("feed/ctr", "floor", True, "ok"),), False)


def drift(share: float, *alerts: str, columns: tuple[str, ...] = ()) -> DriftSummary:
    return DriftSummary("d", [], 100, 100, share, list(columns), {}, {}, {}, {}, list(alerts), 1.0)


CURVE = [{"rows": 100, "predicted": 0.01 * i, "observed": 0.012 * i} for i in range(1, 11)]


def calibrations(shift: float) -> list[FocusCalibration]:
    """The feed/ctr focus: the candidate on CURVE, the champion over-predicting by `shift`."""
    champion = [{**b, "predicted": b["predicted"] * shift} for b in CURVE]
    ours, theirs = Calibrated(0.83, 0.0061, CURVE), Calibrated(0.83 * shift, 0.02, champion)
    return [FocusCalibration("feed/ctr", 1000, 60, ours, theirs)]


def record(day: str, outcome: str, rows: int, **parts) -> DayRecord:
    failed = parts.pop("failed", ())
    return DayRecord(dt.date.fromisoformat(day), outcome, rows, validation(day, *failed), **parts)


def day_records() -> list[DayRecord]:
    """Five days with a gap: first promotion, a rejection, a quarantine, a drifted promotion
    with NaN and null metrics, and a day without training data (NaN drift share)."""
    reject = decision(("feed/ctr", "AUC 0.6900 vs champion 0.7100 (drop +0.0200, max 0.005)"),
                      ("search/cvr", "calibration 2.400, band [0.5, 2.0]"))  # fmt: skip
    drifted = drift(0.45, "drift share 0.45 >= 0.3", "feed ctr moved -40%",
                    columns=("os", "price"))  # fmt: skip
    nan_day = {"feed_ctr": {"calibration": NAN, "oracle_auc": None}, "search_cvr": {"auc": NAN}}
    return [
        record("2026-01-06", "promoted", 20000, candidate=metrics(0.71), decision=decision(),
               version=1, champion=1),
        record("2026-01-07", "rejected", 21000, candidate=metrics(0.69),
               champion_metrics=metrics(0.71, feed_ctr={"calibration": 2.5}), decision=reject,
               version=2, champion_before=1, champion=1, drift=drift(0.1),
               calibration=calibrations(2.0),
               serving=ServingHealth(1, dt.date(2026, 1, 4), 3, 3, ("feed/ctr Σp/Σy 2.500",))),
        record("2026-01-08", "quarantined", 19000, champion_before=1, champion=1,
               failed=["feed: CTR 0.4 outside [0.002, 0.25] <b>"]),
        record("2026-01-09", "promoted", 22000, candidate=metrics(0.72, **nan_day),
               champion_metrics=metrics(0.7123456), decision=decision(), version=3,
               champion_before=1, champion=3, drift=drifted, calibration=calibrations(1.5),
               serving=ServingHealth(3, dt.date(2026, 1, 8), 0, 3)),
        record("2026-01-11", "no-training-data", 20500, champion_metrics=metrics(0.73),
               champion_before=3, champion=3, drift=drift(NAN),
               serving=ServingHealth(3, dt.date(2026, 1, 8), 2, 3)),
    ]  # fmt: skip


class Page(HTMLParser):
    """Every element with its attributes and the id of the chart it sits in; the text of
    each <title> by its element's index."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict, str | None]] = []
        self.titles: dict[int, str] = {}
        self.chart: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "svg":
            self.chart = attrs.get("id")
        self.elements.append((tag, attrs, self.chart))

    def handle_data(self, data: str) -> None:
        if self.elements and self.elements[-1][0] == "title":
            index = len(self.elements) - 1
            self.titles[index] = self.titles.get(index, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.chart = None

    def points(self, chart: str, series: str) -> dict[str, str]:
        found = [(a["data-day"], a["data-value"]) for _, a, c in self.elements
                 if c == chart and "point" in a.get("class", "").split()
                 and a.get("data-series") == series]  # fmt: skip
        assert len(found) == len(dict(found)), f"one point per day in {chart} {series}"
        return dict(found)

    def tags(self, tag: str) -> list[dict]:
        return [a for t, a, _ in self.elements if t == tag]


@pytest.fixture
def built(tmp_path: Path):
    cfg = write_params(tmp_path / "ws")
    folder = cfg.path("dashboards")
    reports = {"2026-01-07": ["drift.html", "drift.json"], "2026-01-09": ["drift.html"]}
    for day, names in reports.items():
        (folder / f"day={day}").mkdir(parents=True)
        for name in names:
            (folder / f"day={day}" / name).write_text("{}")
    (folder / "day=2026-01-11").mkdir()  # a folder without reports: nothing to link
    records = day_records()
    path = build_index(cfg, records)
    return cfg, records, path, Page(path.read_text())


def expected(records: list[DayRecord], rows: str, scene: str, task: str, key: str) -> dict:
    out = {}
    for r in records:
        found = [
            getattr(m, key) for m in getattr(r, rows) or [] if (m.scene, m.task) == (scene, task)
        ]
        if found and found[0] is not None and math.isfinite(found[0]):
            out[r.day.isoformat()] = f"{found[0]:.4f}"
    return out


def test_every_day_is_a_table_row_newest_first(built):
    cfg, records, path, page = built
    assert path == cfg.path("dashboards") / "index.html"
    assert any(a.get("id") == "days" for a in page.tags("table"))
    assert [a["data-day"] for a in page.tags("tr") if "data-day" in a] == [
        r.day.isoformat() for r in reversed(records)
    ]
    text = path.read_text()
    assert "FAIL" in text and "DRIFT" in text and "v1 → v3" in text
    assert "&lt;b&gt;" in text and "<b>\n" not in text  # a reason is escaped, never markup


def test_links_point_only_at_report_files_that_exist(built):
    cfg, _, _, page = built
    hrefs = [a["href"] for a in page.tags("a")]
    assert sorted(hrefs) == [
        "day=2026-01-07/drift.html",
        "day=2026-01-07/drift.json",
        "day=2026-01-09/drift.html",
    ]
    assert all((cfg.path("dashboards") / h).is_file() for h in hrefs)


def test_auc_charts_hold_exactly_the_points_of_the_records(built):
    cfg, records, _, page = built
    for f in cfg.gate.focus:
        chart = f"chart-auc-{f.scene}-{f.task}"
        for series, rows in (("candidate", "candidate"), ("champion", "champion_metrics")):
            want = expected(records, rows, f.scene, f.task, "auc")
            assert page.points(chart, series) == want, (chart, series)
        assert page.points(chart, "oracle") == {
            r.day.isoformat(): v
            for r in records
            for d, v in expected([r], "candidate" if r.candidate else "champion_metrics",
                                 f.scene, f.task, "oracle_auc").items()
        }  # fmt: skip
    feed = page.points("chart-auc-feed-ctr", "candidate")
    assert sorted(feed) == ["2026-01-06", "2026-01-07", "2026-01-09"]  # no quarantine point
    assert float(feed["2026-01-09"]) == round(0.72, 4)
    assert "2026-01-09" not in page.points("chart-auc-search-cvr", "candidate")  # NaN AUC
    assert page.points("chart-auc-feed-ctr", "champion")["2026-01-09"] == "0.7123"


def test_calibration_drift_and_volume_charts(built):
    _, records, _, page = built
    calibration = page.points("chart-calibration-feed-ctr", "candidate")
    assert calibration == {"2026-01-06": "1.020", "2026-01-07": "1.020"}  # 01-09 is null
    assert any(a.get("class") == "band" for _, a, c in page.elements
               if c == "chart-calibration-feed-ctr")  # fmt: skip
    assert page.points("chart-drift", "drift share") == {"2026-01-07": "0.1000",
                                                         "2026-01-09": "0.4500"}  # fmt: skip
    alerts = [a["data-day"] for _, a, c in page.elements
              if c == "chart-drift" and "alert" in a.get("class", "").split()]  # fmt: skip
    assert alerts == ["2026-01-09"]
    assert any(a.get("class") == "threshold" for _, a, c in page.elements if c == "chart-drift")
    assert page.points("chart-rows", "rows") == {r.day.isoformat(): str(r.rows) for r in records}
    marks = {(a["data-day"], a["data-outcome"]) for _, a, c in page.elements
             if c == "chart-auc-feed-ctr" and a.get("class") == "mark"}  # fmt: skip
    assert marks == {(r.day.isoformat(), r.outcome) for r in records}


def test_champion_calibration_beside_the_candidate_and_the_newest_reliability_curves(built):
    _, _, _, page = built
    champion = page.points("chart-calibration-feed-ctr", "champion")
    assert champion == {"2026-01-07": "2.500", "2026-01-09": "1.020", "2026-01-11": "1.020"}
    chart = "chart-reliability-feed-ctr"  # the newest judged day (01-09): both models' bins
    bins = [a for _, a, c in page.elements if c == chart and a.get("class") == "bin"]
    want = [f"{b['observed']:.4f}" for b in CURVE]
    assert [(a["data-series"], a["data-value"]) for a in bins] == [
        *(("candidate", v) for v in want),
        *(("champion", v) for v in want),
    ]
    x = {
        s: [float(a["cx"]) for a in bins if a["data-series"] == s]
        for s in ("candidate", "champion")
    }
    assert all(b > a for a, b in zip(x["candidate"], x["champion"], strict=True))  # 1.5x: right


def day_row(text: str, day: str) -> str:
    return re.search(rf'<tr[^>]*data-day="{day}"[^>]*>(.*?)</tr>', text, re.S).group(1)


def test_a_stale_champion_is_flagged_on_its_day_and_in_the_header(built):
    _, _, path, _ = built
    text = path.read_text()
    stale = day_row(text, "2026-01-07")
    assert "STALE" in stale and "served 3 days unreplaced" in stale and "Σp/Σy 2.500" in stale
    fresh = day_row(text, "2026-01-11")
    assert "STALE" not in fresh and "served 2 days unreplaced" in fresh
    assert "<b>2 d</b><span>champion age" in text  # the newest day's


def test_every_point_has_a_tooltip_and_the_header_counts(built):
    _, _, path, page = built
    text = path.read_text()
    points = [(i, a) for i, (_, a, c) in enumerate(page.elements)
              if c and "point" in a.get("class", "").split()]  # fmt: skip
    assert len(points) > 50
    for i, a in points:  # the point's first child is its tooltip, naming day, series and value
        tooltip = page.titles.get(i + 1, "")
        assert page.elements[i + 1][0] == "title", a
        assert tooltip.startswith(f"{a['data-day']} {a['data-series']}: "), (tooltip, a)
        assert a["data-value"] in tooltip.replace(",", ""), (tooltip, a)
    tiles = {a["data-key"] for a in page.tags("div") if "data-key" in a}
    assert tiles >= {"champion", "days", "last", "promoted", "rejected", "quarantined", "alerts"}
    assert "<b>v3</b><span>champion</span>" in text and "<b>1</b><span>drift alerts" in text
    assert "<b>2</b><span>promoted" in text and "<b>1</b><span>quarantined" in text


def test_the_page_is_self_contained(built):
    _, _, path, page = built
    assert not page.tags("script") and not page.tags("link") and not page.tags("img")
    for _, attrs, _ in page.elements:
        for name in ("src", "href"):
            assert "://" not in attrs.get(name, ""), attrs
    assert "@import" not in path.read_text() and "url(" not in path.read_text()


def test_rebuilding_is_idempotent_and_json_round_trips_draw_the_same(built):
    cfg, records, path, _ = built
    before = path.read_bytes()
    assert build_index(cfg, records).read_bytes() == before
    for r in records:  # NaN is written as null: the page must not change
        runs.save_record(cfg, r)
    loaded = runs.records(cfg)  # saving stamps the finish time, which the page shows
    stamped = [replace(r, finished=s.finished) for r, s in zip(records, loaded, strict=True)]
    again = build_index(cfg, stamped).read_bytes()
    assert build_index(cfg, loaded).read_bytes() == again and again != before
    assert again.replace(loaded[-1].finished.encode(), b"") == before.replace(
        b"(finish time not recorded)", b""
    )
    values = [a["data-value"] for _, a, _ in Page(before.decode()).elements if "data-value" in a]
    assert values and all(math.isfinite(float(v)) for v in values)


def test_no_records_and_all_null_records_still_build(tmp_path):
    cfg = write_params(tmp_path / "ws")
    assert "<svg" in build_index(cfg, []).read_text()
    nan = replace(metrics(NAN)[0], oracle_auc=None, calibration=NAN)
    empty = record("2026-01-06", "quarantined", 0, candidate=[nan], drift=drift(NAN))
    page = Page(build_index(cfg, [empty]).read_text())
    assert page.points("chart-auc-feed-ctr", "candidate") == {}
    assert page.points("chart-calibration-feed-ctr", "candidate") == {}
    assert page.points("chart-drift", "drift share") == {}


def scene_rates(ref: float, cur: float, clicks: int = 2000, rows: int = 100_000) -> dict:
    """One scene's label_rates as drift writes them: CTR ref -> cur, CVR unmoved."""
    cvr = 0.15
    return {"rows": [rows, rows], "clicks": [clicks, round(clicks * cur / ref)],
            "conversions": [300, 300], "ctr": [ref, cur], "cvr": [cvr, cvr],
            "ctr_shift": cur / ref - 1, "cvr_shift": 0.0}  # fmt: skip


RUN_ID, FLOW_RUN = "0f3c2a9be1d04c5e8a7b6c5d4e3f2a1b", "5b1a7c2e-9d3f-4e8a-b6c4-2f1e0d9c8b7a"
LINEAGE = {"data_md5": "d41d8cd98f00b204e9800998ecf8427e.dir", "data_window_md5": "w1nd0w",
           "git_commit": "c0ffee1", "params_hash": "9a8b7c6d"}  # fmt: skip


def label_shift_day(cfg) -> DayRecord:
    """2026-01-12: few columns drifted (share under the line) but feed CTR rose 147%: the
    alert is a label shift. Mall and games (a scene params does not name) are outside the
    gate's focus; mall has too few clicks to judge."""
    rates = {"feed": scene_rates(0.01, 0.0247), "mall": scene_rates(0.02, 0.05, clicks=50),
             "games": scene_rates(0.04, 0.041), "search": scene_rates(0.03, 0.031)}  # fmt: skip
    lines = alerts(cfg.monitor.alert, 0.12, ["price"], rates, {})
    assert len(lines) == 1 and lines[0].startswith("feed ctr shift +1.47")  # the rule's own line
    summary = replace(drift(0.12, *lines, columns=("price",)), label_rates=rates)
    return record("2026-01-12", "promoted", 23000, candidate=metrics(0.72), decision=decision(),
                  champion_metrics=metrics(0.71), version=4, champion_before=3, champion=4,
                  drift=summary, run_id=RUN_ID, flow_run=FLOW_RUN, lineage=LINEAGE,
                  finished="2026-01-13T03:00:00+00:00")  # fmt: skip


def text_of(markup: str) -> str:
    """What a reader sees without hovering: tags and title attributes removed."""
    return unescape(re.sub(r"<[^>]+>", " ", re.sub(r'\stitle="[^"]*"', "", markup)))


@pytest.fixture
def shifted(tmp_path: Path):
    cfg = write_params(tmp_path / "ws")
    records = [*day_records(), label_shift_day(cfg)]
    path = build_index(cfg, records, env={})
    return cfg, records, path.read_text()


def test_every_scene_and_task_is_charted_not_only_the_gate_focus(shifted):
    cfg, records, text = shifted
    page = Page(text)
    focus = {(f.scene, f.task) for f in cfg.gate.focus}
    assert ("video", "ctcvr") not in focus and "mall" not in {s for s, _ in focus}
    for scene in ("feed", "search", "video"):
        for task in ("ctr", "cvr", "ctcvr"):
            chart = f"chart-auc-{scene}-{task}"
            assert page.points(chart, "candidate") == expected(
                records, "candidate", scene, task, "auc"
            )
            calibration = f"chart-calibration-{scene}-{task}"
            assert page.points(calibration, "champion") == {
                d: f"{float(v):.3f}"
                for d, v in expected(
                    records, "champion_metrics", scene, task, "calibration"
                ).items()
            }
            bands = [
                a for _, a, c in page.elements if c == calibration and a.get("class") == "band"
            ]
            assert bool(bands) == ((scene, task) in focus), calibration  # the gate's band
    # label rates name every scene the drift step saw, params' order first, then by name
    assert page.points("chart-ctr-rate", "mall") == {"2026-01-12": "0.0500"}
    assert page.points("chart-ctr-rate", "games") == {"2026-01-12": "0.0410"}
    header = re.search(r'<p class="sub">(.*?)</p>', text).group(1)
    assert "scenes in the records: feed, search, video, mall, games" in header
    traffic = re.search(r'<table id="scenes">(.*?)</table>', text, re.S).group(1)
    heads = re.findall(r'<th colspan="5" class="scene">(.*?)</th>', traffic)
    assert heads == ["feed", "search", "video", "mall", "games"]
    row = re.search(r'<tr data-traffic="2026-01-12">(.*?)</tr>', traffic).group(1)
    assert "100,000" in row and "4,940" in row and "+147%" in text_of(row)
    first = re.search(r'<tr data-traffic="2026-01-06">(.*?)</tr>', traffic).group(1)
    assert text_of(first).split() == ["2026-01-06", *["-"] * 25]  # not monitored: no rates


def test_a_label_shift_alert_is_visible_without_hovering(shifted):
    cfg, _, text = shifted
    page = Page(text)
    [line] = label_shift_day(cfg).drift.alerts
    # the drift share sits under its line, yet the day alerted: its point is red...
    assert page.points("chart-drift", "drift share")["2026-01-12"] == "0.1200"
    assert 0.12 < cfg.monitor.alert.drift_share
    red = {(a["data-series"], a["data-day"]) for _, a, c in page.elements
           if c and "alert" in a.get("class", "").split()}  # fmt: skip
    assert ("drift share", "2026-01-12") in red
    # ...and the reason is drawn: feed's CTR shift beyond ±label_shift, red; mall's is not
    assert page.points("chart-ctr-shift", "feed")["2026-01-12"] == "+1.470"
    assert ("feed", "2026-01-12") in red and ("mall", "2026-01-12") not in red
    limits = sorted(float(a["y1"]) for _, a, c in page.elements
                    if c == "chart-ctr-shift" and a.get("class") == "threshold")  # fmt: skip
    assert len(limits) == 2  # +label_shift and -label_shift
    # and written as plain text in the days table, not only in a tooltip
    row = day_row(text, "2026-01-12")
    assert line in text_of(row) and "DRIFT" in text_of(row)
    earlier = text_of(day_row(text, "2026-01-09"))
    assert "drift share 0.45 >= 0.3" in earlier and "feed ctr moved -40%" in earlier
    assert "share 0.10" in text_of(day_row(text, "2026-01-07"))  # a quiet day: no, and its share


def test_ids_are_text_with_how_to_open_them_on_the_embedded_stores(shifted):
    cfg, _, text = shifted
    row = day_row(text, "2026-01-12")
    assert f"MLflow run <code>{RUN_ID}</code>" in row and "version <code>v4</code>" in row
    assert f"Prefect flow run <code>{FLOW_RUN}</code>" in row
    assert not [a for a in Page(text).tags("a") if "://" in a.get("href", "")]
    assert "mlflow ui --backend-store-uri sqlite:///registry/mlflow.db" in text
    assert "PREFECT_HOME=.prefect prefect server start" in text
    assert "Prefect flow run" not in day_row(text, "2026-01-09")  # unknown: nothing claimed


def test_ids_link_to_the_mlflow_and_prefect_uis_when_they_are_servers(tmp_path):
    mlflow = "http://mlflow.example:5000"
    cfg = write_params(tmp_path / "ws", {"registry": {"tracking_uri": mlflow}})
    day = label_shift_day(cfg)
    result = result_path(cfg, day.day)  # the day's validation result, beside the data
    result.parent.mkdir(parents=True)
    result.write_text("{}")
    temporary = {"PREFECT_API_URL": "http://127.0.0.1:4321/api"}  # mtms run's own: no UI
    page = Page(build_index(cfg, [day], env=temporary).read_text())
    hrefs = [a["href"] for a in page.tags("a")]
    assert f"{mlflow}/#/runs/{RUN_ID}" in hrefs and f"{mlflow}/#/models/mtms/versions/4" in hrefs
    assert not [h for h in hrefs if "flow-run" in h]
    [validation] = [h for h in hrefs if "validation" in h]
    assert not validation.startswith("/") and "://" not in validation  # relative to the page
    assert (cfg.path("dashboards") / validation).resolve() == result
    env = {"PREFECT_UI_URL": "https://prefect.example/"}
    text = build_index(cfg, [day], env=env).read_text()
    assert f'href="https://prefect.example/runs/flow-run/{FLOW_RUN}"' in text
    assert "mlflow ui --backend-store-uri" not in text and "prefect server start" not in text


def test_the_as_of_line_names_the_newest_record_and_its_data_version(shifted, tmp_path):
    cfg, records, text = shifted
    line = unescape(re.search(r'<p class="asof" id="as-of">(.*?)</p>', text).group(1))
    assert line.startswith("as of 2026-01-13T03:00:00+00:00: the newest record, 2026-01-12")
    assert f"data version {LINEAGE['data_md5']}" in line and "w1nd0w" in line
    assert "git_commit c0ffee1" in line and "params_hash 9a8b7c6d" in line
    older = build_index(cfg, records[:-1], env={}).read_text()
    assert "data version: not in the day records" in older
    assert build_index(cfg, records, env={}).read_text() == text  # no build time on it


def test_records_written_before_the_flow_run_and_lineage_fields_still_load(tmp_path):
    cfg = write_params(tmp_path / "ws")
    record = label_shift_day(cfg)
    runs.save_record(cfg, record)
    path = runs.record_path(cfg, record.day)
    body = json.loads(path.read_text())
    assert body["flow_run"] == FLOW_RUN and body["lineage"] == LINEAGE
    del body["flow_run"], body["lineage"]
    path.write_text(json.dumps(body))
    [old] = runs.records(cfg)
    assert old.flow_run is None and old.lineage == {}
    assert "Prefect flow run" not in day_row(build_index(cfg, [old], env={}).read_text(),
                                             "2026-01-12")  # fmt: skip
