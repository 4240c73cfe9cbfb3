"""Running MCMC: the only module in bayescausal that calls ``numpyro.infer``.

Two drivers:

* :func:`run_mcmc` runs any NumPyro kernel (NUTS or one of our Gibbs kernels) through
  ``numpyro.infer.MCMC`` — progress bar, chain methods, warm-up — and returns draws grouped by chain.
* :func:`run_batched` runs a Gibbs kernel on many datasets at once (placebo refits, simulations,
  many series): the kernel's ``init``/``sample`` are ``vmap``-ed over datasets and chains and the
  iterations run inside one compiled ``lax.scan``. This is what lets a check refit a model a dozen
  times for the price of about one fit, and what makes a GPU pay off.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .sampler import Sampler, resolve_chain_method


@dataclass
class Draws:
    """Posterior draws grouped by chain: ``samples[name]`` has shape ``(chain, draw, ...)``."""

    samples: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    wall_seconds: float = 0.0
    chain_method: str = ""
    kernel: str = ""


def _nuts(model: Callable, sampler: Sampler, init_strategy=None):
    from numpyro.infer import NUTS, init_to_median

    return NUTS(
        model,
        target_accept_prob=sampler.target_accept,
        max_tree_depth=sampler.max_tree_depth,
        init_strategy=init_strategy or init_to_median(num_samples=15),
    )


def run_mcmc(
    kernel_or_model: Any,
    sampler: Sampler,
    seed: int,
    model_args: tuple = (),
    model_kwargs: dict | None = None,
    preferred_chain_method: str = "parallel",
    kernel_name: str | None = None,
    init_params: Any = None,
) -> Draws:
    """Run MCMC and return the draws grouped by chain.

    ``kernel_or_model`` is either a NumPyro ``MCMCKernel`` (used as is) or a NumPyro model function
    (sampled with NUTS configured from ``sampler``). For NUTS the divergences are kept in
    ``sample_stats['diverging']``.
    """
    from numpyro.infer import MCMC
    from numpyro.infer.mcmc import MCMCKernel

    is_kernel = isinstance(kernel_or_model, MCMCKernel)
    kernel = kernel_or_model if is_kernel else _nuts(kernel_or_model, sampler)
    method = resolve_chain_method(sampler, preferred_chain_method)
    mcmc = MCMC(
        kernel,
        num_warmup=sampler.warmup,
        num_samples=sampler.draws,
        num_chains=sampler.chains,
        thinning=sampler.thinning,
        chain_method=method,
        progress_bar=sampler.show_progress,
        jit_model_args=False,
    )
    extra = () if is_kernel else ("diverging", "num_steps")
    start = time.perf_counter()
    with warnings.catch_warnings():
        # NumPyro warns when chains outnumber devices; resolve_chain_method already handled it.
        warnings.filterwarnings("ignore", message=".*There are not enough devices.*")
        mcmc.run(jax.random.PRNGKey(seed), *model_args, extra_fields=extra, init_params=init_params,
                 **(model_kwargs or {}))
    samples = jax.device_get(mcmc.get_samples(group_by_chain=True))
    stats = {}
    if not is_kernel:
        raw = jax.device_get(mcmc.get_extra_fields(group_by_chain=True))
        stats = {"diverging": np.asarray(raw["diverging"]), "n_steps": np.asarray(raw["num_steps"])}
    elapsed = time.perf_counter() - start
    return Draws(
        samples={k: np.asarray(v) for k, v in samples.items()},
        sample_stats=stats,
        wall_seconds=elapsed,
        chain_method=method,
        kernel=kernel_name or type(kernel).__name__,
    )


def run_batched(
    kernel: Any,
    sampler: Sampler,
    seed: int,
    batched_args: tuple,
    in_axes: tuple,
) -> dict[str, np.ndarray]:
    """Run a Gibbs kernel on a batch of datasets at once.

    ``batched_args`` are the kernel's model arguments with a leading dataset axis on those arrays
    whose ``in_axes`` entry is 0 (``None`` for arguments shared by all datasets). Returns draws with
    shape ``(dataset, chain, draw, ...)``. All datasets and chains advance in lockstep inside one
    compiled ``lax.scan``, so the cost is close to that of a single fit on a CPU and much less than
    one per dataset on a GPU.
    """
    n_keep = sampler.draws
    thin = sampler.thinning
    n_chains = sampler.chains
    field_name = kernel.sample_field

    def one_chain(key, *args):
        state = kernel.init(key, sampler.warmup, None, args, {})

        def warm(s, _):
            return kernel.sample(s, args, {}), None

        state, _ = jax.lax.scan(warm, state, None, length=sampler.warmup)

        def keep(s, _):
            def inner(s2, _):
                return kernel.sample(s2, args, {}), None

            s, _ = jax.lax.scan(inner, s, None, length=thin)
            return s, getattr(s, field_name)

        _, draws = jax.lax.scan(keep, state, None, length=n_keep)
        return draws

    def one_dataset(key, *args):
        keys = jax.random.split(key, n_chains)
        return jax.vmap(lambda k: one_chain(k, *args))(keys)

    n_data = next(jax.tree.leaves(a)[0].shape[0] for a, ax in zip(batched_args, in_axes, strict=True) if ax == 0)
    keys = jax.random.split(jax.random.PRNGKey(seed), n_data)
    run = jax.jit(jax.vmap(one_dataset, in_axes=(0, *in_axes)))
    out = run(keys, *batched_args)
    return {k: np.asarray(v) for k, v in jax.device_get(out).items()}


def stack_chains(values: jnp.ndarray) -> jnp.ndarray:
    """Flatten ``(chain, draw, ...)`` to ``(chain * draw, ...)``."""
    return values.reshape((-1,) + values.shape[2:])
