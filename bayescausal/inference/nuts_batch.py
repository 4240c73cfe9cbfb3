"""NUTS chains compiled once per model and data *shape*, with the data as inputs to the program.

NumPyro's ``MCMC`` with ``chain_method="parallel"`` hands the model's arguments to ``pmap`` through a closure,
so every array in them is baked into the compiled program as a constant. Two costs follow: every new data
set, even of the same shape, compiles the sampler again (seconds to tens of seconds for a GLM on 100k rows),
and the on-disk compile cache never hits for new data, because the constants are part of its key.

Here the chains run through NumPyro's functional NUTS (``numpyro.infer.hmc.hmc`` with a potential-function
generator, so the model's arrays enter as traced arguments), ``vmap``-ed over the chains on a device and
``pmap``-ed over devices, advancing ``chunk`` iterations per call of one compiled ``lax.scan`` (which also
drives the progress bar). The compiled functions are cached on (model, static arguments, array shapes and
dtypes, sampler settings): a second fit of the same model on new data of the same shape runs without
compiling, in this process or, through the persistent cache, in the next.

Each chain carries the stall guard of ``stall.py`` beside its NUTS state: a chain whose step size collapsed while
its trajectories ran to the maximum tree depth stops advancing, and the ``stopped`` statistic says from which
draw.

Arguments are split into arrays (traced) and everything else (static: Python numbers, strings, tuples of
names, frozen layout objects), which must be hashable; ``split_args`` returns None when they are not, and
the caller falls back to NumPyro's ``MCMC``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import ahead, stall


def _is_array(leaf) -> bool:
    return isinstance(leaf, np.ndarray | jax.Array) or (hasattr(leaf, "shape") and hasattr(leaf, "dtype"))


@dataclass(frozen=True)
class _Static:
    """The non-array part of the model's arguments, and where the arrays go back: a hashable cache key."""

    treedef: Any
    leaves: tuple  # ("array", shape, dtype) markers or the static leaf itself
    def rebuild(self, arrays):
        it = iter(arrays)
        leaves = [next(it) if isinstance(s, tuple) and s[:1] == ("__array__",) else s for s in self.leaves]
        return jax.tree.unflatten(self.treedef, leaves)


def split_args(args: tuple, kwargs: dict) -> tuple[_Static, list] | None:
    """(static key, list of arrays) for the model's ``(args, kwargs)``, or None if a static leaf is unhashable."""
    leaves, treedef = jax.tree.flatten((args, kwargs), is_leaf=lambda x: x is None)
    static, arrays = [], []
    for leaf in leaves:
        if isinstance(leaf, jax.Array) or (_is_array(leaf) and np.ndim(leaf) > 0):
            arrays.append(jnp.asarray(leaf))
            static.append(("__array__", tuple(np.shape(leaf)), str(jnp.asarray(leaf).dtype)))
        else:
            try:
                hash(leaf)
            except TypeError:
                return None
            static.append(leaf)
    key = _Static(treedef, tuple(static))
    try:
        hash(key)
    except TypeError:
        return None
    return key, arrays


@functools.lru_cache(maxsize=32)
def _programs(model, key: _Static, warmup: int, chunk: int, n_dev: int, per_dev: int, target_accept: float,
              max_tree_depth: int, dense_mass: bool, has_init: bool, has_mass: bool, chunk_is_all: bool):
    """Compiled init and chunk functions for one (model, argument structure, sampler settings)."""
    from numpyro.infer import init_to_median
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import initialize_model

    potential_gen, postprocess_gen = _generators(model, *key.rebuild(_EXAMPLE[0]))
    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")
    max_steps = 2**max_tree_depth - 1

    def init_one(rng, arrays, z0, inv_mass):
        args, kwargs = key.rebuild(arrays)
        k_init, k_run = jax.random.split(rng)
        if z0 is None:
            z0 = initialize_model(k_init, model, init_strategy=init_to_median(num_samples=15), dynamic_args=True,
                                  model_args=args, model_kwargs=kwargs).param_info.z
        return init_kernel(z0, warmup, inverse_mass_matrix=inv_mass, dense_mass=dense_mass,
                           target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                           model_args=args, model_kwargs=kwargs, rng_key=k_run)

    def init_guarded(rng, arrays, z0, inv_mass):
        s = init_one(rng, arrays, z0, inv_mass)
        return s, stall.start(s.adapt_state.step_size)

    def init_device(rngs, arrays, z0s, inv_mass):
        if per_dev == 1:  # no vmap of one: batched while-loops compile and run slower
            one = init_guarded(rngs[0], arrays, None if z0s is None else jax.tree.map(lambda a: a[0], z0s),
                               inv_mass)
            return jax.tree.map(lambda a: a[None], one)
        return jax.vmap(init_guarded, in_axes=(0, None, 0 if has_init else None, None))(rngs, arrays, z0s, inv_mass)

    def run_chunk(states, arrays):
        args, kwargs = key.rebuild(arrays)
        post = postprocess_gen(*args, **kwargs)

        def step(carry):  # one chain's transition, skipped once the stall guard has stopped it (stall.py)
            s, guard = carry
            s = jax.lax.cond(guard.stopped, lambda s: s, lambda s: sample_kernel(s, model_args=args,
                                                                                  model_kwargs=kwargs), s)
            return s, stall.update(guard, s.num_steps, s.adapt_state.step_size, max_steps)

        def body(carry, _):
            carry = step(carry) if per_dev == 1 else jax.vmap(step)(carry)
            s, guard = carry
            z = post(s.z) if per_dev == 1 else jax.vmap(post)(s.z)
            return carry, (z, s.diverging, s.num_steps, guard.stopped)

        if per_dev == 1:
            states = jax.tree.map(lambda a: a[0], states)
        states, out = jax.lax.scan(body, states, None, length=chunk)
        if per_dev == 1:  # back to (per_dev, ...) states and (iters, per_dev, ...) draws
            states = jax.tree.map(lambda a: a[None], states)
            out = jax.tree.map(lambda a: a[:, None], out)
        return states, out

    def run_all(rngs, arrays, z0s, inv_mass):
        """Initialise and run every iteration in one program (one compile; used without a progress bar)."""
        return run_chunk(init_device(rngs, arrays, z0s, inv_mass), arrays)

    init_axes = (0, None, 0 if has_init else None, None)
    if chunk_is_all:
        return None, jax.pmap(run_all, in_axes=init_axes) if n_dev > 1 else jax.jit(run_all)
    if n_dev > 1:
        return jax.pmap(init_device, in_axes=init_axes), jax.pmap(run_chunk, in_axes=(0, None))
    return jax.jit(init_device), jax.jit(run_chunk)


def _generators(model, args: tuple, kwargs: dict):
    """NumPyro's potential-energy and postprocess generators for ``model`` (arrays enter when called).

    One seeded trace of the model gives the sites' transforms; unlike ``initialize_model`` it does not search
    for initial values eagerly (15 model runs and a gradient op by op: 6 s at 20k rows). The trace runs
    abstractly (``jax.eval_shape``): run eagerly, every operation of the model on its full data executes and,
    on a cold compile cache, compiles a program of its own (7.9 s for the 5 runs of the SCM benchmark). It
    runs eagerly when the model needs concrete values or a site's support depends on the data (its transform
    would then hold abstract values).
    """
    from numpyro.handlers import seed, substitute
    from numpyro.infer import init_to_uniform
    from numpyro.infer.util import _get_model_transforms, get_potential_fn

    traced = substitute(seed(model, rng_seed=0), substitute_fn=init_to_uniform)  # as initialize_model does
    split = split_args(tuple(args), dict(kwargs or {}))
    try:
        if split is None:
            raise ValueError("static arguments that cannot be hashed")
        key, arrays = split
        found: dict = {}

        def abstract(arrs):
            a, k = key.rebuild(arrs)
            found["transforms"] = _get_model_transforms(traced, a, k)[:3]
            return jnp.zeros(())

        jax.eval_shape(abstract, arrays)
        inv_transforms, replay, enum = found["transforms"]
        if _holds_tracer(inv_transforms):
            raise ValueError("a transform depends on the data")
    except Exception:  # noqa: BLE001 - any failure of the abstract trace: the eager one is always right
        inv_transforms, replay, enum, _ = _get_model_transforms(traced, args, kwargs)
    return get_potential_fn(model, inv_transforms, enum=enum, replay_model=replay, dynamic_args=True,
                            model_args=args, model_kwargs=kwargs)


def _holds_tracer(obj) -> bool:
    """Whether ``obj`` (a dict of NumPyro transforms, which are pytrees) holds a JAX tracer among its leaves."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(obj))


_EXAMPLE: list = [None]


def layout(method: str, chains: int, devices: int) -> tuple[int, int, int]:
    """``(devices used, chains vmapped per device, rounds)`` for a chain method.

    ``parallel``: one chain per device, in rounds of ``devices`` chains (4 chains on 2 cores: 2 rounds of 2,
    one compiled program); ``vectorized``: all chains ``vmap``-ed on one device (a vectorised NUTS step lasts as
    long as the longest trajectory, and batched while-loops compile slowly: see ``resolve_chain_method``);
    ``sequential``: one chain at a time.
    """
    if method == "parallel":
        n_dev = max(1, min(devices, chains))
        return n_dev, 1, -(-chains // n_dev)
    if method == "vectorized":
        return 1, chains, 1
    return 1, 1, chains


@dataclass
class _Plan:
    """How one ``run_nuts`` call lays out its chains, and its compiled functions (from :func:`_programs`)."""

    init: Any
    step: Any
    n_dev: int
    per_dev: int
    rounds: int
    total: int
    chunk: int
    chunk_is_all: bool
    rngs: Any
    z0: Any
    inv_mass: Any

    @property
    def per_round(self) -> int:
        return self.n_dev * self.per_dev

    def shard(self, a, r: int):
        a = a[r * self.per_round:(r + 1) * self.per_round]
        return a.reshape((self.n_dev, self.per_dev) + a.shape[1:]) if self.n_dev > 1 else a

    def round_inputs(self, r: int):
        """Round ``r``'s chain keys and initial values (every round has the same shapes)."""
        zr = None if self.z0 is None else jax.tree.map(lambda a: self.shard(a, r), self.z0)
        return self.shard(self.rngs, r), zr


def _plan(model, key: _Static, arrays: list, seed: int, chains: int, warmup: int, draws: int, thinning: int,
          target_accept: float, max_tree_depth: int, n_devices: int, init_params, inverse_mass_matrix,
          progress: bool, chunk: int, method: str, dense_mass: bool) -> _Plan:
    n_dev, per_dev, rounds = layout(method, chains, n_devices)
    padded = n_dev * per_dev * rounds
    total = warmup + draws * thinning
    # Without a progress bar everything runs in one program (one compile); with one, in chunks of ``chunk``.
    chunk_is_all = not progress
    chunk = total if chunk_is_all else max(1, min(chunk, total))
    _EXAMPLE[0] = arrays
    try:
        init, step = _programs(model, key, warmup, chunk, n_dev, per_dev, float(target_accept),
                               int(max_tree_depth), dense_mass or inverse_mass_matrix is not None,
                               init_params is not None,
                               inverse_mass_matrix is not None, chunk_is_all)
    finally:
        _EXAMPLE[0] = None
    rngs = jax.random.split(jax.random.PRNGKey(seed), padded)
    z0 = None
    if init_params is not None:
        z0 = jax.tree.map(lambda a: jnp.concatenate([jnp.asarray(a), jnp.repeat(jnp.asarray(a)[-1:],
                                                                                   padded - chains, 0)]),
                          init_params) if padded > chains else jax.tree.map(jnp.asarray, init_params)
    inv_mass = None if inverse_mass_matrix is None else jnp.asarray(inverse_mass_matrix)
    return _Plan(init, step, n_dev, per_dev, rounds, total, chunk, chunk_is_all, rngs, z0, inv_mass)


def compile_nuts_ahead(model, key: _Static, arrays: list, seed: int, chains: int, warmup: int, draws: int,
                       thinning: int, target_accept: float, max_tree_depth: int, n_devices: int, init_params=None,
                       inverse_mass_matrix=None, progress: bool = False, chunk: int = 100,
                       method: str = "parallel", dense_mass: bool = False) -> bool:
    """Trace and lower the programs a :func:`run_nuts` call with these arguments will run, and compile them on
    a background thread (``ahead.py``), so that several runs known in advance compile side by side. Returns
    whether anything was queued (False when the model cannot be traced with its data as inputs)."""
    plan = _plan(model, key, arrays, seed, chains, warmup, draws, thinning, target_accept, max_tree_depth,
                 n_devices, init_params, inverse_mass_matrix, progress, chunk, method, dense_mass)
    rr, zr = plan.round_inputs(0)
    if plan.chunk_is_all:
        return ahead.compile_ahead(plan.step, rr, arrays, zr, plan.inv_mass)
    queued = ahead.compile_ahead(plan.init, rr, arrays, zr, plan.inv_mass)
    try:
        states = jax.eval_shape(plan.init, rr, arrays, zr, plan.inv_mass)
    except Exception:  # noqa: BLE001 - run_nuts will trace it again and report the error there
        return queued
    return ahead.compile_ahead(plan.step, states, arrays) or queued


def run_nuts(model, key: _Static, arrays: list, seed: int, chains: int, warmup: int, draws: int, thinning: int,
             target_accept: float, max_tree_depth: int, n_devices: int, init_params=None,
             inverse_mass_matrix=None, progress: bool = False, chunk: int = 100, desc: str = "NUTS",
             method: str = "parallel", dense_mass: bool = False):
    """Run ``chains`` NUTS chains; returns ``(samples, stats)`` as NumPy arrays shaped ``(chain, draw, ...)``.

    ``method`` lays the chains out over ``n_devices`` devices (:func:`layout`). ``init_params``
    (unconstrained, leading chain axis) and ``inverse_mass_matrix`` (dense, shared) are optional starts (the
    Laplace start); both enter as inputs, not constants. ``dense_mass`` adapts a dense mass matrix (always so
    with ``inverse_mass_matrix``). Programs queued by :func:`compile_nuts_ahead` for the same arguments are used.
    """
    plan = _plan(model, key, arrays, seed, chains, warmup, draws, thinning, target_accept, max_tree_depth,
                 n_devices, init_params, inverse_mass_matrix, progress, chunk, method, dense_mass)
    per_round, chunk, total = plan.per_round, plan.chunk, plan.total
    bar = None
    n_chunks = -(-total // chunk)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=plan.rounds * n_chunks * chunk, desc=desc, unit="it", leave=False)
    parts = []
    for r in range(plan.rounds):
        rr, zr = plan.round_inputs(r)
        if plan.chunk_is_all:
            _, out = ahead.call(plan.step, rr, arrays, zr, plan.inv_mass)
            parts.append(_gather([(warmup, jax.device_get(out))], plan.n_dev, per_round, per_round, draws,
                                 thinning))
            continue
        states = ahead.call(plan.init, rr, arrays, zr, plan.inv_mass)
        kept, done = [], 0
        for _ in range(n_chunks):
            states, out = ahead.call(plan.step, states, arrays)
            if done + chunk > warmup:
                kept.append((max(0, warmup - done), jax.device_get(out)))
            else:
                jax.block_until_ready(states)
            done += chunk
            if bar is not None:
                bar.update(chunk)
        parts.append(_gather(kept, plan.n_dev, per_round, per_round, draws, thinning))
    if bar is not None:
        bar.close()
    samples = {k: np.concatenate([p[0][k] for p in parts])[:chains] for k in parts[0][0]}
    stats = {k: np.concatenate([p[1][k] for p in parts])[:chains] for k in parts[0][1]}
    return samples, stats


def _gather(kept, n_dev: int, padded: int, chains: int, draws: int, thinning: int):
    """Chunks of ``(z, diverging, num_steps, stopped)`` outputs -> ``(samples, stats)`` shaped ``(chain, draw,
    ...)``."""

    def gather(select):
        parts = []
        for skip, out in kept:
            a = np.asarray(select(out))  # (iters, per_dev, ...) or (dev, iters, per_dev, ...)
            if n_dev > 1:
                a = np.swapaxes(a, 1, 2).reshape((padded, a.shape[1]) + a.shape[3:])
            else:
                a = np.swapaxes(a, 0, 1)
            parts.append(a[:, skip:])
        a = np.concatenate(parts, axis=1)[:chains, : draws * thinning]
        return a[:, ::thinning] if thinning > 1 else a

    names = list(kept[0][1][0].keys())
    samples = {name: gather(lambda o, n=name: o[0][n]) for name in names}
    stats = {"diverging": gather(lambda o: o[1]), "n_steps": gather(lambda o: o[2]), "stopped": gather(lambda o: o[3])}
    return samples, stats
