"""A data contract declared in YAML: bring your own log schema without writing code.

The file names each column's role; roles map onto `contract.Role` and the Contract's
named columns (scene, click, conversion, ...), so the validation suite, the encoder, the
models and the monitors read it exactly like a built-in contract. Example:

    name: shop-logs
    columns:
      request_id: {role: request_id}
      day: {role: day}
      channel: {role: scene}
      uid: {role: user}
      price: {role: dense, min: 0}
      clicked: {role: click}
      bought: {role: conversion}
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from components.config import ConfigError
from components.data.contract import CONTRACTS, Column, Contract, Role
from components.safe_yaml import read_yaml

# role -> (contract role, default dtype, dtypes allowed); user is a sparse id GAUC groups by
_IDS = ("int64", "int32", "int8")
_LABELS = ("int8", "int32", "int64")
ROLES = {
    "sparse": (Role.SPARSE, "int64", _IDS),
    "id": (Role.SPARSE, "int64", _IDS),
    "user": (Role.SPARSE, "int64", _IDS),
    "multi": (Role.MULTI, "list<int64>", ("list<int64>", "list<int32>")),
    "dense": (Role.DENSE, "float32", ("float32",)),
    "scene": (Role.SCENE, "string", ("string",)),
    "click": (Role.LABEL, "int8", _LABELS),
    "conversion": (Role.LABEL, "int8", _LABELS),
    "daction": (Role.LABEL, "int8", _LABELS),
    "request_id": (Role.META, "int64", ("int64", "int32", "string")),
    "day": (Role.META, "string", ("string",)),
}
# Roles held by one column each; the first five every contract needs.
SINGLE = ("request_id", "day", "scene", "click", "conversion", "daction", "user")
REQUIRED = SINGLE[:5]
BOUNDED = ("sparse", "id", "user", "dense", "request_id")  # min/max are checked on these
COLUMN_KEYS = ("role", "dtype", "min", "max")
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ContractError(ConfigError):
    """A contract file that cannot be used; the message is one line naming the key."""


def _shown(value: object) -> str:
    """A value as an error repeats it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _named(name: str) -> str:
    """A column name as an error's key: as written, unless that would break the line."""
    return name if name.isprintable() and len(name) <= 40 else _shown(name)


class _Reader:
    """Checks of one file; every failure names the file, the key and what is allowed."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, value: object, allowed: str) -> ContractError:
        return ContractError(f"{self.source}: {key}: {_shown(value)}: {allowed}")

    def bound(self, key: str, value: object) -> float | None:
        if value is None:
            return None
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or abs(value) > 2**63:
            raise self.fail(key, value, "must be a finite number")
        return value

    def column(self, name: object, body: object) -> tuple[str, Column]:
        if not isinstance(name, str) or not name:
            raise self.fail("columns", name, "column names must be strings (quote numbers)")
        key = f"columns.{_named(name)}"
        if not isinstance(body, dict):
            raise self.fail(key, body, "must be a mapping such as {role: sparse}")
        extra = [k for k in body if k not in COLUMN_KEYS]
        if extra:
            allowed = f"unknown key: a column has {', '.join(COLUMN_KEYS)}"
            raise self.fail(f"{key}.{_named(str(extra[0]))}", body[extra[0]], allowed)
        role = body.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise self.fail(f"{key}.role", role, f"must be one of {', '.join(ROLES)}")
        kind, default, dtypes = ROLES[role]
        dtype = body.get("dtype", default)
        if dtype not in dtypes:
            allowed = f"must be {' or '.join(dtypes)} for a {role} column"
            raise self.fail(f"{key}.dtype", dtype, allowed)
        low = self.bound(f"{key}.min", body.get("min"))
        high = self.bound(f"{key}.max", body.get("max"))
        if (low is not None or high is not None) and role not in BOUNDED:
            raise self.fail(f"{key}.min/max", [low, high], f"bounds only on {', '.join(BOUNDED)}")
        if low is not None and high is not None and low > high:
            raise self.fail(f"{key}.min/max", [low, high], "min must be at most max")
        if kind is Role.LABEL:  # a 0/1 outcome, as in every built-in contract
            low, high = 0, 1
        return role, Column(name, dtype, kind, min=low, max=high)

    def contract(self, body: object) -> Contract:
        if not isinstance(body, dict):
            raise self.fail("(top level)", type(body).__name__, "must be a mapping: name, columns")
        extra = [k for k in body if k not in ("name", "columns")]
        if extra:
            allowed = "unknown key: a contract has name and columns"
            raise self.fail(_named(str(extra[0])), body[extra[0]], allowed)
        name = body.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise self.fail("name", name, "must match [a-z0-9][a-z0-9_.-]* (at most 64 characters)")
        if name in CONTRACTS or name == "custom":
            raise self.fail("name", name, f"taken by a built-in dataset ({', '.join(CONTRACTS)})")
        columns = body.get("columns")
        if not isinstance(columns, dict) or not columns:
            raise self.fail("columns", columns, "must be a mapping of column name -> {role: ...}")
        named: dict[str, str] = {}  # single role -> its column
        out = []
        for column_name, column_body in columns.items():
            role, column = self.column(column_name, column_body)
            if role in named:
                held = f"one {role} column only ({named[role]!r} is one)"
                raise self.fail(f"columns.{_named(column.name)}.role", role, held)
            if role in SINGLE:
                named[role] = column.name
            out.append(column)
        missing = [r for r in REQUIRED if r not in named]
        if missing:
            need = f"need a column of each role {', '.join(REQUIRED)}"
            raise ContractError(f"{self.source}: columns: no {missing[0]} column: {need}")
        if not any(c.role in (Role.SPARSE, Role.MULTI, Role.DENSE) for c in out):
            need = "need a feature: a sparse, id, user, multi or dense column"
            raise ContractError(f"{self.source}: columns: no feature column: {need}")
        return Contract(name, tuple(out), **{r: named.get(r) for r in SINGLE})


def parse_contract(body: object, source: str = "contract") -> Contract:
    """A contract from a mapping read from YAML (checked; one ContractError line if not)."""
    return _Reader(source).contract(body)


def load_contract(path: Path, source: str | None = None) -> Contract:
    """The contract of a YAML file; `source` names it in errors (default: the path)."""
    source = source or str(path)
    try:
        body = read_yaml(Path(path), what="contract file")
    except ConfigError as err:  # unreadable or unsafe YAML: the same line, named by source
        raise ContractError(source + str(err).removeprefix(str(path))) from None
    return parse_contract(body, source)
