"""Fitting an SCM: mechanisms chosen from the data, coefficients recovered, checks run and able to fail."""

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from scipy.special import gammaln
from scipy.stats import nbinom

import bayescausal as bc
from bayescausal.scm import (
    Categorical,
    LinearGaussian,
    Logistic,
    NegativeBinomial,
    Poisson,
    StudentT,
    infer_mechanism,
)
from bayescausal.scm._data import prepare
from bayescausal.scm._math import (
    ci_test,
    compress_rows,
    count_tail,
    gaussian_loglik,
    gaussian_suffstats,
    holm,
    negbin_loglik,
)
from bayescausal.scm.checks import independence_check, predictive_checks

from .conftest import TRUE


# -- math (no MCMC) ------------------------------------------------------------------------------------------
def test_gaussian_loglik_matches_rowwise():
    rng = np.random.default_rng(1)
    X, z = rng.normal(size=(50, 2)), rng.normal(size=50)
    theta, sigma = np.array([0.1, 0.5, -0.2]), 0.7
    st = gaussian_suffstats(X, z)
    direct = dist.Normal(theta[0] + X @ theta[1:], sigma).log_prob(z).sum()
    assert float(gaussian_loglik(theta, sigma, **st)) == pytest.approx(float(direct), rel=1e-10)


def test_negbin_loglik_matches_numpyro():
    rng = np.random.default_rng(6)
    y = rng.negative_binomial(2, 0.3, 300).astype(float)
    eta, w = rng.normal(1.0, 0.3, 300), rng.integers(1, 4, 300).astype(float)
    phi = 1.7
    ref = float(np.sum(w * (nbinom.logpmf(y, phi, phi / (phi + np.exp(eta))) + gammaln(y + 1))))
    got = float(negbin_loglik(eta, 1.0 / phi, y, w, count_tail(y, w)))
    assert got == pytest.approx(ref, rel=1e-10)


def test_negbin_loglik_is_exact_down_to_the_poisson_limit():
    """At dispersion 1e-8 the likelihood is the Poisson one to O(1e-8) relative, and at 1e-30 or 1e-320 (below
    the float64 subnormal range) it equals it to rounding, with a finite gradient: the concentration form gave
    rounding noise there, which stalled NUTS (issue 21)."""
    import jax
    from scipy.stats import poisson
    rng = np.random.default_rng(7)
    y = rng.poisson(2.0, 400).astype(float)
    eta, w = rng.normal(0.7, 0.3, 400), np.ones(400)
    tail = count_tail(y, w)
    ref = float(np.sum(poisson.logpmf(y, np.exp(eta)) + gammaln(y + 1)))
    assert float(negbin_loglik(eta, 1e-8, y, w, tail)) == pytest.approx(ref, rel=1e-6)
    for alpha in (1e-30, 1e-320, 0.0):
        assert float(negbin_loglik(eta, alpha, y, w, tail)) == pytest.approx(ref, rel=1e-13)
    grad = jax.grad(lambda log_a: negbin_loglik(eta, jax.numpy.exp(log_a), y, w, tail))(np.log(1e-30))
    assert np.isfinite(grad) and abs(float(grad)) < 1e-20  # d/dlog(alpha) = alpha * score: vanishes at the limit


def test_poisson_dispersion_given_parents():
    """Poisson counts whose mean moves with their parents have a large marginal variance/mean but a Pearson
    dispersion of about 1 given the parents; gamma-mixed counts keep theirs."""
    from bayescausal.scm._math import poisson_dispersion
    rng = np.random.default_rng(8)
    x, b = rng.normal(size=20_000), (rng.uniform(size=20_000) < 0.25).astype(float)
    mu = np.exp(0.2 + 1.2 * b - 0.5 * x)
    c = rng.poisson(mu).astype(float)
    X = np.column_stack([b, x])
    assert c.var() / c.mean() > 2.0
    d, se = poisson_dispersion(X, c)
    assert abs(d - 1.0) < 4 * se and se < 0.03
    over = rng.poisson(rng.gamma(2.0, mu / 2.0)).astype(float)  # variance mu + mu^2 / 2
    d_over, se_over = poisson_dispersion(X, over)
    assert d_over > 1.0 + 10 * se_over
    Xu, yu, wu = compress_rows(X[:, :1], c)  # weights give the same statistic as the rows they stand for
    assert poisson_dispersion(Xu, yu, wu)[0] == pytest.approx(poisson_dispersion(X[:, :1], c)[0], rel=1e-8)


def test_compress_rows_keeps_totals():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 2, size=(1000, 2)).astype(float)
    y = rng.integers(0, 2, size=1000)
    Xu, yu, w = compress_rows(X, y)
    assert len(yu) <= 8 and w.sum() == 1000
    assert np.isclose((w * yu).sum(), y.sum()) and np.allclose(w @ Xu, X.sum(0))


def test_ci_test_detects_dependence_and_holm():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(2000, 1))
    a = z[:, 0] + rng.normal(size=2000)
    b = z[:, 0] + rng.normal(size=2000)
    assert ci_test(a[:, None], b[:, None], z)[1] > 1e-3  # independent given z
    assert ci_test(a[:, None], b[:, None], np.zeros((2000, 0)))[1] < 1e-6  # dependent marginally
    assert np.allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])


# -- mechanisms -------------------------------------------------------------------------------------------
def test_infer_mechanism_from_data():
    rng = np.random.default_rng(4)
    assert isinstance(infer_mechanism(pd.Series([True, False, True])), Logistic)
    assert isinstance(infer_mechanism(pd.Series([0, 1, 1, 0])), Logistic)
    assert isinstance(infer_mechanism(pd.Series(rng.poisson(3.0, 500))), Poisson)
    assert isinstance(infer_mechanism(pd.Series(rng.negative_binomial(1, 0.1, 500))), NegativeBinomial)
    assert isinstance(infer_mechanism(pd.Series(["a", "b", "a"])), Categorical)
    assert isinstance(infer_mechanism(pd.Series(rng.normal(size=10))), LinearGaussian)


def test_count_family_is_chosen_given_the_parents():
    """Issue 21: Poisson counts driven by their parents are fitted as Poisson (their marginal variance/mean is
    2.8), truly overdispersed ones as negative binomial; the choice and its reason reach the layout and summary."""
    rng = np.random.default_rng(0)
    n = 20_000
    x, b = rng.normal(size=n), (rng.uniform(size=n) < 0.25).astype(int)
    mu = np.exp(0.2 + 1.2 * b - 0.5 * x)
    graph = bc.CausalGraph("x -> c; b -> c")
    poisson_df = pd.DataFrame({"x": x, "b": b, "c": rng.poisson(mu)})
    data = prepare(graph, {}, poisson_df)
    assert data.layout("c").family == "poisson"
    assert "given its parents" in data.choices["c"] and data.choices["b"] == "inferred: values 0 and 1"
    assert isinstance(infer_mechanism(poisson_df["c"]), NegativeBinomial)  # the marginal alone misleads
    over_df = poisson_df.assign(c=rng.poisson(rng.gamma(2.0, mu / 2.0)))
    assert prepare(graph, {}, over_df).layout("c").family == "negative_binomial"
    assert prepare(graph, {"c": Poisson()}, over_df).choices["c"] == "given"
    with pytest.raises(bc.SpecError, match="inferred from the data as poisson"):
        prepare(graph, {}, poisson_df, {"c": {"dispersion": dist.HalfNormal(0.5)}})


def test_mechanism_overrides_and_prior_names():
    scm = bc.SCM("a -> b", mechanisms={"b": "student_t"}, priors={"b": {"coef": dist.Normal(0, 0.3)}})
    assert isinstance(scm.mechanisms["b"], StudentT) and scm.mechanisms["b"].coef.scale == 0.3
    with pytest.raises(bc.SpecError, match="unknown prior name"):
        bc.SCM("a -> b", mechanisms={"b": "logistic"}, priors={"b": {"sigma": dist.HalfNormal(1)}})


# -- the fitted model -------------------------------------------------------------------------------------
def test_fit_recovers_coefficients_and_runs_checks(fitted, scm_data):
    assert isinstance(fitted.mechanisms["b"], Logistic) and isinstance(fitted.mechanisms["y"], LinearGaussian)
    names = [c.name for c in fitted.checks]
    assert names[0] == "convergence" and "graph: implied independencies" in names
    assert sum(n.startswith("posterior predictive") for n in names) == 5
    assert fitted.trustworthy, fitted.checks
    table = fitted.summary(0.99)  # 99%: several recovery assertions per session
    assert {"node", "family", "parameter", "mean", "sd", "lower", "upper"} <= set(table.columns)
    # y's coefficient on x is on the standardised scale: beta * sd(x) / sd(y)
    row = table.loc["y: coef[x]"]
    truth = TRUE["y_x"] * scm_data["x"].std(ddof=0) / scm_data["y"].std(ddof=0)
    assert row["lower"] < truth < row["upper"]
    # b's logistic coefficient on x (x standardised: beta * sd(x))
    row = table.loc["b: coef[x]"]
    assert row["lower"] < TRUE["b_x"] * scm_data["x"].std(ddof=0) < row["upper"]
    assert "<" in fitted._repr_html_() and "FittedSCM" in repr(fitted)


def test_independence_check_flags_a_missing_edge(scm_data):
    wrong = bc.CausalGraph("z -> x -> y; x -> b; z -> b; w")  # drops the z -> y edge
    check = independence_check(wrong, prepare(wrong, {}, scm_data))
    assert check.passed is False and "z ⊥ y | x" in check.message
    right = bc.CausalGraph("z -> x -> y; z -> y; x -> b; z -> b; w")
    assert independence_check(right, prepare(right, {}, scm_data)).passed is True


def test_predictive_check_flags_poisson_on_overdispersed_counts():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"c": rng.negative_binomial(1, 0.1, 2000)})
    data = prepare(bc.CausalGraph("c"), {"c": Poisson()}, df)
    posterior = {"c__intercept": np.zeros((2, 100))}  # the Poisson at the data's mean count
    check = predictive_checks(data, posterior, seed=0)[0]
    assert check.passed is False and "sd" in check.message
    data = prepare(bc.CausalGraph("c"), {"c": NegativeBinomial()}, df)
    posterior = {"c__intercept": np.zeros((2, 100)), "c__dispersion": np.full((2, 100), 1.0)}
    assert predictive_checks(data, posterior, seed=0)[0].passed is True


def test_idata_has_posterior_predictive_and_observed_data(fitted, scm_data):
    """ArviZ's groups: the predictive check's replicated values and the same rows' observed values."""
    idata = fitted.idata
    assert {"posterior", "posterior_predictive", "observed_data", "sample_stats"} <= set(idata.groups())
    pp, obs = idata.posterior_predictive, idata.observed_data
    assert set(pp.data_vars) == set(obs.data_vars) == {"z", "x", "y", "b", "w"}
    assert pp["y"].dims == ("chain", "draw", "row") and pp["y"].sizes["row"] == obs["y"].sizes["row"]
    np.testing.assert_allclose(obs["y"].values, scm_data.loc[obs["row"].values, "y"].to_numpy())
    assert set(np.unique(pp["b"].values)) <= {0.0, 1.0}  # a logistic node replicates 0/1 values
