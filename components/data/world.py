"""The simulator's world: users, ads, advertisers and scenes with known latent truth.

Built once from the seed and the simulator config; every day is then drawn from it
(components/data/simulator.py). Nothing here depends on which days are simulated, so
any day can be generated on its own and gives the same rows.

Ground truth, per impression of user u, ad a in scene s (see docs/simulator.md):
    z_ctr = base_s + context + features + b_u + b_a + scale * <P_s t_u(day), q_a>
    z_cvr = base_s + features' + c_u + c_a + scale * <P_s v_u(day), r_a>
t/v are a user's click/conversion tastes, q/r an ad's click/conversion attributes,
P_s the scene's projection of tastes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.config import SimulatorConfig

N_GENDER, N_AGE, N_CITY, N_OS = 3, 7, 5, 4


@dataclass(frozen=True)
class Users:
    birth: np.ndarray  # [U] day index the user joins
    activity: np.ndarray  # [U] unnormalised traffic weight (Zipf-Mandelbrot)
    gender: np.ndarray  # [U]
    age: np.ndarray  # [U]
    city: np.ndarray  # [U]
    os: np.ndarray  # [U]
    taste_a: np.ndarray  # [U, 2, K] click (0) and conversion (1) tastes at angle 0
    taste_b: np.ndarray  # [U, 2, K] ... at angle pi/2 (tastes rotate between them)
    drift: np.ndarray  # [U] angular speed, radians per day
    bias: np.ndarray  # [U, 2] click and conversion logit bias


@dataclass(frozen=True)
class Ads:
    birth: np.ndarray  # [A] day index the ad starts running
    end: np.ndarray  # [A] first day it no longer runs
    popularity: np.ndarray  # [S, A] per-scene traffic weight
    advertiser: np.ndarray  # [A]
    category: np.ndarray  # [A]
    brand: np.ndarray  # [A]
    log_price: np.ndarray  # [A]
    tag_offsets: np.ndarray  # [A + 1] CSR offsets into tag_values
    tag_values: np.ndarray  # [sum of tags]
    attr: np.ndarray  # [A, 2, K] click and conversion attributes
    bias: np.ndarray  # [A, 2]


@dataclass(frozen=True)
class World:
    users: Users
    ads: Ads
    projection: np.ndarray  # [S, K, K] per-scene projection of tastes
    gender_x_category: np.ndarray  # [2, N_GENDER, C] click/conversion effect of the cross
    age_x_price: np.ndarray  # [2, N_AGE] slope of log price per age bucket
    os_x_scene: np.ndarray  # [N_OS, S] click effect
    position: np.ndarray  # [S, 10] click effect of positions 1..10
    hour_traffic: np.ndarray  # [S, 24] traffic share of each hour
    hour_effect: np.ndarray  # [24] click effect
    weekday_effect: np.ndarray  # [7] click effect
    base_ctr: np.ndarray  # [S] intercept of z_ctr
    base_cvr: np.ndarray  # [S] intercept of z_cvr (before the daction split)


def zipf_weights(n: int, exponent: float, offset: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-Mandelbrot weights (rank + offset)^-exponent, assigned to ids in random order."""
    weights = (np.arange(1, n + 1) + offset) ** -exponent
    return weights[rng.permutation(n)]


def _lifetimes(n_start: int, per_day: float, mean: float, horizon: int, rng) -> tuple:
    """Births and ends of a stationary population: n_start alive at day 0, per_day born after."""
    born_later = rng.poisson(per_day * (horizon - 1))
    birth = np.concatenate([np.zeros(n_start, np.int32), rng.integers(1, horizon, born_later)])
    birth = np.sort(birth).astype(np.int32)
    end = birth + np.ceil(rng.exponential(mean, birth.size)).astype(np.int32)
    return birth, end


def _unit_normal(rng, shape) -> np.ndarray:
    """Normal vectors scaled so a dot product of two independent ones has variance 1."""
    return rng.standard_normal(shape) / np.sqrt(np.sqrt(shape[-1]))


def _correlated_pair(rng, n: int, k: int, rho: float) -> np.ndarray:
    """[n, 2, k]: a click side and a conversion side correlated by rho."""
    click = _unit_normal(rng, (n, k))
    other = _unit_normal(rng, (n, k))
    return np.stack([click, rho * click + np.sqrt(1 - rho**2) * other], axis=1)


def _build_users(cfg: SimulatorConfig, rng) -> Users:
    k, rho = cfg.latent_dim, cfg.taste_correlation
    n = cfg.n_users + cfg.new_users_per_day * (cfg.horizon_days - 1)
    birth = np.concatenate(
        [np.zeros(cfg.n_users), np.repeat(np.arange(1, cfg.horizon_days), cfg.new_users_per_day)]
    ).astype(np.int32)
    return Users(
        birth=birth,
        activity=zipf_weights(n, cfg.user_zipf, cfg.zipf_offset, rng),
        gender=rng.choice(N_GENDER, n, p=[0.48, 0.48, 0.04]).astype(np.int32),
        age=rng.choice(N_AGE, n, p=[0.08, 0.22, 0.25, 0.19, 0.13, 0.08, 0.05]).astype(np.int32),
        city=rng.choice(N_CITY, n, p=[0.15, 0.25, 0.3, 0.2, 0.1]).astype(np.int32),
        os=rng.choice(N_OS - 1, n, p=[0.55, 0.4, 0.05]).astype(np.int32),  # OS 3 arrives by shock
        taste_a=_correlated_pair(rng, n, k, rho),
        taste_b=_correlated_pair(rng, n, k, rho),
        drift=np.abs(rng.normal(0, cfg.taste_drift * np.sqrt(np.pi / 2), n)),
        bias=rng.normal(0, cfg.id_bias_scale, (n, 2)),
    )


def _build_ads(cfg: SimulatorConfig, n_scenes: int, rng) -> Ads:
    k, rho, h = cfg.latent_dim, cfg.taste_correlation, cfg.horizon_days
    adv_birth, adv_end = _lifetimes(
        cfg.n_advertisers, cfg.n_advertisers / cfg.advertiser_lifetime_days,
        cfg.advertiser_lifetime_days, h, rng,
    )  # fmt: skip
    birth, end = _lifetimes(
        cfg.n_ads, cfg.n_ads / cfg.ad_lifetime_days, cfg.ad_lifetime_days, h, rng
    )
    # each ad belongs to an advertiser running on its first day, and stops when it retires
    advertiser = np.empty(birth.size, np.int64)
    for day in np.unique(birth):
        live = np.flatnonzero((adv_birth <= day) & (adv_end > day))
        at = birth == day
        advertiser[at] = rng.choice(live, at.sum())
    end = np.minimum(end, np.maximum(adv_end[advertiser], birth + 1))
    adv_category = rng.integers(0, cfg.n_categories, adv_birth.size)
    category = np.where(rng.random(birth.size) < 0.85, adv_category[advertiser],
                        rng.integers(0, cfg.n_categories, birth.size))  # fmt: skip
    adv_brand = rng.integers(0, cfg.n_brands, adv_birth.size)
    brand = np.where(rng.random(birth.size) < 0.8, adv_brand[advertiser],
                     rng.integers(0, cfg.n_brands, birth.size))  # fmt: skip
    log_price = rng.normal(3.0, 0.8, cfg.n_categories)[category] + rng.normal(0, 0.5, birth.size)
    # latent attributes: shared by category and advertiser, plus the ad's own part
    cat_attr = _correlated_pair(rng, cfg.n_categories, k, rho)
    adv_attr = _correlated_pair(rng, adv_birth.size, k, rho)
    own_attr = _correlated_pair(rng, birth.size, k, rho)
    attr = np.sqrt(0.3) * cat_attr[category] + np.sqrt(0.3) * adv_attr[advertiser]
    attr += np.sqrt(0.4) * own_attr
    tag_counts = rng.integers(1, 4, birth.size)
    cat_tags = rng.integers(0, cfg.n_tags, (cfg.n_categories, 6))  # a category's usual tags
    tags = np.where(rng.random(tag_counts.sum()) < 0.8,
                    cat_tags[np.repeat(category, tag_counts), rng.integers(0, 6, tag_counts.sum())],
                    rng.integers(0, cfg.n_tags, tag_counts.sum()))  # fmt: skip
    popularity = zipf_weights(birth.size, cfg.ad_zipf, cfg.zipf_offset, rng)
    scene_taste = np.exp(rng.normal(0, 0.7, (n_scenes, birth.size)))
    return Ads(
        birth=birth, end=end.astype(np.int32),
        popularity=popularity[None, :] * scene_taste,
        advertiser=advertiser, category=category.astype(np.int64), brand=brand.astype(np.int64),
        log_price=log_price,
        tag_offsets=np.concatenate([[0], np.cumsum(tag_counts)]),
        tag_values=tags.astype(np.int32),
        attr=attr, bias=rng.normal(0, cfg.id_bias_scale, (birth.size, 2)),
    )  # fmt: skip


def _hour_traffic(n_scenes: int, rng) -> np.ndarray:
    hours = np.arange(24)
    peak = rng.uniform(11, 22, n_scenes)[:, None]  # scenes peak at different hours
    night = 0.15 + np.exp(-0.5 * ((hours[None, :] - peak) / 4.0) ** 2)
    return night / night.sum(axis=1, keepdims=True)


def _intercept(rate: float, spread: float) -> float:
    """Logit intercept whose mean sigmoid over N(0, spread^2) noise is about `rate`."""
    return float(np.log(rate / (1 - rate)) * np.sqrt(1 + np.pi * spread**2 / 8))


def build_world(cfg: SimulatorConfig, seed: int) -> World:
    """The static world of a seed: deterministic, independent of the days simulated."""
    rng = np.random.default_rng([seed, 0])
    s, k = len(cfg.scenes), cfg.latent_dim
    users = _build_users(cfg, rng)
    ads = _build_ads(cfg, s, rng)
    w = cfg.scene_divergence
    projection = np.sqrt(1 - w**2) * np.eye(k) + w * rng.standard_normal((s, k, k)) / np.sqrt(k)
    fs, cs = cfg.feature_scale, cfg.context_scale
    spread_ctr = np.sqrt(cfg.interaction_scale**2 + 2 * cfg.id_bias_scale**2 + fs**2 + cs**2)
    spread_cvr = np.sqrt(cfg.interaction_scale**2 + 2 * cfg.id_bias_scale**2 + fs**2)
    base_cvr = _intercept(cfg.buy_without_daction, spread_cvr)
    return World(
        users=users,
        ads=ads,
        projection=projection,
        gender_x_category=rng.normal(0, fs / np.sqrt(2), (2, N_GENDER, cfg.n_categories)),
        age_x_price=rng.normal(0, fs / np.sqrt(2) / 0.8, (2, N_AGE)),
        os_x_scene=rng.normal(0, fs / 2, (N_OS, s)),
        position=-cs * np.log1p(np.arange(10))[None, :] * rng.uniform(0.7, 1.3, (s, 1)),
        hour_traffic=_hour_traffic(s, rng),
        hour_effect=rng.normal(0, cs / 2, 24),
        weekday_effect=rng.normal(0, cs / 3, 7),
        base_ctr=np.array([_intercept(sc.ctr, spread_ctr) + cs for sc in cfg.scenes]),
        base_cvr=np.array([base_cvr + np.log(sc.cvr_lift) for sc in cfg.scenes]),
    )
