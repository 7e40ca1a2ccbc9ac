"""The drift alert rules: which moves of a day are worth a line in its record.

Alerts mark a day; they never block promotion. A rule reads what drift.py measured (the
share of drifted columns, each scene's label rates against the reference, new-id rates)
and the thresholds in `monitor.alert`.
"""

from __future__ import annotations

from components.config import AlertConfig

# A scene's rate shift is judged only with enough positives on both sides: 200 clicks put
# the CTR's relative standard error near 7%, 100 conversions the CVR's near 10%. Below, a
# shift is noise (the demo's minor scenes move their CVR by 30-60% from day to day).
MIN_CLICKS = 200
MIN_CONVERSIONS = 100


def judged_shifts(rates: dict[str, dict]) -> list[tuple[str, str, float]]:
    """(scene, "ctr" | "cvr", shift) of each rate with enough positives on both sides to
    judge (fewer: the shift is noise, never an alert)."""
    out = []
    for scene, r in rates.items():
        enough = {
            "ctr": min(r["clicks"]) >= MIN_CLICKS,
            "cvr": min(r["conversions"]) >= MIN_CONVERSIONS,
        }
        out += [(scene, t, r[f"{t}_shift"]) for t in ("ctr", "cvr") if enough[t]]
    return out


def label_alert(scene: str, task: str) -> str:
    """How a label-shift alert line starts (readers find a scene's alert by it)."""
    return f"{scene} {task} shift "


def alerts(
    rules: AlertConfig,
    share: float,
    drifted: list[str],
    rates: dict[str, dict],
    new_id_rate: dict[str, float],
) -> list[str]:
    """One line per broken rule; scenes too small to judge are skipped (noise is no alert)."""
    out = [f"drift share {share:.2f} >= {rules.drift_share} ({', '.join(drifted)})"]
    out = out if share >= rules.drift_share else []
    out += [
        f"{label_alert(scene, t)}{shift:+.2f} ({rates[scene][t][0]:.4f} -> "
        f"{rates[scene][t][1]:.4f}), |shift| >= {rules.label_shift}"
        for scene, t, shift in judged_shifts(rates)
        if abs(shift) >= rules.label_shift
    ]
    return out + [
        f"new-id rate {name} {rate:.2f} >= {rules.new_id_rate}"
        for name, rate in new_id_rate.items()
        if rate >= rules.new_id_rate
    ]


def alert_limits(
    rules: AlertConfig, rates: dict[str, dict], new_id_rate: dict[str, float]
) -> dict[str, tuple[float, float]]:
    """The label-shift and new-id rules as (value, bound) pairs, for the report's tests:
    each fails exactly when `alerts` writes its line (value >= bound)."""
    out = {
        f"label shift {scene} {t} |cur/ref - 1|": (abs(shift), rules.label_shift)
        for scene, t, shift in judged_shifts(rates)
    }
    return out | {f"new-id rate {c}": (v, rules.new_id_rate) for c, v in new_id_rate.items()}
