"""Randomization inference: the estimate against its distribution under permuted treatment labels.

Permuting the treatment column breaks any link between treatment and outcome while keeping both margins, so the
estimates from permuted data form the null distribution of the estimator (Fisher 1935; Imbens & Rubin 2015,
ch. 5). Two things come out of them: the randomization p-value of the real estimate, reported, and a check that
the method's intervals on permuted data exclude zero no more often than calibrated 95% intervals would (the
binomial rule of :func:`~bayescausal.checks.placebo.placebo_rate_check`): a method that "finds" effects of a
random label is not to be believed on the real one.
"""

from __future__ import annotations

import numpy as np

from .base import CheckResult
from .placebo import placebo_rate_check


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """Two-sided randomization p-value ``(1 + #{|null| >= |observed|}) / (1 + m)`` for ``m`` null estimates
    (the +1 counts the observed assignment itself, so the p-value is never 0; Phipson & Smyth 2010)."""
    null = np.asarray(null, dtype=float)
    return float((1 + np.sum(np.abs(null) >= abs(float(observed)))) / (1 + null.size))


def randomization_check(observed: float, null_estimates: np.ndarray, null_lower: np.ndarray,
                        null_upper: np.ndarray, name: str = "randomization inference",
                        what: str = "permuted-treatment fits") -> CheckResult:
    """Check that permuted-treatment intervals exclude zero only at the chance rate, and report the p-value.

    ``observed``: the real estimate (posterior mean); ``null_estimates``: one estimate per permutation;
    ``null_lower``/``null_upper``: their 95% intervals. The verdict is the binomial rule on the intervals; the
    message adds the randomization p-value of ``observed`` and the spread of the null distribution.
    """
    null = np.asarray(null_estimates, dtype=float)
    p = permutation_p_value(observed, null)
    lo, hi = np.quantile(null, [0.025, 0.975]) if null.size else (np.nan, np.nan)
    note = (f"Randomization p-value of the estimate {float(observed):.4g}: {p:.3f} over {null.size} permutations "
            f"(null distribution 95% range [{lo:.4g}, {hi:.4g}]).")
    labels = [f"permutation {i + 1}" for i in range(len(null))]
    return placebo_rate_check(null_lower, null_upper, labels, name, what, note=note)
