"""The refit placebo of an SCM effect: it passes on the true graph, fails when the graph misses a dependence,
falls back to a permuted treatment when every node has a path to the outcome, and is cached per outcome."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc

from .conftest import simulate

SAMPLER = bc.Sampler(chains=2, draws=500, warmup=500)


def _placebo(result):
    return next(c for c in result.checks if c.name.startswith("placebo"))


def test_placebo_refit_is_cached_per_outcome(fitted):
    first = _placebo(fitted.effect("x", "y"))
    assert ("placebo", "y", ("w", "b")) in fitted._cache
    again = _placebo(fitted.effect("z", "y", shift=1.0))  # same outcome: the cached refit is reused
    assert first.message == again.message


@pytest.mark.filterwarnings("ignore::bayescausal.ConvergenceWarning")
def test_placebo_fails_when_the_graph_misses_a_confounding_edge():
    """b depends on z, but the graph omits z -> b: y (which carries z) 'moves' b in the refit."""
    df = simulate(1500)
    fitted = bc.SCM("z -> x -> y; z -> y; x -> b; w").fit(df, sampler=SAMPLER, seed=0)
    check = _placebo(fitted.effect("x", "b"))
    assert check.passed is False and "do(y)" in check.message and "missing from the graph" in check.message
    assert not fitted.effect("x", "b").trustworthy


@pytest.mark.slow  # default-suite time budget (CI): run by make bench
@pytest.mark.filterwarnings("ignore::bayescausal.ConvergenceWarning")
def test_placebo_permutes_the_treatment_when_every_node_reaches_the_outcome():
    rng = np.random.default_rng(3)
    z = rng.normal(size=800)
    x = 0.5 * z + rng.normal(size=800)
    df = pd.DataFrame({"z": z, "x": x, "y": x + z + rng.normal(size=800)})
    fitted = bc.SCM("z -> x -> y; z -> y").fit(df, sampler=SAMPLER, seed=0)
    check = _placebo(fitted.effect("x", "y"))
    # an A/A check fails for a correct model in 5% of data sets by design (it does for this one's permutation:
    # interval [-0.146, -0.001]); this test is about which placebo runs, so it asserts the message only
    assert isinstance(check.passed, bool) and "permuted copy of 'x'" in check.message and "A/A" in check.message
    # the refit carries permuted copies of y's other parents too: a query on z reuses it and reads z's copy
    keys = [k for k in fitted._cache if k[0] == "placebo-permuted"]
    assert keys == [("placebo-permuted", "y", ("x", "z"))]
    other = _placebo(fitted.effect("z", "y"))
    assert "permuted copy of 'z'" in other.message
    assert [k for k in fitted._cache if k[0] == "placebo-permuted"] == keys


def test_fast_checks_skip_the_placebo_refit(scm_data):
    fitted = bc.SCM("x -> y").fit(scm_data, sampler=bc.Sampler(chains=2, draws=300, warmup=300), seed=0,
                                  checks="fast")
    check = _placebo(fitted.effect("x", "y"))
    assert check.passed is None and "checks='fast'" in check.message
