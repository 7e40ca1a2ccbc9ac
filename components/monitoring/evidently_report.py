"""The one adapter to Evidently: the drift report, its files, the workspace and its dashboard.

Evidently is imported inside functions: it takes seconds, which mere importers should not pay.
The workspace (dashboards/workspace, project "mtms") holds one drift run (tag "daily") and one
model run (tag "model") per day, stamped with the day: panels plot days, not run times.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import sys
import uuid
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from components import atomic
from components.config import Config
from components.data.contract import Role
from components.validation.quarantine import dataset_contract

if TYPE_CHECKING:
    from components.monitoring.drift import Frames

PROJECT = "mtms"
DRIFT_TAG, MODEL_TAG = "daily", "model"
_NAMESPACE = uuid.UUID("4f1c9a52-6d0e-4d8e-9a57-2f0f5b8e7c11")  # stable panel and tab ids


@functools.cache
def _custom_value() -> type:
    """The metric of one named scalar computed outside Evidently, defined once per process
    (Evidently registers metric classes by name). The value is a private attribute, not a
    field: every field becomes a label of the workspace series."""
    from evidently._pydantic_compat import PrivateAttr
    from evidently.core.metric_types import SingleValue, SingleValueCalculation, SingleValueMetric

    class CustomValue(SingleValueMetric):
        name: str
        _value: float = PrivateAttr(default=math.nan)

        def __init__(self, name: str, value: float, **kwargs: Any) -> None:
            super().__init__(name=name, **kwargs)
            self._value = float(value)

    class CustomValueCalculation(SingleValueCalculation[CustomValue]):
        def calculate(self, context: Any, current_data: Any, reference_data: Any) -> SingleValue:
            return self.result(self.metric._value)

        def display_name(self) -> str:
            return self.metric.name

    return CustomValue


def _values(values: dict[str, float]) -> list:
    custom = _custom_value()
    return [custom(k, v) for k, v in sorted(values.items()) if math.isfinite(v)]


def _limits(limits: dict[str, tuple[float, float]]) -> list:
    """name -> (value, bound): a value with a test "less than bound" (it fails at >= bound,
    as an alert rule breaks), so the report's own tests carry each alert rule."""
    from evidently.tests import lt

    custom = _custom_value()
    return [
        custom(name, value, tests=[lt(bound)])
        for name, (value, bound) in sorted(limits.items())
        if math.isfinite(value)
    ]


def report_values(rates: dict, new_ids: dict, top_k: dict) -> dict[str, float]:
    """The scalars shown beside the drift report and plotted by the dashboard over days."""
    out = {f"label.{s}.{k}": r[k][1] for s, r in rates.items() for k in ("ctr", "cvr")}
    out |= {f"label.{s}.{k}": r[k] for s, r in rates.items() for k in ("ctr_shift", "cvr_shift")}
    out |= {f"new_id_rate.{c}": v for c, v in new_ids.items()}
    return out | {f"top_k_share.{c}": v for c, v in top_k.items()}


def run_drift(
    cfg: Config,
    frames: Frames,
    values: dict[str, float],
    day: dt.date,
    reference: list[str],
    limits: dict[str, tuple[float, float]] | None = None,
) -> Any:
    """Evidently's drift of the sampled frames, plus the scalar values, as one snapshot.

    Methods are fixed: by default Evidently switches from K-S p-values to distances above
    1,000 rows, which would flip what the threshold means between small and large days.
    `limits` (name -> (value, bound)) become tests beside the preset's drift-share test:
    the alert rules Evidently does not compute itself (label shifts, new-id rates).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=frames.numerical, categorical_columns=frames.categorical
    )
    cur, ref = (
        Dataset.from_pandas(f, data_definition=definition)
        for f in (frames.current, frames.reference)
    )
    mon = cfg.monitor
    preset = DataDriftPreset(
        columns=[*frames.numerical, *frames.categorical],
        drift_share=mon.alert.drift_share,
        num_method="wasserstein",
        cat_method="jensenshannon",
        threshold=mon.column_threshold,
    )
    report = Report([preset, *_values(values), *_limits(limits or {})], include_tests=True)
    meta = {"day": day.isoformat(), "reference": ",".join(reference)}
    with np.errstate(invalid="ignore", divide="ignore"):  # correlations of a constant column
        return report.run(
            cur,
            ref,
            timestamp=dt.datetime.combine(day, dt.time()),
            metadata=meta,
            tags=[DRIFT_TAG],
            name=title(day.isoformat(), reference),
        )


def drift_results(snapshot: Any) -> tuple[float, dict[str, dict]]:
    """(drift share, column -> {score, method, drifted}); a column drifted when its test failed."""
    body = snapshot.dict()
    failed = {
        t["metric_config"]["metric_id"]: getattr(t["status"], "value", t["status"]) == "FAIL"
        for t in body["tests"]
        if t["id"] == "drift"
    }
    share, columns = math.nan, {}
    for metric in body["metrics"]:
        config, value = metric["config"], metric["value"]
        if config["type"].endswith(":DriftedColumnsCount"):
            share = float(value["share"])
        elif config["type"].endswith(":ValueDrift"):
            drifted = failed.get(metric["id"], float(value) >= config["threshold"])
            columns[config["column"]] = {
                "score": float(value),
                "method": config["method"],
                "drifted": bool(drifted),
            }
    return share, columns


def title(day: str, reference: list[str]) -> str:
    """What a day's report compares: the day and its reference days."""
    span = reference[0] if len(reference) == 1 else f"{reference[0]} to {reference[-1]}"
    days = f"{len(reference)} day{'s' if len(reference) != 1 else ''}"
    return f"Drift of {day} against {span} ({days})" if reference else f"Drift of {day}"


def _headed(html: str, heading: str, lines: list[str]) -> str:
    """Evidently's page with a <title> and a plain header above its widgets: the report
    names its day, its reference days and the day's alert verdict without running script."""
    head, body = html.find("<head>"), html.find("<body>", html.find("</head>"))
    if head < 0 or body < 0:  # a cosmetic loss: never fail the day's monitoring for it
        logging.getLogger(__name__).warning("Evidently's report page changed: left untitled")
        return html
    text = "".join(f"<p style='margin:4px 0'>{escape(line)}</p>" for line in lines)
    banner = (
        "<header style='font-family:system-ui,sans-serif;padding:12px 24px'>"
        f"<h1 style='font-size:20px;margin:0 0 6px'>{escape(heading)}</h1>{text}</header>"
    )
    body += len("<body>")
    head += len("<head>")
    return (
        html[:head] + f"<title>{escape(heading)}</title>" + html[head:body] + banner + html[body:]
    )


def save_report(
    snapshot: Any, out_dir: Path, day: str = "", reference: list[str] = (), alerts: list[str] = ()
) -> tuple[Path, Path]:
    """drift.html (self-contained, titled with the day and its reference) and drift.json
    (the same title, day, reference and alerts, then Evidently's metrics and tests), each
    written to a temp name then renamed."""
    heading = title(day, list(reference))
    verdict = ["Alert: " + "; ".join(alerts)] if alerts else ["No alert."]
    rules = "Alert rules are the tests on the drift share, label shifts and new-id rates"
    lines = [*verdict, f"{rules}; a drifted column's own test failing is not an alert by itself."]
    html = _headed(snapshot.get_html_str(as_iframe=False), heading, lines)
    body = {"title": heading, "day": day, "reference": list(reference), "alerts": list(alerts)}
    body |= json.loads(snapshot.json())
    return atomic.write_text(out_dir / "drift.html", html), atomic.write_text(
        out_dir / "drift.json", json.dumps(body)
    )


def workspace_path(cfg: Config) -> Path:
    return cfg.path("dashboards") / "workspace"


def _project(cfg: Config) -> tuple[Any, Any]:
    """(workspace, project id), creating either on first use."""
    from evidently.ui.workspace import Workspace

    ws = Workspace.create(str(workspace_path(cfg)))
    found = ws.search_project(PROJECT)
    project = found[0] if found else ws.create_project(PROJECT, description="mtms daily runs")
    return ws, project.id


def add_to_workspace(cfg: Config, snapshot: Any, day: dt.date, tag: str) -> str:
    """Add a day's run, first deleting that day's earlier run of the same tag: a rerun replaces."""
    ws, project = _project(cfg)
    for run_id in ws.list_runs(project):
        run = ws.get_run(project, run_id)
        if run is not None and run.metadata.get("day") == day.isoformat() and tag in run.tags:
            ws.delete_run(project, run_id)
    return str(ws.add_run(project, snapshot, include_data=False).id)


def add_day_values(cfg: Config, day: dt.date, values: dict[str, float]) -> str:
    """Per-day model values (e.g. "auc.feed.ctr", "oracle_auc.feed.ctr", "gate.passed" 0/1,
    "promoted" 0/1) as the day's "model" run, replacing that day's previous one."""
    from evidently import DataDefinition, Dataset, Report

    frame, definition = pd.DataFrame({"n": [1.0]}), DataDefinition(numerical_columns=["n"])
    data = Dataset.from_pandas(frame, data_definition=definition)  # the values need no data
    when, meta = dt.datetime.combine(day, dt.time()), {"day": day.isoformat()}
    snapshot = Report(_values(values)).run(
        data, None, timestamp=when, metadata=meta, tags=[MODEL_TAG], name=f"model {day}"
    )
    return add_to_workspace(cfg, snapshot, day, MODEL_TAG)


def _panel(kind: str, title: str, series: list[tuple[str, dict, str]], tag: str) -> Any:
    """A panel with an id derived from its title, so a rebuilt dashboard is the same one."""
    from evidently.sdk import panels
    from evidently.sdk.models import PanelMetric

    values = [
        PanelMetric(metric=m, metric_labels=labels, legend=legend, tags=[tag])
        for m, labels, legend in series
    ]
    panel = getattr(panels, f"{kind}_panel")(title, values, size="half")
    panel.id = uuid.uuid5(_NAMESPACE, title)
    return panel


def _named(names: dict[str, str]) -> list[tuple[str, dict, str]]:
    """legend -> CustomValue name, as panel series."""
    return [("CustomValue", {"name": name}, legend) for legend, name in names.items()]


def _drift_panels(cfg: Config) -> list:
    """Id panels name every sparse field: which are ids is decided daily from the data."""
    scenes = cfg.model.scenes
    sparse = [c.name for c in dataset_contract(cfg).by_role(Role.SPARSE)]
    drifted = ("DriftedColumnsCount", {"value_type": "share"}, "share")
    rate = {t: _named({s: f"label.{s}.{t}" for s in scenes}) for t in ("ctr", "cvr")}
    return [
        _panel("line_plot", "Drift share (columns drifted vs reference)", [drifted], DRIFT_TAG),
        _panel("line_plot", "CTR per scene", rate["ctr"], DRIFT_TAG),
        _panel("line_plot", "CVR per scene", rate["cvr"], DRIFT_TAG),
        _panel(
            "line_plot",
            "CTR shift vs reference",
            _named({s: f"label.{s}.ctr_shift" for s in scenes}),
            DRIFT_TAG,
        ),
        _panel(
            "line_plot", "New-id rate", _named({c: f"new_id_rate.{c}" for c in sparse}), DRIFT_TAG
        ),
        _panel(
            "line_plot", "Top-k share", _named({c: f"top_k_share.{c}" for c in sparse}), DRIFT_TAG
        ),
    ]


def _model_panels(cfg: Config, extra: dict[str, float]) -> list:
    """AUC vs oracle per focus task and the gate's decisions, from the days' "model" runs."""
    tasks = list(dict.fromkeys(f.task for f in cfg.gate.focus))
    auc = {
        t: {
            **{s: f"auc.{s}.{t}" for s in cfg.model.scenes},
            **{f"{s} oracle": f"oracle_auc.{s}.{t}" for s in cfg.model.scenes},
        }
        for t in tasks
    }
    gate = {"gate passed": "gate.passed", "promoted": "promoted"}
    focus = [f"{f.scene}.{f.task}" for f in cfg.gate.focus]
    calibration = {  # candidate and champion on the same day's rows, per gate focus
        key: {
            **{k.replace(".", "/"): f"{key}.{k}" for k in focus},
            **{f"{k.replace('.', '/')} champion": f"champion.{key}.{k}" for k in focus},
        }
        for key in ("calibration", "ece")
    }
    age = {"days unreplaced": "champion.age_days", "stale (1)": "champion.stale"}
    out = [
        _panel("line_plot", f"{t.upper()} AUC per scene vs oracle", _named(auc[t]), MODEL_TAG)
        for t in tasks
    ]
    out.append(_panel("bar_plot", "Gate decisions", _named(gate), MODEL_TAG))
    out += [
        _panel("line_plot", "Calibration Σp/Σy: candidate vs champion",
               _named(calibration["calibration"]), MODEL_TAG),
        _panel("line_plot", "Expected calibration error: candidate vs champion",
               _named(calibration["ece"]), MODEL_TAG),
        _panel("line_plot", "Champion age", _named(age), MODEL_TAG),
    ]  # fmt: skip
    shown = {n for names in (*auc.values(), gate, *calibration.values(), age)
             for n in names.values()}  # fmt: skip
    groups: dict[str, dict[str, str]] = {}
    for name in sorted(set(extra) - shown):
        groups.setdefault(name.split(".")[0], {})[name] = name
    out += [
        _panel("line_plot", f"Model values: {g}", _named(n), MODEL_TAG) for g, n in groups.items()
    ]
    return out


def build_dashboard(cfg: Config, extra: dict[str, float] | None = None) -> list[str]:
    """Write the project's whole dashboard as code; returns the panel titles.

    Rebuilt whole and saved with save_dashboard, it is the same on every call, where
    add_panel would append duplicates. `extra`: more per-day value names (keys as given to
    add_day_values) to plot beside the standard ones, grouped by their first dotted part.
    """
    from evidently.sdk.models import DashboardModel, DashboardTabModel

    ws, project = _project(cfg)
    tabs = {"Data drift": _drift_panels(cfg), "Models": _model_panels(cfg, extra or {})}
    models = [
        DashboardTabModel(id=uuid.uuid5(_NAMESPACE, f"tab {t}"), title=t, panels=[p.id for p in ps])
        for t, ps in tabs.items()
    ]
    panels = [p for ps in tabs.values() for p in ps]
    ws.save_dashboard(project, DashboardModel(tabs=models, panels=panels))
    return [p.title for p in panels]


def ui_command(cfg: Config, port: int = 8000) -> list[str]:
    """The command serving the workspace's dashboards on http://127.0.0.1:<port> (loopback)."""
    script = Path(sys.executable).parent / "evidently"
    return [
        str(script) if script.exists() else "evidently",
        "ui",
        "--workspace",
        str(workspace_path(cfg)),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
