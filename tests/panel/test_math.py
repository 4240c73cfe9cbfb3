"""Panel sufficient statistics and the collapsed likelihood against dense references (no MCMC).

Every likelihood the sampler uses is checked to 1e-8 against a dense multivariate normal built row by row (unit
effects in the covariance, AR(1) correlation matrices, coefficient priors), and the conditional posterior means
against closed-form least squares (within estimator, pooled OLS, GLS)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from scipy.linalg import block_diag
from scipy.stats import multivariate_normal

from bayescausal.errors import DataError
from bayescausal.panel import _math
from bayescausal.panel.core import PanelDesign, PanelSpec, _config, _stack_inputs, conditional_effects, prepare
from bayescausal.panel.model import log_likelihood, log_marginal

FLAT = {"effect": None, "coefficient": None, "intercept": None, "mundlak": None}


def make_design(n=12, T=6, drop=0.0, gaps=False, seed=0, K=1, p=2, rho=0.0, shuffle=True):
    """A small panel with staggered adoption, two covariates correlated with the unit effects, optional dropped
    rows (unbalanced), AR(1) errors; rows shuffled so that sorting is exercised."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n), T)
    time = np.tile(np.arange(T), n)
    a = rng.normal(size=n)
    adopt = np.where(rng.random(n) < 0.5, rng.integers(1, T, n), -1)
    D = ((adopt[unit] >= 0) & (time >= adopt[unit])).astype(float)
    E = np.column_stack([D] + [rng.normal(size=n * T) for _ in range(K - 1)])
    X = rng.normal(size=(n * T, p)) + 0.5 * a[unit][:, None]
    e = np.zeros(n * T)
    for i in range(n):
        s = rng.normal(size=T)
        e[i * T] = s[0] / np.sqrt(1 - rho**2)
        for t in range(1, T):
            e[i * T + t] = rho * e[i * T + t - 1] + s[t]
    y = 3 + a[unit] + 0.3 * np.sin(time) + X @ np.linspace(0.5, -0.5, p) + E @ np.ones(K) + e
    keep = np.ones(n * T, bool)
    if drop:
        keep &= rng.random(n * T) > drop
        keep[::T] = True  # every unit keeps a row
    if gaps:
        keep &= ~((time == 3) & (unit % 3 == 0))
    rows = np.flatnonzero(keep)
    if shuffle:
        rows = rng.permutation(rows)
    return PanelDesign(y=y[rows], unit=unit[rows], time=time[rows], n_units=n, n_times=T, effects=E[rows],
                       controls=X[rows])


def dense(prep):
    """Sorted standardised rows: y (N,), Z (N, q) in theta's layout, unit index, time codes."""
    d = prep.design
    order = prep.sorted_rows if prep.sorted_rows is not None else np.arange(len(d.y))
    y = (d.y[order] - prep.y_mean) / prep.y_sd
    X = (d.controls[order] - prep.x_mean) / prep.x_sd
    E = d.effects[order]
    unit, time = d.unit[order], d.time[order]
    lay = prep.layout
    q = lay["time"].stop
    Z = np.zeros((len(y), q))
    Z[:, lay["effects"]] = E
    Z[:, lay["beta"]] = X
    if lay["mundlak"].stop > lay["mundlak"].start:
        idx, starts, sizes = _math.unit_structure(unit)
        Z[:, lay["mundlak"]] = _math.unit_means(np.column_stack([E, X]), starts, sizes)[idx]
    if lay["intercept"].stop > lay["intercept"].start:
        Z[:, lay["intercept"].start] = 1.0
    for j, t in enumerate(prep.time_sel):
        Z[:, lay["time"].start + j] = time == t
    return y, Z, _math.unit_structure(unit)[0], time


def one(prep):
    inp = _stack_inputs([prep])
    return jax.tree.map(lambda a: a[0], inp), _config(prep)


def ar1_cov(unit, time, sigma, rho):
    """sigma^2 / (1 - rho^2) rho^|t-s| within each run of consecutive periods of a unit; runs independent."""
    run = np.r_[0, np.cumsum((unit[1:] != unit[:-1]) | (time[1:] != time[:-1] + 1))]
    blocks = []
    for r in np.unique(run):
        t = time[run == r]
        blocks.append(sigma**2 / (1 - rho**2) * rho ** np.abs(t[:, None] - t[None, :]))
    return block_diag(*blocks)


@pytest.mark.parametrize("drop", [0.0, 0.2])
def test_fixed_iid_likelihood_is_the_within_likelihood(drop):
    prep = prepare(make_design(drop=drop), PanelSpec())
    y, Z, idx, _ = dense(prep)
    inp, cfg = one(prep)
    rng = np.random.default_rng(1)
    theta = rng.normal(size=Z.shape[1])
    sigma = 0.8
    U = np.eye(idx.max() + 1)[idx]
    r = y - Z @ theta
    resid = r - U @ np.linalg.lstsq(U, r, rcond=None)[0]
    N, n = len(y), U.shape[1]
    ref = (-(N - n) / 2 * np.log(2 * np.pi * sigma**2) - 0.5 * np.linalg.slogdet(U.T @ U)[1]
           - resid @ resid / (2 * sigma**2))
    got = float(log_likelihood(jnp.asarray(theta), {"sigma": jnp.asarray(sigma)}, inp, cfg))
    assert got == pytest.approx(ref, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("drop", [0.0, 0.25])
def test_hierarchical_iid_likelihood_is_the_dense_normal(drop):
    prep = prepare(make_design(drop=drop, seed=2), PanelSpec("hierarchical", "hierarchical"))
    y, Z, idx, _ = dense(prep)
    inp, cfg = one(prep)
    theta = np.random.default_rng(3).normal(size=Z.shape[1])
    sigma, s = 0.7, 1.3
    U = np.eye(idx.max() + 1)[idx]
    ref = multivariate_normal(np.zeros(len(y)), sigma**2 * np.eye(len(y)) + s**2 * U @ U.T).logpdf(y - Z @ theta)
    got = float(log_likelihood(jnp.asarray(theta), {"sigma": jnp.asarray(sigma), "sd_unit": jnp.asarray(s),
                                                    "sd_time": jnp.asarray(1.0)}, inp, cfg))
    assert got == pytest.approx(ref, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("drop,gaps", [(0.0, False), (0.15, True)])
def test_hierarchical_ar1_likelihood_is_the_dense_normal(drop, gaps):
    prep = prepare(make_design(drop=drop, gaps=gaps, seed=4, rho=0.5), PanelSpec("hierarchical", errors="ar1"))
    y, Z, idx, time = dense(prep)
    inp, cfg = one(prep)
    theta = np.random.default_rng(5).normal(size=Z.shape[1])
    sigma, s, rho = 0.9, 0.6, 0.55
    U = np.eye(idx.max() + 1)[idx]
    cov = ar1_cov(idx, time, sigma, rho) + s**2 * U @ U.T
    ref = multivariate_normal(np.zeros(len(y)), cov).logpdf(y - Z @ theta)
    phi = {"sigma": jnp.asarray(sigma), "sd_unit": jnp.asarray(s), "rho": jnp.asarray(rho)}
    assert float(log_likelihood(jnp.asarray(theta), phi, inp, cfg)) == pytest.approx(ref, rel=1e-10, abs=1e-8)


def test_fixed_ar1_likelihood_integrates_the_unit_effects_exactly():
    """Flat prior on each unit effect: the dense Gaussian integral over ``a_i`` of N(r_i - a_i 1; 0, Sigma_i)."""
    prep = prepare(make_design(drop=0.1, gaps=True, seed=6, rho=0.3), PanelSpec(errors="ar1"))
    y, Z, idx, time = dense(prep)
    inp, cfg = one(prep)
    theta = np.random.default_rng(7).normal(size=Z.shape[1])
    sigma, rho = 1.1, -0.4
    r = y - Z @ theta
    ref = 0.0
    for i in np.unique(idx):
        m = idx == i
        S = ar1_cov(idx[m], time[m], sigma, rho)
        Si = np.linalg.inv(S)
        one_ = np.ones(m.sum())
        a, b, c = one_ @ Si @ one_, one_ @ Si @ r[m], r[m] @ Si @ r[m]
        ref += (-(m.sum() - 1) / 2 * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(S)[1] - 0.5 * np.log(a)
                - 0.5 * (c - b**2 / a))
    phi = {"sigma": jnp.asarray(sigma), "rho": jnp.asarray(rho)}
    assert float(log_likelihood(jnp.asarray(theta), phi, inp, cfg)) == pytest.approx(ref, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("errors", ["iid", "ar1"])
def test_marginal_likelihood_is_the_dense_normal_with_every_coefficient_integrated(errors):
    """Proper priors everywhere: y ~ N(0, errors + s_a^2 UU' + Z Lambda^-1 Z') (prior means 0)."""
    spec = PanelSpec("hierarchical", "hierarchical", errors=errors)
    prep = prepare(make_design(drop=0.1, seed=8, rho=0.4), spec)
    y, Z, idx, time = dense(prep)
    inp, cfg = one(prep)
    sigma, s, sg, rho = 0.8, 0.9, 0.4, 0.35
    U = np.eye(idx.max() + 1)[idx]
    prior_var = np.where(prep.time_mask, sg**2, 1.0 / np.where(prep.prior_prec > 0, prep.prior_prec, 1.0))
    noise = ar1_cov(idx, time, sigma, rho) if errors == "ar1" else sigma**2 * np.eye(len(y))
    cov = noise + s**2 * U @ U.T + Z @ np.diag(prior_var) @ Z.T
    ref = multivariate_normal(np.zeros(len(y)), cov).logpdf(y)
    phi = {"sigma": jnp.asarray(sigma), "sd_unit": jnp.asarray(s), "sd_time": jnp.asarray(sg)}
    if errors == "ar1":
        phi["rho"] = jnp.asarray(rho)
    assert float(log_marginal(phi, inp, cfg)) == pytest.approx(ref, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("flat", [True, False])
def test_scale_only_spectral_marginal_equals_the_cholesky_one_with_its_gradient(flat):
    """Fixed unit and time effects, iid errors: the O(q) eigenbasis form of log p(y | sigma) is the same function
    as the Cholesky form (value and derivative), with flat and with proper priors of nonzero mean."""
    from bayescausal.panel.priors import PanelPriors

    priors = PanelPriors(**FLAT) if flat else PanelPriors(effect=dist.Normal(0.4, 2.0),
                                                          coefficient=dist.Normal(-0.3, 0.5))
    prep = prepare(make_design(drop=0.15, seed=4, K=2, p=3), PanelSpec("fixed", "fixed", priors=priors))
    inp, cfg = one(prep)
    assert cfg.scale_only and inp.spectrum is not None
    general = inp._replace(spectrum=None)
    for sigma in (0.3, 0.9, 2.5):
        def value(s, i):
            return log_marginal({"sigma": s}, i, cfg)
        fast, slow = jax.value_and_grad(value)(sigma, inp), jax.value_and_grad(value)(sigma, general)
        assert float(fast[0]) == pytest.approx(float(slow[0]), rel=1e-10, abs=1e-8)
        assert float(fast[1]) == pytest.approx(float(slow[1]), rel=1e-8, abs=1e-8)


def test_spectrum_is_left_out_when_another_scale_is_sampled():
    for spec in (PanelSpec("hierarchical", "fixed"), PanelSpec("fixed", "hierarchical"),
                 PanelSpec("fixed", "fixed", errors="ar1")):
        inp, cfg = one(prepare(make_design(seed=2), spec))
        assert not cfg.scale_only and inp.spectrum is None


def test_conditional_mean_with_flat_priors_is_the_two_way_within_estimator():
    des = make_design(n=15, T=7, drop=0.2, seed=9, K=2)
    prep = prepare(des, PanelSpec(priors=FLAT))
    mean, _ = conditional_effects([prep], {"sigma": 0.37})
    U = np.eye(des.n_units)[des.unit]
    Tm = np.eye(des.n_times)[des.time][:, 1:]
    A = np.column_stack([des.effects, des.controls, U, Tm])
    ols = np.linalg.lstsq(A, des.y, rcond=None)[0]
    np.testing.assert_allclose(mean[0], ols[:2], rtol=1e-8, atol=1e-10)


def test_hierarchical_weighting_runs_from_pooled_ols_to_within_through_gls():
    """Between/within weighting: tiny sd_unit gives pooled OLS (no unit effects), huge gives the within estimator,
    and any value the GLS estimate with covariance sigma^2 I + sd_unit^2 UU' (Maddala 1971)."""
    des = make_design(n=20, T=5, drop=0.2, seed=10)
    # the effect column is a covariate correlated with the unit effects, so that the two limits differ
    des = dataclasses.replace(des, effects=des.controls[:, :1],
                              controls=np.column_stack([des.effects, des.controls[:, 1:]]))
    prep = prepare(des, PanelSpec("hierarchical", priors=FLAT))
    U = np.eye(des.n_units)[des.unit]
    Tm = np.eye(des.n_times)[des.time][:, 1:]
    A = np.column_stack([des.effects, des.controls, np.ones(len(des.y)), Tm])
    sigma = 0.9 / prep.y_sd

    def gls(s):
        Vi = np.linalg.inv(sigma**2 * np.eye(len(des.y)) + (s * prep.y_sd) ** 2 * U @ U.T / prep.y_sd**2)
        return np.linalg.solve(A.T @ Vi @ A, A.T @ Vi @ des.y)[0]

    for s in (0.05, 0.4, 2.0):
        got = conditional_effects([prep], {"sigma": sigma, "sd_unit": s})[0][0, 0]
        assert got == pytest.approx(gls(s), rel=1e-8, abs=1e-10)
    pooled = np.linalg.lstsq(A, des.y, rcond=None)[0][0]
    within = np.linalg.lstsq(np.column_stack([des.effects, des.controls, U, Tm]), des.y, rcond=None)[0][0]
    assert conditional_effects([prep], {"sigma": sigma, "sd_unit": 1e-7})[0][0, 0] == pytest.approx(pooled, abs=1e-6)
    assert conditional_effects([prep], {"sigma": sigma, "sd_unit": 1e5})[0][0, 0] == pytest.approx(within, abs=1e-6)
    assert abs(pooled - within) > 0.05  # far beyond the 1e-6 tolerance: the limits are distinguishable


def test_mundlak_makes_the_hierarchical_coefficients_the_within_ones():
    des = make_design(n=25, T=6, seed=11, shuffle=False)
    within = conditional_effects([prepare(des, PanelSpec(priors=FLAT))], {"sigma": 0.5})[0]
    prep = prepare(des, PanelSpec("hierarchical", mundlak=True, priors=FLAT))
    for s in (0.1, 1.0, 5.0):
        np.testing.assert_allclose(conditional_effects([prep], {"sigma": 0.5, "sd_unit": s})[0], within,
                                   rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("spec", [PanelSpec("hierarchical", mundlak=True), PanelSpec(errors="ar1")])
def test_effect_statistics_recomputed_on_shared_rows_equal_a_fresh_reduction(spec):
    des = make_design(drop=0.1, seed=12)
    base = prepare(des, spec)
    other = des.with_effects(np.random.default_rng(0).random((len(des.y), 1)) < 0.4)
    shared, fresh = prepare(other, spec, base), prepare(other, spec)
    for key in ("Q", "G"):
        np.testing.assert_allclose(shared.inputs[key], fresh.inputs[key], rtol=1e-10, atol=1e-10)


def test_offset_is_subtracted_from_the_outcome():
    des = make_design(seed=13)
    off = np.random.default_rng(1).normal(size=len(des.y))
    spec = PanelSpec(priors=FLAT)
    with_offset = prepare(dataclasses.replace(des, offset=off), spec)
    shifted = prepare(dataclasses.replace(des, y=des.y - off), spec)
    a = conditional_effects([with_offset], {"sigma": 1.0})[0] * with_offset.y_sd / with_offset.y_sd
    b = conditional_effects([shifted], {"sigma": 1.0})[0]
    np.testing.assert_allclose(a, b, rtol=1e-8)
    plain = conditional_effects([with_offset], {"sigma": 1.0}, plain=True)[0]
    np.testing.assert_allclose(plain, conditional_effects([prepare(des, spec)], {"sigma": 1.0})[0], rtol=1e-8)


def test_ar1_conditional_sd_matches_the_sampling_sd_and_iid_is_too_narrow():
    """Monte Carlo over 200 panels with AR(1) errors (rho = 0.7) and a persistent treatment: the sd of the
    estimates across panels against the conditional posterior sd at the true scales. The AR(1) model's sd matches
    (measured ratio 1.07; within 3.5 Monte Carlo se of 1, the se of a sd ratio from 200 draws being about 0.05);
    the iid model's, at the errors' true marginal sd, is too small (measured 0.70; Bertrand, Duflo & Mullainathan
    2004)."""
    rho, sigma, n, T, reps = 0.7, 1.0, 40, 10, 200
    rng = np.random.default_rng(14)
    unit = np.repeat(np.arange(n), T)
    time = np.tile(np.arange(T), n)
    D = ((unit < n // 2) & (time >= T // 2)).astype(float)
    ar1, iid = [], []
    for _ in range(reps):
        e = np.zeros((n, T))
        e[:, 0] = rng.normal(size=n) / np.sqrt(1 - rho**2)
        for t in range(1, T):
            e[:, t] = rho * e[:, t - 1] + rng.normal(size=n)
        y = rng.normal(size=n)[unit] + 0.5 * D + sigma * e.ravel()
        des = PanelDesign(y=y, unit=unit, time=time, n_units=n, n_times=T, effects=D[:, None],
                          controls=np.zeros((n * T, 0)))
        ar1.append(prepare(des, PanelSpec(errors="ar1", priors=FLAT)))
        iid.append(prepare(des, PanelSpec(priors=FLAT)))
    scale = np.array([p.y_sd for p in ar1])  # the true scales on each panel's standardised scale
    m_a, s_a = (v[:, 0] for v in conditional_effects(ar1, {"sigma": sigma / scale, "rho": np.full(reps, rho)}))
    m_i, s_i = (v[:, 0] for v in conditional_effects(iid, {"sigma": sigma / np.sqrt(1 - rho**2) / scale}))
    empirical = np.std(m_a, ddof=1)
    assert abs(np.mean(s_a) / empirical - 1) < 3.5 * 0.05
    assert abs(np.mean(m_a) - 0.5) < 3.5 * empirical / np.sqrt(reps)
    assert np.mean(s_i) / np.std(m_i, ddof=1) < 1 - 3.5 * 0.05  # measured 0.70: too narrow beyond Monte Carlo error


def test_within_autocorrelation_is_zero_for_independent_errors_and_large_for_ar1():
    rng = np.random.default_rng(15)
    n, T = 300, 8
    unit, time = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    r, se, pairs = _math.within_autocorrelation(rng.normal(size=n * T) + rng.normal(size=n)[unit], unit, time)
    assert pairs == n * (T - 1)
    assert abs(r) < 4 * se
    e = np.zeros((n, T))
    e[:, 0] = rng.normal(size=n)
    for t in range(1, T):
        e[:, t] = 0.6 * e[:, t - 1] + rng.normal(size=n)
    assert _math.within_autocorrelation(e.ravel(), unit, time)[0] > 0.3


def test_pairs_and_adoption_columns_match_brute_force():
    unit = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    time = np.array([0, 1, 3, 2, 3, 0, 1, 2])
    assert _math.pair_rows(unit, time).tolist() == [1, 4, 6, 7]
    adoption = np.array([1, -1, 2])
    brute = [float(a >= 0 and t >= a) for u, t in zip(unit, time, strict=True) for a in [adoption[u]]]
    assert _math.adoption_column(unit, time, adoption).tolist() == brute


def test_not_identified_effect_names_the_column():
    """Everyone treated at the same period and no never-treated unit: the time effects absorb the treatment."""
    n, T = 10, 5
    unit, time = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    D = (time >= 2).astype(float)
    des = PanelDesign(y=np.random.default_rng(0).normal(size=n * T), unit=unit, time=time, n_units=n, n_times=T,
                      effects=D[:, None], controls=np.zeros((n * T, 0)), effect_names=("launch",))
    with pytest.raises(DataError, match="effect column 'launch' is a linear combination"):
        prepare(des, PanelSpec())
    X = np.repeat(np.random.default_rng(1).normal(size=n), T)[:, None]
    des2 = dataclasses.replace(des, effects=(unit < 5)[:, None] * (time >= 2)[:, None], controls=X,
                               control_names=("region size",))
    with pytest.raises(DataError, match="covariate 'region size' does not vary within units"):
        prepare(des2, PanelSpec())
