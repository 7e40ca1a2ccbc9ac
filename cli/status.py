"""`mtms status`: what serves, what ran lately, and where everything lives."""

from __future__ import annotations

import json

from rich.console import Console

from cli.reports import table
from components import runs
from components.config import Config
from components.registry import RegistryError, Version
from components.registry.mlflow_registry import Registry

RECENT = 10


def _version(v: Version | None, health: str | None = None) -> dict | None:
    if v is None:
        return None
    out = {
        "version": v.number,
        "run_day": v.tags.get("run_day"),
        "trained_through": v.trained_through,
        "run_id": v.run_id,
    }
    return out if health is None else {**out, "health": health}


def _health(reg: Registry, v: Version | None) -> str | None:
    """Why the version cannot serve (checksum, load, an example row) in one line; else ok."""
    if v is None:
        return None
    try:
        reg.verify(v)
    except RegistryError as err:
        return str(err)
    return "ok"


def collect(cfg: Config) -> dict:
    reg = Registry(cfg)
    every = runs.records(cfg)
    recent = every[-RECENT:]
    champion = reg.champion()
    reg.check_records(runs.versions_named(every))  # an emptied mlflow.db is no "champion: none"
    return {
        "champion": _version(champion, _health(reg, champion)),
        "previous": _version(reg.previous()),
        "days": [
            {
                "day": r.day.isoformat(),
                "outcome": r.outcome,
                "validation": r.validation.passed,
                "gate": None if r.decision is None else r.decision.passed,
                "reasons": [r.error]
                if r.error
                else ([] if r.decision is None else r.decision.reasons),
                "drift": None if r.drift is None else r.drift.drifted,
                "stale": None if r.serving is None else r.serving.stale,
                "serving_alerts": [] if r.serving is None else r.serving.alerts,
                "version": r.version,
                "champion": r.champion,
            }
            for r in recent
        ],
        "stores": {
            "raw": str(cfg.path("raw")),
            "models": str(cfg.path("models")),
            "runs": runs.where(cfg),
            "mlflow": reg.tracking_uri,
            "prefect_home": str(cfg.path("prefect")),
        },
        "serving": next(  # as of the newest day run (a rollback since is not in it)
            (
                {"day": r.day.isoformat(), **r.serving.to_record()}
                for r in reversed(every)
                if r.serving
            ),
            None,
        ),  # fmt: skip
        "next_day": (d.isoformat() if (d := runs.next_day(cfg)) else None),
        "skipped": [d.isoformat() for d in runs.skipped(cfg)],
    }


def status(console: Console, cfg: Config, as_json: bool) -> int:
    info = collect(cfg)
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    for role in ("champion", "previous"):
        v = info[role]
        text = (
            "none"
            if v is None
            else (
                f"v{v['version']} (trained through {v['trained_through']}, run day {v['run_day']})"
            )
        )
        if v is not None and "health" in v:
            text += ": bundle ok" if v["health"] == "ok" else f": NOT SERVABLE: {v['health']}"
        console.print(f"{role}: {text}", markup=False, highlight=False, soft_wrap=True)
    if (h := info["serving"]) is not None and h["age_days"] is not None:  # the newest day's
        alerts = "; ".join(h["alerts"]) or "no alerts"
        line = f"serving on {h['day']}: v{h['champion']} unreplaced {h['age_days']} days (max "
        line += f"{h['max_age_days']}){' STALE' if h['stale'] else ''}: {alerts}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    gate = lambda x: "-" if x is None else ("pass" if x else "reject")  # noqa: E731
    drift = lambda x: "-" if x is None else ("DRIFT" if x else "no")  # noqa: E731
    rows = [
        [
            d["day"],
            d["outcome"],
            "pass" if d["validation"] else "FAIL",
            "; ".join(d["reasons"]) or gate(d["gate"]),
            drift(d["drift"]),
            d["version"],
            d["champion"],
        ]
        for d in info["days"]
    ]
    columns = ["day", "outcome", "validation", "gate", "drift", "version", "champion"]
    console.print(table(f"last {len(rows)} daily runs", columns, rows))
    console.print(f"next day to run: {info['next_day'] or 'none'}")
    if info["skipped"]:  # the schedule never comes back for them: the champion saw later days
        days = ", ".join(info["skipped"])
        console.print(f"skipped: {days} (no record: a later day ran first)")
    for name, where in info["stores"].items():
        console.print(f"{name}: {where}", soft_wrap=True, highlight=False)
    return 0
