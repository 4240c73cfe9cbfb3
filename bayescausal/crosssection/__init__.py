"""Cross-sectional studies (one row per unit): coarsened exact matching and doubly robust AIPW."""

from .cem import CEM
from .cem_model import CEMPriors
from .cem_result import CEMResult

__all__ = ["CEM", "CEMPriors", "CEMResult"]
