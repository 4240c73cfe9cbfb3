"""Placebo (A/A) checks: fits where the true effect is zero by construction."""

from __future__ import annotations

import numpy as np

from .base import CheckResult


def placebo_interval_check(lower: np.ndarray, upper: np.ndarray, labels: list[str], name: str,
                           what: str) -> CheckResult:
    """Every placebo interval must contain zero; reports the empirical false-positive rate.

    ``lower``/``upper`` hold one interval per placebo fit (fake intervention date, fake treated unit, ...).
    """
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)
    excludes = (lower > 0) | (upper < 0)
    n = len(lower)
    rate = float(excludes.mean()) if n else float("nan")
    flagged = [lab for lab, e in zip(labels, excludes, strict=True) if e]
    if n == 0:
        return CheckResult(name, None, None, None, f"not run: no {what} could be formed")
    passed = not flagged
    message = f"{n - len(flagged)} of {n} {what} have intervals containing zero (false-positive rate {rate:.0%})."
    if flagged:
        message += (" Effects were 'found' where none exists at " + ", ".join(flagged)
                    + ": the model finds spurious effects on this series, so its real estimate is not reliable.")
    return CheckResult(name, passed, rate, "every interval contains 0", message)
