"""The `mtms` command line: argument parsing, progress and tables; the work is in components."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import typing
from pathlib import Path

from rich.console import Console

from cli.prefect_api import PrefectApiError, sigterm_exits
from cli.workspace import use_workspace
from components.config import Config, ConfigError, DataConfig, ModelName, load, with_compare
from components.datasets import DATASETS as DATASET_NAMES
from components.datasets import InitError

# Nothing heavy is imported before a command runs (torch, pandas, MLflow, Prefect): `mtms
# --help` stays well under a second. The choices below are the config's own literals.
MODEL_NAMES = typing.get_args(ModelName)
CORRUPTIONS = (  # components.data.corruption.KINDS (a test keeps the two equal)
    "missing_column", "wrong_dtype", "nulls", "conversion_without_click",
    "impossible_label_rate", "duplicate_request_ids", "empty_day", "wrong_day",
    "unknown_scene", "null_in_list", "nonfinite_dense", "long_lists", "truncated_file",
)  # fmt: skip
IMPORTABLE = [d for d in typing.get_args(DataConfig.model_fields["dataset"].annotation)
              if d != "simulator"]  # fmt: skip
console = Console(width=None if sys.stdout.isatty() else 160)  # files and pipes get wide tables
# mtms's own errors: (module, class); one is caught only if its module was loaded, as it
# must have been for the error to be raised
ERRORS = (
    ("components.evaluation.compare", "CompareError"),
    ("components.data.partitions", "PartitionError"),
    ("components.data.loaders.tables", "LoaderError"),
    ("components.data.versioning", "VersioningError"),
    ("components.models.bundle", "BundleError"),
    ("components.models.base", "ModelError"),
    ("components.training.chain", "TrainingError"),
    ("components.evaluation.evaluate", "EvaluationError"),
    ("components.models.scoring", "ScoringError"),
    ("components.registry", "RegistryError"),
    ("components.runs", "RunLockedError"),
    ("components.postgres_runs", "SharedStoreError"),
    ("flows.schedule", "ScheduleError"),
    ("components.serving", "ServingError"),
)


def _known_errors() -> tuple[type[Exception], ...]:
    loaded = [getattr(sys.modules[m], n) for m, n in ERRORS if m in sys.modules]
    return (ConfigError, InitError, PrefectApiError, *loaded)


def _version(cfg: Config) -> None:
    from components.data.versioning import track

    version = track(cfg.root, cfg.path("raw"))
    if version:
        console.print(f"data version (data.dvc md5): {version}")


def cmd_simulate(cfg: Config, args: argparse.Namespace) -> int:
    from cli.reports import print_signal, table
    from components.data.partitions import parse_day
    from components.data.simulator import simulate

    sim = cfg.simulator
    if args.rows_per_day:
        sim = sim.model_copy(update={"rows_per_day": args.rows_per_day})
    start = parse_day(args.start) if args.start else sim.start
    days = args.days or sim.days
    with console.status("simulating") as status:
        written = simulate(
            sim,
            cfg.seed,
            cfg.path("raw"),
            start,
            days,
            args.corrupt,
            on_day=lambda w: status.update(f"simulated {w.day} ({w.status})"),
        )
    rows = [[w.day, w.rows, w.ctr, w.cvr, w.status] for w in written]
    columns = ["day", "rows", "CTR", "CVR", "status"]
    console.print(table(f"partitions in {cfg.paths.raw}", columns, rows))
    if args.report:
        print_signal(console, sim, cfg.seed, start)
    _version(cfg)
    return 0


def cmd_validate(cfg: Config, args: argparse.Namespace) -> int:
    from components.data.partitions import list_days, parse_day
    from components.validation.quarantine import validate_day

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


def cmd_init(args: argparse.Namespace) -> int:
    from components.datasets import DATASETS, write

    template = Path(__file__).resolve().parents[1] / "params.yaml"
    cfg = write(template, args.out, args.dataset, args.rows_per_day, tuple(args.scenes),
                args.force, args.contract)  # fmt: skip
    console.print(f"wrote {args.out} for {args.dataset}: scenes {', '.join(cfg.model.scenes)}")
    if DATASETS[args.dataset].files:
        flag = f"--params {args.out} " if args.out != Path("params.yaml") else ""
        console.print(
            f"next: mtms {flag}import {args.dataset} {DATASETS[args.dataset].files} "
            f"--day YYYY-MM-DD, then mtms {flag}backfill --start D1 --end D2",
            soft_wrap=True,
        )
    return 0


def cmd_import(cfg: Config, args: argparse.Namespace) -> int:
    from collections import Counter

    from components.data.contract import CONTRACTS
    from components.data.loaders import CUSTOM, import_day
    from components.data.partitions import day_of, parse_day, read_partition
    from components.validation.quarantine import dataset_contract

    contract, day = CONTRACTS.get(args.dataset), parse_day(args.day)
    if args.dataset == CUSTOM:  # the files follow the contract params.yaml declares
        if cfg.data.dataset != CUSTOM:
            raise ConfigError(
                f"data.dataset: {cfg.data.dataset!r}: set it to custom, and data.contract to "
                "the contract YAML, to import custom files (docs/your-data.md)"
            )
        contract = dataset_contract(cfg)
    written = import_day(
        cfg.path("raw"), args.dataset, args.paths, day, args.scene,
        contract if args.dataset == CUSTOM else None, args.days,
    )  # fmt: skip
    scenes: Counter = Counter()
    for folder, rows in written:
        console.print(f"wrote {rows} rows to {folder}")
        days_scenes = read_partition(folder.parent, day_of(folder), [contract.scene])
        scenes.update(days_scenes[contract.scene].to_pylist())
    known = set(cfg.model.scenes)
    listed = ", ".join(f"{s} {n}" + ("" if s in known else " (not in model.scenes)")
                       for s, n in sorted(scenes.items()))  # fmt: skip
    console.print(f"rows per scene: {listed}", soft_wrap=True, highlight=False)
    if cfg.data.dataset != args.dataset:
        console.print(
            f"set data.dataset: {args.dataset} in params.yaml to validate and train on it"
        )
    _version(cfg)
    return 0


def cmd_profile(cfg: Config, args: argparse.Namespace) -> int:
    from components import atomic
    from components.data.profile import summary
    from components.validation.quarantine import dataset_contract

    metrics, days = summary(cfg.path("raw"), dataset_contract(cfg))
    atomic.write_text(args.out, json.dumps(metrics, indent=2, sort_keys=True))
    atomic.write_text(args.plots, days)
    console.print(f"profiled {metrics['days']} days into {args.out} and {args.plots}")
    return 0


def cmd_train(cfg: Config, args: argparse.Namespace) -> int:
    from cli.training import train

    return train(console, cfg, args.model or cfg.model.name, args.days, args.warm_start)


def cmd_evaluate(cfg: Config, args: argparse.Namespace) -> int:
    from cli.training import evaluate
    from components.data.partitions import parse_day

    return evaluate(console, cfg, args.bundle, parse_day(args.day), args.json)


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    from cli.backfill import run_days
    from components.data.partitions import parse_day
    from components.runs import next_day

    day = parse_day(args.day) if args.day else next_day(cfg)
    if day is None:
        console.print("nothing to do: every partition has a finished daily run")
        return 0
    with sigterm_exits():  # a stop request unwinds: lock released, temporary API stopped
        return run_days(console, cfg, Path(args.params), [day], args.force)


def cmd_backfill(cfg: Config, args: argparse.Namespace) -> int:
    from cli.backfill import backfill

    with sigterm_exits():  # a stop request unwinds: lock released, temporary API stopped
        return backfill(console, cfg, Path(args.params), args.start, args.end, args.force)


def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    from cli.status import status

    return status(console, cfg, args.json)


def cmd_replay(cfg: Config, args: argparse.Namespace) -> int:
    from components import atomic
    from components.training.chain import TrainingError
    from components.training.loop import set_threads
    from components.training.replay import curve, replay, summary

    set_threads(cfg.train)
    with console.status("replaying the warm-start chain") as status:
        results = replay(cfg, on_day=lambda d: status.update(f"evaluated the model of {d}"))
    if not results:
        raise TrainingError(
            f"fewer than two validated days under {cfg.paths.raw}: nothing to replay"
        )
    atomic.write_text(args.metrics, json.dumps(summary(results), indent=2, sort_keys=True))
    atomic.write_text(args.plots, curve(results))
    console.print(f"replayed {len(results)} days into {args.metrics} and {args.plots}")
    return 0


def cmd_compare(cfg: Config, args: argparse.Namespace) -> int:
    from cli.compare import compare

    given = {k: getattr(args, k) for k in ("seeds", "days", "last_days", "rows_per_day")}
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}
    cfg = with_compare(cfg, over)
    return compare(console, cfg, args.out, None if args.no_doc else args.doc, tuple(args.only))


def cmd_serve(cfg: Config, args: argparse.Namespace) -> int:
    from cli.serving import serve

    return serve(
        console, cfg, args.host, args.port, args.max_body, args.alias, args.version_number,
        args.follow_every,
    )  # fmt: skip


def cmd_rollback(cfg: Config, args: argparse.Namespace) -> int:
    from cli.rollback import rollback

    return rollback(console, cfg)


def cmd_dashboard(cfg: Config, args: argparse.Namespace) -> int:
    from cli.dashboard import dashboard

    return dashboard(console, cfg, args.port)


def cmd_doctor(cfg: Config, args: argparse.Namespace) -> int:
    from components import doctor, runs
    from components.registry.mlflow_registry import Registry

    with runs.lock(cfg, "doctor"):  # nothing is being written while it looks
        done = doctor.clean(cfg, Registry(cfg))
    for line in done:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(done)} thing(s) cleaned" if done else "nothing to clean")
    return 0


def cmd_schedule(cfg: Config, args: argparse.Namespace) -> int:
    from flows.schedule import schedule

    return schedule(console, cfg, Path(args.params))


def _int_in(low: int, high: int | None, what: str):
    """An argparse type: an integer in [low, high], else a usage error naming the range."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return convert


POSITIVE = _int_in(1, None, "a positive integer")
PORT = _int_in(1, 65535, "a port (1..65535)")
BODY = _int_in(1024, 1 << 30, "a size in bytes (1024..1073741824)")


def SECONDS(text: str) -> float:  # noqa: N802 (an argparse type, named like the others)
    """A number of seconds, 1 to a day, or 0: off."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not (value == 0 or 1 <= value <= 86400):
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or a number of seconds (1..86400)")
    return value


class _Version(argparse.Action):
    """--version, looked up only when asked (package metadata costs a scan of sys.path)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("mtms")
        except PackageNotFoundError:  # run from a checkout that was never installed
            found = "(not installed)"
        parser.exit(message=f"mtms {found}\n")


EXAMPLES = """examples:
  mtms simulate --report && mtms backfill --start 2026-01-05 --end 2026-01-18
  mtms status                         champion, last runs, where the UIs are
  mtms init aliccp --out ali/params.yaml && mtms --params ali/params.yaml import aliccp \\
      ali_ccp_train.csv --day 2026-03-02
  mtms run                            the next day (validate, train, gate, promote)
  mtms rollback                       champion back to the previous one
  mtms <command> --help               its options
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtms", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action=_Version, help="print mtms's version and exit")
    parser.add_argument(
        "--params", default="params.yaml", help="the params file (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="write a working params file for a dataset")
    p.add_argument("dataset", choices=list(DATASET_NAMES), help="whose logs the params are for")
    p.add_argument("--out", type=Path, default=Path("params.yaml"), help="default: %(default)s")
    p.add_argument(
        "--rows-per-day",
        type=POSITIVE,
        help="impressions a day: sizes validation.min_rows and gate min_rows (default: dataset's)",
    )
    p.add_argument("--scenes", nargs="+", default=[], help="instead of the dataset's scenes")
    p.add_argument("--contract", type=Path, help="custom: your contract YAML (docs/your-data.md)")
    p.add_argument("--force", action="store_true", help="replace an existing file")

    p = sub.add_parser("simulate", help="write simulated day partitions")
    p.add_argument("--start", help="first day (default: simulator.start)")
    p.add_argument("--days", type=POSITIVE, help="number of days (default: simulator.days)")
    p.add_argument("--rows-per-day", type=POSITIVE, help="mean impressions per day")
    p.add_argument(
        "--corrupt", choices=CORRUPTIONS, help="inject one corruption into every day written"
    )
    p.add_argument("--report", action="store_true", help="print signal shares and oracle AUC")
    p.set_defaults(run=cmd_simulate)

    p = sub.add_parser("validate", help="run the validation gate; failed days go to quarantine")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--day", help="the day to validate (YYYY-MM-DD)")
    which.add_argument("--all", action="store_true", help="every day in paths.raw")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("import", help="import a public dataset, or custom files, as a day")
    p.add_argument("dataset", choices=IMPORTABLE, help="custom: data.contract's files")
    p.add_argument("paths", nargs="+", type=Path, help="custom: CSV or Parquet files")
    p.add_argument("--day", required=True, help="the (first) day the files become (YYYY-MM-DD)")
    p.add_argument("--scene", help="scene name for every row (default: from the data)")
    p.add_argument(
        "--days",
        type=POSITIVE,
        default=1,
        help="aliccp-raw: split the files, in order, into this many days from --day",
    )
    p.set_defaults(run=cmd_import)

    p = sub.add_parser("profile", help="rows and label rates of the raw days, per scene")
    p.add_argument(
        "--out", type=Path, default=Path("metrics/data.json"),
        help="all days pooled, overall and per scene (dvc metrics; default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--plots", type=Path, default=Path("metrics/data_days.csv"),
        help="one row per day, overall and per scene (dvc plots; default: %(default)s)",
    )  # fmt: skip
    p.set_defaults(run=cmd_profile)

    p = sub.add_parser("train", help="train the warm-start chain over days; one bundle per day")
    p.add_argument("--model", choices=sorted(MODEL_NAMES), help="model (default: model.name)")
    p.add_argument("--days", required=True, help="D1..D2, or one day D (YYYY-MM-DD)")
    p.add_argument("--warm-start", type=Path, help="bundle to start the first day from")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a bundle on one day, per scene and task")
    p.add_argument("--bundle", required=True, type=Path, help="a bundle, e.g. models/mtms/day=D.pt")
    p.add_argument("--day", required=True, help="the day scored (YYYY-MM-DD)")
    p.add_argument("--json", type=Path, help="also write the metrics as a list of records")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("run", help="the daily flow for one day: validate, train, gate, promote")
    p.add_argument("--day", help="the day (default: the oldest partition not run yet)")
    p.add_argument("--force", action="store_true", help="retrain a day that already ran")
    p.set_defaults(run=cmd_run)

    p = sub.add_parser("backfill", help="the daily flow day after day, then a table")
    p.add_argument("--start", required=True, help="first day (YYYY-MM-DD)")
    p.add_argument("--end", required=True, help="last day (YYYY-MM-DD)")
    p.add_argument("--force", action="store_true", help="retrain days that already ran")
    p.set_defaults(run=cmd_backfill)

    p = sub.add_parser("status", help="champion, previous champion, last daily runs, stores")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(run=cmd_status)

    p = sub.add_parser("replay", help="the warm-start chain over every day, for dvc repro")
    p.add_argument(
        "--metrics",
        type=Path,
        default=Path("metrics/chain.json"),
        help="the summary (dvc metrics; default: %(default)s)",
    )
    p.add_argument("--plots", type=Path, default=Path("metrics/chain_days.csv"),
                   help="one row per day (dvc plots; default: %(default)s)")  # fmt: skip
    p.set_defaults(run=cmd_replay)

    p = sub.add_parser("compare", help="the model zoo's bake-off (compare.* in params.yaml)")
    p.add_argument("--out", type=Path, default=Path("metrics/compare.json"),
                   help="the summary (default: %(default)s)")  # fmt: skip
    p.add_argument("--doc", type=Path, default=Path("docs/zoo.md"), help="the results page")
    p.add_argument("--no-doc", action="store_true", help="write the metrics only")
    p.add_argument("--seeds", type=int, nargs="+", help="instead of compare.seeds")
    p.add_argument("--days", type=POSITIVE, help="instead of compare.days")
    p.add_argument("--last-days", type=POSITIVE, help="instead of compare.last_days")
    p.add_argument("--rows-per-day", type=POSITIVE, help="instead of compare.rows_per_day")
    p.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="LABEL",
        help="just these contenders, e.g. 'mtms ctr+cvr @feed' (labels as in zoo.md)",
    )
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser("serve", help="the scoring server on the champion (MLflow's protocol)")
    p.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    p.add_argument("--port", type=PORT, default=5001, help="default: %(default)s")
    p.add_argument("--max-body", type=BODY, help="largest request body in bytes (default: 1 MiB)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--alias", default="champion", help="the version this alias names "
                       "(default: %(default)s; previous: the one before)")  # fmt: skip
    which.add_argument("--version", type=POSITIVE, dest="version_number",
                       help="this registry version instead of an alias")  # fmt: skip
    p.add_argument("--follow-every", type=SECONDS, default=30.0, metavar="SECONDS",
                   help="how often the alias is checked; a version it moved to is served "
                   "without a restart (0: read once at start; default: %(default)g)")  # fmt: skip
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("rollback", help="move `champion` back to the previous champion")
    p.set_defaults(run=cmd_rollback)

    p = sub.add_parser("dashboard", help="the Evidently UI on the monitoring workspace")
    p.add_argument("--port", type=PORT, default=8000, help="default: %(default)s")
    p.set_defaults(run=cmd_dashboard)

    p = sub.add_parser("doctor", help="clean what interrupted runs left, and say what")
    p.set_defaults(run=cmd_doctor)

    p = sub.add_parser("schedule", help="serve the daily flow as a Prefect deployment on its cron")
    p.set_defaults(run=cmd_schedule)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # the console shows warnings and errors; INFO lines (a flow's steps) go to the Prefect
    # run's logs, and `run` / `backfill` print the step lines themselves (cli/backfill.py)
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", handlers=[stderr]
    )
    try:
        if args.command == "init":  # it writes the params file the others read
            return cmd_init(args)
        cfg = load(args.params)
        use_workspace(cfg, quiet=args.command != "schedule")  # before Prefect or MLflow load
        return args.run(cfg, args)
    except Exception as err:
        if isinstance(err, _known_errors()):  # mtms's own: the message is the whole story
            print(f"mtms: error: {err}", file=sys.stderr)
            return 2
        if isinstance(err, OSError):  # a full disk, a read-only folder: the reason and the file
            where = f": {err.filename}" if err.filename is not None else ""
            print(f"mtms: error: {err.strerror or err}{where}", file=sys.stderr)
            return 2
        if os.environ.get("MTMS_DEBUG") == "1":  # a bug or a library's surprise: one line
            raise
        first = next(iter(str(err).splitlines()), "")
        print(
            f"mtms: error: unexpected {type(err).__name__}: {first} "
            "(set MTMS_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
