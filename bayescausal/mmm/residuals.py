"""The residual autocorrelation check of the marketing mix model: a posterior predictive check in time.

Why: carry-over of another shape than the model's adstock (a peak some weeks after the spend, or a lag longer
than ``l_max``) leaves the part of each channel's effect that the adstock cannot place in the residuals. Spend
moves smoothly from week to week, so that left-over part is autocorrelated, while the model's noise is
independent across weeks. The fit's predictive coverage of single weeks does not see it (the noise scale grows to
cover it), and neither does a placebo channel; the residuals' autocorrelation does. Measured on the check-power
benchmark (benchmarks/check_power_mmm.py): with a delayed carry-over, the default model's ROAS intervals missed
the truth in most fits while every other check passed.

Statistic (posterior predictive check with a realised discrepancy, Gelman, Meng & Stern 1996; Gelman et al.,
*Bayesian Data Analysis*, 3rd ed., section 6.3): for each posterior draw ``s`` the Ljung-Box statistic (Ljung &
Box 1978) of the residuals ``y - mu_s`` over lags ``1..h``,

    Q(e) = T (T + 2) sum_{k=1..h} r_k(e)^2 / (T - k),      r_k the lag-k autocorrelation of the centred series,

summed over geos, against the same statistic of the draw's replicated residuals ``y_rep_s - mu_s`` (the model's
own noise). The check reports ``p = Pr(Q(y_rep - mu) >= Q(y - mu) | y)`` and fails when ``p`` is below
:data:`P_THRESHOLD`. Posterior predictive p-values are conservative (they pile up near 1/2 when the model is
adequate; Meng 1994), so a 0.05 threshold keeps false alarms well below 5%.

Pure numpy; ``CheckResult`` is the only import from the package.
"""

from __future__ import annotations

import numpy as np

from ..checks.base import CheckResult

LAGS = 4  # lags 1..4: a delayed or long carry-over leaves structure there (chosen on pilot seeds 1000-1021)
P_THRESHOLD = 0.05


def autocorrelations(e: np.ndarray, lags: int) -> np.ndarray:
    """Lag ``1..lags`` autocorrelations of each series along the last axis (centred): shape ``(..., lags)``."""
    e = np.asarray(e, float)
    e = e - e.mean(axis=-1, keepdims=True)
    denom = np.maximum(np.sum(e * e, axis=-1), 1e-300)
    return np.stack([np.sum(e[..., k:] * e[..., :-k], axis=-1) / denom for k in range(1, lags + 1)], axis=-1)


def ljung_box(e: np.ndarray, lags: int) -> np.ndarray:
    """Ljung-Box ``Q`` over lags ``1..lags`` of each series along the last axis: shape ``e.shape[:-1]``."""
    T = np.shape(e)[-1]
    if lags >= T:
        raise ValueError(f"lags={lags} needs a series longer than {lags} points (got {T}).")
    r = autocorrelations(e, lags)
    k = np.arange(1, lags + 1)
    return T * (T + 2) * np.sum(r * r / (T - k), axis=-1)


def predictive_p_value(observed: np.ndarray, mu: np.ndarray, y_rep: np.ndarray, lags: int = LAGS) -> float:
    """``Pr(Q(y_rep - mu) >= Q(y - mu))`` over draws: ``observed`` ``(G, T)``, ``mu`` and ``y_rep`` ``(S, G, T)``
    (the draws' means and replicated outcomes), ``Q`` summed over the ``G`` series."""
    q_obs = ljung_box(np.asarray(observed)[None] - mu, lags).sum(axis=-1)
    q_rep = ljung_box(np.asarray(y_rep) - mu, lags).sum(axis=-1)
    return float(np.mean(q_rep >= q_obs))


def residual_autocorrelation_check(observed: np.ndarray, mu: np.ndarray, y_rep: np.ndarray, lags: int = LAGS,
                                   threshold: float = P_THRESHOLD, l_max: int = 8) -> CheckResult:
    """The check (see the module doc): fails when the posterior predictive p-value of the residuals' Ljung-Box
    statistic over lags ``1..lags`` is below ``threshold``. ``l_max`` (the model's adstock length) is named in
    the advice."""
    observed, mu, y_rep = (np.asarray(a, float) for a in (observed, mu, y_rep))
    T = observed.shape[-1]
    lags = min(lags, T - 1)
    p = predictive_p_value(observed, mu, y_rep, lags)
    r1 = float(autocorrelations(observed[None] - mu, 1).mean())
    passed = bool(p >= threshold)
    msg = (f"The residuals' autocorrelation over lags 1 to {lags} (Ljung-Box statistic, lag-1 autocorrelation "
           f"{r1:.2f}) is {'within' if passed else 'beyond'} what the model's own noise produces: posterior "
           f"predictive p = {p:.3f} (fails below {threshold}).")
    if not passed:
        msg += (" The fit leaves structure over time that the model does not explain. Most often the carry-over "
                "of some channel has another shape or length than the adstock allows (a peak some weeks after "
                f"the spend, or effects lasting beyond l_max = {l_max} weeks), or the baseline moves in ways the "
                "trend and seasonality miss; either way the channels' ROAS and contributions may be biased. Refit "
                "with adstock='weibull_pdf' (a delayed peak) or a longer l_max, or add controls or a flexible "
                "trend, and compare.")
    return CheckResult("residual autocorrelation", passed, p, threshold, msg)
