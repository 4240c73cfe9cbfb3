"""bayescausal: Bayesian causal inference for observational data, every fit checked."""

from ._runtime import configure as _configure

_configure()

from .errors import ConvergenceWarning, DataError, SpecError  # noqa: E402
from .inference import Sampler  # noqa: E402

__all__ = ["ConvergenceWarning", "DataError", "Sampler", "SpecError"]
__version__ = "0.1.0"
