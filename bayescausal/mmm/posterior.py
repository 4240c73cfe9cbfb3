"""From posterior draws to the quantities an MMM reports (pure JAX, jitted, in chunks of draws).

Draws enter as the model's batch axis: parameters shaped ``(S, ...)`` against inputs with one batch member,
so :func:`~bayescausal.mmm.model.components` computes every draw's contributions in one call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .model import MMMInputs, ModelSpec, components

CHUNK = 500  # draws per jitted call (memory: CHUNK x G x T x l_max x C doubles for the lag product)


def flatten_member(samples: dict, member: int = 0) -> dict:
    """Sampled sites ``(chain, draw, B, ...)`` -> one batch member's draws ``(chain * draw, ...)``."""
    return {k: np.asarray(v)[:, :, member].reshape((-1,) + np.shape(v)[3:]) for k, v in samples.items()}


def member_inputs(inp: MMMInputs, member: int) -> MMMInputs:
    """One batch member of the inputs (batch axis kept, length 1)."""
    batched = {"x", "y", "mask", "controls", "spend_unit", "outcome_unit"}
    return MMMInputs(**{k: (v[member:member + 1] if k in batched else v) for k, v in inp._asdict().items()})


@functools.partial(jax.jit, static_argnames=("spec",))
def _summaries(params, inp: MMMInputs, spec: ModelSpec, y_unit, scale_up: float):
    parts = components(params, inp, spec)
    yu = y_unit[None, :, None]  # (1, G, 1)
    contrib = parts["contrib"] * yu[..., None]  # (S, G, T, C) original units
    baseline = jnp.broadcast_to(parts["baseline"], parts["mu"].shape) * yu
    up = components(params, inp._replace(x=inp.x * scale_up), spec)["contrib"] * yu[..., None]
    return {"contrib": contrib, "baseline": baseline, "mu": parts["mu"] * yu,
            "extra": (up - contrib).sum(axis=(1, 2)), "beta": parts["beta"], "intercept": parts["intercept"]}


def summaries(params: dict, inp: MMMInputs, spec: ModelSpec, y_unit: np.ndarray, spend: np.ndarray,
              mroas_step: float = 0.01) -> dict:
    """Per draw: contributions ``(S, G, T, C)`` and baseline/mean ``(S, G, T)`` in outcome units, ROAS and
    marginal ROAS ``(S, C)`` (``spend``: original spend ``(G, T, C)``; marginal ROAS: the extra outcome per
    extra unit of spend when every week's spend rises by ``mroas_step``), the geo coefficients ``(S, G, C)``."""
    n = len(next(iter(params.values())))
    outs = []
    yu = jnp.asarray(y_unit)
    for lo in range(0, n, CHUNK):
        chunk = {k: jnp.asarray(v[lo:lo + CHUNK]) for k, v in params.items()}
        outs.append(jax.device_get(_summaries(chunk, inp, spec, yu, 1.0 + mroas_step)))
    out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    total = spend.sum(axis=(0, 1))  # (C,)
    out["roas"] = out["contrib"].sum(axis=(1, 2)) / total
    out["mroas"] = out.pop("extra") / (mroas_step * total)
    return out


def predictive(mu: np.ndarray, sigma: np.ndarray, y_unit: np.ndarray, seed: int) -> np.ndarray:
    """Posterior predictive draws of the outcome ``(S, G, T)`` from the means and residual sds (scaled)."""
    rng = np.random.default_rng(seed)
    return mu + sigma.reshape(-1, 1, 1) * y_unit[None, :, None] * rng.standard_normal(mu.shape)
