"""Daily impression logs drawn from the simulator's world, with their true probabilities.

A day is a pure function of (seed, simulator config, date): vectorised numpy, one
random stream per day, so the same params give byte-identical partitions.
Funnel: impression -> click -> daction (cart/wish) -> purchase (`conversion`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from components.config import SimulatorConfig
from components.data.contract import SIMULATOR
from components.data.corruption import corrupt_files, corrupt_table
from components.data.partitions import partition_dir, write_partition
from components.data.profile import label_rates
from components.data.world import N_OS, World, build_world

PARTS = ("context", "features", "ids", "interaction")  # the additive parts of a true logit


@dataclass(frozen=True)
class Day:
    table: pa.Table  # rows in the simulator contract's schema
    parts: dict[str, np.ndarray]  # "ctr.<part>" / "cvr.<part>" -> [N] logit part of each row


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _shocked(cfg: SimulatorConfig, date: dt.date) -> float:
    shock = cfg.shock
    if shock.day is None or not 0 <= (date - shock.day).days < shock.days:
        return 0.0
    return shock.strength


def _row_count(cfg: SimulatorConfig, date: dt.date, rng: np.random.Generator) -> int:
    lift = cfg.weekend_lift if date.weekday() >= 5 else 0.0
    return int(round(cfg.rows_per_day * (1 + lift) * rng.uniform(0.97, 1.03)))


def _draw_slots(world: World, cfg: SimulatorConfig, index: int, n: int, rng) -> dict:
    """Who sees which ad where: scene, hour, position, user, ad of every impression."""
    share = np.array([s.share if index >= s.start_day else 0.0 for s in cfg.scenes])
    scene = rng.choice(len(share), n, p=share / share.sum())
    hour, position, ad = (np.empty(n, np.int64) for _ in range(3))
    live_ads = np.flatnonzero((world.ads.birth <= index) & (world.ads.end > index))
    for s, sc in enumerate(cfg.scenes):
        rows = np.flatnonzero(scene == s)
        hour[rows] = rng.choice(24, rows.size, p=world.hour_traffic[s])
        slot_p = 0.75 ** np.arange(sc.positions)
        position[rows] = 1 + rng.choice(sc.positions, rows.size, p=slot_p / slot_p.sum())
        pop = world.ads.popularity[s, live_ads]
        ad[rows] = live_ads[rng.choice(live_ads.size, rows.size, p=pop / pop.sum())]
    live_users = np.flatnonzero(world.users.birth <= index)
    act = world.users.activity[live_users]
    user = live_users[rng.choice(live_users.size, n, p=act / act.sum())]
    return {"scene": scene, "hour": hour, "position": position, "ad": ad, "user": user}


def _tastes(world: World, index: int) -> np.ndarray:
    """[U, 2, K] every user's click and conversion tastes on day `index` (a slow rotation)."""
    angle = (world.users.drift * index)[:, None, None]
    return np.cos(angle) * world.users.taste_a + np.sin(angle) * world.users.taste_b


def _interaction(world: World, slots: dict, index: int) -> np.ndarray:
    """[2, N] <P_s taste_u, attr_a> for the click and conversion sides."""
    tastes = _tastes(world, index)
    out = np.empty((2, slots["user"].size))
    for s in range(world.projection.shape[0]):
        rows = np.flatnonzero(slots["scene"] == s)
        seen = tastes[slots["user"][rows]] @ world.projection[s].T  # [n, 2, K]
        out[:, rows] = np.einsum("nck,nck->cn", seen, world.ads.attr[slots["ad"][rows]])
    return out


def _logit_parts(world, cfg: SimulatorConfig, slots: dict, os_: np.ndarray, index, date, shock):
    """Each additive part of the true click and conversion logits, [N] arrays."""
    u, a, s = slots["user"], slots["ad"], slots["scene"]
    users, ads = world.users, world.ads
    gender, age, cat = users.gender[u], users.age[u], ads.category[a]
    centred_price = ads.log_price[a] - 3.0 + np.log1p(shock)
    inter = cfg.interaction_scale * _interaction(world, slots, index)
    weekday = date.weekday()
    feed_shock = -0.7 * shock * (s == 0)
    return {
        "ctr.context": world.position[s, slots["position"] - 1] + world.hour_effect[slots["hour"]]
        + world.weekday_effect[weekday] + feed_shock,
        "ctr.features": world.gender_x_category[0, gender, cat]
        + world.age_x_price[0, age] * centred_price + world.os_x_scene[os_, s],
        "ctr.ids": users.bias[u, 0] + ads.bias[a, 0],
        "ctr.interaction": inter[0],
        "cvr.context": np.zeros(u.size),
        "cvr.features": world.gender_x_category[1, gender, cat]
        + world.age_x_price[1, age] * centred_price - 0.3 * centred_price,
        "cvr.ids": users.bias[u, 1] + ads.bias[a, 1],
        "cvr.interaction": inter[1],
    }  # fmt: skip


def _funnel(world, cfg: SimulatorConfig, scene, parts: dict, rng) -> dict[str, np.ndarray]:
    """True probabilities and sampled labels; purchase is far likelier after a daction."""
    z_ctr = world.base_ctr[scene] + sum(parts[f"ctr.{p}"] for p in PARTS)
    z_cvr_rest = sum(parts[f"cvr.{p}"] for p in PARTS)
    z_buy = world.base_cvr[scene] + z_cvr_rest
    p_click = _sigmoid(z_ctr)
    p_daction = _sigmoid(_logit(cfg.daction_rate) + 0.5 * z_cvr_rest)
    lift = _logit(cfg.buy_after_daction) - _logit(cfg.buy_without_daction)
    p_buy_d, p_buy_o = _sigmoid(z_buy + lift), _sigmoid(z_buy)
    p_cvr = p_daction * p_buy_d + (1 - p_daction) * p_buy_o
    u = rng.random((3, scene.size))
    click = u[0] < p_click
    daction = click & (u[1] < p_daction)
    conversion = click & (u[2] < np.where(daction, p_buy_d, p_buy_o))
    return {"p_click": p_click, "p_cvr": p_cvr, "click": click,
            "daction": daction, "conversion": conversion}  # fmt: skip


def _tags_column(world: World, ad: np.ndarray) -> pa.Array:
    """list<int32> of each row's ad tags, gathered from the ads' CSR arrays."""
    starts = world.ads.tag_offsets[ad]
    lengths = world.ads.tag_offsets[ad + 1] - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(world.ads.tag_values[flat]))


def simulate_day(world: World, cfg: SimulatorConfig, seed: int, date: dt.date) -> Day:
    """One day of impressions, sorted by hour, in the simulator contract's schema."""
    index = cfg.day_index(date)
    rng = np.random.default_rng([seed, 1, index])
    shock = _shocked(cfg, date)
    n = _row_count(cfg, date, rng)
    slots = _draw_slots(world, cfg, index, n, rng)
    order = np.argsort(slots["hour"], kind="stable")
    slots = {k: v[order] for k, v in slots.items()}
    u, a = slots["user"], slots["ad"]
    os_ = world.users.os[u]
    if shock:  # the shock moves part of the traffic onto a new OS version
        os_ = np.where(rng.random(n) < 0.5 * shock, N_OS - 1, os_)
    parts = _logit_parts(world, cfg, slots, os_, index, date, shock)
    truth = _funnel(world, cfg, slots["scene"], parts, rng)
    names = np.array([s.name for s in cfg.scenes])
    i32 = lambda x: pa.array(x, pa.int32())  # noqa: E731
    i8 = lambda x: pa.array(x.astype(np.int8))  # noqa: E731
    f32 = lambda x: pa.array(x.astype(np.float32))  # noqa: E731
    columns = {
        "request_id": pa.array((index + 1) * 10**10 + np.arange(n)),
        "day": pa.array(np.full(n, date.isoformat())),
        "scene": pa.array(names[slots["scene"]]),
        "user_id": pa.array(u),
        "ad_id": pa.array(a),
        "advertiser_id": pa.array(world.ads.advertiser[a]),
        "category_id": pa.array(world.ads.category[a]),
        "brand_id": pa.array(world.ads.brand[a]),
        "gender": i32(world.users.gender[u]),
        "age_bucket": i32(world.users.age[u]),
        "city_tier": i32(world.users.city[u]),
        "device_os": i32(os_),
        "position": i32(slots["position"]),
        "hour": i32(slots["hour"]),
        "weekday": i32(np.full(n, date.weekday())),
        "ad_tags": _tags_column(world, a),
        "price": f32(np.exp(world.ads.log_price[a]) * (1 + shock)),
        "ad_age_days": f32(index - world.ads.birth[a]),
        **{k: i8(truth[k]) for k in ("click", "daction", "conversion")},
        **{k: f32(truth[k]) for k in ("p_click", "p_cvr")},
    }
    table = pa.Table.from_pydict(columns, schema=SIMULATOR.schema())
    return Day(table=table, parts=parts)


@dataclass(frozen=True)
class Written:
    day: dt.date
    status: str  # "written", "kept" (already there: raw data is immutable) or "corrupted:<kind>"
    rows: int | None = None  # None where the partition was kept
    ctr: float | None = None  # clicks / impressions
    cvr: float | None = None  # conversions / clicks


def _written(day: dt.date, status: str, table: pa.Table) -> Written:
    rates = label_rates(table, SIMULATOR)
    return Written(day, status, rates["rows"], rates["ctr"], rates["cvr"])


def simulate(
    sim: SimulatorConfig,
    seed: int,
    raw: Path,
    start: dt.date,
    days: int,
    corrupt: str | None = None,
    on_day: Callable[[Written], None] | None = None,
) -> list[Written]:
    """Write `days` partitions from `start`; existing partitions are kept untouched."""
    world = build_world(sim, seed)
    out = []
    for offset in range(days):
        date = start + dt.timedelta(days=offset)
        if partition_dir(raw, date).exists():
            result = Written(date, "kept")
        else:
            table = simulate_day(world, sim, seed, date).table
            if corrupt:
                table = corrupt_table(table, corrupt, seed)
            folder = write_partition(raw, date, table)
            if corrupt:
                corrupt_files(folder, corrupt)
            result = _written(date, f"corrupted:{corrupt}" if corrupt else "written", table)
        out.append(result)
        if on_day:
            on_day(result)
    return out
