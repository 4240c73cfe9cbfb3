"""Pure math of latent-confounder blocks (``jax.numpy`` and NumPy only; no NumPyro, no pandas).

A latent root node whose children are linear-Gaussian enters the model only through what it does to the
observed data: the structural errors of its children are jointly Gaussian with a free covariance matrix Omega
(the semi-Markovian / acyclic directed mixed graph representation, Pearl 2009, ch. 3.5; linear SEMs with
correlated errors, Drton, Foygel & Sullivant 2011). For a block C of such nodes, with each node's structural
residual on its standardised scale ``r_c = z_c - intercept_c - X_c @ coef_c``, the block's factor of the
likelihood is ``sum_rows log MVN(r_row; 0, Omega)`` (the triangular change of variables from errors to values
has Jacobian 1, whatever the latent's loadings).

* :func:`block_suffstats` / :func:`block_loglik`: that factor from the cross-product matrix of the stacked
  designs ``[1, X_c, z_c]`` of the block's nodes, so its cost per gradient does not depend on the rows
  (the residuals are linear in the stacked design: ``R = S @ Theta``, ``R'R = Theta' (S'S) Theta``).
* :func:`block_covariance` and :func:`gaussian_conditional`: Omega from scales and a correlation Cholesky
  factor, and the conditional law of one node's residual given others' (used for interventions and checks).

The JAX functions are jitted: inside a model they are inlined into the sampler's program, and when the model is
run eagerly (NumPyro's initialisation, traces) one compile replaces the dozens of per-operation compiles that
eager dispatch would pay the first time.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular


def block_suffstats(designs: list[np.ndarray], zs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Cross-products of the stacked design ``S = [1, X_1, z_1, 1, X_2, z_2, ...]`` of a block's nodes.

    ``designs[c]`` (n, p_c) are node c's parent features, ``zs[c]`` (n,) its standardised values. Returns
    ``{"cross": S'S, "n": n}``; the column layout is implied by the widths ``p_c`` (see :func:`block_loglik`).
    """
    n = len(zs[0])
    S = np.column_stack([np.column_stack([np.ones(n), np.asarray(X).reshape(n, -1), z])
                         for X, z in zip(designs, zs, strict=True)])
    return {"cross": S.T @ S, "n": np.array(float(n))}


def residual_map(thetas: list) -> jnp.ndarray:
    """``Theta`` (sum_c (p_c + 2), k): block-diagonal with column ``[-intercept_c, -coef_c, 1]`` for node c,
    so that ``S @ Theta`` are the residuals of all the block's nodes. ``thetas[c] = [intercept_c, coef_c...]``."""
    k = len(thetas)
    cols = []
    for c, th in enumerate(thetas):
        th = jnp.atleast_1d(th)
        piece = jnp.concatenate([-th, jnp.ones(1)])
        col = [jnp.zeros(jnp.atleast_1d(t).shape[0] + 1) for t in thetas]
        col[c] = piece
        cols.append(jnp.concatenate(col))
    return jnp.stack(cols, axis=1) if k else jnp.zeros((0, 0))


@jax.jit
def block_covariance(sigmas, corr_chol):
    """``Omega = diag(sigma) L L' diag(sigma)`` and its Cholesky factor ``diag(sigma) L``."""
    chol = jnp.asarray(sigmas)[:, None] * corr_chol
    return chol @ chol.T, chol


@jax.jit
def block_loglik(thetas: list, sigmas, corr_chol, cross, n):
    """``sum_rows log MVN(r_row; 0, Omega)`` from ``cross = S'S`` (exact; see the module doc).

    ``thetas[c] = [intercept_c, coef_c...]`` of each node on its standardised scale, ``sigmas`` (k,) the error
    scales, ``corr_chol`` (k, k) the Cholesky factor of the error correlation matrix.
    """
    theta = residual_map(thetas)
    rtr = theta.T @ cross @ theta  # (k, k): sum over rows of r r'
    _, chol = block_covariance(sigmas, corr_chol)
    k = rtr.shape[0]
    half = solve_triangular(chol, rtr, lower=True)
    quad = jnp.trace(solve_triangular(chol, half.T, lower=True))  # tr(Omega^-1 R'R)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return -0.5 * n * (k * jnp.log(2.0 * jnp.pi) + logdet) - 0.5 * quad


@functools.partial(jax.jit, static_argnums=(1, 2))
def gaussian_conditional(omega, i: int, cond: tuple[int, ...], r_cond):
    """Law of residual ``i`` given the residuals ``cond`` (indices into Omega; values ``r_cond`` (n, len(cond))).

    Returns ``(mean, sd)``: ``Omega_{i,S} Omega_{S,S}^-1 r_S`` (n,) and ``sqrt(Omega_ii - Omega_{i,S}
    Omega_{S,S}^-1 Omega_{S,i})``; with no conditioning the mean is 0 and the sd ``sqrt(Omega_ii)``.
    """
    if not cond:
        return jnp.zeros(()), jnp.sqrt(omega[i, i])
    idx = jnp.asarray(cond)
    s_ss = omega[idx][:, idx]
    s_is = omega[i, idx]
    w = jnp.linalg.solve(s_ss, s_is)
    var = omega[i, i] - s_is @ w
    return r_cond @ w, jnp.sqrt(jnp.maximum(var, 0.0))
