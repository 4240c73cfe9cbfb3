"""Sensitivity to unmeasured confounding, usable with every method's estimate or posterior draws.

* :func:`e_value`, :func:`e_value_from_draws` (:class:`EValue`): VanderWeele & Ding (2017) E-values with
  their conversions from odds ratios, hazard ratios, standardised and raw differences.
* :func:`robustness`, :func:`ols_robustness` (:class:`RobustnessResult`): Cinelli & Hazlett (2020)
  robustness values, bias-adjusted estimates, benchmark bounds and contour plots.
* :func:`bayesian_sensitivity` (:class:`BayesianSensitivityResult`) with :class:`BinaryConfounder` or
  :class:`PartialR2Confounder`: the posterior of the bias-adjusted effect under a prior on the confounder.
* :func:`sensitivity_sentence`: one sentence for a report.
"""

from .bayesian import BayesianSensitivityResult, BinaryConfounder, PartialR2Confounder, bayesian_sensitivity
from .evalue import EValue, e_value, e_value_from_draws
from .robustness import RobustnessResult, ols_robustness, robustness
from .sentence import outcome_sentence, sensitivity_sentence

__all__ = [
    "BayesianSensitivityResult",
    "BinaryConfounder",
    "EValue",
    "PartialR2Confounder",
    "RobustnessResult",
    "bayesian_sensitivity",
    "e_value",
    "e_value_from_draws",
    "ols_robustness",
    "outcome_sentence",
    "robustness",
    "sensitivity_sentence",
]
