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

import functools
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import stall
from .programs import release_if_near_limit
from .sampler import Sampler, chains_per_round, resolve_chain_method


@dataclass
class Draws:
    """Posterior draws grouped by chain: ``samples[name]`` has shape ``(chain, draw, ...)``."""

    samples: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    wall_seconds: float = 0.0
    chain_method: str = ""
    kernel: str = ""


def _nuts(model: Callable, sampler: Sampler, init_strategy=None, inverse_mass_matrix=None, dense_mass: bool = False):
    from numpyro.infer import NUTS, init_to_median

    return NUTS(
        model,
        target_accept_prob=sampler.target_accept,
        max_tree_depth=sampler.max_tree_depth,
        init_strategy=init_strategy or init_to_median(num_samples=15),
        inverse_mass_matrix=inverse_mass_matrix,
        dense_mass=dense_mass or inverse_mass_matrix is not None,
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
    jit_model_args: bool = False,
    laplace: bool = False,
    dense_mass: bool = False,
    desc: str | None = None,
) -> Draws:
    """Run MCMC and return the draws grouped by chain.

    ``kernel_or_model`` is either a NumPyro ``MCMCKernel`` (used as is) or a NumPyro model function
    (sampled with NUTS configured from ``sampler``). For NUTS the divergences are kept in
    ``sample_stats['diverging']``.

    ``jit_model_args=True`` passes the model arguments to the compiled sampler as traced inputs
    instead of constants, so a second dataset of the same shapes reuses the compiled program (measured
    on synthetic control: 34 s then 12.5 s for new datasets, against 34 s each). It needs every model
    argument to be a JAX array pytree (bind other options with ``functools.partial``).

    NUTS run with the data as program inputs (the default, ``nuts_batch``) is guarded against stalled chains
    (``stall.py``): a chain whose step size collapsed while its trajectories ran to the maximum tree depth is
    stopped, ``sample_stats['stopped']`` marks its draws from then on and a ``ConvergenceWarning`` is raised;
    pass ``stopped=`` to :func:`~bayescausal.checks.convergence_check` so that the check fails with the advice.

    ``dense_mass=True`` adapts a dense mass matrix in warm-up instead of a diagonal one: worth it for small
    models whose coefficients are correlated a posteriori (a regression on correlated parents), where a
    diagonal metric needs long trajectories; the Laplace start always gives a dense one. ``desc`` labels the
    progress bar (which part of a fit is sampling).
    """
    from numpyro.infer import MCMC
    from numpyro.infer.mcmc import MCMCKernel

    release_if_near_limit()
    is_kernel = isinstance(kernel_or_model, MCMCKernel)
    warm = None
    if laplace and not is_kernel:
        from .laplace import laplace_start

        warm = laplace_start(kernel_or_model, model_args, model_kwargs, seed, sampler.chains)
        if warm is not None and init_params is None:
            init_params = warm.init_params
    method = resolve_chain_method(sampler, preferred_chain_method)
    if not is_kernel and _traced_nuts_on():
        draws = _run_nuts_traced(kernel_or_model, sampler, seed, model_args, model_kwargs, method, init_params,
                                 None if warm is None else warm.inverse_mass_matrix, kernel_name, warm is not None,
                                 dense_mass, desc)
        if draws is not None:
            return draws
    kernel = kernel_or_model if is_kernel else _nuts(
        kernel_or_model, sampler, inverse_mass_matrix=None if warm is None else warm.inverse_mass_matrix,
        dense_mass=dense_mass)
    per_round = chains_per_round(sampler, method)
    mcmc = MCMC(
        kernel,
        num_warmup=sampler.warmup_or(1000),
        num_samples=sampler.draws,
        num_chains=per_round,
        thinning=sampler.thinning,
        chain_method=method,
        progress_bar=sampler.show_progress,
        jit_model_args=jit_model_args,
    )
    extra = () if is_kernel else ("diverging", "num_steps")
    start = time.perf_counter()
    rounds = sampler.chains // per_round
    keys = jax.random.split(jax.random.PRNGKey(seed), rounds) if rounds > 1 else [jax.random.PRNGKey(seed)]
    sample_parts, stat_parts = [], []
    for r, key in enumerate(keys):
        init = init_params
        if init_params is not None and rounds > 1:  # per-chain initial values: this round's chains
            init = jax.tree.map(lambda a, r=r: a[r * per_round:(r + 1) * per_round], init_params)
        with warnings.catch_warnings():
            # NumPyro warns when chains outnumber devices; resolve_chain_method already handled it.
            warnings.filterwarnings("ignore", message=".*There are not enough devices.*")
            mcmc.run(key, *model_args, extra_fields=extra, init_params=init, **(model_kwargs or {}))
        sample_parts.append(jax.device_get(mcmc.get_samples(group_by_chain=True)))
        if not is_kernel:
            stat_parts.append(jax.device_get(mcmc.get_extra_fields(group_by_chain=True)))
    samples = {k: np.concatenate([np.asarray(p[k]) for p in sample_parts]) for k in sample_parts[0]}
    stats = {}
    if not is_kernel:
        stats = {"diverging": np.concatenate([np.asarray(p["diverging"]) for p in stat_parts]),
                 "n_steps": np.concatenate([np.asarray(p["num_steps"]) for p in stat_parts])}
    elapsed = time.perf_counter() - start
    return Draws(
        samples=samples,
        sample_stats=stats,
        wall_seconds=elapsed,
        chain_method=method,
        kernel=(kernel_name or type(kernel).__name__) + (" (Laplace start)" if warm is not None else ""),
    )


def _traced_nuts_on() -> bool:
    """Whether NUTS runs with the data as program inputs (``nuts_batch``); ``BAYESCAUSAL_TRACED_NUTS=0`` turns it
    off."""
    return os.environ.get("BAYESCAUSAL_TRACED_NUTS", "1") != "0"


def _nuts_settings(sampler: Sampler) -> tuple:
    """The sampler's settings in the positional order of ``nuts_batch.run_nuts`` and ``compile_nuts_ahead``
    (chains to devices), so that a run and its compilation ahead ask for the same program."""
    return (sampler.chains, sampler.warmup_or(1000), sampler.draws, sampler.thinning, sampler.target_accept,
            sampler.max_tree_depth, jax.local_device_count())


def _run_nuts_traced(model, sampler: Sampler, seed: int, model_args: tuple, model_kwargs: dict | None, method: str,
                     init_params, inverse_mass_matrix, kernel_name: str | None, laplace: bool,
                     dense_mass: bool = False, desc: str | None = None) -> Draws | None:
    """NUTS with the data as inputs of the compiled program (``nuts_batch``); None when the model's arguments
    or code need concrete values (the caller then uses NumPyro's ``MCMC``)."""
    from jax.errors import ConcretizationTypeError, TracerArrayConversionError, TracerBoolConversionError

    from . import nuts_batch

    split = nuts_batch.split_args(tuple(model_args), dict(model_kwargs or {}))
    if split is None:
        return None
    key, arrays = split
    start = time.perf_counter()
    try:
        samples, stats = nuts_batch.run_nuts(
            model, key, arrays, seed, *_nuts_settings(sampler), init_params=init_params,
            inverse_mass_matrix=inverse_mass_matrix, progress=sampler.show_progress, method=method,
            dense_mass=dense_mass, desc=desc or "NUTS")
    except (ConcretizationTypeError, TracerArrayConversionError, TracerBoolConversionError):
        return None  # the model reads its data as concrete values: compile it with the data baked in
    if np.any(stats["stopped"]):
        from ..errors import ConvergenceWarning

        warnings.warn(stall.advice(stats["stopped"]) + ".", ConvergenceWarning, stacklevel=3)
    return Draws(samples=samples, sample_stats=stats, wall_seconds=time.perf_counter() - start, chain_method=method,
                 kernel=(kernel_name or "NUTS") + (" (Laplace start)" if laplace else ""))


def compile_mcmc_ahead(model: Callable, sampler: Sampler, seed: int, model_args: tuple = (),
                       model_kwargs: dict | None = None, preferred_chain_method: str = "parallel",
                       dense_mass: bool = False) -> bool:
    """Start compiling, on a background thread, the NUTS programs that ``run_mcmc`` with the same arguments
    (a NumPyro model, no Laplace start, no initial values) will run; see ``ahead.py``. Call it for every run
    known in advance before running the first: their compilations then overlap each other and the runs.
    Returns whether anything was queued; when nothing was (the NumPyro ``MCMC`` fallback, a model that needs
    concrete data), ``run_mcmc`` compiles as it always does."""
    from jax.errors import ConcretizationTypeError, TracerArrayConversionError, TracerBoolConversionError

    from . import nuts_batch

    if not _traced_nuts_on():
        return False
    split = nuts_batch.split_args(tuple(model_args), dict(model_kwargs or {}))
    if split is None:
        return False
    key, arrays = split
    method = resolve_chain_method(sampler, preferred_chain_method)
    try:
        return nuts_batch.compile_nuts_ahead(model, key, arrays, seed, *_nuts_settings(sampler),
                                             progress=sampler.show_progress, method=method, dense_mass=dense_mass)
    except (ConcretizationTypeError, TracerArrayConversionError, TracerBoolConversionError):
        return False


@functools.lru_cache(maxsize=32)
def _batch_functions(kernel: Any, warmup: int, chunk: int, use_pmap: bool, axes_key: Any):
    """Compiled init and chunk functions, cached so repeated fits reuse one compiled program."""
    field_name = kernel.sample_field

    axes = axes_key.value

    def init_one(key, args):
        return kernel.init(key, warmup, None, (args,), {})

    def run_chunk(states, args):
        def body(s, _):
            s = jax.vmap(lambda st, a: kernel.sample(st, (a,), {}), in_axes=(0, axes))(s, args)
            return s, getattr(s, field_name)

        return jax.lax.scan(body, states, None, length=chunk)

    init = jax.vmap(init_one, in_axes=(0, axes))
    if use_pmap:
        return jax.pmap(init, in_axes=(0, axes)), jax.pmap(run_chunk, in_axes=(0, axes))
    return jax.jit(init), jax.jit(run_chunk)


class _Hashable:
    """Wraps an in_axes pytree (NamedTuple of 0/None) so it can key the compile cache."""

    def __init__(self, value):
        self.value = value
        self._key = tuple(jax.tree.leaves(value, is_leaf=lambda x: x is None))
        self._treedef = jax.tree.structure(value, is_leaf=lambda x: x is None)

    def __hash__(self):
        return hash((self._key, str(self._treedef)))

    def __eq__(self, other):
        return isinstance(other, _Hashable) and self._key == other._key and str(self._treedef) == str(
            other._treedef)


def run_kernel_batch(
    kernel: Any,
    inputs: Any,
    seed: int,
    warmup: int,
    draws: int,
    thinning: int = 1,
    progress: bool = False,
    chunk: int = 100,
    desc: str = "sampling",
    use_devices: bool = True,
    batch_axes: Any = 0,
) -> tuple[dict[str, np.ndarray], float]:
    """Run a Gibbs kernel for a batch of independent runs and return their draws.

    ``inputs`` is the kernel's model-argument pytree; the leaves marked 0 in ``batch_axes`` (a pytree
    prefix of ``inputs``, as ``vmap``'s ``in_axes``) have a leading *run* axis, one entry per chain of
    each dataset (a main fit's chains and a check's placebo datasets go in one batch); leaves marked
    None are shared by all runs. All runs
    advance in lockstep: the kernel's ``sample`` is ``vmap``-ed over runs and iterated in a compiled
    ``lax.scan`` of ``chunk`` iterations; on a multi-device host the runs are also split over devices
    with ``pmap``. One program is compiled per (kernel, shapes), however many runs or iterations.
    Returns ``(draws, seconds)`` with draws shaped ``(run, draw, ...)``.
    """
    release_if_near_limit()
    axes_full = jax.tree.map(lambda ax, leaf: ax, batch_axes, inputs, is_leaf=lambda x: x is None) \
        if batch_axes != 0 else jax.tree.map(lambda _: 0, inputs)
    batched_leaves = [leaf for leaf, ax in zip(jax.tree.leaves(inputs), jax.tree.leaves(
        axes_full, is_leaf=lambda x: x is None), strict=True) if ax == 0]
    n_runs = batched_leaves[0].shape[0]
    n_dev = max(1, min(jax.local_device_count() if use_devices else 1, n_runs))
    per_dev = -(-n_runs // n_dev)
    padded = per_dev * n_dev

    def reshape(ax, a):
        if ax is None:
            return a
        a = jnp.asarray(a)
        if padded > n_runs:  # pad with copies of the last run; their draws are dropped
            a = jnp.concatenate([a, jnp.repeat(a[-1:], padded - n_runs, 0)])
        return a.reshape(((n_dev, per_dev) if n_dev > 1 else (padded,)) + a.shape[1:])

    inputs = jax.tree.map(reshape, axes_full, inputs, is_leaf=lambda x: x is None)
    keys = jax.random.split(jax.random.PRNGKey(seed), padded)
    if n_dev > 1:
        keys = keys.reshape(n_dev, per_dev, -1)
    init, step = _batch_functions(kernel, 0, chunk, n_dev > 1, _Hashable(axes_full))
    start = time.perf_counter()
    states = init(keys, inputs)
    n_warm_chunks = -(-warmup // chunk)
    n_keep_chunks = -(-(draws * thinning) // chunk)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=(n_warm_chunks + n_keep_chunks) * chunk, desc=desc, unit="it", leave=False)
    kept = []
    for i in range(n_warm_chunks + n_keep_chunks):
        states, out = step(states, inputs)
        if i >= n_warm_chunks:
            kept.append(jax.device_get(out))
        else:
            jax.block_until_ready(states)
        if bar is not None:
            bar.update(chunk)
    if bar is not None:
        bar.close()
    result = {}
    for name in kept[0]:
        if n_dev > 1:
            arr = np.concatenate([np.asarray(k[name]) for k in kept], axis=1)  # (dev, iters, per_dev, ...)
            arr = np.swapaxes(arr, 1, 2)
            arr = arr.reshape((padded, arr.shape[2]) + arr.shape[3:])
        else:
            arr = np.swapaxes(np.concatenate([np.asarray(k[name]) for k in kept], axis=0), 0, 1)
        arr = arr[:n_runs]
        result[name] = arr[:, : draws * thinning : thinning][:, :draws] if thinning > 1 else arr[:, :draws]
    return result, time.perf_counter() - start


def stack_chains(values: jnp.ndarray) -> jnp.ndarray:
    """Flatten ``(chain, draw, ...)`` to ``(chain * draw, ...)``."""
    return values.reshape((-1,) + values.shape[2:])
