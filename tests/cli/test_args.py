"""Argument checks: nonsense numbers are usage errors before any params file is read."""

import pytest

from cli.main import build_parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--rows-per-day", "0"], "argument --rows-per-day: '0' is not a positive"),
        (["simulate", "--rows-per-day", "-5"], "argument --rows-per-day: '-5' is not a positive"),
        (["simulate", "--rows-per-day", "2e5"], "argument --rows-per-day: '2e5' is not a positive"),
        (["simulate", "--days", "-3"], "argument --days: '-3' is not a positive integer"),
        (["simulate", "--days", "0"], "argument --days: '0' is not a positive integer"),
        (["serve", "--port", "99999"], "argument --port: '99999' is not a port (1..65535)"),
        (["serve", "--port", "0"], "argument --port: '0' is not a port (1..65535)"),
        (["serve", "--port", "http"], "argument --port: 'http' is not a port (1..65535)"),
        (["dashboard", "--port", "-1"], "argument --port: '-1' is not a port (1..65535)"),
    ],
)
def test_nonsense_numbers_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err


@pytest.mark.parametrize(
    ("argv", "key", "value"),
    [
        (["simulate", "--rows-per-day", "1000", "--days", "3"], "rows_per_day", 1000),
        (["simulate", "--days", "1"], "days", 1),
        (["simulate"], "days", None),  # default: simulator.days
        (["serve", "--port", "65535"], "port", 65535),
        (["serve"], "port", 5001),
        (["dashboard", "--port", "1"], "port", 1),
        (["dashboard"], "port", 8000),
    ],
)
def test_sane_numbers_parse(argv, key, value):
    assert getattr(build_parser().parse_args(argv), key) == value


def test_help_and_version_load_nothing_heavy():
    """`mtms --help` must not import torch, pandas, MLflow or Prefect (5-29 s before)."""
    import subprocess
    import sys

    from tests.helpers import REPO

    probe = (
        "import sys, contextlib, io\n"
        "from cli.main import main\n"
        "for argv in (['--help'], ['--version'], ['import', '--help']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('torch', 'pandas', 'mlflow', 'prefect', 'great_expectations',"
        " 'evidently', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_command_lines_lists_are_the_libraries_own():
    from cli.main import CORRUPTIONS, IMPORTABLE, MODEL_NAMES
    from components.data.corruption import KINDS
    from components.data.loaders import CUSTOM, LOADERS
    from components.models import MODELS

    assert CORRUPTIONS == KINDS and set(MODEL_NAMES) == set(MODELS)
    assert IMPORTABLE == [*LOADERS, CUSTOM]


def test_every_error_the_command_line_names_exists():
    """ERRORS names classes by module, so a rename must fail here, not print 'unexpected'."""
    import importlib

    from cli.main import ERRORS

    for module, name in ERRORS:
        assert issubclass(getattr(importlib.import_module(module), name), Exception), name


def test_every_option_of_every_command_says_what_it_is_and_help_shows_examples(capsys):
    import argparse

    from cli.main import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    silent = [f"{name} {a.dest}" for name, sub in commands.choices.items()
              for a in sub._actions if not a.help]  # fmt: skip
    assert silent == []
    assert "examples:" in parser.format_help() and "mtms backfill" in parser.format_help()
