"""Per-draw computations spread over the local devices (one XLA host device per core on a CPU).

Questions asked of a fitted model (an SCM's interventions, its posterior predictive check) evaluate a function
of each posterior draw over every row: 1,000 draws x 100k rows per arm. Under ``jax.jit`` such a program runs
on one device, that is one core of a CPU; split over the devices with ``pmap``, the draws run side by side
(each device takes a contiguous share, padded with copies of the last draw, whose outputs are dropped). Each
draw's output is the same either way: only where it is computed changes.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def over_devices(fn: Callable, n_devices: int | None = None) -> Callable:
    """A compiled ``run(per_draw, shared)`` computing ``fn(per_draw, shared)``, where every leaf of ``per_draw``
    and of ``fn``'s outputs has the draws on its leading axis, split over ``n_devices`` (default: all local
    devices); ``shared`` (the data) is given to every device whole."""
    n_dev = n_devices or jax.local_device_count()
    if n_dev == 1:
        return jax.jit(fn)
    mapped = jax.pmap(fn, in_axes=(0, None))

    def run(per_draw, shared):
        n = jax.tree.leaves(per_draw)[0].shape[0]
        per = -(-n // n_dev)

        def split(a):
            a = jnp.asarray(a)
            if per * n_dev > n:
                a = jnp.concatenate([a, jnp.repeat(a[-1:], per * n_dev - n, 0)])
            return a.reshape((n_dev, per) + a.shape[1:])

        out = mapped(jax.tree.map(split, per_draw), shared)
        return jax.tree.map(lambda a: a.reshape((n_dev * per,) + a.shape[2:])[:n], out)

    return run
