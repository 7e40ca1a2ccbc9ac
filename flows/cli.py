"""The `mtms` command line: argument parsing, progress and tables; the work is in components."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rich.console import Console

from components import atomic
from components.config import Config, ConfigError, load
from components.data.corruption import KINDS
from components.data.loaders import LOADERS, import_day
from components.data.loaders.tables import LoaderError
from components.data.partitions import PartitionError, list_days, parse_day
from components.data.versioning import VersioningError, track
from components.evaluation.evaluate import EvaluationError
from components.models import MODELS
from components.models.bundle import BundleError
from components.training.chain import TrainingError
from components.validation.gate import dataset_contract, validate_day
from flows.reports import table

console = Console(width=None if sys.stdout.isatty() else 140)  # files and pipes get wide tables
ERRORS = (
    ConfigError, PartitionError, LoaderError, VersioningError, BundleError, TrainingError,
    EvaluationError,
)  # fmt: skip


def _version(cfg: Config) -> None:
    version = track(cfg.root, cfg.path("raw"))
    if version:
        console.print(f"data version (data.dvc md5): {version}")


def cmd_simulate(cfg: Config, args: argparse.Namespace) -> int:
    from components.data.simulator import simulate
    from flows.reports import print_signal

    sim = cfg.simulator
    if args.rows_per_day:
        sim = sim.model_copy(update={"rows_per_day": args.rows_per_day})
    start = parse_day(args.start) if args.start else sim.start
    days = args.days or sim.days
    with console.status("simulating") as status:
        written = simulate(
            sim, cfg.seed, cfg.path("raw"), start, days, args.corrupt,
            on_day=lambda w: status.update(f"simulated {w.day} ({w.status})"),
        )  # fmt: skip
    rows = [[w.day, w.rows, w.ctr, w.cvr, w.status] for w in written]
    columns = ["day", "rows", "CTR", "CVR", "status"]
    console.print(table(f"partitions in {cfg.paths.raw}", columns, rows))
    if args.report:
        print_signal(console, sim, cfg.seed, start)
    _version(cfg)
    return 0


def cmd_validate(cfg: Config, args: argparse.Namespace) -> int:
    days = list_days(cfg.path("raw")) if args.all else [parse_day(args.day)]
    failed = 0
    for day in days:
        report = validate_day(cfg, day)
        if report.passed:
            console.print(f"{day}: passed {len(report.checks)} expectations ({report.rows} rows)")
            continue
        failed += 1
        for reason in report.reasons:
            console.print(f"{day}: FAILED {reason}", markup=False, highlight=False, soft_wrap=True)
        console.print(f"{day}: quarantined to {report.quarantined}", markup=False, soft_wrap=True)
    if failed:
        _version(cfg)
    return 1 if failed else 0


def cmd_import(cfg: Config, args: argparse.Namespace) -> int:
    folder, rows = import_day(
        cfg.path("raw"), args.dataset, args.paths, parse_day(args.day), args.scene
    )
    console.print(f"wrote {rows} rows to {folder}")
    if cfg.data.dataset != args.dataset:
        console.print(
            f"set data.dataset: {args.dataset} in params.yaml to validate and train on it"
        )
    _version(cfg)
    return 0


def cmd_profile(cfg: Config, args: argparse.Namespace) -> int:
    from components.data.profile import profile

    summary = profile(cfg.path("raw"), dataset_contract(cfg))
    atomic.write_text(args.out, json.dumps(summary, indent=2, sort_keys=True))
    console.print(f"profiled {len(summary)} days into {args.out}")
    return 0


def cmd_train(cfg: Config, args: argparse.Namespace) -> int:
    from flows.training import train

    return train(console, cfg, args.model or cfg.model.name, args.days, args.warm_start)


def cmd_evaluate(cfg: Config, args: argparse.Namespace) -> int:
    from flows.training import evaluate

    return evaluate(console, cfg, args.bundle, parse_day(args.day), args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtms", description=__doc__)
    parser.add_argument(
        "--params", default="params.yaml", help="the params file (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="write simulated day partitions")
    p.add_argument("--start", help="first day (default: simulator.start)")
    p.add_argument("--days", type=int, help="number of days (default: simulator.days)")
    p.add_argument("--rows-per-day", type=int, help="mean impressions per day")
    p.add_argument("--corrupt", choices=KINDS, help="inject one corruption into every day written")
    p.add_argument("--report", action="store_true", help="print signal shares and oracle AUC")
    p.set_defaults(run=cmd_simulate)

    p = sub.add_parser("validate", help="run the validation gate; failed days go to quarantine")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--day", help="the day to validate (YYYY-MM-DD)")
    which.add_argument("--all", action="store_true", help="every day in paths.raw")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("import", help="import a public dataset as a day partition")
    p.add_argument("dataset", choices=list(LOADERS))
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--day", required=True)
    p.add_argument("--scene", help="scene name for every row (default: from the data)")
    p.set_defaults(run=cmd_import)

    p = sub.add_parser("profile", help="rows and label rates per day and scene, as JSON")
    p.add_argument("--out", type=Path, default=Path("metrics/data.json"))
    p.set_defaults(run=cmd_profile)

    p = sub.add_parser("train", help="train the warm-start chain over days; one bundle per day")
    p.add_argument("--model", choices=sorted(MODELS), help="model (default: model.name)")
    p.add_argument("--days", required=True, help="D1..D2, or one day D (YYYY-MM-DD)")
    p.add_argument("--warm-start", type=Path, help="bundle to start the first day from")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a bundle on one day, per scene and task")
    p.add_argument("--bundle", required=True, type=Path)
    p.add_argument("--day", required=True)
    p.add_argument("--json", type=Path, help="also write the metrics as a list of records")
    p.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(load(args.params), args)
    except ERRORS as err:
        print(f"mtms: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
