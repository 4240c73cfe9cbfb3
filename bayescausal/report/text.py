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


# What each kind of check catches, in plain words, keyed by the start of a check's name (longest match wins). The
# report says it before a failed check's own message, so a reader learns what went wrong and why it matters.
CATCHES = {
    "convergence": "the sampler did not settle on the posterior, so the numbers themselves are unreliable",
    "posterior predictive": "the model cannot reproduce the data it was fitted to",
    "one-step-ahead": "the model forecasts the pre-period worse than its intervals claim",
    "pre-period": "the model forecasts the pre-period worse than its intervals claim",
    "out-of-sample": "the model predicts held-out data worse than its intervals claim",
    "placebo": "the method finds effects where there are none by construction, so its intervals are too narrow "
               "or the design is biased",
    "a/a placebo": "the method finds effects between random halves of the control group, so its intervals are too "
                   "narrow",
    "placebo in time": "a counterfactual that drifts away from the outcome before the intervention (a trend or a "
                       "break the model does not follow)",
    "randomization": "the method finds effects of a random relabelling of the treatment",
    "negative control": "the adjustment leaves a difference on an outcome the treatment cannot have changed "
                        "(confounding or a wrong model)",
    "negative-control": "the adjustment leaves a difference on an outcome the treatment cannot have changed "
                        "(confounding or a wrong model)",
    "overlap": "treated and control units are not comparable everywhere, so the estimate extrapolates",
    "balance": "the adjusted groups still differ on a measured covariate",
    "covariate balance": "the adjusted groups still differ on a measured covariate",
    "outcome calibration": "an outcome model that is wrong in part of the data (a curve or an interaction it lacks)",
    "propensity calibration": "a propensity model that mispredicts who is treated in part of the data",
    "specification": "an answer that changes when the model is made more flexible, so the model's form drives it",
    "calibration within parent bins": "a mechanism of the wrong shape (the node's mean drifts away from the "
                                      "model's across a parent's range)",
    "within-stratum confounding": "treated and control units that still differ inside the strata on covariates "
                                  "that move the outcome (bins too coarse)",
    "residual autocorrelation": "structure over time the model leaves in its residuals (most often carry-over of "
                                "another shape or length)",
    "specification (effect heterogeneity)": "a pooled coefficient that is not the average effect on the treated, "
                                            "because effects differ by cohort or with time since adoption",
    "instrument strength": "an instrument too weak to identify the effect",
    "over-identification": "instruments that disagree, so at least one affects the outcome by another path",
    "serial correlation": "errors correlated over time that make the intervals too narrow",
    "pre-trends": "treated and comparison units already diverging before the treatment",
    "identification": "an effect the graph cannot identify from the observed variables",
    "independence": "a graph whose implied independences the data contradict",
}


def catches(name: str) -> str:
    """What a check named ``name`` catches (``CATCHES``; empty when unknown)."""
    low = name.lower()
    keys = [k for k in CATCHES if low.startswith(k)]
    return CATCHES[max(keys, key=len)] if keys else ""


def _failed_sentence(c: CheckResult) -> str:
    what = catches(c.name)
    lead = f"The {c.name} check catches {what}; it found: " if what else ""
    return lead + c.message


def checks_sentences(checks: Sequence[CheckResult]) -> tuple[str, str]:
    """(opening warning, closing summary). The warning is empty when every check ran and passed; for each failed
    check it says what that check catches (``CATCHES``) and what it found."""
    failed = [c for c in checks if c.passed is False]
    not_run = [c for c in checks if c.passed is None]
    opening = ""
    if failed:
        names = ", ".join(c.name for c in failed)
        opening = (f"Warning: the {names} check{'s' if len(failed) > 1 else ''} failed, so no causal claim "
                   f"should rest on this fit. " + " ".join(_failed_sentence(c) for c in failed))
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
