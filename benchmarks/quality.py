"""Quality against known truth, and the paper's Table I direction, on the default simulator.

For each seed: simulate days 1..N+1 with the default params, run each model's warm-start
chain over days 1..N (train on day d, evaluate on the unseen day d+1) and keep every
(day, scene, task) metric beside the oracle AUC. Writes benchmarks/out/quality.json,
docs/quality.md and docs/learning_curve.svg.

    python benchmarks/quality.py [--seeds 7 8 9] [--days 14] [--models mtms structured single esmm]
    python benchmarks/quality.py --render   # rebuild the docs from benchmarks/out/quality.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "quality.json"
# Per-model train overrides. Empty: every model runs with params.yaml as shipped. A sweep of
# the structure-matched model's learning rates (embedding 0.0025..0.1, network 0.002/0.02,
# seed 7, days 5-8) found the shipped 0.01 / 0.002 best, so it is not handicapped.
TRAIN_OVERRIDES: dict[str, dict] = {}
FOCUS = [("feed", "ctr"), ("feed", "cvr"), ("search", "ctr"), ("search", "cvr")]
TARGET = {"ctr": 0.01, "cvr": 0.02}  # MTMS may trail the structure-matched model by this much


def run_seed(
    seed: int, days: int, models: list[str], rows: int | None, scenes: list[str] | None = None
) -> list[dict]:
    from components.config import load
    from components.data.partitions import read_partition
    from components.data.simulator import simulate
    from components.evaluation.evaluate import evaluate
    from components.training.chain import train_day

    records = []
    with tempfile.TemporaryDirectory() as tmp:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["seed"] = seed
        if rows:
            params["simulator"]["rows_per_day"] = rows
        if scenes:  # train and evaluate on these scenes only (the paper's Table I is feed only)
            params["model"]["scenes"] = scenes
        (Path(tmp) / "params.yaml").write_text(yaml.safe_dump(params))
        cfg = load(Path(tmp) / "params.yaml")
        start = cfg.simulator.start
        simulate(cfg.simulator, seed, cfg.path("raw"), start, days + 1)
        tables = {}
        for name in models:
            train = cfg.train.model_copy(update=TRAIN_OVERRIDES.get(name, {}))
            run_cfg = cfg.model_copy(update={"train": train})
            previous, t0 = None, time.perf_counter()
            for d in range(days):
                previous, _ = train_day(run_cfg, name, start + dt.timedelta(d), previous)
                test_day = start + dt.timedelta(d + 1)
                if test_day not in tables:
                    tables[test_day] = read_partition(cfg.path("raw"), test_day)
                for m in evaluate(previous, tables[test_day]):
                    records.append({"seed": seed, "model": name, "day": d + 1, **m.to_record()})
            print(f"seed {seed} {name}: {days} days in {time.perf_counter() - t0:.0f} s",
                  flush=True)  # fmt: skip
    return records


def _pick(records, **where) -> list[dict]:
    return [r for r in records if all(r[k] == v for k, v in where.items())]


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.4f}"


def _last(records, model, scene, task, key, days, last) -> list[float]:
    """Per seed: the metric averaged over the last `last` evaluation days."""
    seeds = sorted({r["seed"] for r in records})
    out = []
    for seed in seeds:
        rows = _pick(records, seed=seed, model=model, scene=scene, task=task)
        out.append(_mean(r[key] for r in rows if r["day"] > days - last))
    return out


def quality_table(records, days: int, last: int) -> list[str]:
    lines = ["| scene | task | MTMS AUC | structure-matched AUC | oracle AUC | MTMS − matched "
             "| target | met | MTMS share of ceiling | matched share |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for scene, task in FOCUS:
        mtms, matched, oracle = (
            _mean(_last(records, model, scene, task, key, days, last))
            for model, key in (("mtms", "auc"), ("structured", "auc"), ("mtms", "oracle_auc"))
        )
        gap, share = mtms - matched, [(a - 0.5) / (oracle - 0.5) for a in (mtms, matched)]
        ok = "yes" if gap >= -TARGET[task] else "**no**"
        lines.append(f"| {scene} | {task} | {mtms:.4f} | {matched:.4f} | {oracle:.4f} "
                     f"| {gap:+.4f} | ≥ −{TARGET[task]} | {ok} | {share[0]:.2f} "
                     f"| {share[1]:.2f} |")  # fmt: skip
    return lines


def curve_table(records, days: int, models: list[str]) -> list[str]:
    head = [f"{m} {s} {t}" for s, t in FOCUS for m in models]
    lines = ["| day | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for d in range(1, days + 1):
        cells = [_mean(r["auc"] for r in _pick(records, model=m, scene=s, task=t, day=d))
                 for s, t in FOCUS for m in models]  # fmt: skip
        lines.append(f"| {d} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    return lines


def curve_svg(records, days: int) -> str:
    """AUC over days, MTMS (solid) vs structure-matched (dashed), oracle (dotted)."""
    w, h, pad = 640, 360, 40
    x = lambda d: pad + (d - 1) * (w - 2 * pad) / max(days - 1, 1)  # noqa: E731
    y = lambda a: h - pad - (a - 0.5) * (h - 2 * pad) / 0.4  # noqa: E731  AUC 0.5 .. 0.9
    colours = {"feed ctr": "#1f77b4", "feed cvr": "#ff7f0e", "search ctr": "#2ca02c",
               "search cvr": "#d62728"}  # fmt: skip
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>']  # fmt: skip
    for a in (0.5, 0.6, 0.7, 0.8, 0.9):
        out.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(a)}" y2="{y(a)}" stroke="#ddd"/>'
                   f'<text x="4" y="{y(a) + 4}">{a:.1f}</text>')  # fmt: skip
    for d in range(1, days + 1):
        out.append(f'<text x="{x(d) - 4}" y="{h - pad + 16}">{d}</text>')
    for (scene, task), colour in zip(FOCUS, colours.values(), strict=True):
        for model, key, dash in (("mtms", "auc", ""), ("structured", "auc", "6,4"),
                                 ("mtms", "oracle_auc", "2,3")):  # fmt: skip
            rows = _pick(records, model=model, scene=scene, task=task)
            auc = [_mean(r[key] for r in rows if r["day"] == d) for d in range(1, days + 1)]
            points = " ".join(f"{x(d):.1f},{y(a):.1f}" for d, a in enumerate(auc, start=1))
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                       f'stroke-width="1.6" stroke-dasharray="{dash}"/>')  # fmt: skip
    for i, (name, colour) in enumerate(colours.items()):
        out.append(f'<text x="{pad + 10 + i * 110}" y="18" fill="{colour}">{name}</text>')
    out.append(f'<text x="{pad}" y="{h - 6}">day of the chain (x); AUC on the next day (y). '
               "solid: MTMS, dashed: structure-matched, dotted: oracle</text></svg>")  # fmt: skip
    return "\n".join(out)


def table_one(records, days: int, last: int) -> list[str]:
    names = {"mtms": "MTMS: non-shared, CTR+CVR+CTCVR", "single": "CTR+CVR trained separately",
             "esmm": "ESMM: shared, CTR+CTCVR"}  # fmt: skip
    lines = ["| model | feed CVR AUC | feed CVR MAE | search CVR AUC | search CVR MAE |",
             "|---|---|---|---|---|"]  # fmt: skip
    for model, label in names.items():
        if not _pick(records, model=model):
            continue
        cells = [_mean_std(_last(records, model, scene, "cvr", key, days, last))
                 for scene in ("feed", "search") for key in ("auc", "mae")]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def paired_differences(records, days: int, last: int) -> list[str]:
    """MTMS minus each baseline, seed by seed (the seed's world is shared, so it cancels)."""
    lines = ["| MTMS minus | feed CVR AUC | feed CVR MAE | search CVR AUC | search CVR MAE |",
             "|---|---|---|---|---|"]  # fmt: skip
    for other in ("single", "esmm"):
        if not _pick(records, model=other):
            continue
        cells = []
        for scene in ("feed", "search"):
            for key in ("auc", "mae"):
                a = _last(records, "mtms", scene, "cvr", key, days, last)
                b = _last(records, other, scene, "cvr", key, days, last)
                diff = [x - y for x, y in zip(a, b, strict=True)]
                sd = np.std(diff, ddof=1) if len(diff) > 1 else 0.0
                cells.append(f"{np.mean(diff):+.4f} ± {sd:.4f}")
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    return lines


def feed_only(last: int) -> list[str]:
    """The same comparison on feed rows alone, when `--scenes feed` has been run."""
    path = OUT.with_name("quality-feed.json")
    if not path.exists():
        return []
    records = json.loads(path.read_text())
    days = max(r["day"] for r in records)

    def first_scene(line: str) -> str:  # keep the feed columns of a four-column table
        return "|---|---|---|" if line.startswith("|---") else line.rsplit(" | ", 2)[0] + " |"

    cut = [first_scene(line) for line in table_one(records, days, last)]
    diffs = [first_scene(line) for line in paired_differences(records, days, last)]
    return ["The paper's Table I is one scene: the same models trained and evaluated on feed "
            "rows only (`--scenes feed`):", "", *cut, "", *diffs, ""]  # fmt: skip


def render(records: list[dict], last: int) -> str:
    days = max(r["day"] for r in records)
    seeds = sorted({r["seed"] for r in records})
    models = [m for m in ("mtms", "structured") if _pick(records, model=m)]
    return "\n".join(
        [
            "# Model quality on the simulator",
            "",
            "Generated by `python benchmarks/quality.py` (numbers below are from its last run; "
            "`--render` rebuilds this page from `benchmarks/out/quality.json`).",
            f"Default `params.yaml`, seeds {seeds}; every model runs the daily warm-start chain "
            f"over days 1..{days}: trained on day d, evaluated on the unseen day d+1. CVR is "
            "measured on clicked rows, CTR on all rows. A scene-day holds only 150–400 "
            f"conversions, so single days are noisy: figures are the mean of the last {last} "
            "evaluation days of each seed, then over seeds.",
            "",
            "## Against the truth: MTMS vs the structure-matched model vs the oracle",
            "",
            "The oracle AUC scores the true probabilities (the ceiling no learner reaches); the "
            "structure-matched model (`--model structured`) has the simulator's exact functional "
            "form, learned from the same data and budget, with the shipped learning rates "
            "(a sweep of its embedding rate over 0.0025..0.1 found 0.01 best). Share of "
            "ceiling = (AUC − 0.5) / (oracle − 0.5).",
            "",
            *quality_table(records, days, last),
            "",
            "## Learning curve",
            "",
            "![AUC over the warm-start chain](learning_curve.svg)",
            "",
            "Mean over seeds of the next-day AUC after each day of the chain.",
            "",
            *curve_table(records, days, models),
            "",
            "## The paper's Table I, in direction",
            "",
            "CVR AUC and MAE (mean ± std over seeds; MAE is the paper's Eq. 3, on clicked rows).",
            "",
            *table_one(records, days, last),
            "",
            "Paired by seed (mean ± std of the per-seed difference; MTMS better means a "
            "positive AUC difference and a negative MAE difference):",
            "",
            *paired_differences(records, days, last),
            "",
            *feed_only(last),
            "The paper reports gains of 0.1–0.33% AUC on Baidu's logs. Here one scene-day has "
            "150–400 conversions, so a CVR AUC carries a standard error near 0.01–0.02: "
            "differences smaller than the std above are not resolved by this benchmark.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--models", nargs="+", default=["mtms", "structured", "single", "esmm"])
    parser.add_argument("--rows", type=int, help="rows per day (default: params.yaml)")
    parser.add_argument("--last", type=int, default=4, help="evaluation days averaged")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--render", action="store_true", help="only rebuild the docs")
    parser.add_argument("--scenes", nargs="+", help="only these scenes: prints Table I, no docs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.scenes:
        runs = [run_seed(s, args.days, args.models, args.rows, args.scenes) for s in args.seeds]
        records = [r for run in runs for r in run]
        out = OUT.with_name(f"quality-{'-'.join(args.scenes)}.json")
        out.write_text(json.dumps(records))
        days = max(r["day"] for r in records)
        print("\n".join([*table_one(records, days, args.last), "",
                         *paired_differences(records, days, args.last)]))  # fmt: skip
        return
    if args.render:
        records = json.loads(OUT.read_text())
    else:
        records = [r for s in args.seeds for r in run_seed(s, args.days, args.models, args.rows)]
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(records))
    (REPO / "docs" / "quality.md").write_text(render(records, args.last))
    (REPO / "docs" / "learning_curve.svg").write_text(
        curve_svg(records, max(r["day"] for r in records))
    )
    print((REPO / "docs" / "quality.md").read_text())


if __name__ == "__main__":
    main()
