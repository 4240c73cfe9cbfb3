"""Structural time series: BSTS impact analysis (CausalImpact) and Bayesian synthetic control."""

from .components import Harmonic, Seasonal
from .estimator import CausalImpact
from .priors import BSTSPriors, sd_prior
from .result import ImpactResult

__all__ = ["BSTSPriors", "CausalImpact", "Harmonic", "ImpactResult", "Seasonal", "sd_prior"]
