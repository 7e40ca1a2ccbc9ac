"""`mtms compare`: the bake-off, written to metrics/compare.json and docs/zoo.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from components import atomic
from components.codec import encode
from components.config import Config
from components.evaluation.compare import compare as run_compare
from components.evaluation.compare_page import diff_chart, render
from components.evaluation.compare_stats import headline, summarize


def compare(
    console: Console, cfg: Config, out: Path, doc: Path | None, only: tuple[str, ...] = ()
) -> int:
    with console.status("comparing") as status:
        say = lambda msg: status.update(f"comparing: {msg}")  # noqa: E731
        result = run_compare(cfg, progress=say, only=only)
    raw = out.with_name(out.stem + "_runs.json")  # every day's metrics, for other analyses
    atomic.write_text(raw, json.dumps(encode(result), indent=1) + "\n")
    summary = encode(summarize(cfg, result))
    atomic.write_text(out, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    short = out.with_name(out.stem + "_summary.json")  # what `dvc metrics show` prints
    atomic.write_text(short, json.dumps(headline(summary), indent=2, sort_keys=True) + "\n")
    if doc is not None:
        command = "mtms " + " ".join(sys.argv[1:]) if sys.argv[1:] else "mtms compare"
        chart = doc.with_name(f"{doc.stem}_diffs.svg")  # docs/zoo.md -> docs/zoo_diffs.svg
        atomic.write_text(doc, render(summary, command, chart.name))
        atomic.write_text(chart, diff_chart(summary))
    for t in summary["targets"]:
        console.print(
            f"{t['model']}: {t['target']}: {t['value']:+.4f} ({'met' if t['met'] else 'NOT met'})"
        )
    wrote = ", ".join(str(p) for p in (out, short, doc) if p is not None)
    console.print(f"compared in {summary['wall_s'] / 60:.1f} min: {wrote}")
    return 0
