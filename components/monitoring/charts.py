"""Inline SVG charts over days, and the reliability curve (predicted vs observed): plain
strings, no plotting library, no script, so a page opens offline and from file://. The look
follows docs/learning_curve.svg (white ground, light grid, solid/dashed/dotted lines). Every
point and bar carries `data-value` (the value as its tooltip writes it; day charts also
`data-day`), so tests and browser checks find exactly what was drawn."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

W, H, LEFT, RIGHT, BOTTOM = 440, 270, 52, 14, 40
OUTCOMES = {  # outcome: colour, its marker (a path around the point): ▲ ✕ ■ ○
    "promoted": ("#2ca02c", "m0 -5l5 9h-10z"),
    "rejected": ("#d62728", "m-4 -4l8 8m0 -8l-8 8"),
    "quarantined": ("#ff7f0e", "m-4 -4h8v8h-8z"),
    "no-training-data": ("#7f7f7f", "m-4 0a4 4 0 1 0 8 0a4 4 0 1 0 -8 0"),
    "failed": ("#9467bd", "m-4 -4l8 8m0 -8l-8 8"),
}
Swatch = Callable[[float, float], str]  # draws a legend key at (x, y)


def el(tag: str, body: str = "", **attrs: object) -> str:
    """One SVG element: `stroke_width=` writes stroke-width, `class_=` class; floats get one
    decimal (they are pixels: pass other numbers as strings), other values are escaped; None
    leaves the attribute out. `body` is markup, already escaped."""
    written = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{v:.1f}"'
        if isinstance(v, float)
        else f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"'
        for k, v in attrs.items()
        if v is not None
    )
    return f"<{tag}{written}>{body}</{tag}>" if body else f"<{tag}{written}/>"


def tip(text: str) -> str:
    """A tooltip: the <title> child that browsers show on hover."""
    return el("title", escape(text))


@dataclass(frozen=True)
class Series:
    """One line: a value per day; a day without one has no point and breaks the line."""

    name: str
    values: dict[str, float]
    colour: str
    dash: str = ""
    fmt: str = ".4f"
    alert: frozenset[str] = frozenset()  # days whose point is drawn as an alert
    notes: dict[str, str] | None = None  # day -> more text for its point's tooltip


@dataclass(frozen=True)
class Frame:
    """What a chart shares with the page: its id, title, the days run and their outcomes."""

    chart_id: str
    title: str
    y_label: str
    days: tuple[str, ...]
    outcomes: dict[str, str]  # day -> outcome, marked on the chart


class _Plot:
    """Data to pixels: one slot per calendar day from the first day run, so gaps show."""

    def __init__(self, frame: Frame, top: float, ticks: list[float]) -> None:
        first = dt.date.fromisoformat(frame.days[0]) if frame.days else dt.date.min
        self.slot = {d: (dt.date.fromisoformat(d) - first).days for d in frame.days}
        self.width = (W - LEFT - RIGHT) / (max(self.slot.values(), default=0) + 1)
        self.top, self.bottom, self.ticks = top, float(H - BOTTOM), ticks

    def x(self, day: str) -> float:
        return LEFT + (self.slot[day] + 0.5) * self.width

    def y(self, value: float) -> float:
        lo, hi = self.ticks[0], self.ticks[-1]
        return self.bottom - (value - lo) * (self.bottom - self.top) / (hi - lo)


def nice_ticks(lo: float, hi: float, floor_zero: bool = False) -> list[float]:
    """About five round ticks (1, 2, 2.5, 5 x 10^k apart) covering lo..hi with some air."""
    pad = max((hi - lo) * 0.08, abs(hi) * 0.02, 0.001)  # a flat line still gets a scale
    lo, hi = (0.0 if floor_zero and lo >= 0 else lo - pad), hi + pad
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first, count = math.floor(lo / step), math.ceil(hi / step) - math.floor(lo / step)
    return [round((first + i) * step, 10) for i in range(count + 1)]


def _legend(frame: Frame, entries: list, boxes: bool = False) -> tuple[list[str], float]:
    """Keys in rows under the title, wrapped to the width, then one per outcome that occurs
    (its marker, or a box for bars); returns them and their bottom."""
    seen, out, x, y = set(frame.outcomes.values()), [], float(LEFT), 36.0
    entries = entries + [
        (o.replace("-", " "), key(c, box=True) if boxes else lambda x, y, o=o: marker(o, x + 9, y))
        for o, (c, _) in OUTCOMES.items()
        if o in seen
    ]
    for label, swatch in entries:
        width = 30 + 6.2 * len(label)
        if x + width > W - RIGHT and x > LEFT:
            x, y = float(LEFT), y + 15
        text = el("text", escape(label), x=x + 22, y=y)
        out.append(el("g", swatch(x, y - 4) + text, class_="key"))
        x += width
    return out, y


def key(colour: str, dash: str | None = None, box: bool = False) -> Swatch:
    """A legend key: a short line (dashed like its series), or a box for bars and bands."""
    if box:
        return lambda x, y: el("rect", x=x + 3, y=y - 5, width=12, height=10, fill=colour)
    return lambda x, y: el(
        "line",
        x1=x,
        x2=x + 18,
        y1=y,
        y2=y,
        stroke=colour,
        stroke_width=2,
        stroke_dasharray=dash or None,
    )


def marker(outcome: str, x: float, y: float) -> str:
    """The outcome's shape: promoted ▲, rejected ✕, quarantined ■, no training data ○,
    failed ✕ (purple)."""
    colour, shape = OUTCOMES.get(outcome, OUTCOMES["no-training-data"])
    filled = outcome in ("promoted", "quarantined")
    return el(
        "path",
        d=f"M{x:.1f} {y:.1f}{shape}",
        fill=colour if filled else "none",
        stroke=colour,
        stroke_width=1.5,
    )


def _opening(chart_id: str, title: str) -> list[str]:
    """The svg element's start, its tooltip, white ground and title: every chart's."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart"'
        f' viewBox="0 0 {W} {H}" font-size="11" role="img">',
        tip(title),
        el("rect", width=W, height=H, fill="white"),
        el("text", escape(title), x=LEFT, y=16, font_size=13, font_weight="bold"),
    ]


def _chrome(frame: Frame, ticks: list[float], keys: list, boxes: bool = False) -> tuple:
    """The svg element, title, legend, grid with y ticks, day ticks (a label on every few);
    returns them and the plot they frame."""
    legend, legend_bottom = _legend(frame, keys, boxes)
    plot = _Plot(frame, legend_bottom + (14 if boxes else 24), ticks)
    step, right, mid = plot.ticks[1] - plot.ticks[0], W - RIGHT, (plot.top + plot.bottom) / 2
    dec = next((d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 6)
    label = lambda t: f"{t / 1000:g}k" if step >= 1000 and t else f"{t:.{dec}f}"  # noqa: E731
    out = [
        *_opening(frame.chart_id, frame.title),
        *legend,
        *(
            el("line", x1=LEFT, x2=right, y1=plot.y(t), y2=plot.y(t), stroke="#ddd")
            + el("text", label(t), x=LEFT - 4, y=plot.y(t) + 4, text_anchor="end")
            for t in plot.ticks
        ),
    ]
    every = math.ceil(len(frame.days) / 8) or 1
    for i, day in enumerate(frame.days):
        x = plot.x(day)
        out.append(el("line", x1=x, x2=x, y1=plot.bottom, y2=plot.bottom + 4, stroke="#555"))
        if i % every == 0:
            out.append(el("text", day[5:], x=x, y=plot.bottom + 16, text_anchor="middle"))
    span = f"{frame.days[0]} to {frame.days[-1]}" if frame.days else "no days yet"
    return [
        *out,
        el("line", x1=LEFT, x2=right, y1=plot.bottom, y2=plot.bottom, stroke="#555"),
        el("text", f"day ({span})", x=(LEFT + right) / 2, y=H - 6, text_anchor="middle"),
        el(
            "text",
            escape(frame.y_label),
            transform=f"translate(13 {mid:.1f}) rotate(-90)",
            text_anchor="middle",
        ),
    ], plot


def _marks(frame: Frame, plot: _Plot) -> list[str]:
    """Each day's outcome as a marker above the plot; promotions also as a faint rule."""
    out = []
    for day, outcome in frame.outcomes.items():
        x = plot.x(day)
        if outcome == "promoted":
            out.append(
                el(
                    "line",
                    x1=x,
                    x2=x,
                    y1=plot.top,
                    y2=plot.bottom,
                    stroke="#2ca02c",
                    stroke_opacity="0.25",
                )
            )
        body = marker(outcome, x, plot.top - 9) + tip(f"{day}: {outcome}")
        out.append(el("g", body, class_="mark", data_day=day, data_outcome=outcome))
    return out


def note(series: Series, day: str) -> str:
    found = (series.notes or {}).get(day)
    return f"; {found}" if found else ""


def _line(series: Series, plot: _Plot) -> list[str]:
    """The series' path, broken where a day has no value, and one point per value."""
    path, points, pen = [], [], "M"
    for day in plot.slot:
        value = series.values.get(day)
        if value is None:
            pen = "M"
            continue
        x, y, text = plot.x(day), plot.y(value), format(value, series.fmt)
        alert = day in series.alert
        path.append(f"{pen}{x:.1f} {y:.1f}")
        pen = "L"
        points.append(
            el(
                "circle",
                tip(f"{day} {series.name}: {text}{note(series, day)}"),
                class_="point alert" if alert else "point",
                data_series=series.name,
                data_day=day,
                data_value=text,
                cx=x,
                cy=y,
                r=4.5 if alert else 3.2,
                fill="#d62728" if alert else series.colour,
                stroke="white",
            )
        )
    line = el(
        "path",
        d="".join(path) or "M0 0",
        fill="none",
        stroke=series.colour,
        stroke_width=1.8,
        stroke_dasharray=series.dash or None,
    )
    return [line, *points]


def line_chart(
    frame: Frame,
    series: list[Series],
    band: tuple[float, float] | None = None,
    threshold: float | tuple[float, ...] | None = None,
    floor_zero: bool = False,
    keys: list | None = None,
) -> str:
    """Lines over days, with an optional shaded band, dashed thresholds (one value or
    several, e.g. ± a limit), and outcomes."""
    values = [v for s in series for v in s.values.values()]
    lines = (threshold,) if isinstance(threshold, float | int) else tuple(threshold or ())
    bounds = values + list(band or ()) + list(lines)
    ticks = nice_ticks(min(bounds, default=0.0), max(bounds, default=1.0), floor_zero)
    entries = [(s.name, key(s.colour, s.dash)) for s in series] + (keys or [])
    out, plot = _chrome(frame, ticks, entries)
    if band is not None:
        top, bottom = plot.y(band[1]), plot.y(band[0])
        out.append(
            el(
                "rect",
                class_="band",
                x=LEFT,
                y=top,
                width=W - LEFT - RIGHT,
                height=bottom - top,
                fill="#2ca02c",
                fill_opacity="0.12",
            )
        )
    for limit in lines:
        out.append(
            el(
                "line",
                class_="threshold",
                x1=LEFT,
                x2=W - RIGHT,
                y1=plot.y(limit),
                y2=plot.y(limit),
                stroke="#d62728",
                stroke_dasharray="6,4",
            )
        )
    out += _marks(frame, plot) + [part for s in series for part in _line(s, plot)]
    return "\n".join([*out, "</svg>"])


def bar_chart(frame: Frame, name: str, values: dict[str, float], fmt: str = ",.0f") -> str:
    """One bar per day, coloured by the day's outcome (the legend says which is which)."""
    ticks = nice_ticks(0.0, max(values.values(), default=1.0) or 1.0, floor_zero=True)
    out, plot = _chrome(frame, ticks, [], boxes=True)
    half = min(plot.width * 0.35, 14)
    for day, value in ((d, values[d]) for d in plot.slot if d in values):
        top, outcome = plot.y(value), frame.outcomes.get(day, "")
        out.append(
            el(
                "rect",
                tip(f"{day} {name}: {format(value, fmt)} ({outcome})"),
                class_="point",
                data_series=name,
                data_day=day,
                data_value=format(value, fmt.replace(",", "")),
                x=plot.x(day) - half,
                y=top,
                width=2 * half,
                height=plot.bottom - top,
                fill=OUTCOMES.get(outcome, ("#1f77b4",))[0],
            )
        )
    return "\n".join([*out, "</svg>"])


@dataclass(frozen=True)
class Curve:
    """A reliability curve: per bin (rows, mean predicted, observed rate)."""

    name: str
    bins: list[dict]  # {"rows", "predicted", "observed"}, by increasing predicted
    colour: str
    dash: str = ""


def reliability_chart(chart_id: str, title: str, curves: list[Curve]) -> str:
    """Observed rate against mean predicted probability per bin, on equal axes with the
    diagonal a calibrated model lies on; each point's tooltip gives its bin's rows."""
    values = [b[k] for c in curves for b in c.bins for k in ("predicted", "observed")]
    ticks = nice_ticks(0.0, max(values, default=1.0) or 1.0, floor_zero=True)
    legend = [(c.name, key(c.colour, c.dash)) for c in curves]
    legend.append(("calibrated (y = x)", key("#999", "2,3")))
    frame = Frame(chart_id, title, "observed rate", (), {})
    parts, bottom = _legend(frame, legend)
    top, base, right = bottom + 14, float(H - BOTTOM), float(W - RIGHT)
    scale = lambda lo, hi, v: lo + (v - ticks[0]) * (hi - lo) / (ticks[-1] - ticks[0])  # noqa: E731
    x = lambda v: scale(float(LEFT), right, v)  # noqa: E731
    y = lambda v: scale(base, top, v)  # noqa: E731
    out = [*_opening(chart_id, title), *parts]
    for t in ticks:
        out += [
            el("line", x1=LEFT, x2=right, y1=y(t), y2=y(t), stroke="#ddd"),
            el("text", f"{t:g}", x=LEFT - 4, y=y(t) + 4, text_anchor="end"),
            el("text", f"{t:g}", x=x(t), y=base + 16, text_anchor="middle"),
        ]
    diagonal = dict(x1=x(ticks[0]), y1=y(ticks[0]), x2=x(ticks[-1]), y2=y(ticks[-1]))
    out.append(el("line", **diagonal, stroke="#999", stroke_dasharray="2,3"))
    for c in curves:
        path = "".join(
            f"{'L' if i else 'M'}{x(b['predicted']):.1f} {y(b['observed']):.1f}"
            for i, b in enumerate(c.bins)
        )
        out.append(el("path", d=path or "M0 0", fill="none", stroke=c.colour, stroke_width=1.8,
                      stroke_dasharray=c.dash or None))  # fmt: skip
        for b in c.bins:
            text = f"{c.name}: predicted {b['predicted']:.4f}, observed {b['observed']:.4f}"
            out.append(el("circle", tip(f"{text} ({b['rows']:,} rows)"), class_="bin",
                          data_series=c.name, data_value=f"{b['observed']:.4f}",
                          cx=x(b["predicted"]), cy=y(b["observed"]), r=3.2, fill=c.colour,
                          stroke="white"))  # fmt: skip
    out += [
        el("line", x1=LEFT, x2=right, y1=base, y2=base, stroke="#555"),
        el("text", "mean predicted probability", x=(LEFT + right) / 2, y=H - 6,
           text_anchor="middle"),
        el("text", "observed rate", transform=f"translate(13 {(top + base) / 2:.1f}) rotate(-90)",
           text_anchor="middle"),
        "</svg>",
    ]  # fmt: skip
    return "\n".join(out)
