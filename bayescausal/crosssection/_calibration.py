"""Calibration of a fitted model within bins: do its predictions match the observed averages everywhere?

Pure NumPy. A model can be right on average and wrong in parts of the covariate space (a missing curvature, a
missing interaction): the overall posterior predictive check cannot see that, binned residuals can (the binned
residual plots of Gelman & Hill 2007, section 5.6, made into a test). For each bin ``b`` of units,

    z_b = sum_{i in b} (y_i - m_i) / sqrt(sum_{i in b} v_i)

where ``m_i`` is the model's posterior-mean prediction of unit ``i`` and ``v_i`` its predictive variance (the
error variance of a Gaussian model, ``m (1 - m)`` of a Bernoulli one). Under the model each ``z_b`` is about
standard normal (slightly narrower in sample, as fitted residuals are: the test errs on the quiet side).

A bin fails when its misfit is both real and not negligible: its two-sided p-value times the number of bins
(Bonferroni) is below ``alpha``, and its mean residual is at least ``MIN_MISFIT`` (a tenth) of the units'
predictive sd in that bin. Why the second condition: every model is wrong, and with enough rows any misfit is
significant (on 300,000 simulated customers a spline outcome model that is off by 4% of the noise sd in one age
bin had z = 12.6, while the estimate covered the truth); a misfit below a tenth of the noise sd in a bin cannot
move a doubly robust estimate much when the other model is right. Whether the answer depends on the models' form
at all is the specification check's question.

Bins are the quantile bins of each numeric covariate, the levels of each categorical one, and the quantile bins
of the propensity score; for an outcome model they are taken within each arm (treated, control), as each arm has
its own regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CALIBRATION_ALPHA = 0.01  # family-wise level of the binned calibration tests (Bonferroni across all bins)
MIN_MISFIT = 0.1  # a bin's mean residual must also reach this share of its units' predictive sd to fail
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
                         "residual_mean": float(s[j] / n[j]), "misfit": float(s[j] / n[j] / np.sqrt(v[j] / n[j])),
                         "z": z, "p": float(2 * stats.norm.sf(abs(z)))})
    return rows


def verdict(rows: list[dict], alpha: float = CALIBRATION_ALPHA,
            min_misfit: float = MIN_MISFIT) -> tuple[bool, float, dict | None]:
    """``(passed, Bonferroni-adjusted p, the bin reported)``. A bin fails when ``p * bins < alpha`` and its
    ``|misfit|`` (mean residual over the bin's predictive sd) is at least ``min_misfit``; the bin reported is the
    failing bin with the smallest p, or, when none fails, the bin with the smallest p."""
    if not rows:
        return True, 1.0, None
    m = len(rows)
    failing = [r for r in rows if r["p"] * m < alpha and abs(r["misfit"]) >= min_misfit]
    worst = min(failing or rows, key=lambda r: r["p"])
    return not failing, min(1.0, worst["p"] * m), worst
