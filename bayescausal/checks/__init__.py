"""Checks run by every fit: convergence, posterior predictive, placebo (A/A), and more per method."""

from .base import CheckResult, normalise_level, skipped
from .convergence import ESS_PER_CHAIN_MIN, RHAT_MAX, convergence_check
from .placebo import placebo_interval_check, placebo_rate_check
from .predictive import interval_coverage_check
from .randomization import permutation_p_value, randomization_check

__all__ = [
    "CheckResult", "ESS_PER_CHAIN_MIN", "RHAT_MAX", "convergence_check", "interval_coverage_check",
    "normalise_level", "permutation_p_value", "placebo_interval_check", "placebo_rate_check",
    "randomization_check", "skipped",
]
