"""bayescausal: Bayesian causal inference for observational data, every fit checked."""

from ._runtime import configure as _configure

_configure()

from . import sensitivity  # noqa: E402
from .checks import CheckResult  # noqa: E402
from .crosssection import AIPW, CEM, AIPWPriors, AIPWResult, CEMPriors, CEMResult  # noqa: E402
from .errors import ConvergenceWarning, DataError, SpecError  # noqa: E402
from .inference import Sampler  # noqa: E402
from .iv import BayesianIV, IVPriors, IVResult  # noqa: E402
from .mmm import MMM, BudgetAllocation, MMMPriors, MMMResult  # noqa: E402
from .panel import EventStudy, EventStudyResult, PanelFE, PanelPriors, PanelResult  # noqa: E402
from .result import CausalResult  # noqa: E402
from .scm import SCM, CausalGraph, identify  # noqa: E402
from .sensitivity import (  # noqa: E402
    BinaryConfounder,
    PartialR2Confounder,
    bayesian_sensitivity,
    e_value,
    robustness,
)
from .structural_ts import (  # noqa: E402
    BSTSPriors,
    CausalImpact,
    Harmonic,
    ImpactResult,
    SCPriors,
    Seasonal,
    SyntheticControl,
    SyntheticControlResult,
    sd_prior,
)

__all__ = [
    "BSTSPriors", "CausalImpact", "CausalResult", "CheckResult", "ConvergenceWarning", "DataError", "Harmonic",
    "ImpactResult", "Sampler", "SCPriors", "Seasonal", "SpecError", "SyntheticControl", "SyntheticControlResult",
    "sd_prior",
]
__all__ += ["CausalGraph", "identify"]
__all__ += ["SCM"]
__all__ += ["BayesianIV", "IVPriors", "IVResult"]
__all__ += ["AIPW", "AIPWPriors", "AIPWResult", "CEM", "CEMPriors", "CEMResult"]
__all__ += ["sensitivity", "e_value", "robustness", "bayesian_sensitivity", "BinaryConfounder", "PartialR2Confounder"]
__all__ += ["EventStudy", "EventStudyResult", "PanelFE", "PanelPriors", "PanelResult"]
__all__ += ["MMM", "MMMPriors", "MMMResult", "BudgetAllocation"]
__version__ = "0.1.0"


def __getattr__(name):
    """``bc.study`` loads on first use (configs, pipeline, registry), so ``import bayescausal`` never imports
    Ibis, DuckDB, PySpark or pydantic."""
    if name == "study":
        import importlib

        return importlib.import_module(".study", __name__)
    raise AttributeError(f"module 'bayescausal' has no attribute {name!r}")
