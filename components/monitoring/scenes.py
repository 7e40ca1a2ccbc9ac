"""The page's per-scene parts: every scene the day records know (a scene launched after the
gate's focus was chosen included) and every task, CTCVR too: AUC and calibration per scene
and task, label rates and their shifts per scene, and each day's traffic per scene."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import NamedTuple

from components.codec import finite
from components.config import Config, Focus
from components.evaluation.metrics import Metrics
from components.monitoring.alerts import label_alert
from components.monitoring.charts import Frame, Series, el, key, line_chart
from components.records import DayRecord

TASKS = ("ctr", "cvr", "ctcvr")
CANDIDATE, CHAMPION, ORACLE = "#1f77b4", "#ff7f0e", "#555555"
# one colour per scene; no red: a red point is an alert
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")  # fmt: skip
Frames = Callable[[str, str, str], Frame]  # (chart id, title, y label) -> the chart's frame


class Cell(NamedTuple):
    """One scene and task (a gate Focus is one too)."""

    scene: str
    task: str


def metric(rows: list[Metrics] | None, cell: Focus | Cell, name: str = "auc") -> float | None:
    """One metric of one scene and task from a record's metric list (None when absent or NaN)."""
    found = [getattr(m, name) for m in rows or [] if (m.scene, m.task) == (cell.scene, cell.task)]
    return finite(found[0]) if found else None


def by_day(records: list[DayRecord], get: Callable[[DayRecord], float | None]) -> dict:
    """{day: value} for the days that have one."""
    return {r.day.isoformat(): v for r in records if (v := get(r)) is not None}


def known(cfg: Config, records: list[DayRecord]) -> tuple[list[str], list[Cell]]:
    """(scenes, scene x task cells) the records hold: params' scenes first, in their order,
    then any other by name; tasks in model order (ctr, cvr, ctcvr)."""
    scenes, cells = set(), set()
    for r in records:
        for m in [*r.candidate, *(r.champion_metrics or [])]:
            cells.add(Cell(m.scene, m.task))
        scenes |= set(r.drift.label_rates) if r.drift else set()
    scenes |= {c.scene for c in cells}
    order = [s for s in cfg.model.scenes if s in scenes] + sorted(scenes - set(cfg.model.scenes))
    rank = {t: i for i, t in enumerate(TASKS)}
    cells_sorted = sorted(cells, key=lambda c: (order.index(c.scene), rank.get(c.task, 9), c.task))
    return order, cells_sorted


def focus_label(cfg: Config, cell: Cell) -> str:
    judged = any((f.scene, f.task) == cell for f in cfg.gate.focus)
    return f"{cell.scene}/{cell.task}" + (" (gate)" if judged else "")


def auc_chart(frame: Frames, records: list[DayRecord], cfg: Config, c: Cell) -> str:
    """Candidate, champion and oracle AUC of one scene and task over days."""
    series = [
        Series("candidate", by_day(records, lambda r: metric(r.candidate, c)), CANDIDATE),
        Series(
            "champion", by_day(records, lambda r: metric(r.champion_metrics, c)), CHAMPION, "6,4"
        ),
        Series(
            "oracle",
            by_day(records, lambda r: metric(r.candidate or r.champion_metrics, c, "oracle_auc")),
            ORACLE,
            "2,3",
        ),
    ]
    return line_chart(
        frame(f"chart-auc-{c.scene}-{c.task}", f"AUC {focus_label(cfg, c)}", "AUC"), series
    )


def calibration_chart(frame: Frames, records: list[DayRecord], cfg: Config, c: Cell) -> str:
    """Candidate and champion Σp/Σy of one scene and task over days; the gate's band on the
    cells the gate judges."""
    judged = any((f.scene, f.task) == c for f in cfg.gate.focus)
    low, high = cfg.gate.calibration_band
    series = [
        Series("candidate", by_day(records, lambda r: metric(r.candidate, c, "calibration")),
               CANDIDATE, fmt=".3f"),
        Series("champion", by_day(records, lambda r: metric(r.champion_metrics, c, "calibration")),
               CHAMPION, "6,4", fmt=".3f"),
    ]  # fmt: skip
    return line_chart(
        frame(f"chart-calibration-{c.scene}-{c.task}", f"calibration {focus_label(cfg, c)}",
              "Σp / Σy"),
        series,
        band=(low, high) if judged else None,
        keys=[(f"gate band {low}–{high}", key("#2ca02c", box=True))] if judged else [],
    )  # fmt: skip


def label_alerted(records: list[DayRecord], scene: str, task: str) -> frozenset[str]:
    """Days whose drift alerts include this scene's label shift."""
    return frozenset(
        r.day.isoformat()
        for r in records
        if r.drift and any(a.startswith(label_alert(scene, task)) for a in r.drift.alerts)
    )


def rate(r: DayRecord, scene: str, field: str, side: int = 1) -> float | None:
    """A label rate of the day's rows (side 1; 0: the reference) or a shift, from drift."""
    found = r.drift.label_rates.get(scene) if r.drift else None
    if found is None:
        return None
    value = found[field]
    return finite(value[side] if isinstance(value, list) else value)


def per_scene(records: list[DayRecord], scenes: list[str], task: str, field: str) -> list:
    """One series per scene of a label rate or shift; red points where its shift alerted."""
    fmt = "+.3f" if field.endswith("_shift") else ".4f"
    return [
        Series(s, by_day(records, lambda r, s=s: rate(r, s, field)), PALETTE[i % len(PALETTE)],
               fmt=fmt, alert=label_alerted(records, s, task))
        for i, s in enumerate(scenes)
    ]  # fmt: skip


def label_charts(cfg: Config, frame: Frames, records: list[DayRecord], scenes: list[str]) -> list:
    """CTR and CVR per scene over days, then their shift against the reference with the
    alert lines; a scene's point is red on a day its shift alerted."""
    limit = cfg.monitor.alert.label_shift
    names = {"ctr": "CTR (clicks / rows)", "cvr": "CVR (conversions / clicks)"}
    out = [
        line_chart(frame(f"chart-{t}-rate", f"{name} per scene", t.upper()),
                   per_scene(records, scenes, t, t), floor_zero=True)
        for t, name in names.items()
    ]  # fmt: skip
    out += [
        line_chart(
            frame(f"chart-{t}-shift", f"{t.upper()} shift vs reference", "cur / ref - 1"),
            per_scene(records, scenes, t, f"{t}_shift"),
            threshold=(-limit, limit),
            keys=[(f"alert at ±{limit}", key("#d62728", "6,4"))],
        )
        for t in names
    ]
    return out


def traffic_table(records: list[DayRecord], scenes: list[str]) -> str:
    """Per day (newest first) and scene: rows, clicks, conversions, CTR and CVR with their
    shift against the reference (red where the shift alerted)."""
    head = "".join(el("th", escape(s), colspan=5, class_="scene") for s in scenes)
    sub = "".join(el("th", h) for _ in scenes for h in ("rows", "clicks", "conv.", "CTR", "CVR"))
    rows = []
    for r in reversed(records):
        cells = [el("td", r.day.isoformat())]
        for s in scenes:
            found = r.drift.label_rates.get(s) if r.drift else None
            if found is None:
                cells += [el("td", "-")] * 5
                continue
            cells += [el("td", f"{found[k][1]:,}") for k in ("rows", "clicks", "conversions")]
            for task in ("ctr", "cvr"):
                cells.append(rate_cell(r, s, task))
        rows.append(el("tr", "".join(cells), data_traffic=r.day.isoformat()))
    return (
        '<div class="scroll"><table id="scenes"><thead><tr><th rowspan="2">day</th>'
        f"{head}</tr><tr>{sub}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>"
    )


def rate_cell(r: DayRecord, scene: str, task: str) -> str:
    value, before = rate(r, scene, task), rate(r, scene, task, 0)
    shift = rate(r, scene, f"{task}_shift")
    alerted = any(a.startswith(label_alert(scene, task)) for a in r.drift.alerts)
    text = "-" if value is None else f"{value:.4f}"
    text += "" if shift is None else f' <span class="why">{shift:+.0%}</span>'
    ref = "-" if before is None else f"{before:.4f}"
    return el("td", text, class_="drift" if alerted else None, title=f"reference {ref}")
