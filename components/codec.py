"""The one JSON codec for the typed values that cross seams: day records, MLflow artifacts,
validation results.

`encode` turns a dataclass into JSON-ready data: its fields, plus the properties its class
names in `DERIVED` (written for the file's readers, ignored when read back); dates become
ISO strings, paths strings, NaN and inf None (json.dumps would write invalid `NaN`).
`decode` is the inverse, driven by the dataclass's type hints: keys it does not know are
skipped (a file written by another mtms version still loads), and a None in a `float`
field comes back as NaN.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def encode(value: Any) -> Any:
    """JSON-ready data for `value` (dataclasses, dates, paths, numbers, containers)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in getattr(type(value), "DERIVED", ()):
            out[name] = encode(getattr(value, name))
        return out
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON text (NaN is refused, not written)."""
    return json.dumps(encode(value), indent=2, allow_nan=False)


def finite(value: float | None) -> float | None:
    """A finite number, or None (NaN, inf, None)."""
    return value if value is not None and math.isfinite(value) else None


def decode(kind: Any, data: Any) -> Any:
    """An instance of `kind` (a type or a type hint) from what `encode` wrote."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if data is None:
        return math.nan if kind is float else None
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"cannot decode the union {kind}")
        return decode(inner[0], data)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        known = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{k: decode(hints[k], v) for k, v in data.items() if k in known})
    if origin is list:
        return [decode(args[0], v) for v in data]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in data)
        return tuple(decode(a, v) for a, v in zip(args, data, strict=True))
    if origin is dict:
        return {k: decode(args[1], v) for k, v in data.items()}
    if origin is typing.Literal:
        if data not in args:
            raise ValueError(f"{data!r} is not one of {args}")
        return data
    if kind is dt.date:
        return dt.date.fromisoformat(data)
    if kind is Path:
        return Path(data)
    if kind is float:
        return float(data)
    return data


def loads(kind: type[T], text: str) -> T:
    return decode(kind, json.loads(text))
