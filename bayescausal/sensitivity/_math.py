"""Sensitivity to unmeasured confounding: the closed-form quantities, pure NumPy (no pandas, no NumPyro).

Every function is elementwise over NumPy arrays and does no input validation (the public modules
validate and raise :class:`~bayescausal.errors.SpecError`).

E-value (VanderWeele & Ding 2017, Ann. Intern. Med. 167:268, Table and Appendix):

* the E-value of a risk ratio ``RR >= 1`` is ``RR + sqrt(RR (RR - 1))``; a protective ``RR < 1`` uses
  ``1 / RR``. It is the smallest risk-ratio association an unmeasured confounder must have with both
  treatment and outcome (beyond the measured covariates) to move the risk ratio to 1 (Ding & VanderWeele
  2016, Epidemiology 27:368, the bounding factor ``RR_UD RR_EU / (RR_UD + RR_EU - 1)``).
* approximate conversions to a risk ratio: an odds ratio by its square root when the outcome is common
  (> 15%), as is when rare; a hazard ratio by ``(1 - 0.5**sqrt(HR)) / (1 - 0.5**sqrt(1/HR))`` when common,
  as is when rare; a standardised mean difference ``d`` by ``exp(0.91 d)`` (after Hasselblad & Hedges 1995);
  a risk difference with baseline risk ``p0`` by ``(p0 + diff) / p0``.

Omitted-variable bias in partial R-squared form (Cinelli & Hazlett 2020, JRSS-B 82:39, "Making sense of
sensitivity"), for the treatment coefficient of a linear regression with standard error ``se`` and ``dof``
residual degrees of freedom, and a confounder ``Z`` with partial R-squared ``r2dz = R2_{D~Z|X}`` with the
treatment and ``r2yz = R2_{Y~Z|D,X}`` with the outcome:

* ``|bias| = se * sqrt(dof) * sqrt(r2yz r2dz / (1 - r2dz))`` (an identity of OLS in sample);
* the long regression's standard error is ``se * sqrt((1 - r2yz) / (1 - r2dz)) * sqrt(dof / (dof - 1))``;
* the robustness value ``RV_q`` solves ``RV / sqrt(1 - RV) = f_q`` with ``f_q = q |t| / sqrt(dof)``
  (their eq. 19); with a significance level ``alpha`` see :func:`robustness_value`;
* benchmark bounds (their Section 6.1): a confounder ``k_d`` / ``k_y`` times as strong as covariate ``X_j``
  (in partial R-squared given the other covariates, and orthogonal to ``X_j`` given them) has
  ``r2dz = k_d r2dxj / (1 - r2dxj)`` exactly and ``r2yz <= eta^2 r2yxj / (1 - r2yxj)`` with
  ``eta = (sqrt(k_y) + |r_{Z,Xj|D,X-j}|) / sqrt(1 - r^2_{Z,Xj|D,X-j})`` and
  ``r^2_{Z,Xj|D,X-j} = k_d r2dxj^2 / ((1 - k_d r2dxj)(1 - r2dxj))``; see :func:`benchmark_bounds`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

COMMON_OUTCOME = 0.15  # VanderWeele & Ding (2017): an outcome is "common" above 15% prevalence
SMD_TO_LOG_RR = 0.91  # ln(RR) ~ 0.91 d (VanderWeele & Ding 2017, after Hasselblad & Hedges 1995)


# -- E-value ---------------------------------------------------------------------------------------
def evalue_rr(rr):
    """E-value of a risk ratio (``rr > 0``); ``rr < 1`` is inverted first, so ``E(rr) == E(1 / rr)``."""
    rr = np.asarray(rr, float)
    r = np.where(rr < 1.0, 1.0 / rr, rr)
    return r + np.sqrt(r * (r - 1.0))


def or_to_rr(odds_ratio, rare_outcome: bool):
    """Risk ratio from an odds ratio: as is for a rare outcome, its square root for a common one."""
    odds_ratio = np.asarray(odds_ratio, float)
    return odds_ratio if rare_outcome else np.sqrt(odds_ratio)


def hr_to_rr(hazard_ratio, rare_outcome: bool):
    """Risk ratio from a hazard ratio: as is for a rare outcome, VanderWeele's 0.5/sqrt rule for a common one."""
    hr = np.asarray(hazard_ratio, float)
    if rare_outcome:
        return hr
    # at HR = 1 both halves are 0/0; the limit is 1
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = (1.0 - 0.5 ** np.sqrt(hr)) / (1.0 - 0.5 ** np.sqrt(1.0 / hr))
    return np.where(hr == 1.0, 1.0, rr)


def smd_to_rr(d):
    """Risk ratio from a standardised mean difference ``d``: ``exp(0.91 d)``."""
    return np.exp(SMD_TO_LOG_RR * np.asarray(d, float))


def risk_difference_to_rr(diff, baseline):
    """Risk ratio from a risk difference and the control group's (baseline) risk."""
    baseline = np.asarray(baseline, float)
    return (baseline + np.asarray(diff, float)) / baseline


# -- OLS (for the Cinelli-Hazlett quantities and their tests) ---------------------------------------
def ols(y: np.ndarray, X: np.ndarray):
    """Least squares of ``y`` on the columns of ``X``: coefficients, classical standard errors, residual dof."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n, p = X.shape
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = n - p
    sigma2 = resid @ resid / dof
    _, r = np.linalg.qr(X)
    r_inv = np.linalg.inv(r)
    se = np.sqrt(sigma2 * np.sum(r_inv ** 2, axis=1))
    return coef, se, dof


# -- Cinelli & Hazlett ------------------------------------------------------------------------------
def partial_r2(t, dof):
    """Partial R-squared of a regressor from its t statistic: ``t^2 / (t^2 + dof)``."""
    t2 = np.asarray(t, float) ** 2
    return t2 / (t2 + dof)


def partial_f2(t, dof):
    """Cohen's partial f-squared, ``t^2 / dof`` (= R2 / (1 - R2))."""
    return np.asarray(t, float) ** 2 / dof


def critical_f(alpha: float, dof: float) -> float:
    """``|t*_{alpha/2, dof-1}| / sqrt(dof - 1)``: the partial f a confounded long regression must keep."""
    return float(abs(stats.t.ppf(alpha / 2.0, dof - 1)) / np.sqrt(dof - 1))


def _rv_diagonal(f):
    """Root ``r`` of ``r / sqrt(1 - r) = f`` (``f >= 0``): equal partial R-squared with D and Y."""
    f2 = np.asarray(f, float) ** 2
    return 0.5 * (np.sqrt(f2 ** 2 + 4.0 * f2) - f2)


def robustness_value(t, dof, q: float = 1.0, alpha: float | None = None):
    """Robustness value ``RV_q`` (``alpha=None``) or ``RV_{q,alpha}`` (Cinelli & Hazlett 2020).

    ``RV_q``: the partial R-squared a confounder needs with both treatment and outcome to move the estimate
    by ``100 q`` percent (to ``(1 - q) * estimate``). ``RV_{q,alpha}``: the smallest ``r`` such that a
    confounder with both partial R-squared at most ``r`` makes the ``1 - alpha`` interval include
    ``(1 - q) * estimate``. With ``f_q = q |t| / sqrt(dof)`` and ``f* = critical_f(alpha, dof)``:
    0 when ``f_q <= f*``; the equal-strength root of ``r / sqrt(1 - r) = f_q - f*`` when ``f_q < 1 / f*``;
    otherwise ``(f_q^2 - f*^2) / (1 + f_q^2)``, attained with a weaker outcome association
    ``r2yz = r / (r + f*^2)`` (the adjusted standard error shrinks as ``r2yz`` grows, so the equal-strength
    point is then not the weakest; the minimum of the adjusted t over ``r2yz`` at fixed ``r2dz = r`` is
    ``sqrt(dof - 1) sqrt(f_q^2 (1 - r) - r)``).
    """
    fq = q * np.abs(np.asarray(t, float)) / np.sqrt(dof)
    if alpha is None:
        return _rv_diagonal(fq)
    fc = critical_f(alpha, dof)
    diag = _rv_diagonal(np.maximum(fq - fc, 0.0))
    extreme = (fq ** 2 - fc ** 2) / (1.0 + fq ** 2)
    return np.where(fq <= fc, 0.0, np.where(fq * fc < 1.0, diag, extreme))


def ovb_bias(se, dof, r2dz, r2yz):
    """Absolute omitted-variable bias of the treatment coefficient for confounder strength ``(r2dz, r2yz)``."""
    r2dz = np.asarray(r2dz, float)
    return np.asarray(se, float) * np.sqrt(dof) * np.sqrt(np.asarray(r2yz, float) * r2dz / (1.0 - r2dz))


def adjusted_se(se, dof, r2dz, r2yz):
    """Standard error of the treatment coefficient in the long regression (with the confounder)."""
    r2dz = np.asarray(r2dz, float)
    r2yz = np.asarray(r2yz, float)
    return np.asarray(se, float) * np.sqrt((1.0 - r2yz) / (1.0 - r2dz)) * np.sqrt(dof / (dof - 1.0))


def adjusted_estimate(estimate, se, dof, r2dz, r2yz, reduce: bool = True):
    """Bias-adjusted estimate: moved toward zero by the bias (``reduce``) or away from it."""
    estimate = np.asarray(estimate, float)
    sign = np.where(estimate < 0, -1.0, 1.0)
    b = ovb_bias(se, dof, r2dz, r2yz)
    return estimate - sign * b if reduce else estimate + sign * b


def adjusted_t(estimate, se, dof, r2dz, r2yz, reduce: bool = True, h0: float = 0.0):
    """t statistic of the bias-adjusted estimate against ``h0`` with the long regression's standard error."""
    return (adjusted_estimate(estimate, se, dof, r2dz, r2yz, reduce) - h0) / adjusted_se(se, dof, r2dz, r2yz)


def benchmark_bounds(r2dxj, r2yxj, kd, ky):
    """Partial R-squared of a confounder ``kd`` / ``ky`` times as strong as benchmark covariate ``X_j``.

    ``r2dxj = R2_{D~Xj|X-j}`` (treatment regression), ``r2yxj = R2_{Y~Xj|D,X-j}`` (outcome regression).
    Returns ``(r2dz, r2yz)``: ``r2dz = R2_{D~Z|X}`` exactly and ``r2yz`` the upper bound on
    ``R2_{Y~Z|D,X}`` (Cinelli & Hazlett 2020, Section 6.1), derived from the recursion of partial
    correlations with ``r_{Z,Xj|X-j} = 0``: conditioning on the collider ``D`` makes
    ``r_{Z,Xj|D,X-j} = -r_{D,Z|X-j} r_{D,Xj|X-j} / sqrt((1 - R2_{D~Z|X-j})(1 - R2_{D~Xj|X-j}))``, and
    ``|r_{Y,Z|D,X}| <= |f_{Y~Xj|D,X-j}| (sqrt(ky) + |r_{Z,Xj|D,X-j}|) / sqrt(1 - r^2_{Z,Xj|D,X-j})``.
    The values are NaN where the multipliers are impossible (``kd r2dxj >= 1`` or ``r2dz >= 1``);
    ``r2yz`` is capped at 1.
    """
    r2dxj = np.asarray(r2dxj, float)
    r2yxj = np.asarray(r2yxj, float)
    kd = np.asarray(kd, float)
    ky = np.asarray(ky, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2dz = kd * r2dxj / (1.0 - r2dxj)
        r2zxj = kd * r2dxj ** 2 / ((1.0 - kd * r2dxj) * (1.0 - r2dxj))
        eta = (np.sqrt(ky) + np.sqrt(r2zxj)) / np.sqrt(1.0 - r2zxj)
        r2yz = np.minimum(eta ** 2 * r2yxj / (1.0 - r2yxj), 1.0)
    bad = (kd * r2dxj >= 1.0) | (r2dz >= 1.0) | (r2zxj >= 1.0)
    return np.where(bad, np.nan, r2dz), np.where(bad, np.nan, r2yz)
