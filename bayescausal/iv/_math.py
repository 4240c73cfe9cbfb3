"""Frequentist instrumental-variable quantities, pure NumPy (no pandas, no NumPyro).

One endogenous regressor ``x``, ``k`` excluded instruments ``Z`` and exogenous covariates ``W`` (an
intercept is always added), for the linear model ``y = a + b x + W d + u``, ``x = c + Z pi + W g + v``.

* :func:`tsls`: two-stage least squares with its homoskedastic (``"unadjusted"``) standard error and the
  Wald interval (the textbook estimator; e.g. Wooldridge 2010, ch. 5).
* :func:`first_stage`: the first-stage F statistic of the excluded instruments and their partial
  R-squared (Staiger & Stock 1997 call instruments weak when F < 10; Bound, Jaeger & Baker 1995).
* :func:`anderson_rubin_set`: the Anderson & Rubin (1949) confidence set for ``b`` by test inversion.
  Its size is right however weak the instruments are (Dufour 1997), and its shape says so: a bounded
  interval, the whole line, the union of two rays, or (over-identified only) empty. :class:`ARSet`
  represents each case explicitly rather than forcing an interval.
* :func:`sargan`: Sargan's (1958) over-identification statistic ``n R^2`` of the 2SLS residuals on all
  instruments, chi-squared with ``k - 1`` degrees of freedom under valid instruments.
* :func:`partial_out`, :func:`cross_products`, :func:`concentration`: the sufficient statistics the
  Bayesian model runs on and the posterior of the concentration parameter ``pi' Z'M Z pi / sigma_v^2``
  (Stock, Wright & Yogo 2002), computed per posterior draw.
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
    """Two-stage least squares for the treatment coefficient: estimate, standard error, Wald interval."""

    estimate: float
    se: float
    lower: float
    upper: float
    level: float
    coef: np.ndarray  # [intercept, W..., x]


def tsls(y, x, W, Z, level: float = 0.95, debiased: bool = False) -> TSLS:
    """2SLS of ``y`` on ``[1, W, x]`` with instruments ``[1, W, Z]``.

    The standard error is the homoskedastic one, ``s^2 (Xhat' Xhat)^-1`` with ``s^2 = e'e / n``
    (``/(n - dim)`` when ``debiased``), as linearmodels' ``IV2SLS(...).fit(cov_type="unadjusted")``.
    The Wald interval is ``estimate +- z se``: it is the interval that under-covers when instruments
    are weak (Staiger & Stock 1997), reported for comparison.
    """
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    n = len(y)
    A1 = with_intercept(W, n)
    A = np.column_stack([A1, Z])
    X = np.column_stack([A1, x])
    q = _orthobasis(A)
    Xhat = q @ (q.T @ X)
    coef = np.linalg.solve(Xhat.T @ X, Xhat.T @ y)
    e = y - X @ coef
    dof = n - X.shape[1] if debiased else n
    s2 = float(e @ e) / dof
    cov = s2 * np.linalg.inv(Xhat.T @ Xhat)
    est, se = float(coef[-1]), float(np.sqrt(cov[-1, -1]))
    z = stats.norm.ppf(0.5 + level / 2)
    return TSLS(est, se, est - z * se, est + z * se, level, coef)


@dataclass(frozen=True)
class FirstStage:
    """Strength of the excluded instruments in the first stage."""

    f_stat: float
    partial_r2: float
    df_num: int
    df_den: int
    p_value: float

    @property
    def weak(self) -> bool:
        return bool(self.f_stat < WEAK_F)


def first_stage(x, W, Z) -> FirstStage:
    """F test that the excluded instruments' coefficients are all zero (covariates kept), and the
    partial R-squared of the instruments: the share of the treatment's variance left after the
    covariates that the instruments explain."""
    x = np.asarray(x, float)
    Z = np.asarray(Z, float).reshape(len(x), -1)
    n, k = Z.shape
    A1 = with_intercept(W, n)
    x1 = partial_out(x, A1)
    Z1 = partial_out(Z, A1)
    rss_r = float(x1 @ x1)
    qz = _orthobasis(Z1)
    explained = float(np.sum((qz.T @ x1) ** 2))
    rss_u = rss_r - explained
    df_den = n - A1.shape[1] - k
    f = (explained / k) / (rss_u / df_den)
    return FirstStage(float(f), explained / rss_r, k, df_den, float(stats.f.sf(f, k, df_den)))


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


def anderson_rubin_set(y, x, W, Z, level: float = 0.95) -> ARSet:
    """Invert the Anderson-Rubin test over the treatment coefficient ``b0``.

    For each ``b0`` the AR statistic is the F test of the instruments in the regression of
    ``y - b0 x`` on ``[1, W, Z]``. Writing ``e(b0) = M1 (y - b0 x)`` (``M1`` removes ``[1, W]``),
    ``P`` the projection on the partialled instruments and ``M2 = M1 - P``, ``b0`` is accepted when
    ``e' P e / k <= c e' M2 e / (n - 1 - p - k)`` with ``c`` the F quantile, i.e. when the quadratic
    ``q(b0) = A b0^2 - 2 B b0 + C`` with the matrix ``P - c' M2`` is at most zero. The sign of ``A``
    and of the discriminant give the four shapes of :class:`ARSet` (Dufour & Taamouti 2005).
    """
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    Z = np.asarray(Z, float).reshape(len(y), -1)
    n, k = Z.shape
    A1 = with_intercept(W, n)
    y1, x1, Z1 = partial_out(y, A1), partial_out(x, A1), partial_out(Z, A1)
    df_den = n - A1.shape[1] - k
    crit = stats.f.ppf(level, k, df_den) * k / df_den
    qz = _orthobasis(Z1)
    py, px = qz.T @ y1, qz.T @ x1

    def form(a_p, b_p, a, b):  # a' (P - crit M2) b with M2 = M1 - P on partialled vectors
        pab = float(a_p @ b_p)
        return pab - crit * (float(a @ b) - pab)

    A = form(px, px, x1, x1)
    B = form(px, py, x1, y1)
    C = form(py, py, y1, y1)
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


@dataclass(frozen=True)
class Sargan:
    """Sargan's over-identification test: statistic, degrees of freedom, p-value."""

    statistic: float
    df: int
    p_value: float


def sargan(y, x, W, Z) -> Sargan:
    """``n R^2`` from regressing the 2SLS residuals on ``[1, W, Z]``; chi-squared with ``k - 1``
    degrees of freedom when all instruments are valid (homoskedastic errors). Needs ``k >= 2``."""
    y = np.asarray(y, float)
    Z = np.asarray(Z, float).reshape(len(y), -1)
    n, k = Z.shape
    if k < 2:
        raise ValueError("Sargan's test needs more instruments than endogenous regressors (k >= 2).")
    fit = tsls(y, x, W, Z)
    e = y - np.column_stack([with_intercept(W, n), x]) @ fit.coef
    A = np.column_stack([with_intercept(W, n), Z])
    resid = partial_out(e, A)
    ec = e - e.mean()
    r2 = 1.0 - float(resid @ resid) / float(ec @ ec)
    stat = n * r2
    return Sargan(float(stat), k - 1, float(stats.chi2.sf(stat, k - 1)))


def standardise(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns centred on their sample mean and scaled by their sample sd (ddof=1): ``(a_std, mean, sd)``."""
    a = np.asarray(a, float)
    mean = a.mean(axis=0)
    sd = a.std(axis=0, ddof=1)
    return (a - mean) / sd, mean, sd


def cross_products(Z: np.ndarray, x: np.ndarray, y: np.ndarray, W: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Sufficient statistics of the normal model: the cross-products ``D'D`` of ``D = M1 [Z, x, y]`` (the
    instruments, treatment and outcome with ``[1, W]`` partialled out) and ``n - dim([1, W])``.

    With flat priors on the intercepts and covariate coefficients these integrate out of the bivariate
    normal likelihood exactly, leaving ``-(n - q)/2 log|Omega| - tr(Omega^-1 E'E)/2`` where ``E'E`` is a
    quadratic form in ``D'D``: each likelihood evaluation costs O(k^2), whatever ``n``.
    """
    n = len(y)
    A1 = with_intercept(W, n)
    D = partial_out(np.column_stack([np.asarray(Z, float).reshape(n, -1), x, y]), A1)
    return D.T @ D, n - A1.shape[1]


def concentration(pi: np.ndarray, sigma_v: np.ndarray, zz: np.ndarray) -> np.ndarray:
    """Concentration parameter per draw: ``pi' (Z'M1 Z) pi / sigma_v^2``; ``pi`` (..., k), ``zz`` (k, k)."""
    return np.einsum("...i,ij,...j->...", pi, zz, pi) / sigma_v**2
