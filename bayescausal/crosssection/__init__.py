"""Cross-sectional studies (one row per unit): coarsened exact matching and doubly robust AIPW."""

from .aipw import AIPW
from .aipw_model import AIPWPriors
from .aipw_result import AIPWResult
from .cem import CEM
from .cem_model import CEMPriors
from .cem_result import CEMResult

__all__ = ["AIPW", "AIPWPriors", "AIPWResult", "CEM", "CEMPriors", "CEMResult"]
