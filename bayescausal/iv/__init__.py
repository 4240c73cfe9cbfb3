"""Bayesian instrumental variables: the effects of endogenous treatments, honest when instruments are weak."""

from ._math import ARSet, ARTest
from .estimator import BayesianIV
from .priors import IVPriors
from .result import IVResult

__all__ = ["ARSet", "ARTest", "BayesianIV", "IVPriors", "IVResult"]
