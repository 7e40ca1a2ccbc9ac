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
