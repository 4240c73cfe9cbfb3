"""Frequentist instrumental-variable quantities, pure NumPy (no pandas, no NumPyro).

``m`` endogenous regressors ``X`` (a vector ``x`` when ``m = 1``), ``k >= m`` excluded instruments ``Z``
and exogenous covariates ``W`` (an intercept is always added), for the linear model
``y = a + X b + W d + u``, ``X = c + Z Pi + W G + V``.

* :func:`tsls`: two-stage least squares with its homoskedastic (``"unadjusted"``) standard errors and
  Wald intervals (the textbook estimator; e.g. Wooldridge 2010, ch. 5).
* :func:`first_stage`: for one treatment, the first-stage F statistic of the excluded instruments and
  their partial R-squared (Staiger & Stock 1997 call instruments weak when F < 10; Bound, Jaeger & Baker
  1995). For several, the conditional F statistic of each treatment given the others (Sanderson &
  Windmeijer 2016, J. Econometrics 190:212), which is small when the instruments cannot move that
  treatment separately from the others, and Cragg & Donald's (1993) minimum-eigenvalue statistic.
* :func:`anderson_rubin_sets`: the Anderson & Rubin (1949) confidence set for ``b`` by test inversion,
  projected onto each coefficient (exact for one treatment; for several, the projections of the joint
  set are conservative intervals for each coefficient, Dufour & Taamouti 2005, Econometrica 73:1351).
  Its size is right however weak the instruments are (Dufour 1997), and its shape says so: a bounded
  interval, the whole line, the union of two rays, or (over-identified only) empty. :class:`ARSet`
  represents each case explicitly rather than forcing an interval. :func:`anderson_rubin_test` is the
  joint test at one point.
* :func:`sargan`: Sargan's (1958) over-identification statistic ``n R^2`` of the 2SLS residuals on all
  instruments, chi-squared with ``k - m`` degrees of freedom under valid instruments.
* :func:`partial_out`, :func:`cross_products`, :func:`concentration`, :func:`min_concentration`: the
  sufficient statistics the Bayesian model runs on and the posterior of the concentration parameter
  ``pi' Z'M Z pi / sigma_v^2`` (Stock, Wright & Yogo 2002; with several treatments the smallest
  eigenvalue of the concentration matrix), computed per posterior draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

WEAK_F = 10.0  # Staiger & Stock (1997) rule of thumb for one endogenous regressor


def with_intercept(W: np.ndarray | None, n: int) -> np.ndarray:
    """``[1, W]`` as an (n, 1 + p) matrix (``W`` may be None or have zero columns)."""
    ones = np.ones((n, 1))
    if W is None or W.size == 0:
        return ones
    return np.column_stack([ones, np.asarray(W, float).reshape(n, -1)])


def _orthobasis(A: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``A`` (thin QR)."""
    q, _ = np.linalg.qr(A)
    return q


def partial_out(M: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Residuals of the columns of ``M`` after least squares on ``A`` (Frisch-Waugh-Lovell)."""
    q = _orthobasis(A)
    return M - q @ (q.T @ M)


def ols(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``y`` on ``X``."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


@dataclass(frozen=True)
class TSLS:
    """Two-stage least squares for the treatment coefficients: estimate, standard error, Wald interval.

    ``estimate``, ``se``, ``lower``, ``upper`` are floats for one treatment and arrays (m,) for several;
    ``coef`` is ``[intercept, W..., X...]``."""

    estimate: float
    se: float
    lower: float
    upper: float
    level: float
    coef: np.ndarray  # [intercept, W..., x]


def _as_matrix(x) -> tuple[np.ndarray, bool]:
    """``x`` as an (n, m) matrix and whether it was given as one vector (one treatment)."""
    x = np.asarray(x, float)
    return (x[:, None], True) if x.ndim == 1 else (x, False)


def tsls(y, x, W, Z, level: float = 0.95, debiased: bool = False) -> TSLS:
    """2SLS of ``y`` on ``[1, W, X]`` with instruments ``[1, W, Z]``; ``x`` is (n,) or (n, m).

    The standard errors are the homoskedastic ones, ``s^2 (Xhat' Xhat)^-1`` with ``s^2 = e'e / n``
    (``/(n - dim)`` when ``debiased``), as linearmodels' ``IV2SLS(...).fit(cov_type="unadjusted")``.
    The Wald interval is ``estimate +- z se``: it is the interval that under-covers when instruments
    are weak (Staiger & Stock 1997), reported for comparison.
    """
    y = np.asarray(y, float)
    Xe, single = _as_matrix(x)
    n, m = Xe.shape
    A1 = with_intercept(W, n)
    A = np.column_stack([A1, Z])
    X = np.column_stack([A1, Xe])
    q = _orthobasis(A)
    Xhat = q @ (q.T @ X)
    coef = np.linalg.solve(Xhat.T @ X, Xhat.T @ y)
    e = y - X @ coef
    dof = n - X.shape[1] if debiased else n
    s2 = float(e @ e) / dof
    cov = s2 * np.linalg.inv(Xhat.T @ Xhat)
    est, se = coef[-m:], np.sqrt(np.diag(cov)[-m:])
    z = stats.norm.ppf(0.5 + level / 2)
    lo, hi = est - z * se, est + z * se
    if single:
        return TSLS(float(est[0]), float(se[0]), float(lo[0]), float(hi[0]), level, coef)
    return TSLS(est, se, lo, hi, level, coef)


@dataclass(frozen=True)
class FirstStage:
    """Strength of the excluded instruments in the first stage.

    One treatment: ``f_stat`` is the first-stage F, ``partial_r2`` the instruments' partial R-squared
    (floats). Several: arrays (m,) of the Sanderson-Windmeijer conditional F of each treatment given the
    others and the matching partial R-squared, with ``df_num = k - m + 1``. ``cragg_donald`` is Cragg &
    Donald's minimum-eigenvalue statistic (equal to the F for one treatment)."""

    f_stat: float
    partial_r2: float
    df_num: int
    df_den: int
    p_value: float
    cragg_donald: float = float("nan")

    @property
    def weak(self) -> bool:
        """True when any treatment's (conditional) first-stage F is below 10."""
        return bool(np.min(self.f_stat) < WEAK_F)


def first_stage(x, W, Z) -> FirstStage:
    """First-stage strength of the excluded instruments, covariates kept.

    One treatment: the F test that the instruments' coefficients are all zero, and the partial
    R-squared (the share of the treatment's variance left after the covariates that the instruments
    explain). Several treatments (``x`` of shape (n, m)): for each treatment ``x_j``, the conditional F of
    Sanderson & Windmeijer (2016): ``x_j`` minus its 2SLS fit on the other treatments (instruments ``Z``),
    ``e_j``, tested for dependence on ``Z`` with ``k - m + 1`` numerator degrees of freedom,
    ``F_j = (e_j' P e_j / (k - m + 1)) / (e_j' M e_j / (n - q - k))`` (all after partialling ``[1, W]``).
    It equals the ordinary F when ``m = 1``. Also Cragg & Donald's (1993) statistic: the smallest eigenvalue
    of ``S_VV^(-1/2) X' P X S_VV^(-1/2) / k`` with ``S_VV = X' M X / (n - q - k)`` (Stock & Yogo 2005).
    """
    Xe, single = _as_matrix(x)
    n, m = Xe.shape
    Z = np.asarray(Z, float).reshape(n, -1)
    k = Z.shape[1]
    A1 = with_intercept(W, n)
    X1 = partial_out(Xe, A1)
    Z1 = partial_out(Z, A1)
    qz = _orthobasis(Z1)
    df_den = n - A1.shape[1] - k
    PX = qz @ (qz.T @ X1)
    f, r2 = np.empty(m), np.empty(m)
    for j in range(m):
        others = np.delete(np.arange(m), j)
        e = X1[:, j]
        if m > 1:
            Xo, Xo_hat = X1[:, others], PX[:, others]
            delta = np.linalg.solve(Xo_hat.T @ Xo, Xo_hat.T @ X1[:, j])
            e = X1[:, j] - Xo @ delta
        explained = float(np.sum((qz.T @ e) ** 2))
        total = float(e @ e)
        f[j] = (explained / (k - m + 1)) / ((total - explained) / df_den)
        r2[j] = explained / total
    S_vv = (X1.T @ X1 - PX.T @ X1) / df_den
    vals, vecs = np.linalg.eigh(S_vv)
    root_inv = vecs @ np.diag(vals**-0.5) @ vecs.T
    cd = float(np.linalg.eigvalsh(root_inv @ (PX.T @ X1) @ root_inv).min() / k)
    p = stats.f.sf(f, k - m + 1, df_den)
    if single:
        return FirstStage(float(f[0]), float(r2[0]), k, df_den, float(p[0]), cd)
    return FirstStage(f, r2, k - m + 1, df_den, p, cd)


@dataclass(frozen=True)
class ARSet:
    """An Anderson-Rubin confidence set for the treatment coefficient.

    ``kind`` is one of ``"interval"`` (``[lower, upper]``), ``"two_rays"`` (``(-inf, lower] U [upper,
    inf)``: the data rule out a bounded region only), ``"real_line"`` (no value is rejected: the
    instruments carry no usable information at this level) or ``"empty"`` (every value is rejected,
    which with more instruments than treatments signals invalid instruments or a misspecified model).
    """

    kind: str
    lower: float
    upper: float
    level: float

    @property
    def bounded(self) -> bool:
        return self.kind in ("interval", "empty")

    def contains(self, value: float) -> bool:
        if self.kind == "interval":
            return bool(self.lower <= value <= self.upper)
        if self.kind == "two_rays":
            return bool(value <= self.lower or value >= self.upper)
        return self.kind == "real_line"

    def describe(self, fmt=lambda v: f"{v:.3g}") -> str:
        pct = f"{self.level:.0%}"
        if self.kind == "interval":
            return f"{pct} Anderson-Rubin interval {fmt(self.lower)} to {fmt(self.upper)}"
        if self.kind == "two_rays":
            return (f"{pct} Anderson-Rubin set unbounded: every value below {fmt(self.lower)} or above "
                    f"{fmt(self.upper)}")
        if self.kind == "real_line":
            return f"{pct} Anderson-Rubin set unbounded: the whole real line (no value can be ruled out)"
        return f"{pct} Anderson-Rubin set empty: every value is rejected (the instruments look invalid)"


def _ar_quadratic(y, x, W, Z, level: float):
    """The Anderson-Rubin acceptance region as ``{b : b' Q_xx b - 2 Q_xy' b + Q_yy <= 0}``.

    For each ``b0`` the AR statistic is the F test of the instruments in the regression of ``y - X b0``
    on ``[1, W, Z]``. Writing ``e(b0) = M1 (y - X b0)`` (``M1`` removes ``[1, W]``), ``P`` the projection
    on the partialled instruments and ``M2 = M1 - P``, ``b0`` is accepted when ``e' P e / k <= c e' M2 e /
    (n - q - k)`` with ``c`` the F quantile: a quadratic form in ``(1, b0)`` with the matrix ``P - c' M2``.
    Returns ``(Q_xx (m, m), Q_xy (m,), Q_yy)``.
    """
    y = np.asarray(y, float)
    Xe, _ = _as_matrix(x)
    Z = np.asarray(Z, float).reshape(len(y), -1)
    n, k = Z.shape
    A1 = with_intercept(W, n)
    y1, X1, Z1 = partial_out(y, A1), partial_out(Xe, A1), partial_out(Z, A1)
    df_den = n - A1.shape[1] - k
    crit = stats.f.ppf(level, k, df_den) * k / df_den
    qz = _orthobasis(Z1)
    py, px = qz.T @ y1, qz.T @ X1

    def form(a_p, b_p, a, b):  # a' (P - crit M2) b with M2 = M1 - P on partialled vectors
        pab = a_p.T @ b_p
        return pab - crit * (a.T @ b - pab)

    return form(px, px, X1, X1), form(px, py, X1, y1), float(form(py, py, y1, y1))


def _ar_1d(A: float, B: float, C: float, level: float) -> ARSet:
    """The set ``{b : A b^2 - 2 B b + C <= 0}``: the signs of ``A`` and of the discriminant give the four
    shapes of :class:`ARSet` (Dufour & Taamouti 2005)."""
    scale = max(abs(A), abs(B), abs(C), 1e-300)
    disc = B * B - A * C
    if abs(A) <= 1e-12 * scale:  # q is linear: a half-line, reported as the bounded side's ray
        if abs(B) <= 1e-12 * scale:
            return ARSet("real_line" if C <= 0 else "empty", -np.inf, np.inf, level)
        root = C / (2 * B)
        return ARSet("two_rays", root if B < 0 else -np.inf, np.inf if B < 0 else root, level)
    if A > 0:
        if disc < 0:
            return ARSet("empty", np.nan, np.nan, level)
        r = np.sqrt(disc)
        return ARSet("interval", (B - r) / A, (B + r) / A, level)
    if disc < 0:
        return ARSet("real_line", -np.inf, np.inf, level)
    r = np.sqrt(disc)
    lo, hi = sorted(((B - r) / A, (B + r) / A))
    return ARSet("two_rays", lo, hi, level)


def anderson_rubin_sets(y, x, W, Z, level: float = 0.95) -> tuple[ARSet, ...]:
    """The Anderson-Rubin confidence set projected onto each treatment's coefficient, one :class:`ARSet` each.

    The joint set is ``{b : q(b) <= 0}`` (see :func:`_ar_quadratic`). Its projection onto ``b_j`` is the set
    of ``t`` with ``min over the other coefficients of q(t, b_o) <= 0``. When ``Q_oo`` (the quadratic form
    in the other coefficients) is positive definite the minimum is a quadratic in ``t`` with the Schur
    complement ``Q_jj - Q_jo Q_oo^-1 Q_oj`` as leading coefficient, and the one-dimensional case analysis
    gives its shape; otherwise the minimum is minus infinity for every ``t`` and the projection is the
    whole line (Dufour & Taamouti 2005). With one treatment this is the exact AR set; with several, each
    projection covers its coefficient with at least the set's level (a conservative interval).
    """
    Q, q, c = _ar_quadratic(y, x, W, Z, level)
    m = Q.shape[0]
    out = []
    for j in range(m):
        o = np.delete(np.arange(m), j)
        Qoo = Q[np.ix_(o, o)]
        if o.size and np.linalg.eigvalsh(Qoo).min() <= 0:
            out.append(ARSet("real_line", -np.inf, np.inf, level))
            continue
        Qjo, qo = Q[j, o], q[o]
        sol = np.linalg.solve(Qoo, np.column_stack([Qjo, qo])) if o.size else np.zeros((0, 2))
        A = float(Q[j, j] - Qjo @ sol[:, 0])
        B = float(q[j] - Qjo @ sol[:, 1])
        C = float(c - qo @ sol[:, 1])
        out.append(_ar_1d(A, B, C, level))
    return tuple(out)


def anderson_rubin_set(y, x, W, Z, level: float = 0.95) -> ARSet:
    """The Anderson-Rubin confidence set for the coefficient of one treatment ``x`` (n,)."""
    x = np.asarray(x, float)
    if x.ndim != 1 and x.shape[1] != 1:
        raise ValueError("anderson_rubin_set is for one treatment; use anderson_rubin_sets for several.")
    return anderson_rubin_sets(y, x, W, Z, level)[0]


@dataclass(frozen=True)
class ARTest:
    """The joint Anderson-Rubin test of ``b = b0``: F statistic, degrees of freedom, p-value."""

    b0: np.ndarray
    statistic: float
    df_num: int
    df_den: int
    p_value: float


def anderson_rubin_test(y, x, W, Z, b0) -> ARTest:
    """F test of the instruments in the regression of ``y - X b0`` on ``[1, W, Z]``: size-correct however
    weak the instruments (Anderson & Rubin 1949), and joint over all treatments."""
    y = np.asarray(y, float)
    Xe, _ = _as_matrix(x)
    b0 = np.atleast_1d(np.asarray(b0, float))
    Z = np.asarray(Z, float).reshape(len(y), -1)
    n, k = Z.shape
    A1 = with_intercept(W, n)
    e = partial_out(y - Xe @ b0, A1)
    qz = _orthobasis(partial_out(Z, A1))
    explained = float(np.sum((qz.T @ e) ** 2))
    df_den = n - A1.shape[1] - k
    f = (explained / k) / ((float(e @ e) - explained) / df_den)
    return ARTest(b0, float(f), k, df_den, float(stats.f.sf(f, k, df_den)))


@dataclass(frozen=True)
class Sargan:
    """Sargan's over-identification test: statistic, degrees of freedom, p-value."""

    statistic: float
    df: int
    p_value: float


def sargan(y, x, W, Z) -> Sargan:
    """``n R^2`` from regressing the 2SLS residuals on ``[1, W, Z]``; chi-squared with ``k - m`` degrees of
    freedom when all instruments are valid (homoskedastic errors). Needs ``k > m``."""
    y = np.asarray(y, float)
    Xe, _ = _as_matrix(x)
    Z = np.asarray(Z, float).reshape(len(y), -1)
    n, k = Z.shape
    m = Xe.shape[1]
    if k <= m:
        raise ValueError("Sargan's test needs more instruments than endogenous regressors (k > m).")
    fit = tsls(y, Xe, W, Z)
    e = y - np.column_stack([with_intercept(W, n), Xe]) @ fit.coef
    A = np.column_stack([with_intercept(W, n), Z])
    resid = partial_out(e, A)
    ec = e - e.mean()
    r2 = 1.0 - float(resid @ resid) / float(ec @ ec)
    stat = n * r2
    return Sargan(float(stat), k - m, float(stats.chi2.sf(stat, k - m)))


def standardise(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns centred on their sample mean and scaled by their sample sd (ddof=1): ``(a_std, mean, sd)``."""
    a = np.asarray(a, float)
    mean = a.mean(axis=0)
    sd = a.std(axis=0, ddof=1)
    return (a - mean) / sd, mean, sd


def cross_products(Z: np.ndarray, x: np.ndarray, y: np.ndarray, W: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Sufficient statistics of the normal model: the cross-products ``D'D`` of ``D = M1 [Z, X, y]`` (the
    instruments, treatments and outcome with ``[1, W]`` partialled out; ``x`` is (n,) or (n, m)) and
    ``n - dim([1, W])``.

    With flat priors on the intercepts and covariate coefficients these integrate out of the bivariate
    normal likelihood exactly, leaving ``-(n - q)/2 log|Omega| - tr(Omega^-1 E'E)/2`` where ``E'E`` is a
    quadratic form in ``D'D``: each likelihood evaluation costs O(k^2), whatever ``n``.
    """
    n = len(y)
    A1 = with_intercept(W, n)
    D = partial_out(np.column_stack([np.asarray(Z, float).reshape(n, -1), np.asarray(x, float).reshape(n, -1), y]), A1)
    return D.T @ D, n - A1.shape[1]


def concentration(pi: np.ndarray, sigma_v: np.ndarray, zz: np.ndarray) -> np.ndarray:
    """Concentration parameter per draw: ``pi' (Z'M1 Z) pi / sigma_v^2``; ``pi`` (..., k), ``zz`` (k, k)."""
    return np.einsum("...i,ij,...j->...", pi, zz, pi) / sigma_v**2


def min_concentration(Pi: np.ndarray, omega_vv: np.ndarray, zz: np.ndarray) -> np.ndarray:
    """Smallest eigenvalue of the concentration matrix ``Omega_VV^(-1/2) Pi' Z'M1 Z Pi Omega_VV^(-1/2)`` per draw
    (Stock, Wright & Yogo 2002): ``Pi`` (..., k, m), ``omega_vv`` (..., m, m); equals :func:`concentration`
    for one treatment. It is the concentration in the treatments' least identified direction."""
    L = np.linalg.cholesky(omega_vv)
    G = np.einsum("...ki,kl,...lj->...ij", Pi, zz, Pi)
    Li = np.linalg.inv(L)
    return np.linalg.eigvalsh(Li @ G @ np.swapaxes(Li, -1, -2))[..., 0]
