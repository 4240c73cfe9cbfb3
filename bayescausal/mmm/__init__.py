"""Bayesian marketing mix models: adstock, saturation, calibration by lift tests, budget optimisation."""

from .estimator import MMM
from .optimize import BudgetAllocation
from .priors import MMMPriors
from .result import MMMResult

__all__ = ["MMM", "MMMPriors", "MMMResult", "BudgetAllocation"]
