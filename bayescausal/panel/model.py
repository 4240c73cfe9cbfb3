"""The Gaussian panel model on sufficient statistics: collapsed likelihood, exact conditional draws, NumPyro model.

Model (standardised scale): ``y_it = a_i + g_t + z_it' theta + e_it`` with ``z_it`` the effect columns,
covariates (and, under ``mundlak=True``, the unit means of both as between-only regressors). Everything but the
scale parameters ``phi = (sigma, sd_unit, sd_time, rho)`` is integrated out analytically:

* Unit effects. Fixed (flat prior): integrating ``a_i`` out of unit i's rows leaves the within likelihood
  ``(2 pi sigma^2)^(-(T_i - 1)/2) T_i^(-1/2) exp(-|M e_i|^2 / 2 sigma^2)`` (``M`` removes the unit mean), whose
  maximiser in theta is the within (two-way fixed-effects) estimator. Hierarchical (``a_i ~ N(mu, sd_unit^2)``):
  the covariance ``sigma^2 I + sd_unit^2 11'`` splits the same within factor from a between factor, the unit
  mean residual ``ebar_i ~ N(0, sd_unit^2 + sigma^2 / T_i)``; units are grouped by ``T_i`` (unbalanced panels),
  so the cost does not grow with the number of units.
* AR(1) errors, ``e_it = rho e_i,t-1 + u_it`` (stationary): the exact likelihood, not the one conditional on
  each unit's first period. With fixed effects the conditional likelihood estimates ``rho`` with the dynamic
  panel bias of about ``-(1 + rho) / (T - 1)`` (Nickell 1981, Econometrica 49(6)); measured here, ``rho = -0.14``
  on serially independent errors with T = 8. The exact likelihood is the Prais-Winsten transformation
  (Prais & Winsten 1954; Baltagi & Li 1991, Econometric Theory 7(4), for error components): the first row of each
  run of consecutive periods scaled by ``sqrt(1 - rho^2)``, every later row quasi-differenced,
  ``e_it - rho e_i,t-1``; the unit effect then loads on ``l_i = [sqrt(1 - rho^2), 1 - rho, ...]`` and is
  integrated out against its flat (fixed) or normal (hierarchical) prior, which is exact and free of the
  incidental-parameter bias because the unit effect is a location parameter (the restricted likelihood). Its
  statistics are polynomials in ``rho`` of sums over rows and of per-unit sums grouped by (runs, rows), so it too
  is free of rows. A gap in a unit's periods starts a new run, and runs are treated as independent given the
  unit effect: exact on panels without gaps; across a gap of ``k`` missing periods it ignores the correlation
  ``rho^(k+1)``, which makes intervals slightly too narrow on gappy panels with strongly correlated errors.
* Coefficients ``theta`` (effects, covariates, Mundlak terms, ``mu``, time effects). Given ``phi`` the model is
  linear-Gaussian in ``theta`` with Gaussian (or flat) priors, so ``theta | phi, y`` is exactly Gaussian with
  precision ``P(phi) = Z'S(phi)Z + Lambda`` and ``phi``'s marginal likelihood is available in closed form.

Why collapsed: NUTS samples only 1-4 scale parameters from their exact marginal posterior (a log density costing
one Cholesky of a q x q matrix, q = effects + covariates + periods), and ``theta`` is drawn exactly from its
Gaussian conditional per draw. This is exact (no approximation beyond MCMC on ``phi``), its draws of ``theta``
are independent given ``phi``, and the cost is independent of the number of rows and units. Sampling ``theta``
with NUTS as well would add q dimensions of highly correlated (fixed-effects) geometry for nothing. When
``sigma`` is the only scale (fixed unit and time effects, iid errors: the event study's default) the quadratic
form is a fixed matrix over ``sigma^2``, so one eigendecomposition before sampling makes each log density and
gradient O(q) (:func:`spectral_statistics`); measured on the 76-cell event study (q = 101), NUTS went from 9.7 s
to 1.9 s (``benchmarks/speed_panel.py --models event``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import scipy.linalg
from jax.scipy.linalg import cho_solve, solve_triangular

LOG_2PI = float(np.log(2 * np.pi))


class Spectrum(NamedTuple):
    """The scale-only model's statistics in the eigenbasis that makes ``log p(y | sigma)`` cost ``O(q)``
    (see :func:`spectral_statistics`), each with the leading batch axis ``B``: ``delta``, ``u``, ``r`` (B, q);
    ``logdet_a``, ``yy``, ``cc`` (B,)."""

    delta: jnp.ndarray
    u: jnp.ndarray
    r: jnp.ndarray
    logdet_a: jnp.ndarray
    yy: jnp.ndarray
    cc: jnp.ndarray


class PanelInputs(NamedTuple):
    """Statistics in the model space ``[theta columns (q), y]``, each with a leading batch axis ``B``.

    iid errors: ``Q`` (B, 1, q+1, q+1) the within cross-products; ``G`` (B, M, 1, 1, q+1, q+1) the between sums of
    each group of units with ``sizes[..., 0]`` rows. AR(1) errors: ``Q`` (B, 4, ...) the pooled sums over starts,
    pairs (current, current x previous, previous) and ``G`` (B, M, 9, ...) the per-unit vectors' sums (see
    ``_math.AR1Stats``) contracted with their rho-polynomial weights (``core._model_space_ar1``), groups by
    ``sizes`` = (starts, pairs) per unit. ``counts`` (B, M) units per group (zero
    pads); ``n_rows``, ``n_starts``, ``df`` (rows minus units) and ``log_sizes`` (sum of ``log T_i``), (B,);
    ``prec`` (B, q) the prior precisions of ``theta`` (0: flat; hierarchical time effects get ``1/sd_time^2``)."""

    Q: jnp.ndarray
    G: jnp.ndarray
    sizes: jnp.ndarray
    counts: jnp.ndarray
    n_rows: jnp.ndarray
    n_starts: jnp.ndarray
    df: jnp.ndarray
    log_sizes: jnp.ndarray
    prec: jnp.ndarray
    spectrum: Spectrum | None = None


@dataclass(frozen=True, eq=False)
class ModelConfig:
    """Static structure: which scales are sampled, the prior means of ``theta`` and the positions of
    hierarchical time effects in ``theta``."""

    hier_units: bool
    hier_time: bool
    ar1: bool
    prior_mean: np.ndarray
    time_mask: np.ndarray
    priors: object

    @property
    def q(self) -> int:
        return len(self.prior_mean)

    @property
    def scale_only(self) -> bool:
        """True when ``sigma`` is the only sampled scale (iid errors, fixed unit and time effects): then the
        likelihood's quadratic form is ``S / sigma^2`` with ``S`` fixed, and :func:`spectral_statistics` applies."""
        return not (self.hier_units or self.hier_time or self.ar1)


def _weighted_iid(phi: dict, inp: PanelInputs, cfg: ModelConfig, xp=jnp):
    sigma2 = phi["sigma"] ** 2
    S = inp.Q[0] / sigma2
    const = -0.5 * inp.df * (LOG_2PI + xp.log(sigma2)) - 0.5 * inp.log_sizes
    if cfg.hier_units:
        v = phi["sd_unit"] ** 2 + sigma2 / inp.sizes[:, 0]  # (M,)
        S = S + xp.einsum("m,mij->ij", 1.0 / v, inp.G[:, 0, 0])
        const = const - 0.5 * xp.sum(inp.counts * (LOG_2PI + xp.log(v)))
    return S, const


def _weighted_ar1(phi: dict, inp: PanelInputs, cfg: ModelConfig, xp=jnp):
    """Exact AR(1) likelihood: Prais-Winsten rows ``sqrt(1 - rho^2) e_start`` and ``e_r - rho e_(r-1)``, each
    unit's effect (loading ``l_i``, ``l_i'l_i = lam_i``) integrated out against a flat or normal prior."""
    sigma2 = phi["sigma"] ** 2
    rho = phi["rho"]
    c2 = 1.0 - rho**2
    Q = inp.Q
    pooled = c2 * Q[0] + Q[1] - rho * (Q[2] + Q[2].T) + rho**2 * Q[3]
    n_s, n_p = inp.sizes[:, 0], inp.sizes[:, 1]
    lam = n_s * c2 + n_p * (1.0 - rho) ** 2  # (M,)
    powers = xp.stack([xp.ones_like(rho), rho, rho**2, rho**3, rho**4])
    if cfg.hier_units:
        s2 = phi["sd_unit"] ** 2
        kappa = s2 / (sigma2 + s2 * lam)
        unit_const = -0.5 * xp.log1p(s2 * lam / sigma2)
    else:
        kappa = 1.0 / lam
        unit_const = 0.5 * (LOG_2PI + xp.log(sigma2)) - 0.5 * xp.log(lam)
    # per group: (a'x)(a'x)' weighted by -kappa; with unit means (hierarchical) also the cross terms with m
    total = pooled - xp.einsum("m,d,mdab->ab", kappa, powers, inp.G[:, :5])
    if cfg.hier_units:
        total = total + xp.einsum("m,p,mpab->ab", 1.0 - kappa * lam, powers[:3], inp.G[:, 5:8]) \
            + xp.einsum("m,mab->ab", lam - kappa * lam**2, inp.G[:, 8])
    const = (-0.5 * inp.n_rows * (LOG_2PI + xp.log(sigma2)) + 0.5 * inp.n_starts * xp.log(c2)
             + xp.sum(inp.counts * unit_const))
    return total / sigma2, const


def _weighted(phi: dict, inp: PanelInputs, cfg: ModelConfig, xp=jnp):
    """``S(phi)`` (q+1, q+1), the quadratic form of ``[-theta, 1]`` in the log likelihood (times -1/2), and the
    log normalising constant. ``xp``: ``jax.numpy`` (the sampler) or ``numpy`` (draws after sampling)."""
    return _weighted_ar1(phi, inp, cfg, xp) if cfg.ar1 else _weighted_iid(phi, inp, cfg, xp)


def _prior_precision(phi: dict, inp: PanelInputs, cfg: ModelConfig, xp=jnp):
    prec = inp.prec
    if cfg.hier_time:
        prec = xp.where(xp.asarray(cfg.time_mask), 1.0 / phi["sd_time"] ** 2, prec)
    return prec


def _system(phi: dict, inp: PanelInputs, cfg: ModelConfig, xp=jnp):
    S, const = _weighted(phi, inp, cfg, xp)
    q = cfg.q
    lam = _prior_precision(phi, inp, cfg, xp)
    m0 = xp.asarray(cfg.prior_mean)
    P = S[:q, :q] + xp.diag(lam)
    h = S[:q, q] + lam * m0
    c = S[q, q] + xp.sum(lam * m0**2)
    return P, h, c, lam, const


def _prior_terms(lam):
    """``0.5 log det`` of the proper part of the prior precision, and ``0.5 log(2 pi)`` per flat coordinate."""
    proper = lam > 0
    logdet_prior = jnp.sum(jnp.where(proper, jnp.log(jnp.where(proper, lam, 1.0)), 0.0))
    return 0.5 * logdet_prior + 0.5 * jnp.sum(~proper) * LOG_2PI


def log_marginal(phi: dict, inp: PanelInputs, cfg: ModelConfig):
    """``log p(y | phi)`` with the unit effects and ``theta`` integrated out (one design; no batch axis)."""
    if inp.spectrum is not None:
        return _log_marginal_spectral(phi, inp)
    P, h, c, lam, const = _system(phi, inp, cfg)
    L = jnp.linalg.cholesky(P)
    w = solve_triangular(L, h, lower=True)
    return const - jnp.sum(jnp.log(jnp.diag(L))) + _prior_terms(lam) + 0.5 * w @ w - 0.5 * c


def spectral_statistics(Q: np.ndarray, prec: np.ndarray, prior_mean: np.ndarray) -> dict | None:
    """Precomputation that makes the scale-only marginal likelihood ``O(q)`` per evaluation instead of a
    Cholesky factorisation and its gradient (``O(q^3)``; about 1 ms for q = 100 with JAX on CPU, which made
    NUTS on a single scale parameter the bulk of an event study's fit).

    With ``sigma`` the only scale, the posterior precision of ``theta`` is ``P = A / s + D`` (``s = sigma^2``,
    ``A`` the within cross-products of the columns, ``D = diag(prior precisions)``, zero where flat) and
    ``h = b / s + D m0``. Write ``A = L L'`` and ``L^-1 D L^-T = V diag(delta) V'``. Then
    ``log det P = log det A + sum log(1 + s delta) - q log s`` and
    ``h' P^-1 h = s sum_i (u_i / s + r_i)^2 / (1 + s delta_i)`` with ``u = V' L^-1 b`` and ``r = V' L^-1 D m0``.
    ``Q``: the (q+1, q+1) quadratic form ``[theta columns, y]``. Returns None when ``A`` is not positive
    definite (the caller keeps the general path)."""
    q = prec.size
    A, b = Q[:q, :q], Q[:q, q]
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None
    Linv = scipy.linalg.solve_triangular(L, np.eye(q), lower=True)
    delta, V = np.linalg.eigh((Linv * prec[None, :]) @ Linv.T)
    return {"delta": np.clip(delta, 0.0, None), "u": V.T @ (Linv @ b), "r": V.T @ (Linv @ (prec * prior_mean)),
            "logdet_a": 2.0 * np.sum(np.log(np.diag(L))), "yy": Q[q, q], "cc": np.sum(prec * prior_mean**2)}


def _log_marginal_spectral(phi: dict, inp: PanelInputs):
    """:func:`log_marginal` of the scale-only model from :func:`spectral_statistics` (same value, O(q))."""
    sp = inp.spectrum
    s = phi["sigma"] ** 2
    const = -0.5 * inp.df * (LOG_2PI + jnp.log(s)) - 0.5 * inp.log_sizes
    q = sp.delta.shape[-1]
    logdet_p = sp.logdet_a + jnp.sum(jnp.log1p(s * sp.delta)) - q * jnp.log(s)
    g = sp.u / s + sp.r
    quad = s * jnp.sum(g**2 / (1.0 + s * sp.delta))
    c = sp.yy / s + sp.cc
    return const - 0.5 * logdet_p + _prior_terms(inp.prec) + 0.5 * quad - 0.5 * c


def log_likelihood(theta, phi: dict, inp: PanelInputs, cfg: ModelConfig):
    """``log p(y | theta, phi)`` with only the unit effects integrated out (one design): for tests and checks."""
    S, const = _weighted(phi, inp, cfg)
    gamma = jnp.concatenate([-theta, jnp.ones(1)])
    return const - 0.5 * gamma @ S @ gamma


def conditional(phi: dict, inp: PanelInputs, cfg: ModelConfig):
    """Mean and lower Cholesky factor of the precision of ``theta | phi, y`` (exactly Gaussian)."""
    P, h, _, _, _ = _system(phi, inp, cfg)
    L = jnp.linalg.cholesky(P)
    return cho_solve((L, True), h), L


def draw_theta(phi: dict, inp: PanelInputs, cfg: ModelConfig, z):
    """One exact draw of ``theta | phi, y`` from standard normals ``z`` (q,); also returns the mean."""
    mean, L = conditional(phi, inp, cfg)
    return mean + solve_triangular(L.T, z, lower=False), mean


def conditional_numpy(phi: dict, inp: PanelInputs, cfg: ModelConfig):
    """:func:`conditional` in NumPy (``inp`` of NumPy arrays, ``phi`` of floats), for the exact draws and the
    conditional posteriors computed after sampling: no compilation, and none of XLA's CPU runtime, which was seen
    to stall on a batched Cholesky of a few thousand small matrices right after a parallel-chain run."""
    import scipy.linalg

    P, h, _, _, _ = _system(phi, inp, cfg, np)
    L = np.linalg.cholesky(P)
    return scipy.linalg.cho_solve((L, True), h), L


def panel_model(inputs: PanelInputs, cfg: ModelConfig) -> None:
    """NumPyro model of the scale parameters of ``B`` independent designs (the main fit has ``B = 1``)."""
    B = inputs.df.shape[0]
    priors = cfg.priors
    phi = {}
    with numpyro.plate("design", B):
        phi["sigma"] = numpyro.sample("sigma", priors.sigma)
        if cfg.hier_units:
            phi["sd_unit"] = numpyro.sample("sd_unit", priors.sd_unit)
        if cfg.hier_time:
            phi["sd_time"] = numpyro.sample("sd_time", priors.sd_time)
        if cfg.ar1:
            phi["rho"] = numpyro.sample("rho", priors.rho)
    numpyro.factor("loglik", jnp.sum(jax.vmap(lambda p, i: log_marginal(p, i, cfg))(phi, inputs)))
