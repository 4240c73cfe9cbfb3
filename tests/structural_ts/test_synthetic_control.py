"""SyntheticControl: recovery of known weights and effects, the result contract, the checks, bad input.

MCMC fits are few and shared (each new dataset costs a compile); statistical assertions use fixed seeds
and tolerances from the posterior itself, so they can fail.
"""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal import DataError, SpecError
from bayescausal.checks.placebo import binomial_tail, placebo_rate_check
from bayescausal.datasets import simulate_synthetic_control
from bayescausal.structural_ts.sc_checks import placebo_windows, window_targets

SAMPLER = bc.Sampler(chains=2, draws=500, warmup=300)


@pytest.fixture(scope="module")
def study():
    return simulate_synthetic_control(n_pre=150, n_post=30, n_donors=6, relative_effect=0.04, seed=7)


@pytest.fixture(scope="module")
def fitted(study):
    est = bc.SyntheticControl(study.pre_period, study.post_period)
    return est.fit(study.data, "treated", sampler=SAMPLER, seed=1, checks="full")


@pytest.fixture(scope="module")
def null_multi():
    """Two treated units, no effect, no intercept (the treated units lie in the donors' convex hull)."""
    return simulate_synthetic_control(n_pre=150, n_post=30, n_donors=5, n_treated=2, relative_effect=0.0,
                                      intercept=0.0, seed=11)


@pytest.fixture(scope="module")
def null_multi_fit(null_multi):
    est = bc.SyntheticControl(null_multi.pre_period, null_multi.post_period, intercept=False)
    return est.fit(null_multi.data, list(null_multi.treated), donors=list(null_multi.donors), sampler=SAMPLER,
                   seed=2, checks="fast")


# -- recovery --------------------------------------------------------------------------------------------
def test_recovers_known_effect(study, fitted):
    row = fitted.summary().loc["average"]
    truth = study.true_average_effect
    assert row["lower"] <= truth <= row["upper"]
    assert abs(row["mean"] - truth) < 3 * row["sd"]
    assert row["lower"] > 0  # the effect (4% of the level, 4.5 residual innovation sds) is detected
    assert row["upper"] - row["lower"] < truth  # and the interval is informative


def test_recovers_known_weights(study, fitted):
    table = fitted.weights_table()
    truth = study.true_weights.loc["treated"]
    assert table.index[0] == truth.idxmax()  # the dominant donor is found
    for donor, row in table.iterrows():
        assert abs(row["mean"] - truth[donor]) < 3 * row["sd"] + 0.03, donor
    # posterior weights lie on the simplex, draw by draw
    np.testing.assert_allclose(fitted.weights.sum("donor").values, 1.0, atol=1e-9)
    assert float(fitted.weights.min()) >= 0.0


def test_zero_effect_and_several_treated_units(null_multi, null_multi_fit):
    res = null_multi_fit
    s = res.summary()
    assert list(s.index[-2:]) == ["average: treated_1", "average: treated_2"]
    for row in ("average", "average: treated_1", "average: treated_2"):
        assert s.loc[row, "lower"] <= 0.0 <= s.loc[row, "upper"], row
    assert res.weights.dims == ("chain", "draw", "treated", "donor")
    table = res.weights_table()
    assert table.index.names == ["treated", "donor"] and len(table) == 2 * 5
    # the average effect is the mean over treated units of their own average effects
    np.testing.assert_allclose(res.effect.values, res.unit_pointwise.mean(("treated", "time")).values)
    for unit in null_multi.treated:
        top = table.loc[unit].index[0]
        assert null_multi.true_weights.loc[unit, top] > 0.2, unit
    assert [c.name for c in res.checks] == ["convergence", "pre-period coverage"]
    assert "intercept" not in res.idata.posterior
    assert "treated_2" in res.report()


# -- the result contract -----------------------------------------------------------------------------
def test_result_contract(study, fitted, tmp_path):
    s = fitted.summary()
    for col in ("mean", "sd", "lower", "upper", "p_positive", "p_tail", "observed", "predicted"):
        assert col in s.columns
    assert list(s.index) == ["average", "cumulative", "average (relative)", "cumulative (relative)"]
    assert fitted.effect.dims == ("chain", "draw")
    assert fitted.pointwise.dims == ("chain", "draw", "time") and fitted.pointwise.sizes["time"] == 30
    assert fitted.weights.dims == ("chain", "draw", "donor")
    assert list(fitted.weights["donor"].values) == list(study.donors)  # donors=None: every other column
    np.testing.assert_allclose(fitted.cumulative.isel(time=-1).values, fitted.pointwise.sum("time").values)
    table = fitted.weights_table(hdi_prob=0.9)
    assert list(table.columns) == ["mean", "sd", "lower", "upper"]
    assert table.shape == (6, 4) and table["mean"].is_monotonic_decreasing
    assert (table["lower"] <= table["mean"]).all() and (table["mean"] <= table["upper"]).all()
    for group in ("posterior", "posterior_predictive", "observed_data", "constant_data"):
        assert group in fitted.idata.groups()
    assert fitted.idata.posterior["weights"].dims[2:] == ("treated", "donor")
    assert {"effect", "sigma", "rho", "intercept"} <= set(fitted.idata.posterior.data_vars)


def test_checks_and_placebo_table(fitted):
    names = [c.name for c in fitted.checks]
    assert names == ["convergence", "pre-period coverage", "placebo in space", "placebo in time"]
    placebo = fitted.checks[2]
    assert "Permutation p-value" in placebo.message and "binomial" in placebo.message
    assert fitted.placebos.shape[0] == 6
    assert set(fitted.placebos.columns) >= {"effect_mean", "lower", "upper", "pre_rmspe", "ratio", "in_verdict"}
    p = float(fitted.info["permutation_p"])
    assert 1 / 7 <= p <= 1  # rank among the treated unit and 6 placebos
    # the effect is about 10 residual sds: the treated unit's post/pre error ratio should rank first
    assert p == pytest.approx(1 / 7, abs=1e-4)
    assert fitted.trustworthy == all(c.passed for c in fitted.checks)


def test_report_plot_html(fitted, tmp_path):
    text = fitted.report()
    assert "weights its donors" in text and "interval" in text and "permutation p-value" in text
    assert "donor units were not themselves affected" in text
    assert fitted.weights_table().index[0] in text
    fig = fitted.plot()
    assert len(fig.axes) == 3
    wfig = fitted.plot_weights()
    assert len(wfig.axes) == 1
    path = fitted.to_html(tmp_path / "sc.html")
    html = open(path, encoding="utf-8").read()
    assert html.count("data:image/png;base64") == 2 and "Donor weights" in html and "Placebo units" in html
    assert "<table" in fitted._repr_html_()


def test_failed_check_comes_first_in_report(fitted):
    failed = bc.CheckResult("placebo in space", False, 0.001, "p >= 0.05", "Spurious effects on donor_01.")
    bad = type(fitted)(**{**{f: getattr(fitted, f) for f in fitted.__dataclass_fields__},
                          "checks": (*fitted.checks[:2], failed)})
    assert not bad.trustworthy
    text = bad.report()
    assert text.startswith("Warning: the") and "placebo in space" in text.split("\n\n")[0]
    assert "Spurious effects on donor_01." in text.split("\n\n")[0]


@pytest.mark.slow  # default-suite time budget (CI): run by make bench
def test_same_seed_same_numbers_and_no_checks(study):
    # the fixture's model and sampler, so the compiled program is reused
    est = bc.SyntheticControl(study.pre_period, study.post_period)
    kw = dict(sampler=SAMPLER, seed=5, checks=False)
    df = study.data.copy()
    before = df.copy()
    a = est.fit(df, "treated", **kw)
    b = est.fit(df, "treated", **kw)
    np.testing.assert_array_equal(a.effect.values, b.effect.values)
    assert a.checks == () and not a.trustworthy
    pd.testing.assert_frame_equal(df, before)


# -- the model's likelihood and forecast against direct formulas (no MCMC) --------------------------------
@pytest.mark.parametrize("errors, intercept", [("ar1", True), ("iid", True), ("ar1", False)])
def test_model_log_density_matches_dense_gaussian(errors, intercept):
    import numpyro.distributions as dist
    from numpyro.infer.util import log_density
    from scipy.stats import multivariate_normal

    from bayescausal.structural_ts.sc_model import sc_model, standardise_targets

    rng = np.random.default_rng(3)
    n, n_pre, D = 40, 30, 3
    X = rng.normal(size=(n, D)).cumsum(0)
    y = X @ np.array([0.6, 0.3, 0.1]) + rng.normal(size=n)
    inputs, _, _ = standardise_targets(y[None], X[None], n_pre)
    w, offset, sigma, rho = np.array([0.5, 0.2, 0.3]), 0.1, 0.4, 0.7
    params = {"w": w[None], "sigma": np.array([sigma])}
    if intercept:
        params["offset"] = np.array([offset])
    if errors == "ar1":
        params["rho"] = np.array([rho])
    priors = bc.SCPriors()
    lp, _ = log_density(sc_model, (inputs,), dict(priors=priors, intercept=intercept, errors=errors), params)
    Xs, ys, xbar = np.asarray(inputs.X[0, :n_pre]), np.asarray(inputs.y[0]), np.asarray(inputs.xbar[0])
    mu = (Xs - xbar) @ w + offset if intercept else Xs @ w
    r = rho if errors == "ar1" else 0.0
    lags = np.abs(np.subtract.outer(np.arange(n_pre), np.arange(n_pre)))
    cov = sigma**2 / (1 - r**2) * r**lags
    expected = multivariate_normal(mu, cov).logpdf(ys)
    expected += float(dist.Dirichlet(np.ones(D)).log_prob(w)) + float(priors.sigma.log_prob(sigma))
    if intercept:
        expected += float(priors.intercept.log_prob(offset))
    if errors == "ar1":
        expected += float(priors.rho.log_prob(rho))
    assert float(lp) == pytest.approx(expected, rel=1e-9)


def test_forecast_carries_last_residual():
    from bayescausal.structural_ts.sc_model import posterior_predictive, standardise_targets

    rng = np.random.default_rng(4)
    n, n_pre = 20, 15
    X = rng.normal(size=(n, 2)).cumsum(0)
    y = X @ np.array([0.7, 0.3]) + rng.normal(size=n)
    inputs, _, _ = standardise_targets(y[None], X[None], n_pre)
    w = np.array([[[[0.7, 0.3]]]])  # (chain, draw, target, donor)
    samples = {"w": w, "offset": np.zeros((1, 1, 1)), "sigma": np.full((1, 1, 1), 1e-12),
               "rho": np.full((1, 1, 1), 0.5)}
    pred, mu = posterior_predictive(samples, inputs, seed=0)
    e_last = float(inputs.y[0, -1] - mu[0, 0, 0, n_pre - 1])
    h = np.arange(1, n - n_pre + 1)
    np.testing.assert_allclose(pred[0, 0, 0, n_pre:], mu[0, 0, 0, n_pre:] + 0.5**h * e_last, atol=1e-9)


# -- placebo in time --------------------------------------------------------------------------------------
def test_placebo_windows_lie_in_the_pre_period():
    dates, length, fit = placebo_windows(365, 60, 10, 5)
    assert length == 60 and fit == dates[0] == 182 and dates[-1] == 305 and len(dates) == 5
    assert all(t - fit >= 0 and t + length <= 365 for t in dates)  # fit and evaluation inside the pre-period
    dates, length, fit = placebo_windows(40, 60, 10, 5)  # post-period longer than the pre-period allows
    assert length == 30 and dates == [10] and fit == 10
    assert placebo_windows(10, 5, 10, 5) == ([], 0, 0)


def test_window_targets_stack_units_then_dates():
    Y = np.arange(20.0)[:, None] * np.array([1.0, -1.0])  # (n, K=2)
    X = np.arange(20.0)[:, None] * np.ones(3)
    y, Xw = window_targets(Y, X, [8, 12], 4, 6)
    assert y.shape == (4, 10) and Xw.shape == (4, 10, 3)
    np.testing.assert_array_equal(y[0], np.arange(2, 12))  # unit 0, date 8: rows 2..11
    np.testing.assert_array_equal(y[3], -np.arange(6, 16))  # unit 1, date 12: rows 6..15
    np.testing.assert_array_equal(Xw[1, :, 0], np.arange(6, 16))


def test_placebo_in_time_passes_on_the_model_and_fails_on_an_own_trend(study, fitted):
    check = fitted.checks[3]
    assert check.passed is True and "fake intervention dates" in check.message
    # The same panel, with a trend of its own in the treated unit from 60 days before the intervention (0.15% of
    # its level per day: by the fake windows' ends about 5 residual sds, so several fake dates must find effects)
    df = study.data.copy()
    t = np.arange(len(df))
    df["treated"] += 0.0015 * df["treated"].iloc[:150].mean() * np.maximum(0, t - 90)
    res = bc.SyntheticControl(study.pre_period, study.post_period).fit(df, "treated", sampler=SAMPLER, seed=1)
    check = res.checks[3]
    assert check.name == "placebo in time" and check.passed is False
    assert "no mix of donors" in check.message
    assert res.checks[2].passed is True  # placebo in space cannot see it: the donors are fine


# -- the placebo pass rule (deterministic) -------------------------------------------------------------
def test_binomial_tail():
    assert binomial_tail(0, 5, 0.05) == 1.0
    assert binomial_tail(1, 5, 0.05) == pytest.approx(1 - 0.95**5)
    assert binomial_tail(5, 5, 0.05) == pytest.approx(0.05**5)


@pytest.mark.parametrize("n, misses, passes", [(5, 1, True), (5, 2, False), (10, 2, True), (10, 3, False),
                                               (40, 4, True), (40, 6, False)])
def test_placebo_rate_rule(n, misses, passes):
    lower = np.full(n, -1.0)
    upper = np.full(n, 1.0)
    lower[:misses] = 0.5  # these intervals exclude zero
    check = placebo_rate_check(lower, upper, [f"u{i}" for i in range(n)], "placebo in space", "placebo units",
                               excluded=["u99 (poor fit)"], note="Permutation p-value 0.5.")
    assert check.passed is passes
    assert "u99 (poor fit)" in check.message and "Permutation p-value" in check.message
    assert placebo_rate_check([], [], [], "p", "units").passed is None


# -- bad input ---------------------------------------------------------------------------------------------
PRE = ("2024-01-01", "2024-03-31")
POST = ("2024-04-01", "2024-04-30")


@pytest.fixture
def df():
    rng = np.random.default_rng(0)
    idx = pd.date_range("2024-01-01", "2024-04-30", freq="D", name="date")
    x = 100 + np.cumsum(rng.normal(0, 1, (len(idx), 3)), axis=0)
    y = x @ np.array([0.5, 0.3, 0.2]) + rng.normal(0, 1, len(idx))
    return pd.DataFrame({"y": y, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}, index=idx)


def fit(df, est=None, treated="y", donors=None):
    est = est or bc.SyntheticControl(PRE, POST)
    return est.fit(df, treated, donors, sampler=bc.Sampler(draws=10, warmup=5, chains=1), checks=False)


@pytest.mark.parametrize("mutate, kwargs, error, match", [
    (None, dict(treated="sales"), DataError, "treated column.*'sales'"),
    (None, dict(donors=["a", "zz"]), DataError, "'zz'"),
    (lambda d: d.assign(b=d["b"].astype(str)), dict(donors=["a", "b"]), DataError, "'b' is not numeric"),
    (lambda d: d.iloc[::-1], {}, DataError, "not sorted"),
    (lambda d: pd.concat([d.iloc[:5], d.iloc[4:]]), {}, DataError, "duplicated"),
    (None, dict(donors=["a"]), DataError, "at least 2 donor"),
    (lambda d: d[["y", "a"]], {}, DataError, "at least 2 donor"),
    (None, dict(donors=["a", "y"]), DataError, "donor 'y' is also a treated unit"),
    (lambda d: d.assign(c=d["y"]), {}, DataError, "donor 'c' equals treated unit 'y'"),
    (lambda d: d.assign(b=np.where(np.arange(len(d)) == 40, np.nan, d["b"])), {}, DataError, "donor 'b' is NaN"),
    (lambda d: d.assign(a=np.where(np.arange(len(d)) == 100, np.inf, d["a"])), {}, DataError, "donor 'a' is NaN"),
    (lambda d: d.assign(y=np.where(np.arange(len(d)) == 3, np.nan, d["y"])), {}, DataError, "'y' is NaN.*pre-period"),
    (lambda d: d.assign(y=np.where(np.arange(len(d)) == 110, np.nan, d["y"])), {}, DataError, "post-period"),
    (lambda d: d.assign(y=3.0), {}, DataError, "'y' is constant"),
    (lambda d: d.assign(c=1.0), {}, DataError, "donor 'c' is constant"),
    (None, dict(donors=["a", "a"]), DataError, "twice"),
])
def test_bad_data(df, mutate, kwargs, error, match):
    data = mutate(df) if mutate else df
    with pytest.raises(error, match=match):
        fit(data, **kwargs)


@pytest.mark.parametrize("est, match", [
    (bc.SyntheticControl(PRE, ("2024-04-01", "2024-06-30")), "outside the data"),
    (bc.SyntheticControl(PRE, ("2024-03-15", "2024-04-30")), "overlap"),
    (bc.SyntheticControl(("2024-03-31", "2024-01-01"), POST), "reversed"),
    (bc.SyntheticControl(("2024-03-25", "2024-03-31"), POST), "at least 10"),
])
def test_bad_periods(df, est, match):
    with pytest.raises(DataError, match=match):
        fit(df, est=est)


def test_spec_errors(df):
    with pytest.raises(SpecError, match="errors"):
        bc.SyntheticControl(PRE, POST, errors="ma1")
    with pytest.raises(SpecError, match="intercept"):
        bc.SyntheticControl(PRE, POST, intercept="yes")
    with pytest.raises(SpecError, match="unknown prior"):
        bc.SyntheticControl(PRE, POST, priors={"sigmaa": 1.0})
    with pytest.raises(SpecError, match="concentration"):
        bc.SCPriors(concentration=0)
    with pytest.raises(SpecError, match="rho"):
        import numpyro.distributions as dist

        bc.SCPriors(rho=dist.Normal(0, 1))
    with pytest.raises(SpecError, match="pre_period"):
        bc.SyntheticControl("2024-01-01", POST)
    with pytest.raises(SpecError, match="placebo_rmspe_ratio"):
        bc.SyntheticControl(PRE, POST, placebo_rmspe_ratio=0)
    for bad in (-1, 2.0, True):
        with pytest.raises(SpecError, match="placebos_in_time"):
            bc.SyntheticControl(PRE, POST, placebos_in_time=bad)
    with pytest.raises(SpecError, match="checks"):
        bc.SyntheticControl(PRE, POST).fit(df, "y", checks="some")
    with pytest.raises(SpecError, match="NUTS"):
        bc.SyntheticControl(PRE, POST).fit(df, "y", sampler=bc.Sampler(kernel="gibbs"))
    est = bc.SyntheticControl(PRE, POST, priors={"concentration": 0.5})
    assert est.priors.concentration == 0.5
