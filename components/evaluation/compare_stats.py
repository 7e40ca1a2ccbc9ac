"""What the bake-off's raw records say: means, paired differences with 95 % intervals, verdicts.

Pairing: two contenders' metrics are compared on the same (seed, day), the day one of the
chain's last `compare.last_days` scored days. The interval is a percentile bootstrap over
those (seed, day) pairs (`compare.bootstrap` resamples of the mean difference): it
captures how the difference moves across days and worlds, not the noise of one day's
rows. With few pairs (3 seeds x 4 days = 12) it is somewhat too narrow, not too wide.

Verdict of a claim "A beats B": reproduced when the whole interval of A - B is above 0,
not reproduced when it is below 0, not resolved when it spans 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from components.config import Config

METRICS = ("auc", "oracle_auc", "share", "logloss", "mae", "calibration")
TARGETS = {"ctr": 0.003, "cvr": 0.005}  # MTMS may trail the best zoo model's AUC by this much
TIME_TARGET = 1.5  # MTMS's training time per day, at most this many times ESMM's


@dataclass(frozen=True)
class Claim:
    text: str
    a: str  # contender labels: "a beats b"
    b: str
    scene: str
    task: str


def claims(cfg: Config) -> list[Claim]:
    """The seeds' headline claims, each as one paired comparison."""
    feed = "feed"
    major = {f.scene for f in cfg.gate.focus}
    minor = [s for s in cfg.model.scenes if s not in major]
    out = [
        Claim("Table I: CTR+CVR+CTCVR non-shared beats CTR+CTCVR shared (CVR AUC)",
              "mtms ctr+cvr+ctcvr @feed", "mtms ctr+ctcvr shared @feed", feed, "cvr"),
        Claim("Table I: CTR+CVR+CTCVR non-shared beats CTR+CVR non-shared (CVR AUC)",
              "mtms ctr+cvr+ctcvr @feed", "mtms ctr+cvr @feed", feed, "cvr"),
        Claim("Table I: non-shared beats shared, both CTR+CVR+CTCVR (CVR AUC)",
              "mtms ctr+cvr+ctcvr @feed", "mtms ctr+cvr+ctcvr shared @feed", feed, "cvr"),
    ]  # fmt: skip
    for scene in [feed, *minor]:
        for task in ("ctr", "cvr"):
            out.append(Claim(f"Table II: multi-scene MTMS beats one-scene MTMS ({scene} {task})",
                             "mtms", f"mtms @{scene}", scene, task))  # fmt: skip
    for scene in sorted(major):
        for task in ("cvr", "ctcvr"):
            out.append(Claim(f"ESM2 beats ESMM ({scene} {task})", "esm2", "esmm", scene, task))
    for rival in ("mmoe", "ple"):
        for scene in minor:
            for task in ("ctr", "cvr"):
                out.append(Claim(f"M2M beats {rival.upper()} ({scene} {task})",
                                 "m2m", rival, scene, task))  # fmt: skip
    return out


def flatten(result: dict) -> list[dict]:
    """One row per (seed, contender, scored day, scene, task), with the share of the ceiling."""
    rows = []
    for chain in result["chains"]:
        for day in chain["days"]:
            for m in day["metrics"]:
                rows.append({"seed": chain["seed"], "label": chain["label"], "day": day["day"],
                             **m, "share": _share(m["auc"], m["oracle_auc"])})  # fmt: skip
    return rows


def _share(auc, oracle) -> float | None:
    """(AUC - 0.5) / (oracle AUC - 0.5): how much of the reachable lift the model has."""
    if auc is None or oracle is None or oracle <= 0.5:
        return None
    return (auc - 0.5) / (oracle - 0.5)


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def bootstrap_ci(diffs: np.ndarray, reps: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean of `diffs`, resampling its entries."""
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (reps, len(diffs)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


class Table:
    """The flattened rows of the headline window, indexed for lookups."""

    def __init__(self, result: dict, last_days: int):
        rows = flatten(result)
        days = sorted({r["day"] for r in rows})[-last_days:]
        self.days = days
        self.values: dict[tuple, dict[tuple, dict]] = defaultdict(dict)
        for r in rows:
            if r["day"] in days:
                self.values[(r["label"], r["scene"], r["task"])][(r["seed"], r["day"])] = r

    def mean(self, label: str, scene: str, task: str, metric: str) -> float | None:
        vals = [r[metric] for r in self.values.get((label, scene, task), {}).values()]
        vals = [v for v in vals if _finite(v)]
        return float(np.mean(vals)) if vals else None

    def paired(self, a: str, b: str, scene: str, task: str, reps: int, metric: str = "auc"):
        """Mean of a - b over shared (seed, day) pairs and its 95 % bootstrap interval."""
        va, vb = self.values.get((a, scene, task), {}), self.values.get((b, scene, task), {})
        keys = sorted(k for k in va.keys() & vb.keys()
                      if _finite(va[k][metric]) and _finite(vb[k][metric]))  # fmt: skip
        if not keys:
            return None
        diffs = np.array([va[k][metric] - vb[k][metric] for k in keys])
        lo, hi = bootstrap_ci(diffs, reps)
        return {"mean": float(diffs.mean()), "lo": lo, "hi": hi, "n": len(keys)}


def verdict(diff: dict | None) -> str:
    if diff is None:
        return "not run"
    if diff["lo"] > 0:
        return "reproduced"
    if diff["hi"] < 0:
        return "not reproduced"
    return "not resolved (CI spans 0)"


def summarize(cfg: Config, result: dict) -> dict:
    """metrics/compare.json: means, paired differences against MTMS, claims, targets, speed."""
    reps = cfg.compare.bootstrap
    table = Table(result, cfg.compare.last_days)
    zoo = [c["label"] for c in result["contenders"] if c["kind"] == "zoo"]
    ablation = [c["label"] for c in result["contenders"] if c["kind"] == "ablation"]
    labels = [c["label"] for c in result["contenders"]]
    pairs = sorted({(s, t) for (_, s, t) in table.values})
    models = {
        label: {f"{s}/{t}": {m: table.mean(label, s, t, m) for m in METRICS}
                for s, t in pairs if (label, s, t) in table.values}
        for label in labels
    }  # fmt: skip
    vs_mtms = {
        label: {f"{s}/{t}": table.paired(label, "mtms", s, t, reps) for s, t in pairs}
        for label in zoo + ablation if label != "mtms"
    }  # fmt: skip
    found = []
    for c in claims(cfg):
        diff = table.paired(c.a, c.b, c.scene, c.task, reps)
        found.append({**c.__dict__, "diff": diff, "verdict": verdict(diff)})
    speed = _speed(result)
    return {
        "scored_days": table.days,
        "seeds": list(cfg.compare.seeds),
        "bootstrap": reps,
        "models": models,
        "vs_mtms": vs_mtms,
        "claims": found,
        "targets": [
            t for who in ["mtms", *ablation] for t in _targets(cfg, models, zoo, speed, who)
        ],
        "speed": speed,
        "full_history": _full_history(result, table, reps),
        "wall_s": result["wall_s"],
    }


def headline(summary: dict) -> dict:
    """The few numbers `dvc metrics show` prints for a bake-off (metrics/compare_summary.json):
    MTMS against its targets (AUC minus the best zoo model's per focus, time / ESMM's), how
    many targets and claims held, and the wall time. The tables stay in compare.json."""
    mtms: dict = {}
    own = [t for t in summary["targets"] if t["model"] == "mtms"]  # not the ablation's rows
    for t in own:
        key = f"vs_best.{t['target'].split()[0]}" if "AUC" in t["target"] else "time_vs_esmm"
        mtms[key] = round(t["value"], 4)
    mtms |= {"targets_met": sum(t["met"] for t in own), "targets": len(own)}
    verdicts = [c["verdict"].split(" (")[0].replace(" ", "_") for c in summary["claims"]]
    return {
        "mtms": mtms,
        "claims": {v: verdicts.count(v) for v in sorted(set(verdicts))},
        "seeds": len(summary["seeds"]),
        "wall_min": round(summary["wall_s"] / 60, 1),
    }


def _speed(result: dict) -> dict:
    """Per contender: training seconds per chain day, samples/s per stage, peak RSS."""
    by: dict[str, list] = defaultdict(list)
    for chain in result["chains"]:
        by[chain["label"]].append(chain)
    out = {}
    for label, chains in by.items():
        days = [d for c in chains for d in c["days"]]
        if not days:  # a one-scene model whose scene had no rows yet
            continue
        stages: dict[str, list] = defaultdict(list)
        for d in days:
            for name, s in d["stages"].items():
                stages[name].append(s["samples_per_s"])
        out[label] = {
            "train_s_per_day": float(np.mean([d["train_s"] for d in days])),
            "rows_per_day": float(np.mean([d["rows"] for d in days])),
            "samples_per_s": {k: float(np.mean(v)) for k, v in stages.items()},
            "peak_rss_mb": max(c["peak_rss_mb"] for c in chains),
        }
    if "esmm" in out:
        for s in out.values():
            s["time_vs_esmm"] = s["train_s_per_day"] / out["esmm"]["train_s_per_day"]
    return out


def _targets(cfg: Config, models: dict, zoo: list[str], speed: dict, who: str) -> list[dict]:
    """MTMS (or an MTMS variant `who`) against the best other zoo model on every gate focus,
    and its time against ESMM's."""
    out = []
    rivals = [label for label in zoo if label != "mtms"]
    for f in cfg.gate.focus:
        key, allowed = f"{f.scene}/{f.task}", TARGETS.get(f.task)
        scores = {r: models[r].get(key, {}).get("auc") for r in rivals}
        scores = {r: v for r, v in scores.items() if v is not None}
        mtms = models.get(who, {}).get(key, {}).get("auc")
        if allowed is None or not scores or mtms is None:
            continue
        best = max(scores, key=scores.get)
        gap = mtms - scores[best]
        out.append({"model": who, "target": f"{key} AUC within {allowed} of the best zoo model",
                    "best": best, "value": gap, "met": gap >= -allowed})  # fmt: skip
    if "esmm" in speed and who in speed:
        ratio = speed[who]["time_vs_esmm"]
        out.append({"model": who, "target": f"training time per day at most {TIME_TARGET}x ESMM's",
                    "best": "esmm", "value": ratio, "met": ratio <= TIME_TARGET})  # fmt: skip
    return out


def _full_history(result: dict, table: Table, reps: int) -> dict:
    """Each full-history retrain against its own chain's model on the same last day."""
    last = max(table.days) if table.days else None
    out: dict[str, dict] = {}
    for run in result["full_history"]:
        entry = out.setdefault(run["label"], {"train_s": [], "chain_train_s": [], "auc": {}})
        entry["train_s"].append(run["train_s"])
        chain = [c for c in result["chains"]
                 if c["label"] == run["label"] and c["seed"] == run["seed"]]  # fmt: skip
        entry["chain_train_s"] += [sum(d["train_s"] for d in c["days"]) for c in chain]
        for m in run["metrics"]:
            mine = table.values.get((run["label"], m["scene"], m["task"]), {})
            chain_row = mine.get((run["seed"], last))
            if chain_row and _finite(m["auc"]) and _finite(chain_row["auc"]):
                gap = entry["auc"].setdefault(f"{m['scene']}/{m['task']}", [])
                gap.append(m["auc"] - chain_row["auc"])
    for entry in out.values():
        entry["train_s"] = float(np.mean(entry["train_s"]))
        entry["chain_train_s"] = float(np.mean(entry["chain_train_s"] or [float("nan")]))
        entry["auc"] = {k: {"mean": float(np.mean(v)), **dict(zip(("lo", "hi"),
                        bootstrap_ci(np.array(v), reps), strict=True)), "n": len(v)}
                        for k, v in entry["auc"].items()}  # fmt: skip
    return out
