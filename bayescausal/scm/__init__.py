"""Structural causal models: causal DAGs and identification on the graph alone (``graph``, ``identification``),
and Bayesian SCMs fitted to data with interventions (``mechanisms``, ``model``, ``fitted``)."""

from .counterfactual import CounterfactualResult
from .fitted import SCM, FittedSCM
from .graph import CausalGraph, as_causal_graph
from .identification import (
    Identification,
    Independence,
    d_separated,
    frontdoor_sets,
    identify,
    implied_independencies,
    is_backdoor_set,
    is_frontdoor_set,
    minimal_backdoor_sets,
)
from .levers import LeverRanking, rank_levers
from .mechanisms import (
    Categorical,
    Custom,
    LinearGaussian,
    Logistic,
    Mechanism,
    NegativeBinomial,
    Poisson,
    StudentT,
    choose_mechanism,
    infer_mechanism,
)

__all__ = [
    "CausalGraph", "Identification", "Independence", "as_causal_graph", "d_separated", "frontdoor_sets", "identify",
    "implied_independencies", "is_backdoor_set", "is_frontdoor_set", "minimal_backdoor_sets",
]
__all__ += [
    "SCM", "Categorical", "Custom", "FittedSCM", "LinearGaussian", "Logistic", "Mechanism", "NegativeBinomial",
    "Poisson", "StudentT", "choose_mechanism", "infer_mechanism",
]
__all__ += ["LeverRanking", "rank_levers"]
__all__ += ["CounterfactualResult"]
