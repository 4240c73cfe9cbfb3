"""Simulated panels with known treatment effects: staggered adoption, and one region's price change.

``simulate_staggered_panel``: units adopt a treatment at different periods (cohorts) and keep it; the effect
varies by cohort and grows (or shrinks) with the time since adoption, which is exactly where the pooled
two-way fixed-effects coefficient is biased (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020;
Sun & Abraham 2021) and an event study with cohort-by-event-time effects is not. The truths are computed from
the simulated effects themselves (no noise), so they are the estimands on this sample: the average effect on
the treated unit-periods (ATT) and the dynamic effect at each event time (the average over the cohorts observed
there, weighted by their treated rows, the weights the event study uses).

``simulate_regional_price_panel``: the weekly version of ``simulate_regional_sales``: regions share the
market's slow trend and yearly seasonality, each has its own level and its own autocorrelated weekly shocks,
and one region changes its price at a known week, shifting its sales by a known share from then on. In logs the
regions' paths are parallel up to their levels, so a two-way fixed-effects event study and a CausalImpact
regression of the treated region on the others are both valid, and both must find the known effect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StaggeredStudy:
    """A simulated staggered-adoption panel and its truths.

    ``data`` has one row per (unit, period): ``unit`` (str), ``period`` (int), the outcome ``y``, the 0/1
    ``treated`` (1 from the unit's adoption period on) and covariates ``x1, x2, ...``. ``cohort`` maps each unit
    to its adoption period (NaN: never treated). ``tau``: the true effect in each row of ``data`` (0 in untreated
    rows). ``true_att``: the mean of ``tau`` over treated rows. ``true_effects``: one row per (cohort, event
    time) with the cell's true effect and its number of rows. ``true_dynamic``: the true effect at each event
    time >= 0, averaged over cohorts weighted by their rows at that event time (the event study's weights).
    ``true_coefficients``: the covariates' true coefficients.
    """

    data: pd.DataFrame
    cohort: pd.Series
    tau: np.ndarray = field(repr=False)
    true_att: float
    true_effects: pd.DataFrame
    true_dynamic: pd.Series
    true_coefficients: dict
    unit: str = "unit"
    time: str = "period"
    outcome: str = "y"
    treatment: str = "treated"
    covariates: tuple[str, ...] = ()

    def true_dynamic_binned(self, lags: int) -> pd.Series:
        """True dynamic effects at event times ``0..lags`` with event times ``>= lags`` pooled into ``lags``
        (the binned end point an ``EventStudy(lags=lags)`` estimates), weighted by rows."""
        cells = self.true_effects.assign(event_time=np.minimum(self.true_effects["event_time"], lags))
        total = (cells["effect"] * cells["n_obs"]).groupby(cells["event_time"]).sum()
        return (total / cells.groupby("event_time")["n_obs"].sum()).rename("effect")


def _cohort_sizes(n_treated: int, shares: np.ndarray) -> np.ndarray:
    """Split ``n_treated`` units over cohorts in proportion to ``shares`` (largest remainders, exact total)."""
    raw = shares / shares.sum() * n_treated
    sizes = np.floor(raw).astype(int)
    order = np.argsort(-(raw - sizes), kind="stable")
    sizes[order[: n_treated - sizes.sum()]] += 1
    return sizes


def simulate_staggered_panel(
    n_units: int = 300,
    n_periods: int = 16,
    cohorts: Sequence[int] = (6, 9, 12),
    cohort_shares: Sequence[float] | None = None,
    never_treated_share: float = 0.3,
    effect: float = 1.0,
    effect_growth: float = 0.0,
    cohort_spread: float = 0.0,
    effect_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    n_covariates: int = 1,
    beta: float | Sequence[float] = 0.5,
    unit_sd: float = 1.0,
    time_sd: float = 0.3,
    trend: float = 0.05,
    noise_sd: float = 1.0,
    ar1: float = 0.0,
    pretrend: float = 0.0,
    missing_share: float = 0.0,
    seed: int = 0,
) -> StaggeredStudy:
    """Simulate ``n_units`` units over periods ``1..n_periods`` with staggered, absorbing adoption.

    Parameters
    ----------
    cohorts : adoption periods (values of the ``period`` column, between 2 and ``n_periods``).
    cohort_shares : relative sizes of the cohorts among the treated units (default equal).
    never_treated_share : share of units never treated (0 is allowed: then every unit is treated eventually).
    effect, effect_growth, cohort_spread : the effect of cohort ``g`` at event time ``e >= 0`` (periods since
        adoption) is ``(effect + effect_growth * e) * m_g``, where the cohort multipliers ``m_g`` run linearly
        from ``1 + cohort_spread`` (earliest cohort) to ``1 - cohort_spread`` (latest).
    effect_fn : instead, a function of (adoption period, event time) arrays returning the effects.
    n_covariates, beta : time-varying covariates ``x1..``, correlated with the unit effects, with coefficients
        ``beta`` (a number for all, or one per covariate).
    unit_sd, time_sd, trend : sd of the unit effects; sd of the period shocks around a linear ``trend``.
        Units that adopt sit 0.5 higher on average than never-treated units (selection on levels, which the
        unit effects absorb).
    noise_sd, ar1 : marginal sd and lag-one autocorrelation of the errors (stationary AR(1) within each unit).
    pretrend : eventually-treated units drift by ``pretrend`` per period relative to the others, before and
        after adoption (a violation of parallel trends: the leads of an event study pick it up; the truths do
        not include it, it is confounding).
    missing_share : share of rows dropped at random (an unbalanced panel; each unit keeps at least one row).
    """
    cohorts = np.asarray(sorted(cohorts), dtype=int)
    if n_units < 2 or n_periods < 2:
        raise ValueError("simulate at least 2 units and 2 periods")
    if cohorts.size == 0 or cohorts.min() < 2 or cohorts.max() > n_periods or np.unique(cohorts).size < cohorts.size:
        raise ValueError(f"cohorts must be distinct adoption periods in 2..{n_periods}, got {cohorts.tolist()}")
    if not 0.0 <= never_treated_share < 1.0:
        raise ValueError("never_treated_share must lie in [0, 1)")
    if not -1.0 < ar1 < 1.0:
        raise ValueError("ar1 must lie strictly between -1 and 1")
    shares = np.ones(cohorts.size) if cohort_shares is None else np.asarray(cohort_shares, float)
    if shares.shape != cohorts.shape or np.any(shares <= 0):
        raise ValueError("cohort_shares: give one positive share per cohort")
    rng = np.random.default_rng(seed)
    n_never = int(round(never_treated_share * n_units))
    sizes = _cohort_sizes(n_units - n_never, shares)
    unit_cohort = np.concatenate([np.zeros(n_never, int), np.repeat(cohorts, sizes)])  # 0: never treated
    unit_cohort = unit_cohort[rng.permutation(n_units)]
    ever = unit_cohort > 0

    periods = np.arange(1, n_periods + 1)
    unit_idx = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(periods, n_units)
    g = unit_cohort[unit_idx]
    treated = (g > 0) & (t >= g)
    event = np.where(g > 0, t - g, 0)

    if effect_fn is None:
        mult = np.ones(cohorts.size) if cohorts.size == 1 else np.linspace(1 + cohort_spread, 1 - cohort_spread,
                                                                           cohorts.size)
        m_row = mult[np.searchsorted(cohorts, np.where(g > 0, g, cohorts[0]))]
        tau = np.where(treated, (effect + effect_growth * event) * m_row, 0.0)
    else:
        tau = np.where(treated, np.asarray(effect_fn(g.astype(float), event.astype(float)), float), 0.0)

    alpha = rng.normal(0.0, unit_sd, n_units) + 0.5 * ever
    gamma = trend * periods + rng.normal(0.0, time_sd, n_periods)
    betas = np.broadcast_to(np.asarray(beta, float), (n_covariates,)).copy()
    X = rng.normal(0.0, 1.0, (n_units * n_periods, n_covariates)) + 0.5 * (alpha[unit_idx] / max(unit_sd, 1e-9))[
        :, None]
    innov = rng.normal(0.0, noise_sd * np.sqrt(1 - ar1**2), (n_units, n_periods))
    err = np.empty_like(innov)
    err[:, 0] = rng.normal(0.0, noise_sd, n_units)
    for s in range(1, n_periods):  # a loop over periods (few), vectorised over units
        err[:, s] = ar1 * err[:, s - 1] + innov[:, s]
    drift = np.where(g > 0, pretrend * (t - g), 0.0)
    y = alpha[unit_idx] + gamma[t - 1] + X @ betas + tau + drift + err.ravel()

    names = [f"u{i:0{len(str(n_units - 1))}d}" for i in range(n_units)]
    data = pd.DataFrame({"unit": np.asarray(names)[unit_idx], "period": t, "y": y, "treated": treated.astype(int)})
    covs = tuple(f"x{k + 1}" for k in range(n_covariates))
    for k, c in enumerate(covs):
        data[c] = X[:, k]
    keep = np.ones(len(data), bool)
    if missing_share > 0:
        keep = rng.uniform(size=len(data)) >= missing_share
        first_rows = np.arange(n_units) * n_periods
        keep[first_rows[~keep.reshape(n_units, n_periods).any(axis=1)]] = True
    data = data[keep].reset_index(drop=True)
    tau, g, event, treated = tau[keep], g[keep], event[keep], treated[keep]

    cells = pd.DataFrame({"cohort": g[treated], "event_time": event[treated], "effect": tau[treated]})
    true_effects = (cells.groupby(["cohort", "event_time"])["effect"].agg(["mean", "size"])
                    .rename(columns={"mean": "effect", "size": "n_obs"}).reset_index())
    dyn = cells.groupby("event_time")["effect"].mean().rename("effect")
    cohort = pd.Series(np.where(unit_cohort > 0, unit_cohort, np.nan), index=pd.Index(names, name="unit"),
                       name="cohort")
    return StaggeredStudy(data=data, cohort=cohort, tau=tau, true_att=float(tau[treated].mean()),
                          true_effects=true_effects, true_dynamic=dyn,
                          true_coefficients=dict(zip(covs, betas.tolist(), strict=True)), covariates=covs)


@dataclass(frozen=True)
class RegionalPriceStudy:
    """A simulated regions-by-weeks panel in which one region changed its price, and the truth.

    ``data`` (long): ``region``, ``week`` (the week's Monday), ``sales``, ``log_sales`` and ``price_change``
    (1 in the treated region from the change week on). ``true_effect`` is the change's effect on
    ``log_sales`` (log points, constant after the change); ``relative_effect`` the same as a share of sales.
    ``pre_period``/``post_period`` are the CausalImpact periods (first and last week of each, as dates).
    """

    data: pd.DataFrame
    treated_region: str
    controls: tuple[str, ...]
    change_week: pd.Timestamp
    pre_period: tuple[str, str]
    post_period: tuple[str, str]
    true_effect: float
    relative_effect: float
    unit: str = "region"
    time: str = "week"
    outcome: str = "log_sales"
    treatment: str = "price_change"

    def wide(self, column: str = "log_sales") -> pd.DataFrame:
        """One column per region (the treated region first), indexed by week: the layout CausalImpact takes."""
        table = self.data.pivot(index=self.time, columns=self.unit, values=column)
        table = table[[self.treated_region, *self.controls]]
        table.columns.name = None
        table.index.freq = "W-MON"
        return table


def simulate_regional_price_panel(
    n_regions: int = 10,
    n_weeks: int = 156,
    n_post: int = 26,
    relative_effect: float = 0.06,
    start: str = "2022-01-03",
    noise: float = 0.02,
    ar1: float = 0.5,
    seed: int = 0,
) -> RegionalPriceStudy:
    """Weekly sales of ``n_regions`` regions; ``region_a`` changes its price ``n_post`` weeks before the end.

    Every region's log sales are its own level plus the market's path (a slow random-walk trend and a yearly
    cycle with two harmonics, shared by all regions) plus its own AR(1) weekly shocks (marginal sd ``noise``,
    autocorrelation ``ar1``). From the change week on, ``region_a``'s sales are ``1 + relative_effect`` times
    what they would have been (e.g. 0.06: a price cut that lifts sales by 6%).
    """
    if n_regions < 3:
        raise ValueError("simulate at least 3 regions (one treated, two or more controls)")
    if not 4 <= n_post < n_weeks - 8:
        raise ValueError("n_post must leave at least 8 pre-period weeks and be at least 4")
    if relative_effect <= -1:
        raise ValueError("relative_effect must exceed -1 (sales stay positive)")
    if not -1.0 < ar1 < 1.0:
        raise ValueError("ar1 must lie strictly between -1 and 1")
    rng = np.random.default_rng(seed)
    weeks = pd.date_range(start, periods=n_weeks, freq="W-MON")
    w = np.arange(n_weeks)
    phase = rng.uniform(0, 2 * np.pi, 2)
    yearly = (0.12 * np.sin(2 * np.pi * w / 52.18 + phase[0]) + 0.04 * np.sin(4 * np.pi * w / 52.18 + phase[1]))
    market = np.cumsum(rng.normal(0.0, 0.004, n_weeks)) + yearly
    names = [f"region_{chr(ord('a') + j)}" if j < 26 else f"region_{j}" for j in range(n_regions)]
    level = np.log(rng.uniform(600, 1400, n_regions))
    shocks = np.empty((n_regions, n_weeks))
    shocks[:, 0] = rng.normal(0.0, noise, n_regions)
    innov = rng.normal(0.0, noise * np.sqrt(1 - ar1**2), (n_regions, n_weeks))
    for s in range(1, n_weeks):  # a loop over weeks, vectorised over regions
        shocks[:, s] = ar1 * shocks[:, s - 1] + innov[:, s]
    change = n_weeks - n_post
    effect = float(np.log1p(relative_effect))
    treated = np.zeros((n_regions, n_weeks), int)
    treated[0, change:] = 1
    log_sales = level[:, None] + market[None, :] + shocks + effect * treated
    data = pd.DataFrame({"region": np.repeat(names, n_weeks), "week": np.tile(weeks, n_regions),
                         "sales": np.exp(log_sales).ravel(), "log_sales": log_sales.ravel(),
                         "price_change": treated.ravel()})
    return RegionalPriceStudy(
        data=data, treated_region=names[0], controls=tuple(names[1:]), change_week=weeks[change],
        pre_period=(str(weeks[0].date()), str(weeks[change - 1].date())),
        post_period=(str(weeks[change].date()), str(weeks[-1].date())),
        true_effect=effect, relative_effect=float(relative_effect))
