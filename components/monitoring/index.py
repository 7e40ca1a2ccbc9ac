"""The static dashboard page, `dashboards/index.html`: every day run, at a glance.

Rebuilt from the day records after each daily run. Self-contained (inline CSS and SVG, no
script, no network) so it opens from file:// on a laptop, an air-gapped host or a CI
artifact; deterministic (no build time on it), so rebuilding from the same records writes
the same bytes. Missing numbers (a quarantined day, JSON null, NaN) are simply not drawn.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path

from components import atomic
from components.codec import finite
from components.config import Config
from components.monitoring import days, scenes
from components.monitoring.charts import (
    Curve,
    Frame,
    Series,
    bar_chart,
    el,
    key,
    line_chart,
    reliability_chart,
)
from components.monitoring.scenes import by_day
from components.monitoring.scenes import metric as metric  # cli/backfill reads AUCs with it
from components.records import DayRecord

CANDIDATE, CHAMPION, DRIFT = "#1f77b4", "#ff7f0e", "#9467bd"
STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
background:#f4f5f7}body{margin:0 auto;max-width:1880px;padding:16px 24px}
h1{font-size:22px;margin:0}h2{font-size:16px;margin:28px 0 4px}.note{color:#666;margin:0 0 8px}
.promoted{--c:#2ca02c}.rejected,.alerts{--c:#d62728}.quarantined{--c:#ff7f0e}
.no-training-data{--c:#7f7f7f}.failed{--c:#9467bd}.sub{color:#555;margin:4px 0 12px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile b{display:block;font-size:24px;color:var(--c)}
.tile{background:#fff;border-radius:8px;padding:8px 16px;box-shadow:0 1px 3px #0002;min-width:96px}
.tile span{color:#666;font-size:11px;text-transform:uppercase}
.grid{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(400px,1fr))}
svg.chart{width:100%;height:auto;border-radius:8px;box-shadow:0 1px 3px #0002}
.scroll{overflow-x:auto;box-shadow:0 1px 3px #0002;border-radius:8px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#fafafa;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
td:first-child{border-left:4px solid var(--c,#fff)}tbody tr:hover{background:#f0f6ff}
td.gate,th.gate{white-space:normal;text-align:left;min-width:260px}[title]{cursor:help}
.fail,.drift{color:#d62728;font-weight:600}.why{color:#666;font-size:11px}
.reason{color:#d62728}.asof{color:#444;font-size:12px;margin:0 0 10px}code{font-size:11px}
th.scene{text-align:center;border-left:1px solid #ddd}
"""


def build_index(
    cfg: Config, records: list[DayRecord], env: Mapping[str, str] | None = None
) -> Path:
    """Write index.html atomically: a reader (or a browser reload) never sees half a page.
    `env` (default: the process's) may name PREFECT_UI_URL, the Prefect UI to link to."""
    folder = cfg.path("dashboards")
    tools = days.Tools.of(cfg, os.environ if env is None else env)
    return atomic.write_text(folder / "index.html", render(cfg, records, folder, tools))


def render(cfg: Config, records: list[DayRecord], folder: Path, tools: days.Tools) -> str:
    """The whole page; `folder` is where it lives, for links to the day reports beside it."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(cfg.registry.model_name)}: daily runs</title>",
            f"<style>{STYLE}</style></head><body>",
            header(cfg, records),
            charts(cfg, records),
            days.table(cfg, records, folder, tools),
            "</body></html>",
            "",
        ]
    )


def as_of(records: list[DayRecord]) -> str:
    """The newest record's finish time and the data version its runs logged: what the page
    shows, from the records alone (never the time it was built, so rebuilds are the same)."""
    if not records:
        return "as of: no day has run yet"
    newest = max(records, key=lambda r: (r.finished, r.day))
    when = newest.finished or "(finish time not recorded)"
    line = f"as of {when}: the newest record, {newest.day} ({newest.outcome})"
    logged = next((r for r in sorted(records, key=lambda r: (r.finished, r.day), reverse=True)
                   if r.lineage.get("data_md5")), None)  # fmt: skip
    if logged is None:
        return line + "; data version: not in the day records"
    lineage = logged.lineage
    data = f"data version {lineage['data_md5']} (data.dvc md5, logged by {logged.day}'s run"
    window = lineage.get("data_window_md5")
    data += f"; its training window {window})" if window and window != "none" else ")"
    code = [f"{k} {lineage[k]}" for k in ("git_commit", "params_hash") if lineage.get(k)]
    return "; ".join([line, data, *code])


def header(cfg: Config, records: list[DayRecord]) -> str:
    """Title line, the as-of line and one tile per headline number."""
    last = records[-1] if records else None
    count = Counter(r.outcome for r in records)
    champion = f"v{last.champion}" if last and last.champion is not None else "none"
    alerts = sum(bool(r.drift and r.drift.drifted) for r in records)
    health = last.serving if last else None
    age = "-" if health is None or health.age_days is None else f"{health.age_days} d"
    tiles = [
        ("champion", "champion", champion),
        ("days", "days run", len(records)),
        ("last", "last day", f"{last.day} {last.outcome}" if last else "-"),
        *((o, o, count[o]) for o in ("promoted", "rejected", "quarantined")),
        *((("failed", "failed", count["failed"]),) if count["failed"] else ()),
        ("alerts", "drift alerts", alerts),
        ("alerts" if health and health.stale else "age", "champion age", age),
    ]
    focus = ", ".join(f"{f.scene}/{f.task}" for f in cfg.gate.focus)
    seen = ", ".join(scenes.known(cfg, records)[0]) or "none yet"
    return (
        f'<header id="summary"><h1>{escape(cfg.registry.model_name)}: daily retraining</h1>'
        f'<p class="sub">model {escape(cfg.model.name)}; the gate judges {escape(focus)}; '
        f"scenes in the records: {escape(seen)}</p>"
        f'<p class="asof" id="as-of">{escape(as_of(records))}</p>'
        '<div class="tiles">'
        + "".join(
            el(
                "div",
                f"<b>{escape(str(v))}</b><span>{label}</span>",
                class_=f"tile {name}",
                data_key=name,
            )
            for name, label, v in tiles
        )
        + "</div></header>"
    )


def charts(cfg: Config, records: list[DayRecord]) -> str:
    """AUC and calibration of every scene and task (small multiples), reliability, label
    rates and shifts per scene, traffic per scene, then drift share and volume."""
    run_days = tuple(r.day.isoformat() for r in records)
    outcomes = {r.day.isoformat(): r.outcome for r in records}

    def frame(chart_id: str, title: str, y_label: str) -> Frame:
        return Frame(chart_id, title, y_label, run_days, outcomes)

    seen, cells = scenes.known(cfg, records)
    if not cells:  # nothing scored yet: the gate's focus, empty
        cells = [scenes.Cell(f.scene, f.task) for f in cfg.gate.focus]
    marks = "markers above each chart: ▲ promoted, ✕ rejected, ■ quarantined, ○ no training data"
    marks += ", purple ✕ failed" if "failed" in outcomes.values() else ""
    limit = cfg.monitor.alert.label_shift
    return "\n".join(
        [
            section(
                "Ranking quality: AUC against the oracle, every scene and task",
                "solid: candidate, dashed: champion (same rows), dotted: oracle AUC of the true "
                "probabilities (the ceiling); (gate): a scene and task the gate judges",
                [scenes.auc_chart(frame, records, cfg, c) for c in cells],
            ),
            section(
                "Calibration, every scene and task",
                "solid: candidate Σp/Σy, dashed: champion (same rows); the shaded band is what "
                "the gate accepts, drawn where it judges",
                [scenes.calibration_chart(frame, records, cfg, c) for c in cells],
            ),
            reliability(records),
            section(
                "Labels per scene",
                f"the day's CTR and CVR per scene (every row), and their shift against the "
                f"reference days; red points: the shift alerted (|shift| >= {limit} with "
                "enough clicks or conversions on both sides to judge)",
                scenes.label_charts(cfg, frame, records, seen),
            ),
            '<section><h2>Traffic per scene</h2><p class="note">rows, clicks and conversions '
            "of each scene on the day, its CTR and CVR with their shift against the reference "
            "(red: the shift alerted); - where the day was not monitored</p>"
            + scenes.traffic_table(records, seen)
            + "</section>",
            section(
                "Drift and data volume",
                f"{marks}; red points: the day alerted, for any reason (its reasons are in the "
                "point's tooltip and the days table)",
                drift_charts(cfg, frame, records),
            ),
        ]
    )


def reliability(records: list[DayRecord]) -> str:
    """The newest judged day's reliability curves per focus, candidate and champion on the
    same rows (nothing before a day is judged)."""
    last = next((r for r in reversed(records) if r.calibration), None)
    if last is None:
        return ""
    charts = []
    for c in last.calibration:
        curves = [Curve("candidate", c.candidate.curve, CANDIDATE)]
        if c.champion is not None:
            curves.append(Curve("champion", c.champion.curve, CHAMPION, "6,4"))
        ece = " / ".join(f"{m.ece:.4f}" for m in (c.candidate, c.champion) if m is not None)
        chart_id = f"chart-reliability-{c.focus.replace('/', '-')}"
        charts.append(reliability_chart(chart_id, f"reliability {c.focus} (ECE {ece})", curves))
    note = (
        f"{last.day}: observed rate against mean predicted probability in 10 equal-size bins, "
        "candidate (solid) and champion (dashed) on the same rows; ECE is the rows-weighted "
        "mean gap to the diagonal, candidate / champion"
    )
    return section("Reliability of the newest judged day", note, charts)


def drift_charts(cfg: Config, frame: Callable[..., Frame], records: list[DayRecord]) -> list[str]:
    """Drift share against the alert threshold (alerting days red, their alerts in the
    tooltip), and rows per day."""
    threshold = cfg.monitor.alert.drift_share
    drifted = frozenset(r.day.isoformat() for r in records if r.drift and r.drift.drifted)
    shares = by_day(records, lambda r: finite(r.drift.drift_share) if r.drift else None)
    notes = {r.day.isoformat(): "; ".join(r.drift.alerts) for r in records if r.drift}
    share = Series("drift share", shares, DRIFT, alert=drifted, notes=notes)
    return [
        line_chart(
            frame("chart-drift", "drift share", "share of columns drifted"),
            [share],
            threshold=threshold,
            floor_zero=True,
            keys=[(f"alert at {threshold}", key("#d62728", "6,4"))],
        ),
        bar_chart(
            frame("chart-rows", "data volume", "rows"),
            "rows",
            by_day(records, lambda r: float(r.rows)),
        ),
    ]


def section(title: str, note: str, parts: list[str]) -> str:
    return (
        f'<section><h2>{escape(title)}</h2><p class="note">{escape(note)}</p>'
        f'<div class="grid">{"".join(parts)}</div></section>'
    )
