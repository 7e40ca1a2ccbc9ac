"""The static dashboard page, `dashboards/index.html`: every day run, at a glance.

Rebuilt from the day records after each daily run. Self-contained (inline CSS and SVG, no
script, no network) so it opens from file:// on a laptop, an air-gapped host or a CI
artifact; deterministic (no build time on it), so rebuilding from the same records writes
the same bytes. Missing numbers (a quarantined day, JSON null, NaN) are simply not drawn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from html import escape
from pathlib import Path

from components import atomic
from components.codec import finite
from components.config import Config, Focus
from components.data.partitions import day_name
from components.evaluation.metrics import Metrics
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
from components.records import DayRecord

CANDIDATE, CHAMPION, ORACLE, DRIFT = "#1f77b4", "#ff7f0e", "#555555", "#9467bd"
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
"""


def metric(rows: list[Metrics] | None, focus: Focus, name: str = "auc") -> float | None:
    """One metric of one focus from a record's metric list (None when absent or NaN)."""
    found = [getattr(m, name) for m in rows or [] if (m.scene, m.task) == (focus.scene, focus.task)]
    return finite(found[0]) if found else None


def build_index(cfg: Config, records: list[DayRecord]) -> Path:
    """Write index.html atomically: a reader (or a browser reload) never sees half a page."""
    folder = cfg.path("dashboards")
    return atomic.write_text(folder / "index.html", render(cfg, records, folder))


def render(cfg: Config, records: list[DayRecord], folder: Path) -> str:
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
            table(cfg, records, folder),
            "</body></html>",
            "",
        ]
    )


def header(cfg: Config, records: list[DayRecord]) -> str:
    """Title line and one tile per headline number."""
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
    return (
        f'<header id="summary"><h1>{escape(cfg.registry.model_name)}: daily retraining</h1>'
        f'<p class="sub">model {escape(cfg.model.name)}; the gate judges {escape(focus)}</p>'
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


def by_day(records: list[DayRecord], get: Callable[[DayRecord], float | None]) -> dict:
    """{day: value} for the days that have one."""
    return {r.day.isoformat(): v for r in records if (v := get(r)) is not None}


def charts(cfg: Config, records: list[DayRecord]) -> str:
    """AUC and calibration per focus (small multiples), then drift share and volume."""
    days = tuple(r.day.isoformat() for r in records)
    outcomes = {r.day.isoformat(): r.outcome for r in records}

    def frame(chart_id: str, title: str, y_label: str) -> Frame:
        return Frame(chart_id, title, y_label, days, outcomes)

    auc = [auc_chart(frame, records, f) for f in cfg.gate.focus]
    low, high = cfg.gate.calibration_band
    calibration = [calibration_chart(frame, records, f, (low, high)) for f in cfg.gate.focus]
    ranking_note = "solid: candidate, dashed: champion (same rows), dotted: oracle AUC of the "
    marks = "markers above each chart: ▲ promoted, ✕ rejected, ■ quarantined, ○ no training data"
    marks += ", purple ✕ failed" if "failed" in outcomes.values() else ""
    return "\n".join(
        [
            section(
                "Ranking quality: AUC against the oracle",
                ranking_note + "true probabilities (the ceiling)",
                auc,
            ),
            section(
                "Calibration",
                "solid: candidate Σp/Σy, dashed: champion (same rows); the shaded band is what "
                "the gate accepts",
                calibration,
            ),
            reliability(records),
            section(
                "Drift and data volume",
                f"{marks}; red points: drifted days",
                drift_charts(cfg, frame, records),
            ),
        ]
    )


def calibration_chart(
    frame: Callable[..., Frame], records: list[DayRecord], f: Focus, band: tuple[float, float]
) -> str:
    """Candidate Σp/Σy of one focus over days, over the band the gate accepts."""
    low, high = band
    ratio = by_day(records, lambda r: metric(r.candidate, f, "calibration"))
    theirs = by_day(records, lambda r: metric(r.champion_metrics, f, "calibration"))
    return line_chart(
        frame(
            f"chart-calibration-{f.scene}-{f.task}", f"calibration {f.scene}/{f.task}", "Σp / Σy"
        ),
        [
            Series("candidate", ratio, CANDIDATE, fmt=".3f"),
            Series("champion", theirs, CHAMPION, "6,4", fmt=".3f"),
        ],
        band=band,
        keys=[(f"gate band {low}–{high}", key("#2ca02c", box=True))],
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
    """Drift share against the alert threshold, and rows per day."""
    threshold = cfg.monitor.alert.drift_share
    drifted = frozenset(r.day.isoformat() for r in records if r.drift and r.drift.drifted)
    shares = by_day(records, lambda r: finite(r.drift.drift_share) if r.drift else None)
    share = Series("drift share", shares, DRIFT, alert=drifted)
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


def auc_chart(frame: Callable[..., Frame], records: list[DayRecord], f: Focus) -> str:
    """Candidate, champion and oracle AUC of one focus over days."""
    series = [
        Series("candidate", by_day(records, lambda r: metric(r.candidate, f)), CANDIDATE),
        Series(
            "champion", by_day(records, lambda r: metric(r.champion_metrics, f)), CHAMPION, "6,4"
        ),
        Series(
            "oracle",
            by_day(records, lambda r: metric(r.candidate or r.champion_metrics, f, "oracle_auc")),
            ORACLE,
            "2,3",
        ),
    ]
    return line_chart(
        frame(f"chart-auc-{f.scene}-{f.task}", f"AUC {f.scene}/{f.task}", "AUC"), series
    )


def section(title: str, note: str, parts: list[str]) -> str:
    return (
        f'<section><h2>{escape(title)}</h2><p class="note">{escape(note)}</p>'
        f'<div class="grid">{"".join(parts)}</div></section>'
    )


def table(cfg: Config, records: list[DayRecord], folder: Path) -> str:
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
        "reports",
    ]
    rows = [day_row(cfg, r, folder) for r in reversed(records)]
    cells = "".join(el("th", h, class_=h if h == "gate" else None) for h in head)
    return (
        f'<section><h2>Days</h2><div class="scroll"><table id="days"><thead><tr>'
        f"{cells}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div></section>"
    )


def day_row(cfg: Config, r: DayRecord, folder: Path) -> str:
    """A day's cells; tooltips hold the detail (every reason, exact values)."""
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
        el("td", links(r, folder) or "-"),
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
    """DRIFT / no / - (not monitored), with the share, columns and alerts in the tooltip."""
    d = r.drift
    if d is None:
        return el("td", "-", title="not monitored")
    share, alerts = finite(d.drift_share), d.alerts
    columns = ", ".join(d.drifted_columns) or "none"
    title = "\n".join(
        [
            f"drift share {'-' if share is None else f'{share:.4f}'}",
            f"drifted columns: {columns}",
            *alerts,
        ]
    )
    flag = "DRIFT" if d.drifted else "no"
    more = f" · {len(alerts)} alert{'s' if len(alerts) > 1 else ''}" if alerts else ""
    return el("td", flag + more, class_="drift" if d.drifted else None, title=title)


def links(r: DayRecord, folder: Path) -> str:
    """Relative links to the day's drift report and summary, only those on disk."""
    found = [
        (name, label)
        for name, label in (("drift.html", "report"), ("drift.json", "json"))
        if (folder / day_name(r.day) / name).is_file()
    ]
    return " ".join(el("a", label, href=f"{day_name(r.day)}/{name}") for name, label in found)
