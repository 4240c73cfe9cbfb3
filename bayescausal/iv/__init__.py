"""Bayesian instrumental variables: the effect of an endogenous treatment, honest when instruments are weak."""

from ._math import ARSet
from .estimator import BayesianIV
from .priors import IVPriors
from .result import IVResult

__all__ = ["ARSet", "BayesianIV", "IVPriors", "IVResult"]
