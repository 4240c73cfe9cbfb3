"""The frequentist IV quantities against independent references (linearmodels, statsmodels, direct tests)."""

import numpy as np
import pytest
from scipy import stats

from bayescausal.iv import _math
from bayescausal.iv.model import mvn_loglik, residual_cross_products, sampled_from_structural, structural_from_sampled

from .conftest import simulate_iv, simulate_iv2


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


@pytest.mark.parametrize("m", [1, 2])
def test_sufficient_statistics_likelihood_equals_row_likelihood(m):
    """The model's likelihood from cross-products equals the multivariate normal density summed over rows."""
    df = simulate_iv2(n=120, seed=8) if m == 2 else simulate_iv(n=120, k=2, seed=8)
    y, Z, W = df["y"].to_numpy(), df[["z0", "z1"]].to_numpy(), df[["w0", "w1"]].to_numpy()
    X = df[["x0", "x1"]].to_numpy() if m == 2 else df[["x"]].to_numpy()
    S, n_eff = _math.cross_products(Z, X, y, W)
    assert n_eff == 120 - 3 and S.shape == (2 + m + 1,) * 2
    A = _math.with_intercept(W, 120)
    Zp, Xp, yp = (_math.partial_out(a, A) for a in (Z, X, y))
    rng = np.random.default_rng(0)
    theta = rng.normal(scale=0.4, size=(2, m + 1))
    E = np.column_stack([Xp, yp]) - Zp @ theta
    EE = np.asarray(residual_cross_products(S, theta))
    assert np.allclose(EE, E.T @ E, rtol=1e-10, atol=1e-9)
    R = rng.normal(size=(m + 1, m + 1))
    cov = R @ R.T + np.eye(m + 1)
    ref = stats.multivariate_normal(np.zeros(m + 1), cov).logpdf(E).sum()
    assert float(mvn_loglik(EE, np.linalg.cholesky(cov), 120)) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("k, m, rotate", [(1, 1, 1.0), (3, 1, 1.0), (3, 2, 1.0), (3, 2, 0.0)])
def test_sampling_coordinates_keep_the_prior(k, m, rotate):
    """The map (C, beta) -> (Pi, beta) inverts, whitens ``[Pi, Pi beta]`` by the error covariance ``Omega = L L'``
    into ``C H'`` with orthonormal ``H`` (rotated coordinates), and its Jacobian determinant is the one the model
    adds, ``det([I, beta] Omega^-1 [I; beta'])^(-k/2)``, checked against automatic differentiation: so the
    posterior in the new coordinates is the same model."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(k + m)
    C, beta = rng.normal(size=(k, m)), rng.normal(scale=2.0, size=m)
    R = rng.normal(size=(m + 1, m + 1))
    L = np.linalg.cholesky(R @ R.T + np.eye(m + 1))
    Pi, logdet = (np.asarray(a) for a in structural_from_sampled(jnp.asarray(C), jnp.asarray(beta), jnp.asarray(L),
                                                                   rotate))
    assert np.allclose(sampled_from_structural(Pi, beta, L, rotate), C, atol=1e-10)
    white = np.column_stack([Pi, Pi @ beta]) @ np.linalg.inv(L).T
    G = np.column_stack([np.eye(m), beta]) @ np.linalg.inv(L @ L.T) @ np.vstack([np.eye(m), beta])
    if rotate:
        assert np.allclose(white @ white.T, C @ C.T)  # [Pi, Pi beta] L^-T = C H' with H'H = I
        assert float(logdet) == pytest.approx(0.5 * np.log(np.linalg.det(G)), rel=1e-10)
    else:
        assert np.allclose(Pi, C) and float(logdet) == 0.0

    def forward(v):
        Pi, _ = structural_from_sampled(v[: k * m].reshape(k, m), v[k * m:], jnp.asarray(L), rotate)
        return jnp.concatenate([Pi.ravel(), v[k * m:]])

    J = jax.jacfwd(forward)(jnp.asarray(np.concatenate([C.ravel(), beta])))
    expected = np.linalg.det(G) ** (-rotate * k / 2)
    assert abs(np.linalg.det(np.asarray(J))) == pytest.approx(expected, rel=1e-9)


def test_concentration_parameter_formula():
    zz = np.array([[2.0, 0.5], [0.5, 1.0]])
    pi = np.array([[1.0, 2.0], [0.0, 1.0]])
    sv = np.array([1.0, 2.0])
    assert np.allclose(_math.concentration(pi, sv, zz), [(2 + 2 * 0.5 * 2 + 4) / 1.0, 1.0 / 4.0])


def test_min_concentration_reduces_to_scalar_and_is_an_eigenvalue():
    zz = np.array([[2.0, 0.5], [0.5, 1.0]])
    pi = np.array([[1.0], [2.0]])
    assert np.isclose(_math.min_concentration(pi, np.array([[4.0]]), zz), _math.concentration(pi[:, 0], 2.0, zz))
    Pi = np.array([[1.0, 0.2], [0.3, 1.5]])
    om = np.array([[1.0, 0.3], [0.3, 2.0]])
    vals, vecs = np.linalg.eigh(om)
    root_inv = vecs @ np.diag(vals**-0.5) @ vecs.T
    assert np.isclose(_math.min_concentration(Pi, om, zz), np.linalg.eigvalsh(root_inv @ Pi.T @ zz @ Pi @ root_inv)[0])


def _arrays2(df):
    return (df["y"].to_numpy(), df[["x0", "x1"]].to_numpy(), df[["z0", "z1", "z2"]].to_numpy(),
            df[["w0", "w1"]].to_numpy())


def test_tsls_two_treatments_matches_linearmodels():
    linearmodels = pytest.importorskip("linearmodels")
    df = simulate_iv2(n=400, k=3, seed=3)
    y, X, Z, W = _arrays2(df)
    ours = _math.tsls(y, X, W, Z)
    ref = linearmodels.IV2SLS(y, np.column_stack([np.ones(len(y)), W]), X, Z).fit(cov_type="unadjusted")
    assert np.allclose(ours.estimate, np.asarray(ref.params)[-2:], rtol=1e-10)
    assert np.allclose(ours.se, np.asarray(ref.std_errors)[-2:], rtol=1e-8)
    assert ours.estimate.shape == ours.lower.shape == (2,)
    sg = _math.sargan(y, X, W, Z)
    assert sg.df == 1 and sg.statistic == pytest.approx(ref.sargan.stat, rel=1e-8)


def test_sanderson_windmeijer_f_by_hand_and_its_purpose():
    """The conditional F from its definition (a 2SLS of one treatment on the other, then an F test of the
    residual on the instruments, written with linearmodels and statsmodels), equal to the ordinary F for one
    treatment; and it is small when two treatments are moved by one instrument direction, where both
    ordinary first-stage F statistics are large (Sanderson & Windmeijer 2016, section 4)."""
    linearmodels = pytest.importorskip("linearmodels")
    sm = pytest.importorskip("statsmodels.api")
    df = simulate_iv2(n=500, k=3, seed=4)
    y, X, Z, W = _arrays2(df)
    fs = _math.first_stage(X, W, Z)
    exog = sm.add_constant(W)
    for j in range(2):
        o = 1 - j
        d = linearmodels.IV2SLS(X[:, j], exog, X[:, o], Z).fit(cov_type="unadjusted").params
        e = X[:, j] - np.asarray(d)[-1] * X[:, o]
        full = sm.OLS(e, np.column_stack([exog, Z])).fit()
        restricted = sm.OLS(e, exog).fit()
        f = ((restricted.ssr - full.ssr) / (3 - 2 + 1)) / (full.ssr / (500 - 3 - 3))
        assert fs.f_stat[j] == pytest.approx(f, rel=1e-8)
    assert fs.df_num == 2
    one = _math.first_stage(X[:, 0], W, Z)
    assert one.cragg_donald == pytest.approx(one.f_stat, rel=1e-10)
    # one relevant direction for two treatments: each is strongly predicted, jointly they are not identified
    rng = np.random.default_rng(5)
    n = 800
    Z2 = rng.normal(size=(n, 2))
    common = Z2 @ np.array([1.0, 1.0])
    X2 = np.column_stack([common + rng.normal(size=n), 0.5 * common + rng.normal(size=n)])
    fs2 = _math.first_stage(X2, None, Z2)
    ordinary = [_math.first_stage(X2[:, j], None, Z2).f_stat for j in range(2)]
    assert min(ordinary) > 100 and fs2.f_stat.max() < 10 and fs2.cragg_donald < 10 and fs2.weak


def _ar_stat_joint(y, X, W, Z, b0):
    return _math.anderson_rubin_test(y, X, W, Z, b0).statistic


@pytest.mark.parametrize("strength", [0.5, 0.05])
def test_anderson_rubin_projections_of_the_joint_set(strength):
    """Each projection holds the values of one coefficient for which some value of the other is accepted by the
    joint AR test: checked on a grid, the minimum over the other coefficient found numerically."""
    from scipy.optimize import minimize_scalar

    df = simulate_iv2(n=300, k=3, strength=strength, seed=6)
    y, X, Z, W = _arrays2(df)
    sets = _math.anderson_rubin_sets(y, X, W, Z)
    crit = stats.f.ppf(0.95, 3, 300 - 3 - 3)
    ts = _math.tsls(y, X, W, Z)
    assert len(sets) == 2
    if strength == 0.5:
        assert all(s.kind == "interval" for s in sets)
        for j, s in enumerate(sets):
            assert s.lower < ts.estimate[j] < s.upper
    for j, s in enumerate(sets):
        for t in np.linspace(-6, 6, 25):
            def at(b, t=t, j=j):
                b0 = np.empty(2)
                b0[j], b0[1 - j] = t, b
                return _ar_stat_joint(y, X, W, Z, b0)
            best = min(minimize_scalar(at, bracket=(c - 1, c + 1)).fun for c in (-50.0, 0.0, 50.0))
            if abs(best - crit) > 1e-3 * crit:  # away from the boundary the two must agree
                assert s.contains(t) == (best <= crit), (j, t, best, s)
    # the projections of a one-treatment problem are its exact AR set
    one = _math.anderson_rubin_sets(y, X[:, 0], W, Z)[0]
    assert one == _math.anderson_rubin_set(y, X[:, 0], W, Z)
