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


def binomial_tail(k: int, n: int, p: float) -> float:
    """``P(K >= k)`` for ``K ~ Binomial(n, p)`` (exact sum; n is a number of placebos, so small)."""
    from math import comb

    if k <= 0:
        return 1.0
    return float(min(1.0, sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))))


def placebo_rate_check(lower: np.ndarray, upper: np.ndarray, labels: list[str], name: str, what: str,
                       rate: float = 0.05, alpha: float = 0.05, excluded: list[str] | None = None,
                       note: str = "") -> CheckResult:
    """Placebo intervals may exclude zero only as often as calibrated intervals would by chance.

    With ``n`` placebo fits, even calibrated 95% intervals exclude zero in about 5% of them, so
    requiring all ``n`` to contain zero fails good models ever more often as ``n`` grows (with 20
    placebos, 64% of the time). The rule here: the number ``k`` excluding zero must not be improbably
    large for independent intervals that each miss with probability ``rate`` (``1 - level``): the
    check fails when ``P(Binomial(n, rate) >= k) < alpha``. With 5 placebos one miss passes
    (tail 0.23) and two fail (0.023); with 10, two pass (0.086) and three fail (0.012).

    ``excluded``: placebo units left out of the verdict beforehand (e.g. for a poor pre-period fit),
    listed in the message; ``note``: a sentence appended to the message (e.g. a permutation p-value).
    The statistic is the binomial tail probability.
    """
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)
    excludes = (lower > 0) | (upper < 0)
    n = len(lower)
    threshold = f"P(Binomial(n, {rate:g}) >= misses) >= {alpha:g}"
    excluded_text = ""
    if excluded:
        excluded_text = (f" Left out for a poor pre-period fit: {', '.join(excluded)}.")
    if n == 0:
        return CheckResult(name, None, None, None, f"not run: no {what} could be used.{excluded_text}"
                           + (f" {note}" if note else ""))
    k = int(excludes.sum())
    tail = binomial_tail(k, n, rate)
    passed = bool(tail >= alpha)
    flagged = [lab for lab, e in zip(labels, excludes, strict=True) if e]
    message = (f"{n - k} of {n} {what} have intervals containing zero; {k} exclude it, "
               f"{'as' if passed else 'more often than'} expected by chance at a {rate:.0%} rate "
               f"(binomial tail p = {tail:.3f}, fails below {alpha:g}).")
    if flagged:
        message += " Excluding zero: " + ", ".join(flagged) + "."
    if not passed:
        message += (" The method finds effects where none exists on these units, so its estimate for the treated "
                    "unit is not reliable: look for shocks shared by some units, or a donor pool that cannot "
                    "reproduce the units' paths.")
    message += excluded_text + (f" {note}" if note else "")
    return CheckResult(name, passed, round(tail, 4), threshold, message)
