"""PanelFE fits: the within estimator (against linearmodels' PanelOLS), AR(1) recovery, serial correlation flagged,
hierarchical unit effects with Mundlak means. Fixed seeds; tolerances from posterior and Monte Carlo error."""

import arviz as az
import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.panel import PanelFE

SAMPLER = bc.Sampler(chains=2, draws=600, warmup=300, progress=False)


def simulate_panel(n=150, T=10, tau=1.0, rho=0.0, sd_unit=1.0, drop=0.0, seed=0):
    """Staggered adoption (half the units, at random periods from 2 on), unit effects correlated with the first
    covariate, period effects, AR(1) errors with innovation sd 1; ``drop`` removes that share of rows."""
    rng = np.random.default_rng(seed)
    unit, time = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    a = sd_unit * rng.normal(size=n)
    adopt = np.where(rng.random(n) < 0.5, rng.integers(2, T, n), -1)
    d = ((adopt[unit] >= 0) & (time >= adopt[unit])).astype(float)
    x0 = rng.normal(size=n * T) + 0.7 * a[unit]
    x1 = rng.normal(size=n * T)
    e = np.zeros((n, T))
    e[:, 0] = rng.normal(size=n) / np.sqrt(1 - rho**2)
    for t in range(1, T):
        e[:, t] = rho * e[:, t - 1] + rng.normal(size=n)
    y = 5 + a[unit] + 0.4 * np.cos(time) + 0.5 * x0 - 0.3 * x1 + tau * d + e.ravel()
    df = pd.DataFrame({"store": unit, "week": time, "sales": y, "promo": d, "x0": x0, "x1": x1})
    if drop:
        df = df[rng.random(len(df)) > drop]
    return df


def test_fixed_effects_posterior_mean_is_the_within_estimator():
    from linearmodels import PanelOLS

    df = simulate_panel(n=120, T=8, drop=0.15, seed=1)
    res = PanelFE(priors={"effect": None, "coefficient": None}, sampler=SAMPLER).fit(
        df, "store", "week", "sales", "promo", ["x0", "x1"], seed=0, checks=False)
    idx = df.set_index(["store", "week"])
    ols = PanelOLS(idx["sales"], idx[["promo", "x0", "x1"]], entity_effects=True, time_effects=True).fit()
    est, se = float(ols.params["promo"]), float(ols.std_errors["promo"])
    assert abs(res.effect_mean - est) < 0.01 * se  # Rao-Blackwellised mean: exact up to rounding
    draws = res.effect.values
    mcse = draws.std() / np.sqrt(float(az.ess(draws)))
    assert abs(draws.mean() - est) < 3.5 * mcse
    assert draws.std() == pytest.approx(se, rel=0.1)  # flat priors: posterior sd = the classical se (t vs normal)
    for name in ("x0", "x1"):
        coef = res.coefficients.sel(covariate=name).values
        assert abs(coef.mean() - float(ols.params[name])) < 3.5 * coef.std() / np.sqrt(float(az.ess(coef)))
    assert not res.balanced and res.n_rows == len(df)


@pytest.fixture(scope="module")
def ar1_data():
    return simulate_panel(n=150, T=12, tau=1.0, rho=0.7, seed=2)


def test_ar1_errors_recover_rho_and_the_effect(ar1_data):
    res = PanelFE(errors="ar1", sampler=SAMPLER).fit(ar1_data, "store", "week", "sales", "promo", ["x0", "x1"],
                                                     seed=0, checks="fast")
    rho = res.scales["rho"].ravel()
    lo, hi = np.quantile(rho, [0.005, 0.995])
    assert lo < 0.7 < hi and abs(rho.mean() - 0.7) < 3.5 * rho.std()
    eff = res.effect.values.ravel()
    assert np.quantile(eff, 0.005) < 1.0 < np.quantile(eff, 0.995)
    assert abs(eff.mean() - 1.0) < 3.5 * eff.std()
    serial = next(c for c in res.checks if c.name == "serial correlation")
    assert serial.passed, serial.message
    assert res.trustworthy, res.report()


def test_iid_errors_on_autocorrelated_data_fail_the_serial_correlation_check(ar1_data):
    res = PanelFE(sampler=SAMPLER).fit(ar1_data, "store", "week", "sales", "promo", ["x0", "x1"], seed=0,
                                       checks="fast")
    serial = next(c for c in res.checks if c.name == "serial correlation")
    assert serial.passed is False and "errors='ar1'" in serial.message
    opening = res.report().split("\n\n")[0]
    assert not res.trustworthy and opening.startswith("Warning: the ") and "serial correlation" in opening


def test_hierarchical_units_with_mundlak_recover_the_unit_sd_and_the_within_coefficients():
    """Unit effects correlated with x0: the Mundlak means absorb the correlation, so the coefficient of x0 is the
    within one (0.5), and sd_unit is the sd of the unit effects given the unit means (0.50 here, see below)."""
    df = simulate_panel(n=200, T=6, sd_unit=1.0, seed=3)
    res = PanelFE("hierarchical", mundlak=True, sampler=SAMPLER).fit(
        df, "store", "week", "sales", "promo", ["x0", "x1"], seed=0, checks="fast")
    x0 = res.coefficients.sel(covariate="x0").values.ravel()
    assert abs(x0.mean() - 0.5) < 3.5 * x0.std()
    eff = res.effect.values.ravel()
    assert abs(eff.mean() - 1.0) < 3.5 * eff.std()
    # truth for sd_unit: the residual sd of a_i given the unit mean of x0 (x0bar = 0.7 a + noise / sqrt(T))
    var_a, var_xbar = 1.0, 0.49 + 1 / 6
    truth = np.sqrt(var_a - 0.49 * var_a**2 / var_xbar)
    sd_unit = res.scales["sd_unit"].ravel()
    assert np.quantile(sd_unit, 0.005) < truth < np.quantile(sd_unit, 0.995)
    assert res.trustworthy, res.report()


FLAT = {"effect": None, "coefficient": None}


def test_no_time_effects_posterior_mean_is_the_within_estimator_without_period_effects():
    """time_effects=None: the one-way (unit) within estimator, which differs here from the two-way one because
    adoption is staggered and the periods have effects of their own."""
    from linearmodels import PanelOLS

    df = simulate_panel(n=120, T=8, drop=0.15, seed=4)
    df["sales"] += 0.3 * df["week"]  # a trend: later periods, with more treated units, are higher
    res = PanelFE(time_effects=None, priors=FLAT, sampler=SAMPLER).fit(
        df, "store", "week", "sales", "promo", ["x0", "x1"], seed=0, checks=False)
    idx = df.set_index(["store", "week"])
    one_way = PanelOLS(idx["sales"], idx[["promo", "x0", "x1"]], entity_effects=True).fit()
    two_way = PanelOLS(idx["sales"], idx[["promo", "x0", "x1"]], entity_effects=True, time_effects=True).fit()
    est, se = float(one_way.params["promo"]), float(one_way.std_errors["promo"])
    assert abs(float(two_way.params["promo"]) - est) > 0.5 * se  # the two estimators are told apart here
    assert abs(res.effect_mean - est) < 0.01 * se
    assert res.time_effects is None and "no time effects" in res.spec
    draws = res.effect.values
    assert abs(draws.mean() - est) < 3.5 * draws.std() / np.sqrt(float(az.ess(draws)))


def test_single_row_units_are_dropped_with_a_warning_and_change_nothing():
    """A unit with one row only fixes its own effect: dropped (with a warning, in info and the report), and the
    estimate is still the within estimator of the data that had it."""
    from linearmodels import PanelOLS

    df = simulate_panel(n=120, T=8, seed=5)
    lone = df[df["store"] >= 110].groupby("store").head(1)  # ten units reduced to one row each
    df = pd.concat([df[df["store"] < 110], lone])
    with pytest.warns(UserWarning, match=r"10 units of 'store' have a single row \(\[110, 111, 112, 113, 114\] "
                                         r"and 5 more\)"):
        res = PanelFE(priors=FLAT, sampler=SAMPLER).fit(df, "store", "week", "sales", "promo", ["x0", "x1"], seed=0,
                                                       checks=False)
    assert res.info["singleton_units_dropped"] == 10 and res.n_units == 110 and res.n_rows == len(df) - 10
    assert "10 units with a single row were dropped" in res.report()
    idx = df.set_index(["store", "week"])
    ols = PanelOLS(idx["sales"], idx[["promo", "x0", "x1"]], entity_effects=True, time_effects=True).fit()
    assert abs(res.effect_mean - float(ols.params["promo"])) < 0.01 * float(ols.std_errors["promo"])
