"""Starting params for each dataset (`mtms init`): its scenes, validation and gate focus.

The shipped params.yaml is the template, comments and all: only the keys a dataset
changes are rewritten in place, so every key of the written file keeps its comment and
the file stays in step with the template as the template grows. The thresholds scale
with the impressions one imported day is expected to hold (`rows_per_day`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from components import atomic
from components.config import Config, ConfigError, parse

CUSTOM = "custom"


@dataclass(frozen=True)
class Dataset:
    name: str
    scenes: tuple[str, ...]  # as the importer names them
    ctr: float  # the logs' typical click rate: sizes the CVR focus (clicked rows)
    rows_per_day: int  # impressions of a typical imported day
    files: str  # what `mtms import` takes, for the next-steps hint
    auc_floor: float = 0.55  # real logs: above chance, below what the zoo reaches on them


DATASETS = {
    d.name: d
    for d in (
        Dataset("simulator", ("feed", "search", "video", "mall"), 0.04, 200_000, ""),
        # Ali-CCP: field 301 (the position/scene expression) takes three values, named 301_<v>
        Dataset("aliccp", ("301_1", "301_2", "301_3"), 0.039, 1_000_000, "ali_ccp_train.csv"),
        # the raw files keep field 301's hashed feature ids: pass --scenes with the ids that
        # `mtms import` reports (it lists every scene it wrote)
        Dataset(
            "aliccp-raw",
            ("301_1", "301_2", "301_3"),
            0.039,
            1_000_000,
            "sample_skeleton_train.csv common_features_train.csv",
        ),
        # your own logs: the contract YAML says which column is what; scenes are yours
        Dataset("custom", (), 0.04, 1_000_000, "FILE.csv [FILE.csv ...]"),
        # AliExpress (MTReclib): one folder per country, the country is the scene
        Dataset(
            "aliexpress",
            ("nl", "es", "fr", "us"),
            0.025,
            1_000_000,
            "AliExpress_NL/train.csv AliExpress_ES/train.csv AliExpress_FR/train.csv "
            "AliExpress_US/train.csv",
        ),
    )
}


def _scalar(text: str) -> str:
    """`text` as a YAML scalar that reads back as that string (YAML 1.1 reads 301_1 as 3011)."""
    plain = re.fullmatch(r"[A-Za-z0-9_.-]+", text) and yaml.safe_load(text) == text
    return text if plain else json.dumps(text)


class InitError(ValueError):
    """Starting params that cannot be written as asked."""


def _set(lines: list[str], section: str, key: str, value: str) -> None:
    """Replace `section.key`'s value in place, its comment kept at the same column."""
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{section}:", line))
    for i in range(start + 1, len(lines)):
        if re.match(r"^\S", lines[i]):
            break
        found = re.match(rf"^(  {re.escape(key)}:\s*)(.*?)(\s+#.*)?$", lines[i])
        if found:
            head, comment = f"{found[1].rstrip()} {value}", (found[3] or "").lstrip()
            column = len(lines[i]) - len(comment)
            lines[i] = f"{head:<{column - 1}} {comment}" if comment else head
            return
    raise InitError(f"the template has no {section}.{key}")


def _focus(lines: list[str], scenes: tuple[str, ...], rows: int, ctr: float, floor: float):
    """The gate's focus list: CTR then CVR of every scene, sized for a day of `rows`."""
    first = next(i for i, line in enumerate(lines) if re.match(r"^    - \{scene:", line))
    last = max(i for i, line in enumerate(lines) if re.match(r"^    - \{scene:", line))
    share = rows // len(scenes)  # a scene's rows on a day, if traffic were even
    entries = []
    for task, need, cap in (("ctr", share // 10, 0.02), ("cvr", int(share * ctr) // 10, 0.05)):
        need = max(need, 200 if task == "ctr" else 50)
        width = max(len(_scalar(s)) for s in scenes) + 1
        entries += [
            f"    - {{scene: {_scalar(s) + ',':<{width}} task: {task}, auc_floor: {floor:.2f}, "
            f"min_rows: {need}, max_auc_drop: {cap}}}"
            for s in scenes
        ]
    lines[first : last + 1] = entries


def render(
    template: str, name: str, rows_per_day: int | None, scenes: tuple[str, ...],
    contract: str | None = None,
) -> str:  # fmt: skip
    """The template's text with the dataset's keys rewritten; `contract` (custom only) is
    data.contract as written, relative to the params file."""
    if name not in DATASETS:
        raise InitError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    data = DATASETS[name]
    rows, scenes = rows_per_day or data.rows_per_day, scenes or data.scenes
    if not scenes:
        raise InitError(f"{name}: pass --scenes, the values of your contract's scene column")
    if (contract is None) == (name == CUSTOM):
        raise InitError("--contract FILE goes with custom, and only with custom")
    if len(set(scenes)) != len(scenes):
        raise InitError(f"--scenes: {' '.join(scenes)}: a scene is named twice")
    lines = template.splitlines()
    _set(lines, "data", "dataset", name)
    if contract is not None:
        _set(lines, "data", "contract", _scalar(contract))
    _set(lines, "model", "scenes", f"[{', '.join(map(_scalar, scenes))}]")
    if name != "simulator":  # the template is the simulator's: its thresholds stay
        _set(lines, "validation", "min_rows", str(max(100, rows // 20)))
        _focus(lines, scenes, rows, data.ctr, data.auc_floor)
    flags = f" --rows-per-day {rows} --scenes {' '.join(scenes)}"
    flags += f" --contract {contract}" if contract is not None else ""
    head = [
        f"# Written by `mtms init {name}{flags}` on {dt.date.today()}: the shipped params.yaml",
        f"# with data.dataset, validation.min_rows, model.scenes and gate.focus set for {name},",
        f"# thresholds sized for ~{rows:,} impressions a day. Every other key is the default.",
        "#",
    ]
    return "\n".join([*head, *lines]) + "\n"


def write(
    template: Path, out: Path, name: str, rows_per_day: int | None, scenes: tuple[str, ...],
    force: bool, contract: Path | None = None,
) -> Config:  # fmt: skip
    """Render, check that it loads as a Config (and that a custom contract parses), then
    write `out` (never half a file)."""
    if out.exists() and not force:
        raise InitError(f"{out} exists; pass --force to replace it")
    written = None
    if contract is not None:  # checked now: a broken contract is today's error, not import's
        from components.data.contract_yaml import load_contract

        load_contract(contract)
        written = os.path.relpath(contract.resolve(), out.resolve().parent)
    text = render(template.read_text(), name, rows_per_day, scenes, written)
    try:
        cfg = parse(yaml.safe_load(text), out.resolve().parent, source=str(out))
    except ConfigError as err:
        raise InitError(f"the written params would not load: {err}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out, text)
    return cfg
