"""docs/zoo.md and its chart from metrics/compare.json (the summary of `mtms compare`)."""

from __future__ import annotations

import html

from components.evaluation.compare_stats import TIME_TARGET


def _f(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ci(d: dict | None) -> str:
    if d is None:
        return "–"
    return f"{d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}]"


def _focus(summary: dict) -> list[str]:
    keys = {k for m in summary["models"].values() for k in m}
    order = {"ctr": 0, "cvr": 1, "ctcvr": 2}
    return sorted(keys, key=lambda k: (order.get(k.split("/")[1], 3), k))


def render(summary: dict, command: str, chart: str = "zoo_diffs.svg") -> str:
    """The results page: headline AUCs, paired differences, targets, claims, speed."""
    zoo = ["mtms", *summary["vs_mtms"]]
    keys = _focus(summary)
    days = summary["scored_days"]
    out = [
        "# The model zoo's bake-off",
        "",
        f"Made by `{command}` ({summary['wall_s'] / 60:.0f} min); do not edit by hand.",
        f"Seeds {summary['seeds']}; each model's daily warm-start chain, every day's model "
        f"scored on the next unseen day; the headline is the mean over the scored days "
        f"{days[0]}..{days[-1]} and the seeds. Differences are paired by (seed, day); "
        f"intervals are 95 % percentile bootstraps ({summary['bootstrap']} resamples) over "
        "those pairs. The reading of these numbers, the regimes and the MTMS ablation: "
        "[quality.md](quality.md).",
        "",
        "## AUC (share of the oracle's lift in brackets)",
        "",
        "| model | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for label in zoo:
        m = summary["models"].get(label, {})
        cells = [f"{_f(m.get(k, {}).get('auc'))} ({_f(m.get(k, {}).get('share'), 2)})"
                 for k in keys]  # fmt: skip
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    oracle = {k: m[k]["oracle_auc"] for m in summary["models"].values() for k in m}
    ceiling = ", ".join(f"{k} {_f(oracle.get(k))}" for k in keys)
    out += ["", f"Oracle AUC (the ceiling on the same rows): {ceiling}", ""]
    out += ["## Paired AUC difference against MTMS (model - MTMS)", "",
            f"![AUC difference against MTMS]({chart})", "",
            "| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]  # fmt: skip
    for label, diffs in summary["vs_mtms"].items():
        out.append(f"| {label} | " + " | ".join(_ci(diffs.get(k)) for k in keys) + " |")
    out += ["", "## Logloss, MAE and calibration (Σp/Σy)", "",
            "| model | focus | logloss | MAE | Σp/Σy |", "|---|---|---|---|---|"]  # fmt: skip
    for label in zoo:
        for k in keys:
            m = summary["models"].get(label, {}).get(k)
            if m:
                out.append(f"| {label} | {k} | {_f(m['logloss'], 4)} | {_f(m['mae'], 4)} | "
                           f"{_f(m['calibration'], 2)} |")  # fmt: skip
    out += _targets(summary) + _claims(summary) + _variants(summary) + _speed(summary)
    out += _full(summary)
    return "\n".join(out) + "\n"


def _targets(summary: dict) -> list[str]:
    out = [
        "",
        "## MTMS's targets (and its ablation's, had it shipped)",
        "",
        "| model | target | against | value | met |",
        "|---|---|---|---|---|",
    ]
    for t in summary["targets"]:
        out.append(f"| {t['model']} | {t['target']} | {t['best']} | {t['value']:+.4f} | "
                   f"{'yes' if t['met'] else '**no**'} |")  # fmt: skip
    return out


def _claims(summary: dict) -> list[str]:
    out = ["", "## The papers' claims", "", "| claim | A - B (AUC) | verdict |", "|---|---|---|"]
    out += [f"| {c['text']} | {_ci(c['diff'])} | {c['verdict']} |" for c in summary["claims"]]
    return out


def _variants(summary: dict) -> list[str]:
    """The claim variants' own numbers: Table I's rows (feed) and the one-scene models."""
    rows = [(label, label.rsplit("@", 1)[1]) for label in summary["models"] if "@" in label]
    if not rows:
        return []
    out = [
        "",
        "## The claim variants, each on its own scene",
        "",
        "| variant | CTR AUC | CVR AUC | CVR MAE | CVR logloss |",
        "|---|---|---|---|---|",
    ]
    for label, scene in rows:
        m = summary["models"][label]
        ctr, cvr = m.get(f"{scene}/ctr", {}), m.get(f"{scene}/cvr", {})
        out.append(f"| {label} | {_f(ctr.get('auc'))} | {_f(cvr.get('auc'))} | "
                   f"{_f(cvr.get('mae'), 4)} | {_f(cvr.get('logloss'), 4)} |")  # fmt: skip
    out.append("")
    out.append("Table I's rows fine-tune on CVR alone, as the paper's table: their CTR heads stay "
               "untrained, so their CTR AUC is not a result.")  # fmt: skip
    return out


def _speed(summary: dict) -> list[str]:
    out = ["", f"## Speed (target for MTMS: at most {TIME_TARGET}x ESMM's time per day)", "",
           "| model | train s/day | vs ESMM | samples/s per stage | peak RSS MB |",
           "|---|---|---|---|---|"]  # fmt: skip
    for label, s in summary["speed"].items():
        stages = ", ".join(f"{k} {v:,.0f}" for k, v in s["samples_per_s"].items())
        out.append(f"| {label} | {s['train_s_per_day']:.1f} | {_f(s.get('time_vs_esmm'), 2)}x "
                   f"| {stages} | {s['peak_rss_mb']:,.0f} |")  # fmt: skip
    return out


def _full(summary: dict) -> list[str]:
    if not summary["full_history"]:
        return []
    out = [
        "",
        "## Full-history retrain against the daily warm-start chain",
        "",
        "Trained from scratch on every chain day (several epochs), scored on the last day; "
        "the gap is full-history AUC - the chain's AUC on the same rows.",
        "",
        "| model | focus | AUC gap | retrain s | whole chain s |",
        "|---|---|---|---|---|",
    ]
    for label, e in summary["full_history"].items():
        for k, gap in e["auc"].items():
            out.append(f"| {label} | {k} | {_ci(gap)} | {e['train_s']:.0f} | "
                       f"{e['chain_train_s']:.0f} |")  # fmt: skip
    return out


def diff_chart(summary: dict) -> str:
    """SVG: each model's paired AUC difference against MTMS per focus, with its interval."""
    keys = _focus(summary)
    labels = list(summary["vs_mtms"])
    row_h, left, width = 16, 150, 260
    values = [d for lab in labels for d in summary["vs_mtms"][lab].values() if d]
    span = max([0.01] + [max(abs(d["lo"]), abs(d["hi"])) for d in values])
    x = lambda v, col: left + col * (width + 20) + width / 2 * (1 + v / span)  # noqa: E731
    h = 40 + row_h * len(labels)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + len(keys) * (width + 20)}" '
           f'height="{h}" font-size="11" font-family="sans-serif">']  # fmt: skip
    for col, k in enumerate(keys):
        zero = x(0, col)
        out.append(f'<text x="{zero}" y="14" text-anchor="middle">{html.escape(k)}</text>')
        out.append(f'<line x1="{zero}" x2="{zero}" y1="20" y2="{h - 10}" stroke="#999"/>')
        for row, lab in enumerate(labels):
            d = summary["vs_mtms"][lab].get(k)
            y = 30 + row * row_h
            if col == 0:
                out.append(f'<text x="4" y="{y + 4}">{html.escape(lab)}</text>')
            if d:
                color = "#2ca02c" if d["lo"] > 0 else "#d62728" if d["hi"] < 0 else "#555"
                out.append(
                    f'<line x1="{x(d["lo"], col):.1f}" x2="{x(d["hi"], col):.1f}" '
                    f'y1="{y}" y2="{y}" stroke="{color}" stroke-width="2"/>'
                )
                out.append(f'<circle cx="{x(d["mean"], col):.1f}" cy="{y}" r="3" '
                           f'fill="{color}"/>')  # fmt: skip
    out.append(
        f'<text x="4" y="{h - 2}">AUC of the model - MTMS; axis ±{span:.3f}; green: '
        "the model is better, red: worse, grey: interval spans 0</text></svg>"
    )
    return "\n".join(out) + "\n"
