"""A Laplace warm start for NUTS: the posterior mode, its curvature as the initial mass matrix, chains started
from the Laplace approximation.

Why: NUTS spends most of an unguided warm-up finding the typical set and learning the posterior's scales.
With many rows the posterior of a GLM's coefficients is narrow (sd ~ 1/sqrt(n) on the standardised scale, about
0.003 at 100k rows) while warm-up starts from an identity mass matrix, so the first hundreds of iterations take
trees of depth 8-10 (up to 1023 gradients each). The mode and the Hessian there cost a few dozen gradients; with
the inverse Hessian as the (dense) initial inverse mass matrix and the chains started at draws from the Laplace
approximation, warm-up steps are short from the first iteration. Warm-up still runs in full (same number of
iterations, step size and mass matrix still adapted from the chain's own draws), so the sampled posterior is
exactly the model's; only the starting point and the initial metric change. The Laplace approximation itself is
never used as the answer.

Chains start at independent draws from N(mode, H^-1), which is over-dispersed enough for R-hat to mean
something on the near-Gaussian posteriors where this pays off (and for the rest, warm-up moves them).
When the mode search fails (a non-finite value, a Hessian that is not positive definite at the end), the
caller falls back to the default start: nothing is lost but the time of the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .nuts_batch import _generators


@dataclass(frozen=True)
class LaplaceStart:
    """``init_params``: unconstrained starting values per chain (leading chain axis); ``inverse_mass_matrix``:
    the inverse Hessian at the mode, in the order of ``jax.flatten_util.ravel_pytree`` over the sites (sorted by
    name, which is NumPyro's order for a dense mass matrix over all sites); ``iterations`` of Newton's method."""

    init_params: dict
    inverse_mass_matrix: np.ndarray
    iterations: int


def newton_mode(fun, x0: np.ndarray, max_iter: int = 60, tol: float = 1e-9):
    """Minimise a smooth ``fun`` by damped Newton steps with backtracking; returns ``(x, hessian, iterations)``
    or None when it fails. ``fun`` maps a flat vector to a scalar (the potential energy: minus log density).

    Levenberg–Marquardt damping keeps each step a descent direction where the Hessian is indefinite; the stop
    rule is the Newton decrement ``g' H^-1 g / 2 < tol`` (Boyd & Vandenberghe 2004, sec. 9.5)."""
    value_grad = jax.jit(jax.value_and_grad(fun))
    hess = jax.jit(jax.hessian(fun))
    x = jnp.asarray(x0, dtype=float)
    f, g = value_grad(x)
    if not np.isfinite(float(f)):
        return None
    damping = 0.0
    for it in range(1, max_iter + 1):
        H = hess(x)
        eye = jnp.eye(x.size)
        step = None
        for _ in range(30):
            Hd = H + damping * eye
            chol = jnp.linalg.cholesky(Hd)
            if bool(jnp.all(jnp.isfinite(chol))):
                step = jax.scipy.linalg.cho_solve((chol, True), g)
                break
            damping = max(1e-6, 10 * damping)
        if step is None:
            return None
        decrement = float(g @ step) / 2
        if decrement < tol and damping == 0.0:
            return x, H, it
        t, accepted = 1.0, False
        for _ in range(40):
            x_new = x - t * step
            f_new, g_new = value_grad(x_new)
            if np.isfinite(float(f_new)) and float(f_new) <= float(f) - 1e-4 * t * float(g @ step):
                accepted = True
                break
            t /= 2
        if not accepted:
            if damping == 0.0 and decrement < 1e-6:  # at the mode to rounding: the step cannot lower f further
                return x, H, it
            damping = max(1e-3, 10 * damping)
            continue
        x, f, g = x_new, f_new, g_new
        damping = damping / 10 if damping > 1e-6 else 0.0
    return None


def laplace_start(model, model_args: tuple, model_kwargs: dict | None, seed: int, chains: int,
                  init_strategy=None) -> LaplaceStart | None:
    """The Laplace warm start of ``model`` (a NumPyro model) or None when the mode search fails; see the module
    docstring."""
    from jax.flatten_util import ravel_pytree
    from numpyro.infer import init_to_median
    from numpyro.infer.util import initialize_model

    key_init, key_draw = jax.random.split(jax.random.PRNGKey(seed))
    kwargs = model_kwargs or {}
    strategy = init_strategy or init_to_median(num_samples=15)

    # The starting point is found inside one compiled program: NumPyro's eager search runs the model 15 times
    # and a gradient op by op, which cost 7.6 s of a 12 s Laplace start on a 100k-row negative binomial node
    # (benchmarks/speed_scm.py data; traced, the whole start took a fraction of that).
    @jax.jit
    def initial(key):
        return initialize_model(key, model, model_args=model_args, model_kwargs=kwargs,
                                init_strategy=strategy).param_info.z

    z0 = initial(key_init)
    flat0, unravel = ravel_pytree(z0)
    if flat0.size == 0:
        return None
    # NumPyro's potential energy from one seeded trace (the sites' transforms), as the batched NUTS builds it
    potential_gen, _ = _generators(model, model_args, kwargs)
    potential_fn = potential_gen(*model_args, **kwargs)

    def potential(v):
        return potential_fn(unravel(v))

    found = newton_mode(potential, flat0)
    if found is None:
        return None
    mode, H, iterations = found
    cov = jnp.linalg.inv(H)
    cov = (cov + cov.T) / 2
    chol = jnp.linalg.cholesky(cov)
    if not bool(jnp.all(jnp.isfinite(chol))):
        return None
    z = jax.random.normal(key_draw, (chains, mode.size))
    starts = mode[None, :] + z @ chol.T
    init = jax.vmap(unravel)(starts)
    return LaplaceStart(init_params=init, inverse_mass_matrix=np.asarray(cov), iterations=iterations)
