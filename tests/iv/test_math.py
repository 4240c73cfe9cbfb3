"""The frequentist IV quantities against independent references (linearmodels, statsmodels, direct tests)."""

import numpy as np
import pytest
from scipy import stats

from bayescausal.iv import _math
from bayescausal.iv.model import bvn_loglik, residual_moments

from .conftest import simulate_iv


def _arrays(df, k, p):
    return (df["y"].to_numpy(), df["x"].to_numpy(), df[[f"z{j}" for j in range(k)]].to_numpy(),
            df[[f"w{j}" for j in range(p)]].to_numpy())


def test_tsls_matches_linearmodels_and_hand_formula():
    linearmodels = pytest.importorskip("linearmodels")
    df = simulate_iv(n=400, k=2, seed=3)
    y, x, Z, W = _arrays(df, 2, 2)
    ours = _math.tsls(y, x, W, Z)
    exog = np.column_stack([np.ones(len(y)), W])
    ref = linearmodels.IV2SLS(y, exog, x, Z).fit(cov_type="unadjusted")
    assert ours.estimate == pytest.approx(float(np.asarray(ref.params)[-1]), rel=1e-10)
    assert ours.se == pytest.approx(float(np.asarray(ref.std_errors)[-1]), rel=1e-8)
    # by hand, one instrument and no covariates: b = cov(z, y) / cov(z, x)
    one = _math.tsls(y, x, None, Z[:, :1])
    assert one.estimate == pytest.approx(np.cov(Z[:, 0], y)[0, 1] / np.cov(Z[:, 0], x)[0, 1], rel=1e-10)


def test_first_stage_f_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    df = simulate_iv(n=300, k=2, strength=0.15, seed=4)
    y, x, Z, W = _arrays(df, 2, 2)
    fs = _math.first_stage(x, W, Z)
    X = sm.add_constant(np.column_stack([W, Z]))
    res = sm.OLS(x, X).fit()
    R = np.zeros((2, X.shape[1]))
    R[0, 3], R[1, 4] = 1, 1
    ref = res.f_test(R)
    assert fs.f_stat == pytest.approx(float(np.squeeze(ref.fvalue)), rel=1e-9)
    assert fs.p_value == pytest.approx(float(ref.pvalue), rel=1e-7)
    r_restricted = sm.OLS(x, sm.add_constant(W)).fit().ssr
    assert fs.partial_r2 == pytest.approx(1 - res.ssr / r_restricted, rel=1e-9)


def _ar_stat(y, x, W, Z, b0):
    """The Anderson-Rubin F statistic at b0, straight from two OLS fits."""
    e = y - b0 * x
    n, k = Z.shape
    A1 = _math.with_intercept(W, n)
    rss = lambda X: float(np.sum((e - X @ np.linalg.lstsq(X, e, rcond=None)[0]) ** 2))  # noqa: E731
    r1, r2 = rss(A1), rss(np.column_stack([A1, Z]))
    return ((r1 - r2) / k) / (r2 / (n - A1.shape[1] - k))


@pytest.mark.parametrize("strength, kind", [(0.6, "interval"), (0.0, None)])
def test_anderson_rubin_set_is_the_inverted_test(strength, kind):
    df = simulate_iv(n=250, k=1, strength=strength, seed=7, rho=0.7)
    y, x, Z, W = _arrays(df, 1, 2)
    ar = _math.anderson_rubin_set(y, x, W, Z)
    if kind:
        assert ar.kind == kind
    else:
        assert not ar.bounded
    crit = stats.f.ppf(0.95, 1, len(y) - 4)
    grid = np.linspace(-20, 20, 801)
    for b0 in grid:
        assert ar.contains(b0) == (_ar_stat(y, x, W, Z, b0) <= crit), b0
    if ar.kind in ("interval", "two_rays"):  # the endpoints are where the statistic equals the critical value
        for b0 in (ar.lower, ar.upper):
            assert _ar_stat(y, x, W, Z, b0) == pytest.approx(crit, rel=1e-6)


def test_anderson_rubin_by_hand_exact_case():
    """No noise in the reduced form: y = 2x exactly and z moves x, so only b0 = 2 leaves no signal in z."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=200)
    x = z + rng.normal(size=200)
    y = 2.0 * x + 0.01 * rng.normal(size=200)
    ar = _math.anderson_rubin_set(y, x, None, z[:, None])
    assert ar.kind == "interval" and ar.lower < 2.0 < ar.upper and ar.upper - ar.lower < 0.01


def test_sargan_matches_linearmodels():
    linearmodels = pytest.importorskip("linearmodels")
    df = simulate_iv(n=500, k=2, seed=5, direct=0.3)
    y, x, Z, W = _arrays(df, 2, 2)
    ours = _math.sargan(y, x, W, Z)
    ref = linearmodels.IV2SLS(y, np.column_stack([np.ones(len(y)), W]), x, Z).fit(cov_type="unadjusted").sargan
    assert ours.statistic == pytest.approx(ref.stat, rel=1e-8)
    assert ours.p_value < 0.01  # a direct effect of one instrument is detected
    with pytest.raises(ValueError):
        _math.sargan(y, x, W, Z[:, :1])


def test_sufficient_statistics_likelihood_equals_row_likelihood():
    """The model's likelihood from cross-products equals the bivariate normal density summed over rows."""
    df = simulate_iv(n=120, k=2, seed=8)
    y, x, Z, W = _arrays(df, 2, 2)
    S, n_eff = _math.cross_products(Z, x, y, W)
    assert n_eff == 120 - 3
    A = _math.with_intercept(W, 120)
    Zp, xp, yp = (_math.partial_out(a, A) for a in (Z, x, y))
    pi, g = np.array([0.4, -0.2]), np.array([0.3, 0.1])
    s_v, s_w, rho = 0.9, 1.3, 0.35
    vv, ww, vw = residual_moments(S, pi, g)
    v, w = xp - Zp @ pi, yp - Zp @ g
    assert float(vv) == pytest.approx(v @ v) and float(ww) == pytest.approx(w @ w) and float(vw) == pytest.approx(v @ w)
    cov = np.array([[s_v**2, rho * s_v * s_w], [rho * s_v * s_w, s_w**2]])
    ref = stats.multivariate_normal(np.zeros(2), cov).logpdf(np.column_stack([v, w])).sum()
    assert float(bvn_loglik(vv, ww, vw, s_v, s_w, rho, 120)) == pytest.approx(ref, rel=1e-10)


def test_concentration_parameter_formula():
    zz = np.array([[2.0, 0.5], [0.5, 1.0]])
    pi = np.array([[1.0, 2.0], [0.0, 1.0]])
    sv = np.array([1.0, 2.0])
    assert np.allclose(_math.concentration(pi, sv, zz), [(2 + 2 * 0.5 * 2 + 4) / 1.0, 1.0 / 4.0])
