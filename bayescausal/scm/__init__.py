"""Structural causal models. So far the graph half: causal DAGs and identification on the graph alone."""

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

__all__ = [
    "CausalGraph", "Identification", "Independence", "as_causal_graph", "d_separated", "frontdoor_sets", "identify",
    "implied_independencies", "is_backdoor_set", "is_frontdoor_set", "minimal_backdoor_sets",
]
