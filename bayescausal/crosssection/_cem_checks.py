"""CEM's prognostic-balance check: does confounding remain *within* the strata? (pure NumPy).

Matching on bins balances the covariates only as far as the bins are narrow. With few bins per column (the
automatic rule gives 2-4 at eight or more covariates) the treated can sit systematically higher than the controls
inside every bin, each covariate's standardised mean difference staying under 0.1 while the outcome, which varies
within the bins, adds these small differences into a bias of several posterior sds. The balance check weighs
every covariate alike; this check weighs them by how much the outcome moves with them.

Statistic. A prognostic model (Hansen 2008, "The prognostic analogue of the propensity score", Biometrika
95(2):481-488) fitted on the matched controls *within* strata: the outcome regressed on each binned numeric
covariate's value separately within each of its bins (a line per bin, so a curved surface is followed bin by bin),
after removing every stratum's mean (stratum fixed effects, so only within-stratum variation is used). Its
prediction ``u`` is compared between the groups with the CEM weights:

    B = sum_s w_s (mean of u over the treated of s - mean of u over the controls of s),

the part of the matched difference in outcomes that the covariates' residual imbalance explains: the bias that
the bias-corrected matching estimator of Abadie & Imbens (2011, "Bias-corrected matching estimators for average
treatment effects", J. Business & Economic Statistics 29(1):1-11) removes. Under CEM's own assumption (treatment
as-if random within strata) ``B`` has mean 0 and, with the model held fixed, the exact variance of a stratified
randomised experiment, ``sum_s w_s^2 S_s^2 (1/n_t,s + 1/n_c,s)`` with ``S_s^2`` the within-stratum variance of
``u`` (Imbens & Rubin 2015, ch. 9); testing balance by its randomization distribution within strata is Hansen &
Bowers' (2008, Statistical Science 23(2):219-236) approach.

The check fails when ``B`` is both *material*, at least half a posterior sd of the effect (a bias of half an sd
lowers a 95% interval's coverage to about 92%, of one sd to 83%), and *beyond chance*, at least three of its
randomization sds (so chance imbalance, which the posterior already carries, does not fail it).
"""

from __future__ import annotations

import numpy as np

from . import _cem_math as cm

MATERIAL_SDS = 0.5  # |B| in posterior sds of the effect at which the bias matters
CHANCE_Z = 3.0  # |B| in randomization sds beyond which it is not chance
MAX_FIT_ROWS = 200_000  # matched controls the prognostic model is fitted on (a random subset beyond this)
RIDGE = 1e-8  # relative ridge on the normal equations, for bins where a column barely varies


def standardise(x: np.ndarray) -> np.ndarray:
    """``(x - mean) / sd`` (sd 1 when ``x`` is constant)."""
    x = np.asarray(x, dtype=float)
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def bin_features(z: np.ndarray, codes: np.ndarray, bins: int) -> np.ndarray:
    """``(n, bins)``: the value ``z`` in the column of its bin, 0 elsewhere (a line per bin)."""
    out = np.zeros((len(z), bins))
    out[np.arange(len(z)), np.asarray(codes, dtype=np.int64)] = z
    return out


def within_demean(a: np.ndarray, stratum: np.ndarray, n_strata: int) -> np.ndarray:
    """``a`` (n,) or (n, k) less each row's stratum mean (over the rows given)."""
    a = np.asarray(a, dtype=float)
    n = np.maximum(np.bincount(stratum, minlength=n_strata), 1)
    if a.ndim == 1:
        return a - (np.bincount(stratum, weights=a, minlength=n_strata) / n)[stratum]
    means = np.stack([np.bincount(stratum, weights=a[:, k], minlength=n_strata) for k in range(a.shape[1])], 1)
    return a - means[stratum] / n[stratum, None]


def within_slopes(features: np.ndarray, y: np.ndarray, stratum: np.ndarray, n_strata: int) -> np.ndarray:
    """OLS slopes of ``y`` on ``features`` with stratum fixed effects (both demeaned within strata)."""
    f = within_demean(features, stratum, n_strata)
    r = within_demean(y, stratum, n_strata)
    xtx = f.T @ f
    ridge = RIDGE * max(float(np.trace(xtx)), 1e-300) / max(len(xtx), 1)
    return np.linalg.solve(xtx + ridge * np.eye(len(xtx)), f.T @ r)


def weighted_difference(u: np.ndarray, stratum: np.ndarray, t: np.ndarray, n_t: np.ndarray, n_c: np.ndarray,
                        kept: np.ndarray, estimand: str) -> tuple[float, float]:
    """``(B, sd)``: the estimand-weighted sum over kept strata of the treated-minus-control difference in mean
    ``u``, and its sd under random assignment within strata (``u`` fixed; see the module docstring)."""
    t = np.asarray(t).astype(bool)
    n_strata = len(n_t)
    sum_t = np.bincount(stratum[t], weights=u[t], minlength=n_strata)
    sum_c = np.bincount(stratum[~t], weights=u[~t], minlength=n_strata)
    idx = np.flatnonzero(kept)
    nt, nc = n_t[idx].astype(float), n_c[idx].astype(float)
    w = cm.estimand_weights(nt, nc, estimand)
    diff = sum_t[idx] / nt - sum_c[idx] / nc
    n_all = nt + nc
    total = (sum_t + sum_c)[idx]
    ss = np.bincount(stratum, weights=u * u, minlength=n_strata)[idx] - total**2 / n_all
    s2 = np.where(n_all > 1, np.maximum(ss, 0.0) / np.maximum(n_all - 1, 1), 0.0)
    return float(w @ diff), float(np.sqrt(np.sum(w**2 * s2 * (1 / nt + 1 / nc))))


def prognostic_bias(columns: list[tuple[np.ndarray, np.ndarray, int]], y: np.ndarray, t: np.ndarray,
                    stratum: np.ndarray, n_t: np.ndarray, n_c: np.ndarray, kept: np.ndarray, estimand: str,
                    rng: np.random.Generator) -> tuple[float, float, np.ndarray]:
    """``(B, sd_B, parts)``: the prognostic bias of the module docstring, its randomization sd and each column's
    part of ``B`` (they sum to it), from ``columns``: ``(x, bin codes, bins)`` of each binned numeric covariate."""
    if not columns:
        return 0.0, 0.0, np.zeros(0)
    t = np.asarray(t).astype(bool)
    n_strata = len(n_t)
    fit_rows = np.flatnonzero(~t & kept[stratum])
    if len(fit_rows) > MAX_FIT_ROWS:
        fit_rows = np.sort(rng.choice(fit_rows, MAX_FIT_ROWS, replace=False))
    s_fit = stratum[fit_rows]
    feats = np.concatenate([bin_features(standardise(x)[fit_rows], c[fit_rows], b) for x, c, b in columns], axis=1)
    beta = within_slopes(feats, np.asarray(y, dtype=float)[fit_rows], s_fit, n_strata)
    u = np.zeros(len(y))
    parts = []
    k = 0
    for x, c, b in columns:  # u over every row, a covariate at a time (its bin's slope times its value): one z held
        u_j = standardise(x)
        u_j *= beta[k + np.asarray(c, dtype=np.int64)]
        parts.append(weighted_difference(u_j, stratum, t, n_t, n_c, kept, estimand)[0])
        u += u_j
        k += b
    b_hat, sd = weighted_difference(u, stratum, t, n_t, n_c, kept, estimand)
    return b_hat, sd, np.asarray(parts)


def verdict(bias: float, sd_random: float, sd_posterior: float) -> bool:
    """True (passes) unless the bias is both material and beyond chance (module docstring)."""
    material = abs(bias) >= MATERIAL_SDS * sd_posterior
    beyond_chance = abs(bias) >= CHANCE_Z * sd_random
    return not (material and beyond_chance)
