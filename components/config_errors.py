"""How a params problem becomes one line: `key: value: what is allowed`, the key found in
the config's models, numeric ranges spelled out, unknown keys with a did-you-mean."""

from __future__ import annotations

import difflib
import re
import reprlib
import types
from typing import Annotated, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

MAX_PROBLEMS_CHARS = 150  # an error line lists problems up to this length, then "and N more"


class ConfigError(ValueError):
    """A params file that cannot be used; the message is one line naming the key."""


class ConfigProblem(ValueError):
    """A cross-field check's failure: key (below the model checked), value, what is allowed."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"{key}: {value!r}: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


_REPR = reprlib.Repr()
_REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxlevel = 0, 6, 6, 2
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = 40


def _field(model: type[BaseModel], loc: tuple) -> tuple[object, list]:
    """The type at `loc` below `model` and its constraints (tuple items and Optional unwrapped)."""
    tp: object = model
    meta: list = []
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            info = tp.model_fields[part]
            tp, meta = info.annotation, list(info.metadata)
        elif isinstance(part, int) and get_origin(tp) is tuple:
            args = get_args(tp)
            tp, meta = args[0] if args[-1] is Ellipsis else args[min(part, len(args) - 1)], []
        else:
            return None, []
        if get_origin(tp) is Annotated:
            tp, *extra = get_args(tp)
            meta = [m for e in extra for m in getattr(e, "metadata", [e])]
        if get_origin(tp) in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
    return tp, meta


def _range(tp: object, meta: list) -> str:
    """What a numeric field allows, e.g. 'an integer in [1, 1024]', 'a finite number > 0'."""
    bound = {k: getattr(m, k) for m in meta for k in ("gt", "ge", "lt", "le") if hasattr(m, k)}
    kind = "an integer" if tp is int else "a finite number"
    low = f"[{bound['ge']}" if "ge" in bound else f"({bound['gt']}" if "gt" in bound else ""
    high = f"{bound['le']}]" if "le" in bound else f"{bound['lt']})" if "lt" in bound else ""
    if low and high:
        return f"{kind} in {low}, {high}"
    if low:
        return f"{kind} {'>=' if low[0] == '[' else '>'} {low[1:]}"
    if high:
        return f"{kind} {'<=' if high[-1] == ']' else '<'} {high[:-1]}"
    return kind


def _key(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _problem(model: type[BaseModel], error: dict) -> str:
    """One `key: value: what is allowed` for a pydantic error."""
    loc, cause = error["loc"], error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigProblem):
        key = ".".join(filter(None, (_key(loc), cause.key)))
        return f"{key}: {_REPR.repr(cause.value)}: {cause.allowed}"
    key = _key(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        parent, _ = _field(model, loc[:-1])
        names = [n for n in getattr(parent, "model_fields", {}) if n != "root"]
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        hint = f" (did you mean '{_key((*loc[:-1], close[0]))}'?)" if close else ""
        return f"unknown key '{key}'{hint}"
    if error["type"] == "missing":
        return f"{key}: missing: required"
    tp, meta = _field(model, loc)
    if tp in (int, float):
        allowed = f"must be {_range(tp, meta)}"
    else:
        allowed = re.sub(r"^\w+ should", "must", error["msg"].removeprefix("Value error, "))
        allowed = allowed.replace("must be an object", "must be a mapping")
        if error["type"] == "string_type" and isinstance(error["input"], int | float):
            allowed += " (YAML read it as a number: quote it)"  # 301_1 is the integer 3011
    return f"{key}: {_REPR.repr(error['input'])}: {allowed}"


def one_line(err: ValidationError, source: str, model: type[BaseModel]) -> str:
    """The validation error of `model` as one line, prefixed with `source`."""
    errors = err.errors(include_url=False)
    # A tuple's own error ("at least 1 item after validation") repeats its items' errors
    inner = {e["loc"][:n] for e in errors for n in range(len(e["loc"]))}
    problems = [_problem(model, e) for e in errors if e["loc"] not in inner]
    shown = problems[:1]  # the first in full; then as many as keep the line short
    for problem in problems[1:]:
        if len("; ".join([*shown, problem])) > MAX_PROBLEMS_CHARS:
            break
        shown.append(problem)
    more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return f"{source}: {'; '.join(shown)}{more}"
