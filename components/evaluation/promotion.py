"""The promotion gate: may a candidate replace the champion? (design.md §6)

Judged on the evaluation day's rows, focus by focus (scene, task) from params `gate`:
enough rows to judge, nothing NaN, AUC above its floor, AUC not worse than the champion's
on the same rows by DeLong's paired test at `gate.confidence` and never more than
`max_auc_drop` below it (a hard cap), calibration Σp/Σy inside its band. Without the
champion's scores of the rows (only its metrics), the hard cap alone judges. The first
model of an empty registry is judged on the floors only: there is nothing to regress
from, and serving a model beats serving none.

One exception to the hard cap: when the champion's own calibration left the band on the
day while the candidate's is inside it, a drop the paired test does not find significant
is accepted (the champion is mispricing, and the data cannot tell the two rankings
apart); the check's detail says so. Staleness and the champion's calibration are also
reported as alerts on the day (`serving_health`): they mark it, they never block.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.codec import encode, finite
from components.config import Focus, GateConfig
from components.evaluation.metrics import Metrics

if TYPE_CHECKING:
    from components.evaluation.paired import PairedAUC


@dataclass(frozen=True)
class GateCheck:
    focus: str  # "scene/task"
    name: str  # rows | nan | floor | regression | calibration
    passed: bool
    detail: str  # what was compared, pass or fail


@dataclass(frozen=True)
class Decision:
    passed: bool
    checks: tuple[GateCheck, ...]
    first_model: bool  # no champion to compare with: floors only

    DERIVED = ("reasons",)  # written for readers of gate.json and the day record

    @property
    def reasons(self) -> list[str]:
        """One line per failed check."""
        return [f"{c.focus}: {c.detail}" for c in self.checks if not c.passed]

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def version_tags(self) -> dict[str, str]:
        """What a registered version says of its gate: `gate` pass | reject (filterable:
        tags.gate = 'reject'), the failed checks, and a one-line description."""
        floors = " (first model: floors only)" if self.first_model else ""
        reasons = "; ".join(self.reasons)
        said = f"promoted: every check passed{floors}" if self.passed else f"rejected: {reasons}"
        return {"gate": "pass" if self.passed else "reject", "gate_reasons": reasons[:5000],
                "description": said[:5000]}  # fmt: skip

    def to_record(self) -> dict:
        return encode(self)


def _nan(x: float | None) -> bool:
    """Not a usable number: None, NaN or infinite."""
    return finite(x) is None


def _floors(f: Focus, m: Metrics) -> list[tuple[str, bool, str]]:
    numbers = not (_nan(m.auc) or _nan(m.logloss) or _nan(m.calibration))
    floor = not _nan(m.auc) and m.auc >= f.auc_floor
    return [
        ("rows", m.rows >= f.min_rows, f"{m.rows} rows, min_rows {f.min_rows}"),
        (
            "nan",
            numbers,
            f"AUC {m.auc:.4f}, logloss {m.logloss:.4f}, calibration "
            f"{m.calibration:.3f} must be numbers",
        ),
        ("floor", floor, f"AUC {m.auc:.4f}, floor {f.auc_floor}"),
    ]


def _in_band(m: Metrics | None, band: tuple[float, float]) -> bool:
    return m is not None and not _nan(m.calibration) and band[0] <= m.calibration <= band[1]


def _calibration(m: Metrics, band: tuple[float, float]) -> tuple[str, bool, str]:
    detail = f"calibration {m.calibration:.3f}, band [{band[0]}, {band[1]}]"
    return "calibration", _in_band(m, band), detail


def _regression(
    f: Focus, m: Metrics, champ: Metrics | None, test: PairedAUC | None, band: tuple[float, float]
) -> tuple[str, bool, str]:
    """The candidate's AUC against the champion's on the same rows: worse by the paired
    test at the gate's confidence, or by more than the hard cap `max_auc_drop`, fails;
    the cap is waived for a non-significant drop when the champion's calibration is out of
    the band and the candidate's in it."""
    if champ is None or _nan(champ.auc):  # the champion cannot score this focus: nothing to lose
        why = "no champion AUC on this focus (its bundle failed to load, or it has no such scene)"
        return "regression", True, why
    if test is None:  # no paired scores (a champion scored apart): the hard cap alone
        drop = champ.auc - m.auc
        detail = (
            f"AUC {m.auc:.4f} vs champion {champ.auc:.4f} (drop {drop:+.4f}, max {f.max_auc_drop})"
        )
        return "regression", drop <= f.max_auc_drop, detail
    alpha = 1 - test.confidence
    worse, capped = test.p_worse < alpha, -test.diff > f.max_auc_drop
    detail = (
        f"{test.test}: AUC {test.a:.4f} vs champion {test.b:.4f} on the same rows, "
        f"difference {test.diff:+.4f} (one-sided {test.confidence:.0%} upper bound "
        f"{test.upper:+.4f}), p(worse) {test.p_worse:.3g} {'<' if worse else '>='} "
        f"{alpha:.3g}; hard cap: drop {f.max_auc_drop}"
    )
    waived = capped and not worse and not _in_band(champ, band) and _in_band(m, band)
    if waived:
        detail += (
            f" waived: the champion's calibration {champ.calibration:.3f} is outside the band, "
            f"the candidate's {m.calibration:.3f} inside, and the drop is not significant"
        )
    return "regression", not (worse or capped) or waived, detail


def decide(
    gate: GateConfig,
    candidate: list[Metrics],
    champion: list[Metrics] | None,
    paired: dict[str, PairedAUC | None] | None = None,
) -> Decision:
    """Every check of every focus; the candidate passes only if all pass. `paired`: the
    paired tests of candidate vs champion per focus ("scene/task"), when both scored the
    day's rows (evaluation.paired.focus_tests)."""
    ours = {(m.scene, m.task): m for m in candidate}
    theirs = {(m.scene, m.task): m for m in champion or []}
    checks: list[GateCheck] = []
    for f in gate.focus:
        name = f"{f.scene}/{f.task}"
        m = ours.get((f.scene, f.task))
        if m is None:
            checks.append(GateCheck(name, "rows", False, "no rows on the evaluation day"))
            continue
        found = _floors(f, m)
        if champion is not None:  # a first model is judged on the floors only
            found += [
                _calibration(m, gate.calibration_band),
                _regression(
                    f,
                    m,
                    theirs.get((f.scene, f.task)),
                    (paired or {}).get(name),
                    gate.calibration_band,
                ),
            ]
        checks += [GateCheck(name, *c) for c in found]
    return Decision(all(c.passed for c in checks), tuple(checks), champion is None)


@dataclass(frozen=True)
class ServingHealth:
    """The serving champion on the day: how long it has gone unreplaced, and where its own
    calibration left the band. Alerts: they mark the day, they never block."""

    champion: int | None  # the version serving after the day's run
    trained_through: dt.date | None  # the last day of its training data
    age_days: int | None  # days it has served unreplaced: the day minus the day after its data
    max_age_days: int  # gate.max_champion_age_days
    miscalibrated: tuple[str, ...] = ()  # "scene/task Σp/Σy x outside [lo, hi]": the day's champion

    DERIVED = ("stale", "alerts")

    @property
    def stale(self) -> bool:
        return self.age_days is not None and self.age_days >= self.max_age_days

    @property
    def alerts(self) -> list[str]:
        out = [f"champion calibration {m}" for m in self.miscalibrated]
        if self.stale:
            out.insert(0, f"stale champion: v{self.champion} has served {self.age_days} days "
                          f"unreplaced (trained through {self.trained_through}; max "
                          f"{self.max_age_days})")  # fmt: skip
        return out

    def to_record(self) -> dict:
        return encode(self)


def serving_health(
    gate: GateConfig,
    day: dt.date,
    champion: int | None,
    trained_through: dt.date | None,
    champion_metrics: list[Metrics] | None,
) -> ServingHealth:
    """The champion serving after day `day`'s run (`champion`, its data ending
    `trained_through`), and the calibration of the one that served the day."""
    age = None if trained_through is None else max((day - trained_through).days - 1, 0)
    theirs = {(m.scene, m.task): m for m in champion_metrics or []}
    low, high = gate.calibration_band
    off = tuple(
        f"{f.scene}/{f.task} Σp/Σy {m.calibration:.3f} outside [{low}, {high}]"
        for f in gate.focus
        if (m := theirs.get((f.scene, f.task))) is not None
        and not _nan(m.calibration)
        and not _in_band(m, gate.calibration_band)
    )
    return ServingHealth(champion, trained_through, age, gate.max_champion_age_days, off)
