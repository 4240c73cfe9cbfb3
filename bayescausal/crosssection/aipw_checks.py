"""The AIPW checks that can see a misspecified nuisance model (the pandas side of ``_calibration.py``).

* ``outcome calibration``: the outcome model's residuals within bins of every covariate and of the propensity
  score, per arm (binned z-statistics, Bonferroni across bins at family level ``CALIBRATION_ALPHA``).
* ``propensity calibration``: observed against predicted treatment rates within the deciles of the propensity
  score (Hosmer & Lemeshow 1980, Commun. Stat. A9:1043, as a family of per-decile tests) and within bins of every
  covariate.
* ``specification``: the estimate refitted with more flexible nuisance models; fails when the refit's posterior
  mean lies outside the fit's 95% interval (the effect moved by more than its interval allows).

Why all three: the overall posterior predictive and the balance checks compare averages over all units, and a
linear outcome model fitted by least squares reproduces every arm's overall mean (and a logistic propensity model
nearly balances the covariates' means) however wrong it is elsewhere. The binned checks see curvature and
interactions the models miss; the specification check says whether what they miss moves the answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks.base import CheckResult
from . import _calibration as cal


def binnings(covariates: pd.DataFrame, e_hat: np.ndarray, rows: np.ndarray) -> list[cal.Binning]:
    """Bins of the units in ``rows``: quantile bins of each numeric covariate, the levels of each categorical one,
    and the deciles of the propensity score."""
    out = []
    for name in covariates.columns:
        s = covariates[name][rows]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = np.asarray(s.cat.codes)
            out.append(cal.Binning(str(name), codes, [f"= {c}" for c in s.cat.categories]))
        else:
            codes, labels = cal.quantile_codes(np.asarray(s, float), cal.NUMERIC_BINS)
            out.append(cal.Binning(str(name), codes, labels))
    codes, labels = cal.quantile_codes(e_hat[rows], cal.PROPENSITY_BINS)
    out.append(cal.Binning("propensity score", codes, labels))
    return out


def _table(rows: list[dict]) -> pd.DataFrame:
    cols = ["variable", "bin", "units", "residual_mean", "misfit", "z", "p"]
    table = pd.DataFrame(rows, columns=(["arm"] if rows and "arm" in rows[0] else []) + cols)
    return table.sort_values("p").reset_index(drop=True)


def _calibration_result(name: str, rows: list[dict], what: str, where: str, advice: str):
    """The CheckResult and table of a binned calibration check: ``what`` names the quantity compared (e.g. "mean
    of spend"), ``where`` the bins, ``advice`` the sentence added on failure."""
    passed, adj, worst = cal.verdict(rows)
    table = _table(rows)
    if worst is None:
        return CheckResult(name, None, None, None, "not run: no bin had enough units"), table
    arm = f"{worst['arm']} units with " if "arm" in worst else ""
    msg = (f"{len(rows)} bins ({where}); the {'worst' if passed else 'failing'} bin is {arm}{worst['variable']} "
           f"{worst['bin']}: observed {what} off the model's by {worst['residual_mean']:+.4g}, "
           f"{abs(worst['misfit']):.2f} of the units' sd (z = {worst['z']:.2f}, Bonferroni-adjusted p = {adj:.3g}; "
           f"a bin fails below {cal.CALIBRATION_ALPHA:g} with a misfit of at least {cal.MIN_MISFIT:g} sd).")
    if not passed:
        msg += " " + advice
    threshold = f"no bin with Bonferroni-adjusted p < {cal.CALIBRATION_ALPHA:g} and misfit >= {cal.MIN_MISFIT:g} sd"
    return CheckResult(name, passed, round(adj, 6), threshold, msg), table


def outcome_calibration_check(y, t, mu0, mu1, var0, var1, bins: list[cal.Binning], outcome: str,
                              binary: bool) -> tuple[CheckResult, pd.DataFrame]:
    """Binned residuals of the outcome model within each arm. ``mu*``: posterior-mean predictions of every unit
    under control and treatment; ``var*``: their predictive variances (arrays over the same units as ``y``)."""
    rows = []
    for arm, label, mu, var in ((0, "control", mu0, var0), (1, "treated", mu1, var1)):
        m = t == arm
        for r in cal.binned_z(y - mu, var, bins, mask=m):
            rows.append({"arm": label, **r})
    return _calibration_result(
        "outcome calibration", rows, "share of positive outcomes" if binary else f"mean of {outcome}",
        "each covariate's quantile bins or levels and the propensity deciles, per arm",
        "The outcome model is wrong in part of the covariate space (a curvature or an interaction it lacks): the "
        "estimate then rests on the propensity model alone. Use outcome_model='spline' (or 'logistic_spline'), add "
        "the missing transformation of that covariate, or compare with the specification check.")


def propensity_calibration_check(t, e_hat, bins: list[cal.Binning]) -> tuple[CheckResult, pd.DataFrame]:
    """Observed against predicted treatment rates within bins of each covariate and the propensity deciles."""
    rows = cal.binned_z(t - e_hat, e_hat * (1.0 - e_hat), bins)
    return _calibration_result(
        "propensity calibration", rows, "share treated",
        "each covariate's quantile bins or levels and the propensity deciles",
        "The propensity model mispredicts who is treated in part of the covariate space, so its weights do not "
        "balance the groups there: the estimate then rests on the outcome model alone. Use "
        "propensity_model='spline' or add the missing transformation of that covariate.")


def specification_check(mean: float, lower: float, upper: float, refit_mean: float, refit_lower: float,
                        refit_upper: float, models: str, refit_models: str) -> tuple[CheckResult, pd.DataFrame]:
    """Fails when the refit with more flexible models has its posterior mean outside this fit's 95% interval."""
    half = max((upper - lower) / 2.0, 1e-300)
    moved = abs(refit_mean - mean) / half
    passed = bool(lower <= refit_mean <= upper)
    msg = (f"with {refit_models} the estimate is {refit_mean:.4g} (95% interval {refit_lower:.4g} to "
           f"{refit_upper:.4g}) against {mean:.4g} ({lower:.4g} to {upper:.4g}) with {models}: it moved by "
           f"{moved:.2f} of this fit's interval half-width (fails above 1).")
    if not passed:
        msg += (" The answer depends on the nuisance models' form, so at least one of them is misspecified: the "
                "more flexible fit is the one to believe if its own checks pass.")
    table = pd.DataFrame({"models": [models, refit_models], "mean": [mean, refit_mean],
                          "lower": [lower, refit_lower], "upper": [upper, refit_upper]})
    return CheckResult("specification", passed, round(moved, 4), "moved by <= 1 interval half-width", msg), table
