"""Structural time series: BSTS impact analysis (CausalImpact) and Bayesian synthetic control."""

from .components import Harmonic, Seasonal
from .estimator import CausalImpact
from .priors import BSTSPriors, sd_prior
from .result import ImpactResult
from .sc_result import SyntheticControlResult
from .synthetic_control import SCPriors, SyntheticControl

__all__ = [
    "BSTSPriors", "CausalImpact", "Harmonic", "ImpactResult", "SCPriors", "Seasonal", "SyntheticControl",
    "SyntheticControlResult", "sd_prior",
]
