"""Reading a small YAML file safely: size-capped, checked event by event (no aliases, no
deep nesting, no key given twice) before anything is built, plain tags only."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.config_errors import ConfigError

MAX_PARAMS_BYTES = 1 << 20  # params.yaml is ~10 KB
MAX_DEPTH = 16  # nesting of YAML collections; params.yaml's deepest is 4


def _refusal(text: str, loader: type) -> str | None:
    """Why the YAML must not be constructed: an alias (a "billion laughs" expands them
    without bound downstream; params.yaml uses none), nesting far deeper than params, or a
    key given twice in one mapping (YAML keeps the last silently: a setting would vanish)."""
    keys: list[tuple[set, list] | None] = []  # per open collection: a mapping's keys, next-is-key
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            return f"line {line}: YAML alias *{event.anchor}: aliases are not allowed"
        if isinstance(event, yaml.NodeEvent) and keys and keys[-1] is not None:
            seen, is_key = keys[-1]
            if is_key[0] and isinstance(event, yaml.ScalarEvent):
                if event.value in seen:
                    return f"line {line}: key {event.value!r} given twice: each key once"
                seen.add(event.value)
            is_key[0] = not is_key[0]
        if isinstance(event, yaml.CollectionStartEvent):
            keys.append((set(), [True]) if isinstance(event, yaml.MappingStartEvent) else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            keys.pop()
        if len(keys) > MAX_DEPTH:
            return f"line {line}: nested deeper than {MAX_DEPTH} levels"
    return None


def read_yaml(path: Path, what: str = "params file") -> object:
    """Safe YAML of a small file, checked event by event before anything is built."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PARAMS_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the {what} ({err})") from None
    if len(data) > MAX_PARAMS_BYTES:
        raise ConfigError(f"{path}: over {MAX_PARAMS_BYTES >> 20} MiB: too large for a {what}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        refusal = _refusal(text, loader)
        if refusal is None:
            return yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        if isinstance(err, yaml.constructor.ConstructorError):  # !!python/object and the like
            raise ConfigError(f"{path}: unsafe YAML tag{where}: plain YAML only") from None
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{path}: unreadable value ({err})") from None
    raise ConfigError(f"{path}: {refusal}")
