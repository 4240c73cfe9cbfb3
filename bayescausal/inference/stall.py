"""A guard that stops a NUTS chain which has stalled, so that a fit ends with a failed check instead of running on.

A chain has stalled when two things hold at once (issue 21: a negative binomial chain whose likelihood had become
rounding noise near its Poisson limit ran 1,023 leapfrog steps per iteration at a step size of 1e-15 for the rest
of its run, and the fit did not finish in ten minutes):

* its step size has collapsed: below ``COLLAPSE`` (1e-8) times the step size it started with. Dual averaging
  shrinks the step size when proposals are rejected; a collapse by eight orders of magnitude means the log density
  is not smooth where the chain is (rounding noise, a discontinuity), not that the posterior is narrow (the start's
  step size is already found at the posterior's curvature, and mass-matrix adaptation rescales, it does not
  shrink by 1e8);
* and at least ``HIT_SHARE`` (half) of its recent transitions ran to the maximum tree depth (a moving average with
  a window of about ``WINDOW`` iterations, so a run of about 35 such transitions in a row, or about 50 at a rate of
  80%, is needed).

Either alone is not a stall: a long but moving trajectory (a correlated posterior, a small ``max_tree_depth``)
hits the maximum depth without a collapsed step size, and a tiny step size that still U-turns early costs little.
A stopped chain keeps its last state for the remaining iterations (no gradient is evaluated for it when chains run
one per device; chains ``vmap``-ed on one device still compute and discard its steps), its draws are constant
from there on, and the run's ``stopped`` statistic says so: ``run_mcmc`` warns and the convergence check fails
with advice. So the cost of a stalled chain is bounded by about ``WINDOW`` trajectories at the maximum depth.
Pure JAX; no NumPyro import.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

COLLAPSE = 1e-8
HIT_SHARE = 0.5
WINDOW = 50


class Guard(NamedTuple):
    """Per chain: the moving share of transitions at maximum depth, whether the chain is stopped, its first step
    size."""

    hits: jax.Array
    stopped: jax.Array
    step0: jax.Array


def start(step_size) -> Guard:
    """The guard of a chain that starts with ``step_size``."""
    step_size = jnp.asarray(step_size)
    return Guard(jnp.zeros_like(step_size), jnp.zeros(jnp.shape(step_size), bool), step_size)


def update(guard: Guard, num_steps, step_size, max_steps: int) -> Guard:
    """The guard after a transition of ``num_steps`` leapfrog steps at the (adapted) ``step_size``; ``max_steps``
    is ``2**max_tree_depth - 1``, the steps of a trajectory at the maximum depth."""
    hit = (jnp.asarray(num_steps) >= max_steps).astype(guard.hits.dtype)
    hits = guard.hits + (hit - guard.hits) / WINDOW
    collapsed = jnp.asarray(step_size) < COLLAPSE * guard.step0
    return Guard(hits, guard.stopped | ((hits > HIT_SHARE) & collapsed), guard.step0)


def advice(stopped) -> str:
    """The words a warning and the convergence check use for stopped chains; ``stopped`` is the run's
    ``(chain, draw)`` statistic."""
    per_chain = np.asarray(stopped).reshape(np.shape(stopped)[0], -1).any(axis=1)
    return (f"{int(per_chain.sum())} of {len(per_chain)} chains stalled and were stopped (their step size collapsed "
            f"below {COLLAPSE:g} of its start while most transitions ran to the maximum tree depth): the log density "
            "is not smooth where they went, often a parameter drifting to a boundary where the likelihood loses "
            "precision. Give that parameter a tighter prior, choose a simpler mechanism or family for it, or "
            "reparameterise; raising max_tree_depth will not help")
