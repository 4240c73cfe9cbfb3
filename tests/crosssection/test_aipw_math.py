"""AIPW math against hand computations: the score, Bayesian-bootstrap draws, bases, the permutation statistic."""

import jax
import numpy as np
import pytest

from bayescausal.crosssection import _aipw_math as am


@pytest.fixture(scope="module")
def fixed():
    rng = np.random.default_rng(0)
    n = 400
    t = (rng.uniform(size=n) < 0.4).astype(float)
    e = rng.uniform(0.1, 0.9, n)
    mu0, mu1 = rng.normal(size=n), rng.normal(size=n) + 1.0
    y = np.where(t == 1, mu1, mu0) + rng.normal(size=n)
    return n, t, e, mu0, mu1, y


def test_aipw_terms_match_hand_computation(fixed):
    n, t, e, mu0, mu1, y = fixed
    ate = np.mean([mu1[i] - mu0[i] + (t[i] * (y[i] - mu1[i]) / e[i] if t[i] else -(y[i] - mu0[i]) / (1 - e[i]))
                   for i in range(n)])
    num, den = am.aipw_terms(mu1, mu0, e, y, t, "ATE")
    assert np.isclose(num.sum() / den.sum(), ate, rtol=1e-12)
    treated = t == 1
    att = (np.sum(y[treated] - mu0[treated])
           - np.sum(e[~treated] / (1 - e[~treated]) * (y[~treated] - mu0[~treated]))) / treated.sum()
    num, den = am.aipw_terms(mu1, mu0, e, y, t, "ATT")
    assert np.isclose(num.sum() / den.sum(), att, rtol=1e-12)


def test_aipw_draws_are_bayesian_bootstrap_of_the_score(fixed):
    """Fixed nuisance values in every draw: the draws' mean is the AIPW estimate and their sd the exact
    Dirichlet(1,...,1) sd ``sqrt(sum (psi - mean)^2 / (n (n + 1)))``, within Monte Carlo error."""
    n, t, e, mu0, mu1, y = fixed
    # nuisance models that reproduce e, mu0, mu1 exactly: one basis column per quantity
    logit = np.log(e / (1 - e))
    Qp = logit[:, None]
    Qo = np.column_stack([mu0, mu1])
    S = 4000
    prop = np.tile([0.0, 1.0], (S, 1))
    out = np.tile(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), (S, 1, 1))
    draws = np.asarray(am.aipw_draws(jax.random.PRNGKey(1), prop, out, Qp, Qo, y, t, np.ones(n), "ATE", "gaussian",
                                     batch_size=500))
    num, _ = am.aipw_terms(mu1, mu0, e, y, t, "ATE")
    sd = np.sqrt(((num - num.mean()) ** 2).sum() / (n * (n + 1)))
    assert abs(draws.mean() - num.mean()) < 4 * sd / np.sqrt(S)
    assert abs(draws.std() / sd - 1) < 4 / np.sqrt(2 * S)


def test_keep_mask_restricts_the_population(fixed):
    n, t, e, mu0, mu1, y = fixed
    keep = (np.arange(n) % 3 != 0).astype(float)
    prop = np.tile([0.0, 1.0], (2000, 1))
    out = np.tile(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), (2000, 1, 1))
    draws = np.asarray(am.aipw_draws(jax.random.PRNGKey(2), prop, out, np.log(e / (1 - e))[:, None],
                                     np.column_stack([mu0, mu1]), y, t, keep, "ATT", "gaussian"))
    num, den = am.aipw_terms(mu1, mu0, e, y, t, "ATT")
    k = keep == 1
    target = num[k].sum() / den[k].sum()
    assert abs(draws.mean() - target) < 4 * draws.std() / np.sqrt(len(draws))
    full = num.sum() / den.sum()
    assert abs(draws.mean() - full) > 4 * draws.std() / np.sqrt(len(draws))  # the mask changed the answer


def test_restricted_cubic_spline_is_linear_beyond_the_outer_knots():
    x = np.linspace(-5, 15, 2001)
    knots = np.array([0.0, 2.0, 5.0, 10.0])
    B = am.restricted_cubic_terms(x, knots)
    assert B.shape == (len(x), 2)
    for side in (x < knots[0], x > knots[-1]):
        second = np.diff(B[side], n=2, axis=0)
        assert np.abs(second).max() < 1e-8
    assert np.abs(B[x < knots[0]]).max() == 0.0
    inner = (x > knots[0]) & (x < knots[-1])
    assert np.abs(np.diff(B[inner], n=2, axis=0)).max() > 1e-6  # nonlinear between the knots


def test_orthonormal_basis_spans_the_design():
    rng = np.random.default_rng(3)
    n = 500
    x1, x2 = rng.normal(size=n), rng.uniform(0.0, 3.0, n)
    g = rng.integers(0, 3, n)
    X = np.column_stack([x1, x2, g == 1, g == 2, x1])  # last column duplicates the first
    sources, numeric = np.array([0, 1, 2, 2, 3]), np.array([True, True, False, False, True])
    basis = am.build_basis(X, sources, numeric, ("x1", "x2", "g[1]", "g[2]", "x1b"), flexible=True)
    Q = basis.Q
    assert np.allclose(Q.mean(0), 0, atol=1e-10)
    assert np.allclose(Q.T @ Q / n, np.eye(Q.shape[1]), atol=1e-8)
    assert basis.group_names[0] == "main" and basis.groups[0] == 4  # the duplicate column adds nothing
    assert any("main" in d for d in basis.dropped)
    assert "spline(x1)" in basis.group_names and "interactions" in basis.group_names
    target = np.column_stack([x2**2, x1 * x2, (g == 1) * x1])  # inside the span (up to the spline's fit)
    A = np.column_stack([np.ones(n), Q])
    resid = target[:, 1:] - A @ np.linalg.lstsq(A, target[:, 1:], rcond=None)[0]
    assert np.abs(resid).max() < 1e-8  # the products are spanned exactly
    r2 = 1 - ((target[:, 0] - A @ np.linalg.lstsq(A, target[:, 0], rcond=None)[0]) ** 2).sum() / (
        (target[:, 0] - target[:, 0].mean()) ** 2).sum()
    assert r2 > 0.995  # the spline captures the square well


def test_residual_contrast_is_the_stratified_difference():
    rng = np.random.default_rng(4)
    n = 600
    strata = rng.integers(0, 3, n)
    t = (rng.uniform(size=n) < np.array([0.2, 0.5, 0.7])[strata]).astype(float)
    r = rng.normal(size=n) + t
    share = np.array([t[strata == s].mean() for s in range(3)])[strata]
    est, sd = am.residual_contrast(r, t, share, "ATE")
    hand = sum((strata == s).mean() * (r[(strata == s) & (t == 1)].mean() - r[(strata == s) & (t == 0)].mean())
               for s in range(3))
    assert np.isclose(est, hand, rtol=1e-10)
    assert sd > 0
    obs, _, null, null_sd = am.stratified_permutation_null(jax.random.PRNGKey(0), r, t, strata, "ATE", 300)
    assert np.isclose(obs, hand, rtol=1e-10)
    assert null.shape == (300,) and np.all(null_sd > 0)
    assert abs(null.mean()) < 4 * null.std() / np.sqrt(300)  # the null is centred at zero
    assert abs(obs) > np.quantile(np.abs(null), 0.99)  # a real shift of 1 is far outside it


def test_trim_and_weights():
    e = np.array([0.01, 0.2, 0.5, 0.97])
    t = np.array([0, 1, 0, 1])
    assert am.trim_mask(e, (0.05, 0.95)).tolist() == [False, True, True, False]
    assert np.allclose(am.ipw_weights(e, t, "ATE"), [1 / 0.99, 5.0, 2.0, 1 / 0.97])
    assert np.allclose(am.ipw_weights(e, t, "ATT"), [0.01 / 0.99, 1.0, 1.0, 1.0])
    assert am.outside_share(e, t, (0.05, 0.95), "ATE") == 0.5
    assert am.outside_share(e, t, (0.05, 0.95), "ATT") == 0.5
