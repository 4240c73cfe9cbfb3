"""Closed-form sensitivity math against published numbers and exact in-sample OLS identities."""

import numpy as np
import pytest
from scipy import optimize, stats

from bayescausal.sensitivity import _math

# Darfur example (Cinelli & Hazlett 2020, Table 2; sensemakr's test-02-darfur.R reproduces it)
DARFUR = {"estimate": 0.09731582, "se": 0.02325654, "dof": 783}
# sensemakr's published bound rows for the benchmark `female`, kd = ky = 1, 2, 3
FEMALE_R2DZ = np.array([0.00916428667504862, 0.0183285733500972, 0.0274928600251459])
FEMALE_R2YZ = np.array([0.12464092303637, 0.249324064199975, 0.374050471038094])
FEMALE_EST = np.array([0.0752202698486415, 0.0529151689180575, 0.0303960178770157])
FEMALE_SE = np.array([0.0218733298036818, 0.0203500639944344, 0.0186700665753491])
FEMALE_T = np.array([3.43890347394571, 2.60024582392121, 1.62806156873318])
FEMALE_LOWER = np.array([0.0322829603180086, 0.0129680276030601, -0.00625329133645187])
FEMALE_UPPER = np.array([0.118157579379274, 0.092862310233055, 0.0670453270904833])


def female_inputs():
    """female's partial R2s, recovered from the published 1x row by inverting the Section 6.1 formulas
    (the 2x and 3x rows then test the bound formulas independently)."""
    r2dxj = FEMALE_R2DZ[0] / (1 + FEMALE_R2DZ[0])
    r2zxj = r2dxj ** 2 / (1 - r2dxj) ** 2
    eta2 = ((1 + np.sqrt(r2zxj)) / np.sqrt(1 - r2zxj)) ** 2
    f2 = FEMALE_R2YZ[0] / eta2
    return r2dxj, f2 / (1 + f2)


# -- published numbers ------------------------------------------------------------------------------
def test_evalue_published_example():
    # VanderWeele & Ding (2017): RR 3.9 (95% CI 1.8 to 8.7): E-values 7.26 and 3.0
    assert _math.evalue_rr(3.9) == pytest.approx(7.26, abs=0.005)
    assert _math.evalue_rr(1.8) == pytest.approx(3.0, abs=1e-12)  # 1.8 + sqrt(1.44) exactly


def test_darfur_sensitivity_stats():
    t = DARFUR["estimate"] / DARFUR["se"]
    assert _math.partial_r2(t, 783) == pytest.approx(0.02187309, abs=1e-7)
    assert _math.partial_f2(t, 783) == pytest.approx(0.02236222, abs=1e-7)
    assert _math.robustness_value(t, 783) == pytest.approx(0.1387764, abs=1e-6)
    assert _math.robustness_value(t, 783, alpha=0.05) == pytest.approx(0.07625797, abs=1e-6)
    # rounded as in the paper: 2.2%, 13.9%, 7.6%
    assert (round(100 * _math.partial_r2(t, 783), 1), round(100 * float(_math.robustness_value(t, 783)), 1),
            round(100 * float(_math.robustness_value(t, 783, alpha=0.05)), 1)) == (2.2, 13.9, 7.6)


def test_darfur_female_bounds():
    r2dxj, r2yxj = female_inputs()
    k = np.array([1.0, 2.0, 3.0])
    r2dz, r2yz = _math.benchmark_bounds(r2dxj, r2yxj, k, k)
    np.testing.assert_allclose(r2dz, FEMALE_R2DZ, rtol=1e-10)
    np.testing.assert_allclose(r2yz, FEMALE_R2YZ, rtol=1e-10)
    est = _math.adjusted_estimate(DARFUR["estimate"], DARFUR["se"], 783, r2dz, r2yz)
    se = _math.adjusted_se(DARFUR["se"], 783, r2dz, r2yz)
    np.testing.assert_allclose(est, FEMALE_EST, rtol=1e-7)
    np.testing.assert_allclose(se, FEMALE_SE, rtol=1e-7)
    np.testing.assert_allclose(_math.adjusted_t(DARFUR["estimate"], DARFUR["se"], 783, r2dz, r2yz), FEMALE_T,
                               rtol=1e-7)
    # sensemakr's published interval takes the t quantile with dof = 783 degrees of freedom; the robustness()
    # bounds use the long regression's dof - 1 = 782, which moves the limits by (t_782 - t_783) se < 1e-7
    crit = stats.t.ppf(0.975, 783)
    np.testing.assert_allclose(est - crit * se, FEMALE_LOWER, atol=1e-9)
    np.testing.assert_allclose(est + crit * se, FEMALE_UPPER, atol=1e-9)


# -- properties ------------------------------------------------------------------------------------
def test_evalue_symmetry_and_null():
    rr = np.array([1.0, 1.2, 2.0, 5.0, 40.0])
    np.testing.assert_allclose(_math.evalue_rr(rr), _math.evalue_rr(1 / rr), rtol=1e-12)
    assert _math.evalue_rr(1.0) == 1.0
    assert np.all(np.diff(_math.evalue_rr(rr)) > 0)


def test_conversions():
    assert _math.or_to_rr(4.0, rare_outcome=False) == 2.0
    assert _math.or_to_rr(4.0, rare_outcome=True) == 4.0
    assert _math.hr_to_rr(1.0, rare_outcome=False) == 1.0
    h = np.array([0.3, 0.8, 1.5, 3.0])
    rr = _math.hr_to_rr(h, rare_outcome=False)
    np.testing.assert_allclose(rr * _math.hr_to_rr(1 / h, rare_outcome=False), 1.0, rtol=1e-12)  # reciprocal
    assert np.all(np.diff(rr) > 0) and np.all(np.abs(np.log(rr)) < np.abs(np.log(h)))
    assert _math.smd_to_rr(0.5) == pytest.approx(np.exp(0.455))
    assert _math.risk_difference_to_rr(0.1, 0.2) == pytest.approx(1.5)


def test_robustness_value_properties():
    t = np.linspace(0.1, 40, 200)
    for alpha in (None, 0.05):
        rv = _math.robustness_value(t, 300, alpha=alpha)
        assert np.all((rv >= 0) & (rv <= 1))
        assert np.all(np.diff(rv) >= 0) and rv[-1] > rv[0]
    np.testing.assert_allclose(_math.robustness_value(t, 300), _math.robustness_value(-t, 300))
    assert _math.robustness_value(1.5, 300, alpha=0.05) == 0.0  # not significant to begin with


@pytest.mark.parametrize("t,dof", [(4.18445, 783), (2.5, 200), (1 / 0.3, 7), (30.0, 10), (6.0, 12)])
def test_rv_qa_is_the_weakest_confounder_reaching_the_critical_t(t, dof):
    """RV_{q,alpha} is the smallest r such that some confounder in [0, r]^2 brings |t_adj| to the critical t."""
    rv = float(_math.robustness_value(t, dof, alpha=0.05))
    crit = stats.t.ppf(0.975, dof - 1)

    def min_t(r):  # minimum adjusted t over the square [0, r]^2 (t falls with r2dz; search r2yz finely)
        yz = np.linspace(0, r, 20001)
        return np.min(_math.adjusted_t(t, 1.0, dof, r, yz))

    assert min_t(rv) == pytest.approx(crit, rel=1e-6)
    assert min_t(rv * 0.999) > crit


def test_rv_q_solves_adjusted_estimate():
    for q in (1.0, 0.5):
        rv = _math.robustness_value(3.0, 100, q=q)
        assert _math.adjusted_estimate(3.0, 1.0, 100, rv, rv) == pytest.approx((1 - q) * 3.0, abs=1e-12)


# -- exact OVB identities in sample ---------------------------------------------------------------
def _pr2(a, b, C):
    """Squared partial correlation of a and b given the columns of C (residual correlation)."""
    q, _ = np.linalg.qr(C)
    ra, rb = a - q @ (q.T @ a), b - q @ (q.T @ b)
    return (ra @ rb) ** 2 / ((ra @ ra) * (rb @ rb))


@pytest.mark.parametrize("seed,gz", [(0, 1.5), (1, -0.7), (2, 0.05)])
def test_omitted_variable_bias_identity(seed, gz):
    rng = np.random.default_rng(seed)
    n = 300
    X = rng.normal(size=(n, 3))
    z = 0.6 * X[:, 0] + rng.normal(size=n)
    d = X @ np.array([0.5, -0.3, 0.2]) + 0.8 * z + rng.normal(size=n)
    y = 1.0 + 2.0 * d + X @ np.array([0.3, 0.1, -0.4]) + gz * z + rng.normal(size=n)
    one = np.ones((n, 1))
    short_coef, short_se, dof = _math.ols(y, np.column_stack([one, d, X]))
    long_coef, long_se, dof_long = _math.ols(y, np.column_stack([one, d, X, z]))
    assert dof_long == dof - 1
    r2yz = _pr2(y, z, np.column_stack([one, d, X]))
    r2dz = _pr2(d, z, np.column_stack([one, X]))
    # the t-based partial R2 is the same quantity
    dz_coef, dz_se, dz_dof = _math.ols(d, np.column_stack([one, X, z]))
    assert _math.partial_r2(dz_coef[-1] / dz_se[-1], dz_dof) == pytest.approx(r2dz, rel=1e-10)
    assert _math.partial_r2(long_coef[-1] / long_se[-1], dof_long) == pytest.approx(r2yz, rel=1e-10)
    bias = _math.ovb_bias(short_se[1], dof, r2dz, r2yz)
    assert abs(short_coef[1] - long_coef[1]) == pytest.approx(bias, rel=1e-10)
    assert _math.adjusted_se(short_se[1], dof, r2dz, r2yz) == pytest.approx(long_se[1], rel=1e-10)
    # the confounder inflates the estimate iff gz > 0 here (it raises both d and y)
    adj = _math.adjusted_estimate(short_coef[1], short_se[1], dof, r2dz, r2yz, reduce=gz > 0)
    assert adj == pytest.approx(long_coef[1], rel=1e-10)


@pytest.mark.parametrize("kd,ky", [(1.0, 1.0), (2.0, 0.5), (0.5, 3.0)])
def test_benchmark_bound_exact_for_treatment_and_attained_for_outcome(kd, ky):
    """Construct confounders exactly kd / ky times as strong as a benchmark and orthogonal to it given the
    other covariates (Cinelli & Hazlett 2020, Section 6.1): R2_{D~Z|X} equals the formula, R2_{Y~Z|D,X} never
    exceeds the bound, and the worst-signed construction attains it."""
    rng = np.random.default_rng(11)
    n = 400
    W = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    x = 0.4 * W[:, 1] + rng.normal(size=n)
    d = W @ np.array([0.0, 0.5, -0.2]) + 0.4 * x + rng.normal(size=n)
    y = W @ np.array([1.0, 0.3, 0.2]) + 0.5 * d + 0.25 * x + rng.normal(size=n)
    r2dxj = _pr2(d, x, W)
    r2yxj = _pr2(y, x, np.column_stack([W, d]))
    bound_dz, bound_yz = _math.benchmark_bounds(r2dxj, r2yxj, kd, ky)
    assert bound_yz < 0.5  # a non-vacuous bound (below its cap of 1)

    q, _ = np.linalg.qr(W)
    res = lambda v: v - q @ (q.T @ v)  # noqa: E731
    xt, dt, yt = res(x), res(d), res(y)
    e1 = xt / np.linalg.norm(xt)
    e2 = dt - (dt @ e1) * e1
    e2 /= np.linalg.norm(e2)
    e3 = yt - (yt @ e1) * e1 - (yt @ e2) * e2
    e3 /= np.linalg.norm(e3)
    noise = rng.normal(size=n)
    qq, _ = np.linalg.qr(np.column_stack([W, x, d, y]))
    e4 = noise - qq @ (qq.T @ noise)
    e4 /= np.linalg.norm(e4)
    a2 = kd * r2dxj / (1 - r2dxj)  # R2_{D~Z|X-j} = alpha^2 (1 - r2dxj) = kd r2dxj
    target_y = ky * r2yxj
    WD = np.column_stack([W, d])
    full_d, full_y = np.column_stack([W, x]), np.column_stack([W, x, d])
    attained = []
    for alpha in (np.sqrt(a2), -np.sqrt(a2)):
        bmax = np.sqrt(1 - a2)

        def z_of(b, alpha=alpha):
            return alpha * e2 + b * e3 + np.sqrt(max(1 - a2 - b * b, 0.0)) * e4

        def gap(b, z_of=z_of):
            return _pr2(y, z_of(b), WD) - target_y

        grid = np.linspace(-bmax, bmax, 801)
        vals = np.array([gap(b) for b in grid])
        for i in np.flatnonzero(np.sign(vals[:-1]) != np.sign(vals[1:])):
            b = optimize.brentq(gap, grid[i], grid[i + 1], xtol=1e-14)
            z = z_of(b)
            assert abs(z @ xt) < 1e-8 * np.linalg.norm(xt)  # orthogonal to the benchmark given W
            assert _pr2(d, z, W) == pytest.approx(kd * r2dxj, rel=1e-9)
            assert _pr2(y, z, WD) == pytest.approx(target_y, rel=1e-9)
            assert _pr2(d, z, full_d) == pytest.approx(bound_dz, rel=1e-9)
            r2yz_actual = _pr2(y, z, full_y)
            assert r2yz_actual <= bound_yz * (1 + 1e-9)
            attained.append(r2yz_actual)
    assert attained and max(attained) == pytest.approx(bound_yz, rel=1e-7)
