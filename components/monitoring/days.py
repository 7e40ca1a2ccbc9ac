"""The page's days table: one row per day, newest first, with what happened and why in
plain text (the gate's first reason, every drift alert), and where to look next: the day's
drift report, validation result, MLflow run and model version, Prefect flow run.

Links are relative (files beside the page), or built from an http(s) MLflow tracking URI
and Prefect UI URL; with the embedded stores there is no UI to link to, so the ids are
written as text and the note under the table says how to open them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from components.codec import finite
from components.config import Config, Focus
from components.data.partitions import day_name
from components.monitoring.charts import el
from components.monitoring.scenes import metric
from components.records import DayRecord
from components.validation.quarantine import result_path


def _web(url: str | None) -> str | None:
    return url.rstrip("/") if url and url.startswith(("http://", "https://")) else None


@dataclass(frozen=True)
class Tools:
    """Where the days' ids open: http(s) UIs to link to (None: ids as text), and how to
    open them otherwise."""

    mlflow: str | None  # registry.tracking_uri when it is an MLflow server
    prefect: str | None  # PREFECT_UI_URL, Prefect's own setting for its UI's address
    model: str
    how: tuple[str, ...]

    @classmethod
    def of(cls, cfg: Config, env: Mapping[str, str]) -> Tools:
        mlflow, prefect = _web(cfg.registry.tracking_uri), _web(env.get("PREFECT_UI_URL"))
        how = []
        if mlflow is None:
            store = cfg.registry.tracking_uri or f"sqlite:///{cfg.paths.registry / 'mlflow.db'}"
            how.append(
                f"MLflow ids: from the workspace root run `mlflow ui --backend-store-uri {store}`"
                " and open http://127.0.0.1:5000/#/runs/RUN_ID (a version: "
                f"#/models/{cfg.registry.model_name}/versions/N)"
            )
        if prefect is None:
            how.append(
                f"Prefect ids: `PREFECT_HOME={cfg.paths.prefect} prefect server start` from the "
                "workspace root, then http://127.0.0.1:4200/runs/flow-run/FLOW_RUN_ID; with "
                "PREFECT_UI_URL set (a Prefect server's UI) this page links them"
            )
        return cls(mlflow, prefect, cfg.registry.model_name, tuple(how))


def table(cfg: Config, records: list[DayRecord], folder: Path, tools: Tools) -> str:
    """One row per day, newest first: what happened and why, with links to its reports."""
    focus = [f"{f.scene}/{f.task}" for f in cfg.gate.focus]
    head = [
        "day",
        "rows",
        "validation",
        *(f"{f} AUC<br><span class=why>cand / oracle</span>" for f in focus),
        "gate",
        "champion",
        "drift",
        "links",
    ]
    wide = ("gate", "drift", "links")
    rows = [day_row(cfg, r, folder, tools) for r in reversed(records)]
    cells = "".join(el("th", h, class_="gate" if h in wide else None) for h in head)
    how = "".join(f'<p class="note">{escape(line)}</p>' for line in tools.how)
    return (
        f'<section><h2>Days</h2><div class="scroll"><table id="days"><thead><tr>'
        f"{cells}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>"
        f"{how}</section>"
    )


def day_row(cfg: Config, r: DayRecord, folder: Path, tools: Tools) -> str:
    """A day's cells; tooltips hold the detail (every gate reason, exact values)."""
    val = r.validation
    reasons = (r.decision.reasons if r.decision else []) or ([] if val.passed else val.reasons)
    reasons = [r.error] if r.error else reasons
    first = reasons[0] if reasons else ""
    first += f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
    before = f"v{r.champion_before} → " if r.champion_before not in (None, r.champion) else ""
    cells = [
        el("td", escape(r.day.isoformat())),
        el("td", f"{r.rows:,}"),
        el("td", "pass", title="validated")
        if val.passed
        else el("td", "FAIL", class_="fail", title="\n".join(val.reasons)),
        *(auc_cell(r, f) for f in cfg.gate.focus),
        el(
            "td",
            f'{escape(r.outcome)} <span class="why">{escape(first)}</span>',
            class_="gate",
            title="\n".join(reasons) or None,
        ),
        champion_cell(r, before),
        drift_cell(r),
        el("td", links(cfg, r, folder, tools) or "-", class_="gate"),
    ]
    return el("tr", "".join(cells), class_=r.outcome, data_day=r.day.isoformat())


def auc_cell(r: DayRecord, f: Focus) -> str:
    cand, champ = metric(r.candidate, f), metric(r.champion_metrics, f)
    oracle = metric(r.candidate or r.champion_metrics, f, "oracle_auc")
    text = lambda x, n=4: "-" if x is None else f"{x:.{n}f}"  # noqa: E731
    title = f"candidate {text(cand)}, champion {text(champ)}, oracle {text(oracle)}"
    return el("td", f"{text(cand, 3)} / {text(oracle, 3)}", title=title)


def champion_cell(r: DayRecord, before: str) -> str:
    """The champion after the day; STALE (red) past gate.max_champion_age_days, and its
    age and calibration alerts in the tooltip."""
    if r.champion is None:
        return el("td", "-")
    h = r.serving
    alerts = h.alerts if h else []
    age = f"served {h.age_days} days unreplaced" if h and h.age_days is not None else ""
    if h and h.stale:
        flag = ' <span class="drift">STALE</span>'
    elif alerts:  # the served champion's calibration left the band on the day
        flag = f' <span class="why">{len(alerts)} alert{"s" if len(alerts) > 1 else ""}</span>'
    else:
        flag = ""
    return el("td", f"{before}v{r.champion}{flag}", title="\n".join([age, *alerts]).strip() or None)


def drift_cell(r: DayRecord) -> str:
    """DRIFT with every alert written out, or no / - (not monitored); the share and the
    drifted columns too (the tooltip repeats them)."""
    d = r.drift
    if d is None:
        return el("td", "-", title="not monitored", class_="gate")
    share = finite(d.drift_share)
    shown = "-" if share is None else f"{share:.2f}"
    columns = ", ".join(d.drifted_columns) or "none"
    title = "\n".join([f"drift share {shown}", f"drifted columns: {columns}", *d.alerts])
    lines = [f'<span class="why">share {shown}; drifted: {escape(columns)}</span>']
    if d.drifted:
        lines = ['<b class="drift">DRIFT</b>', *(f'<span class="reason">{escape(a)}</span>'
                                                for a in d.alerts), *lines]  # fmt: skip
    else:
        lines.insert(0, "no")
    return el("td", "<br>".join(lines), class_="gate", title=title)


def links(cfg: Config, r: DayRecord, folder: Path, tools: Tools) -> str:
    """The day's drift report, summary and validation result (relative links, only those on
    disk); its MLflow run, model version and Prefect flow run (links or ids)."""
    files = [
        (label, folder / day_name(r.day) / name)
        for name, label in (("drift.html", "report"), ("drift.json", "json"))
    ]
    files.append(("validation", result_path(cfg, r.day)))
    found = [
        el("a", label, href=quote(Path(os.path.relpath(path, folder)).as_posix(), safe="/=.-_~"))
        for label, path in files
        if path.is_file()
    ]
    lines = [" ".join(found)] if found else []
    run = f"/#/runs/{r.run_id}" if r.run_id else None
    ids = [
        ("MLflow run", r.run_id, tools.mlflow, run),
        ("version", None if r.version is None else f"v{r.version}", tools.mlflow,
         f"/#/models/{quote(tools.model)}/versions/{r.version}"),
        ("Prefect flow run", r.flow_run, tools.prefect, f"/runs/flow-run/{r.flow_run}"),
    ]  # fmt: skip
    for label, value, base, path in ids:
        if value is None:
            continue
        text = el("code", escape(value))
        lines.append(f"{label} " + (el("a", text, href=base + path) if base else text))
    return "<br>".join(lines)
