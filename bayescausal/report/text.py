"""Plain-language text shared by all results: numbers, intervals and the checks' verdicts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..checks.base import CheckResult


def fmt(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, thousands separated, no scientific notation for
    everyday magnitudes."""
    if x is None or not np.isfinite(x):
        return "n/a"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax == 0:
        return "0"
    decimals = max(0, digits - 1 - int(np.floor(np.log10(ax))))
    return f"{x:,.{min(decimals, 6)}f}"


def pct(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.{digits}f}%"


def checks_sentences(checks: Sequence[CheckResult]) -> tuple[str, str]:
    """(opening warning, closing summary). The warning is empty when every check ran and passed."""
    failed = [c for c in checks if c.passed is False]
    not_run = [c for c in checks if c.passed is None]
    opening = ""
    if failed:
        names = ", ".join(c.name for c in failed)
        opening = (f"Warning: the {names} check{'s' if len(failed) > 1 else ''} failed, so no causal claim "
                   f"should rest on this fit. " + " ".join(c.message for c in failed))
    elif not_run:
        names = ", ".join(c.name for c in not_run)
        plural = "s" if len(not_run) > 1 else ""
        opening = f"Caution: the {names} check{plural} did not run, so this fit is not fully vetted."
    passed = [c for c in checks if c.passed]
    closing = ""
    if passed:
        closing = "Checks passed: " + "; ".join(f"{c.name} ({c.message.rstrip('.')})" for c in passed) + "."
    if not checks:
        closing = "No checks were run (checks=False): this result is not vetted."
    return opening, closing
