"""MLflow's scoring protocol, read strictly: a JSON body into the rows to score.

The body is an object with exactly one of `dataframe_records` (a list of row objects),
`dataframe_split` (`columns`, `data`, optional `index`), `instances` or `inputs` (row
objects, or an object of equal-length columns), and optionally `params` (ignored, as by a
pyfunc without a params schema). Only the model's input columns are kept (others are
ignored, as before), so a body of many odd keys cannot grow into a huge table. Anything
else is a RequestError: a status, an error code and one short line that never repeats
more than a few dozen characters of the request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.models.scoring import shorten

FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
IGNORED = ("params",)


class RequestError(ValueError):
    """A request that cannot be scored, as the HTTP answer it gets."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Rows:
    """A request's rows as columns: input name -> one value per row (absent: not sent)."""

    columns: dict[str, list]
    count: int


def _bad(message: str) -> RequestError:
    return RequestError(400, "BAD_REQUEST", message)


def _constant(name: str) -> float:
    raise _bad(f"invalid JSON: {name} is not a JSON number")


def decode(body: bytes) -> object:
    """The JSON value of the body; NaN and Infinity literals are not JSON and are refused."""
    try:
        return json.loads(body, parse_constant=_constant)
    except RecursionError:
        raise _bad("invalid JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise _bad("invalid JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise _bad(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RequestError:
        raise
    except ValueError as err:  # e.g. an integer over Python's 4,300-digit limit
        raise _bad(f"invalid JSON: {shorten(str(err))}") from None


def _keys(keys: list[str]) -> str:
    return ", ".join(repr(shorten(k, 40)) for k in keys[:5])


def _records(data: object, where: str, names: tuple[str, ...]) -> Rows:
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise _bad(f"{where} must be a list of row objects")
    sent = [n for n in names if any(n in row for row in data)]  # a row without one: a null
    return Rows({n: [row.get(n) for row in data] for n in sent}, len(data))


def _columns(data: dict, where: str, names: tuple[str, ...]) -> Rows:
    if not all(isinstance(values, list) for values in data.values()):
        raise _bad(f"{where} must be an object of columns, each a list of values")
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        raise _bad(f"{where}: columns of different lengths")
    return Rows({n: data[n] for n in names if n in data}, lengths.pop() if lengths else 0)


def _split(data: object, names: tuple[str, ...]) -> Rows:
    where = "dataframe_split"
    if not isinstance(data, dict) or "data" not in data:
        raise _bad(f"{where} must be an object with 'data' and optionally 'columns', 'index'")
    if extra := [k for k in data if k not in ("columns", "data", "index")]:
        raise _bad(f"{where}: unknown key(s) {_keys(extra)}")
    columns, rows = data.get("columns"), data["data"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise _bad(f"{where}: 'columns' must be a list of column names")
    if len(set(columns)) != len(columns):
        raise _bad(f"{where}: 'columns' names a column twice")
    if not isinstance(rows, list) or not all(
        isinstance(row, list) and len(row) == len(columns) for row in rows
    ):
        raise _bad(f"{where}: 'data' must be a list of rows, each with one value per column")
    index = data.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
        raise _bad(f"{where}: 'index' must be a list with one entry per row")
    at = {name: i for i, name in enumerate(columns) if name in names}
    return Rows({n: [row[i] for row in rows] for n, i in at.items()}, len(rows))


def rows(payload: object, names: tuple[str, ...]) -> Rows:
    """The rows a decoded request asks to score, in order, with only the `names` columns."""
    if not isinstance(payload, dict):
        raise _bad(f"the body must be a JSON object with one of: {', '.join(FORMATS)}")
    given = [k for k in payload if k in FORMATS]
    if len(given) != 1:
        found = f"found {_keys(list(payload))}" if payload else "found none"
        raise _bad(f"the body must have exactly one of {', '.join(FORMATS)}; {found}")
    if extra := [k for k in payload if k not in FORMATS and k not in IGNORED]:
        raise _bad(f"unknown key(s) {_keys(extra)}")
    [key] = given
    data = payload[key]
    if key == "dataframe_split":
        return _split(data, names)
    if key != "dataframe_records" and isinstance(data, dict):  # instances, inputs: columns
        return _columns(data, key, names)
    return _records(data, key, names)
