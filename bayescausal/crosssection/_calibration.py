"""Calibration of a fitted model within bins: do its predictions match the observed averages everywhere?

Pure NumPy. A model can be right on average and wrong in parts of the covariate space (a missing curvature, a
missing interaction): the overall posterior predictive check cannot see that, binned residuals can (the binned
residual plots of Gelman & Hill 2007, section 5.6, made into a test). For each bin ``b`` of units,

    z_b = sum_{i in b} (y_i - m_i) / sqrt(sum_{i in b} v_i)

where ``m_i`` is the model's posterior-mean prediction of unit ``i`` and ``v_i`` its predictive variance (the
error variance of a Gaussian model, ``m (1 - m)`` of a Bernoulli one). Under the model each ``z_b`` is about
standard normal (slightly narrower in sample, as fitted residuals are: the test errs on the quiet side). The
family of bins is tested with Bonferroni's correction: the check fails when the smallest two-sided p-value times
the number of bins is below ``alpha``.

Bins are the quantile bins of each numeric covariate, the levels of each categorical one, and the quantile bins
of the propensity score; for an outcome model they are taken within each arm (treated, control), as each arm has
its own regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CALIBRATION_ALPHA = 0.01  # family-wise level of the binned calibration tests (Bonferroni across all bins)
MIN_BIN_UNITS = 20  # bins with fewer units are not tested (too noisy for the normal approximation)
NUMERIC_BINS = 5  # quantile bins of a numeric covariate
PROPENSITY_BINS = 10  # deciles of the propensity score (Hosmer & Lemeshow 1980)


def quantile_codes(x: np.ndarray, k: int) -> tuple[np.ndarray, list[str]]:
    """Bin codes (0..m-1) of ``x`` by its ``k`` quantile bins and their labels. A column with at most ``k``
    distinct values gets one bin per value; tied quantiles merge bins, so fewer than ``k`` may return."""
    x = np.asarray(x, float)
    values = np.unique(x)
    if len(values) <= k:
        codes = np.searchsorted(values, x)
        return codes, [f"= {v:.4g}" for v in values]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, k + 1)[1:-1]))
    codes = np.searchsorted(edges, x, side="right")
    bounds = np.concatenate([[x.min()], edges, [x.max()]])
    labels = [f"{bounds[j]:.4g} to {bounds[j + 1]:.4g}" for j in range(len(edges) + 1)]
    return codes, labels


@dataclass(frozen=True)
class Binning:
    """One way of cutting the units into bins: ``variable`` (what is binned), ``codes`` (n,) and ``labels``."""

    variable: str
    codes: np.ndarray
    labels: list[str]


def binned_z(resid: np.ndarray, var: np.ndarray, binnings: list[Binning], mask: np.ndarray | None = None,
             min_units: int = MIN_BIN_UNITS) -> list[dict]:
    """One row per tested bin: ``variable``, ``bin``, ``units``, ``observed`` and ``predicted`` are left to the
    caller; here ``residual_mean`` (the bin's mean of ``resid``), ``z`` and two-sided ``p`` (module docstring).

    ``mask`` restricts to some units (e.g. one arm). Bins with fewer than ``min_units`` units are skipped."""
    resid, var = np.asarray(resid, float), np.asarray(var, float)
    m = np.ones(len(resid), bool) if mask is None else np.asarray(mask, bool)
    rows = []
    for b in binnings:
        k = len(b.labels)
        codes = b.codes[m]
        n = np.bincount(codes, minlength=k)
        s = np.bincount(codes, weights=resid[m], minlength=k)
        v = np.bincount(codes, weights=var[m], minlength=k)
        for j in range(k):
            if n[j] < min_units or v[j] <= 0:
                continue
            z = float(s[j] / np.sqrt(v[j]))
            rows.append({"variable": b.variable, "bin": b.labels[j], "units": int(n[j]),
                         "residual_mean": float(s[j] / n[j]), "z": z, "p": float(2 * stats.norm.sf(abs(z)))})
    return rows


def bonferroni(rows: list[dict], alpha: float = CALIBRATION_ALPHA) -> tuple[bool, float, dict | None]:
    """``(passed, adjusted p of the worst bin, worst row)``: passed when ``min p * bins >= alpha``."""
    if not rows:
        return True, 1.0, None
    worst = min(rows, key=lambda r: r["p"])
    adj = min(1.0, worst["p"] * len(rows))
    return adj >= alpha, adj, worst
