"""Posterior predictive checks shared by all methods."""

from __future__ import annotations

import numpy as np

from .base import CheckResult


def interval_coverage_check(observed: np.ndarray, lower: np.ndarray, upper: np.ndarray, nominal: float,
                            name: str, what: str, z: float = 3.0, interval: str = "one-step-ahead predictive",
                            advice: str | None = None) -> CheckResult:
    """Share of observations inside their predictive intervals against the nominal level.

    Fails when the coverage falls more than ``z`` binomial standard errors below ``nominal``: the
    model's predictive intervals are too narrow, so its effect intervals would be too. Over-coverage
    is reported but does not fail (wide intervals cost power, not validity). ``interval`` names the
    intervals in the message and ``advice`` replaces the failure advice (the defaults are the BSTS ones).
    """
    observed, lower, upper = (np.asarray(a, float) for a in (observed, lower, upper))
    ok = np.isfinite(observed)
    n = int(ok.sum())
    inside = (observed[ok] >= lower[ok]) & (observed[ok] <= upper[ok])
    coverage = float(inside.mean()) if n else float("nan")
    threshold = nominal - z * np.sqrt(nominal * (1 - nominal) / max(n, 1))
    passed = bool(coverage >= threshold)
    message = (
        f"{coverage:.1%} of {n} {what} fall inside their {nominal:.0%} {interval} intervals "
        f"(fails below {threshold:.1%})."
    )
    if not passed:
        message += " " + (advice or "The model's predictions are overconfident before the intervention, so its "
                          "effect intervals are too narrow: add seasonality or controls, or use a local linear trend.")
    return CheckResult(name, passed, coverage, round(float(threshold), 4), message)
