"""Pure ``jax.numpy`` pieces of the marketing mix model: adstock, saturation, Fourier terms.

No NumPyro, no pandas. Every function works on arrays whose *time axis is ``axis=-2``* and whose channel axis
is last (``(..., T, C)``), with per-channel parameters shaped ``(..., C)`` that broadcast against them, so the
same code runs for one series, a geo panel ``(G, T, C)`` or a batch of datasets ``(B, G, T, C)``.

Formulas (Jin, Wang, Sun, Chan & Koehler 2017, "Bayesian Methods for Media Mix Modeling with Carryover and
Shape Effects", Google Inc.):

* geometric adstock, eq. (1) with the delay ``theta = 0``: ``a_t = sum_{l=0}^{L-1} w_l x_{t-l} / sum_l w_l`` with
  ``w_l = alpha^l``. Normalised weights keep the long-run level of a constant spend (a constant ``x`` gives
  ``a = x`` once ``L - 1`` weeks have passed), so saturation parameters stay on the spend's own scale.
* Weibull adstock (the flexible-decay lag of Robyn and Meridian): weights from the Weibull survival function
  ``w_l = exp(-(l / lambda)^k)`` ("cdf" form, monotone decay) or from its density at ``l + 1`` ("pdf" form,
  allows a delayed peak), normalised the same way.
* Hill saturation, eq. (3): ``h(x) = 1 / (1 + (K / x)^S)``, with half-saturation point ``K`` and shape ``S``.
* logistic saturation: ``(1 - exp(-lambda x)) / (1 + exp(-lambda x)) = tanh(lambda x / 2)``.

Adstock is a causal convolution computed as one contraction of the lag tensor ``(..., T, L, C)`` with the
weights ``(..., L, C)``: no loop over time.
"""

from __future__ import annotations

import jax.numpy as jnp

WEEKS_PER_YEAR = 365.25 / 7.0


def lagged(x: jnp.ndarray, l_max: int) -> jnp.ndarray:
    """Lag tensor of ``x`` ``(..., T, C)``: ``out[..., t, l, c] = x[..., t - l, c]`` (0 before the start), shape
    ``(..., T, L, C)``."""
    T = x.shape[-2]
    pad = [(0, 0)] * (x.ndim - 2) + [(l_max - 1, 0), (0, 0)]
    xp = jnp.pad(x, pad)
    # index matrix (T, L): row t holds positions t + L - 1 - l of the padded series
    idx = jnp.arange(T)[:, None] + (l_max - 1) - jnp.arange(l_max)[None, :]
    return jnp.take(xp, idx, axis=-2)


def geometric_weights(alpha: jnp.ndarray, l_max: int, normalize: bool = True) -> jnp.ndarray:
    """Weights ``alpha^l`` for ``l = 0..L-1`` shaped ``(..., L, C)`` from ``alpha`` ``(..., C)``."""
    lags = jnp.arange(l_max, dtype=jnp.result_type(float))
    w = jnp.asarray(alpha)[..., None, :] ** lags[:, None]
    return w / w.sum(axis=-2, keepdims=True) if normalize else w


def weibull_weights(shape: jnp.ndarray, scale: jnp.ndarray, l_max: int, kind: str = "cdf",
                    normalize: bool = True) -> jnp.ndarray:
    """Weibull lag weights ``(..., L, C)``: survival ``exp(-(l/scale)^shape)`` ("cdf") or the density at
    ``l + 1`` ("pdf"), from ``shape`` and ``scale`` (in weeks) shaped ``(..., C)``."""
    k = jnp.asarray(shape)[..., None, :]
    lam = jnp.asarray(scale)[..., None, :]
    lags = jnp.arange(l_max, dtype=jnp.result_type(float))[:, None]
    if kind == "cdf":
        # (l / scale)^shape through exp(shape log(.)) with lag 0 kept apart: at lag 0, (0 / scale) ** shape has a
        # NaN gradient in the scale for a shape below 1 (0 * inf), which made every NUTS transition of a Weibull
        # model diverge (tests/mmm/test_math.py)
        pos = lags > 0
        u = jnp.where(pos, lags, 1.0) / lam
        w = jnp.where(pos, jnp.exp(-jnp.exp(k * jnp.log(u))), 1.0)
    elif kind == "pdf":
        u = (lags + 1.0) / lam
        w = (k / lam) * u ** (k - 1.0) * jnp.exp(-(u ** k))
    else:
        raise ValueError(f"kind={kind!r}: use 'cdf' or 'pdf'.")
    if normalize:
        w = w / jnp.maximum(w.sum(axis=-2, keepdims=True), 1e-300)
    return w


def adstock(x: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
    """Causal convolution of ``x`` ``(..., T, C)`` with lag weights ``(..., L, C)``: ``(..., T, C)``."""
    X = lagged(x, weights.shape[-2])
    return jnp.sum(X * weights[..., None, :, :], axis=-2)


def geometric_adstock(x, alpha, l_max: int, normalize: bool = True):
    """Geometric adstock of ``x`` ``(..., T, C)`` with decay ``alpha`` ``(..., C)`` over ``l_max`` weeks."""
    return adstock(x, geometric_weights(alpha, l_max, normalize))


def weibull_adstock(x, shape, scale, l_max: int, kind: str = "cdf", normalize: bool = True):
    """Weibull adstock of ``x`` ``(..., T, C)``; see :func:`weibull_weights`."""
    return adstock(x, weibull_weights(shape, scale, l_max, kind, normalize))


def hill(x: jnp.ndarray, half: jnp.ndarray, slope: jnp.ndarray) -> jnp.ndarray:
    """Hill saturation ``x^S / (x^S + K^S)`` for ``x >= 0`` (0 at 0, 1/2 at ``K``), with finite gradients at 0."""
    pos = x > 0
    safe = jnp.where(pos, x, 1.0)
    return jnp.where(pos, 1.0 / (1.0 + jnp.exp(slope * (jnp.log(half) - jnp.log(safe)))), 0.0)


def logistic(x: jnp.ndarray, lam: jnp.ndarray) -> jnp.ndarray:
    """Logistic saturation ``(1 - exp(-lam x)) / (1 + exp(-lam x))`` (written as ``tanh(lam x / 2)``)."""
    return jnp.tanh(0.5 * lam * x)


def fourier(t: jnp.ndarray, order: int, period: float = WEEKS_PER_YEAR) -> jnp.ndarray:
    """Fourier basis ``[sin(2 pi k t / P), cos(2 pi k t / P)]_{k=1..order}`` of time ``t`` (weeks): ``(T, 2 order)``."""
    t = jnp.asarray(t, dtype=jnp.result_type(float))
    k = jnp.arange(1, order + 1, dtype=t.dtype)
    arg = 2.0 * jnp.pi * t[:, None] * k[None, :] / period
    return jnp.concatenate([jnp.sin(arg), jnp.cos(arg)], axis=1)
