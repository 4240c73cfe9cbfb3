"""Pure math of the Bayesian doubly robust (AIPW) estimator: bases, the AIPW score per posterior draw under
Bayesian-bootstrap weights, overlap and trimming numbers, and the stratified permutation null.

NumPy and ``jax.numpy`` only (no NumPyro, no pandas), so every function here can be tested against a hand
computation.

The estimator (Saarela, Belzile & Stephens 2016, "A Bayesian view of doubly robust causal inference",
Biometrika 103(3):667-681): for posterior draw ``s`` of the propensity model ``e`` and the outcome models
``mu1, mu0``, and Dirichlet(1, ..., 1) weights ``w^(s)`` over the units (the Bayesian bootstrap of the empirical
distribution of the covariates and outcomes; Rubin 1981, Ann. Stat. 9:130),

    ATE^(s) = sum_i w_i [mu1_i - mu0_i + t_i (y_i - mu1_i) / e_i - (1 - t_i) (y_i - mu0_i) / (1 - e_i)]
    ATT^(s) = sum_i w_i [t_i (y_i - mu0_i) - (1 - t_i) e_i (y_i - mu0_i) / (1 - e_i)] / sum_i w_i t_i

(Robins, Rotnitzky & Zhao 1994 for the ATE score; the ATT score as in Mercatanti & Li 2014, and Moodie et al.
2018). Each estimate is consistent when either the propensity or the outcome model is right (double robustness).
The Dirichlet weights carry the sampling uncertainty of the population average; the posterior of the nuisance
models carries their estimation uncertainty on top (first-order negligible when both models are right, so the
intervals are, if anything, slightly conservative there).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

# Knot positions (quantiles) of restricted cubic splines recommended by Harrell (2015), Regression Modeling
# Strategies, 2nd ed., section 2.4.6, table 2.3.
KNOT_QUANTILES = {3: (0.10, 0.50, 0.90), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.50, 0.725, 0.95)}
MIN_DISTINCT_FOR_SPLINE = 5
PROPENSITY_FLOOR = 1e-10  # numerical floor on e and 1 - e inside the score (the overlap check reports the real ones)


# --------------------------------------------------------------------------------------------- bases
def spline_knots(x: np.ndarray, k: int = 4) -> np.ndarray:
    """Distinct knots of a restricted cubic spline of ``x`` at Harrell's quantiles for ``k`` knots (3, 4 or 5).

    A discrete variable can repeat a quantile; the repeats are dropped, so fewer than ``k`` knots may return."""
    return np.unique(np.quantile(np.asarray(x, float), KNOT_QUANTILES[k]))


def restricted_cubic_terms(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """The ``K - 2`` nonlinear columns of a restricted (natural) cubic spline with ``K`` knots (Stone & Koo 1985;
    Harrell 2015, eq. 2.25): cubic between the knots, linear beyond the outer ones. Together with ``x`` itself they
    span every such spline. Scaled by ``(t_K - t_1)^2`` so that they have the units of ``x``."""
    x = np.asarray(x, float)
    t = np.asarray(knots, float)
    K = len(t)
    if K < 3:
        return np.zeros((len(x), 0))
    tk, tk1, scale = t[-1], t[-2], (t[-1] - t[0]) ** 2

    def cube(v):
        return np.maximum(v, 0.0) ** 3

    cols = [(cube(x - t[j]) - cube(x - tk1) * (tk - t[j]) / (tk - tk1) + cube(x - tk) * (tk1 - t[j]) / (tk - tk1))
            / scale for j in range(K - 2)]
    return np.column_stack(cols)


@dataclass(frozen=True)
class Basis:
    """An orthonormal design: ``Q`` (n, p) with mean-zero columns of unit mean square, uncorrelated with each other.

    ``groups``: sizes of its blocks in order; the first is the main (linear) block, the rest are flexible blocks
    (a spline per numeric covariate, then the pairwise interactions) that get their own shrinkage scale.
    ``group_names`` names them; ``dropped``: blocks (or parts) that added nothing to the span of the others."""

    Q: np.ndarray
    groups: tuple[int, ...]
    group_names: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    @property
    def p(self) -> int:
        return int(self.Q.shape[1])


def _standardise_columns(X: np.ndarray) -> np.ndarray:
    sd = X.std(0)
    return (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)


def flexible_blocks(X: np.ndarray, sources: np.ndarray, numeric: np.ndarray, names: tuple[str, ...],
                    knots: int = 4, interactions: bool = True) -> list[tuple[str, np.ndarray]]:
    """The flexible blocks of the design ``X`` (n, p): a restricted cubic spline of every numeric column with at
    least ``MIN_DISTINCT_FOR_SPLINE`` distinct values, then the products of every pair of standardised columns that
    come from different covariates (``sources`` gives each column's covariate; ``numeric`` marks numeric ones)."""
    blocks = []
    for j in range(X.shape[1]):
        if numeric[j] and len(np.unique(X[:, j])) >= MIN_DISTINCT_FOR_SPLINE:
            terms = restricted_cubic_terms(X[:, j], spline_knots(X[:, j], knots))
            if terms.shape[1]:
                blocks.append((f"spline({names[j]})", terms))
    if interactions:
        Z = _standardise_columns(X)
        pairs = [(i, j) for i in range(X.shape[1]) for j in range(i + 1, X.shape[1]) if sources[i] != sources[j]]
        if pairs:
            blocks.append(("interactions", np.column_stack([Z[:, i] * Z[:, j] for i, j in pairs])))
    return blocks


def orthonormal_basis(blocks: list[tuple[str, np.ndarray]], tol: float = 1e-8) -> Basis:
    """Gram-Schmidt over blocks: each block is made orthogonal to the intercept and to every earlier block, then
    orthonormalised within itself (by SVD, dropping directions with relative singular value below ``tol``).

    Why: NUTS with a diagonal mass matrix mixes slowly on strongly correlated coefficients (a covariate and its
    spline terms are highly collinear); on orthonormal columns the posterior is close to isotropic. A flexible
    block then holds only what its terms add beyond the earlier blocks, so shrinking its coefficients to zero
    shrinks the fit towards the simpler (linear, additive) model. The isotropic normal priors used on a block are
    invariant to the rotation within it."""
    n = blocks[0][1].shape[0]
    basis = np.ones((n, 1)) / np.sqrt(n)
    cols, groups, names, dropped = [], [], [], []
    for name, B in blocks:
        B = np.asarray(B, float)
        if B.shape[1] == 0:
            continue
        scale = np.sqrt((B**2).sum(0)).max()
        R = B - basis @ (basis.T @ B)
        R = R - basis @ (basis.T @ R)  # second pass: re-orthogonalisation for numerical stability
        U, s, _ = np.linalg.svd(R, full_matrices=False)
        keep = s > tol * max(scale, 1e-300)
        if keep.sum() < B.shape[1]:
            dropped.append(f"{name}: {B.shape[1] - int(keep.sum())} of {B.shape[1]} column(s) redundant")
        if not keep.any():
            continue
        U = U[:, keep]
        basis = np.column_stack([basis, U])
        cols.append(U * np.sqrt(n))
        groups.append(U.shape[1])
        names.append(name)
    Q = np.column_stack(cols) if cols else np.zeros((n, 0))
    return Basis(Q=Q, groups=tuple(groups), group_names=tuple(names), dropped=tuple(dropped))


def build_basis(X: np.ndarray, sources: np.ndarray, numeric: np.ndarray, names: tuple[str, ...], flexible: bool,
                knots: int = 4) -> Basis:
    """The model design of covariates ``X``: the standardised columns (main block), plus the flexible blocks when
    ``flexible``; all orthonormalised by :func:`orthonormal_basis`."""
    blocks = [("main", _standardise_columns(np.asarray(X, float)))]
    if flexible:
        blocks += flexible_blocks(np.asarray(X, float), sources, numeric, names, knots)
    basis = orthonormal_basis(blocks)
    if not basis.groups or basis.group_names[0] != "main":
        # every main column was constant on these rows: keep an empty main block so groups[0] is always main
        return Basis(basis.Q, (0,) + basis.groups, ("main",) + basis.group_names, basis.dropped)
    return basis


def ridge_fit(Q: np.ndarray, y: np.ndarray, penalty: float = 1.0) -> np.ndarray:
    """Fitted values of a ridge regression of ``y`` on an intercept and ``Q`` (intercept unpenalised)."""
    y = np.asarray(y, float)
    ybar = y.mean()
    Qc = Q - Q.mean(0)
    beta = np.linalg.solve(Qc.T @ Qc + penalty * np.eye(Q.shape[1]), Qc.T @ (y - ybar))
    return ybar + Qc @ beta


# --------------------------------------------------------------------------------------------- AIPW score
def aipw_terms(mu1, mu0, e, y, t, estimand: str):
    """Per-unit numerator and denominator of the AIPW estimate (see the module docstring); the estimate under
    unit weights ``w`` is ``sum(w * num) / sum(w * den)``. Works on NumPy or JAX arrays of any broadcastable shape.
    """
    xp = jnp if any(isinstance(a, jax.Array) for a in (mu1, mu0, e, y, t)) else np
    e = xp.clip(e, PROPENSITY_FLOOR, 1.0 - PROPENSITY_FLOOR)
    if estimand == "ATE":
        num = mu1 - mu0 + t * (y - mu1) / e - (1.0 - t) * (y - mu0) / (1.0 - e)
        return num, xp.ones_like(num)
    if estimand == "ATT":
        r0 = y - mu0
        num = t * r0 - (1.0 - t) * e / (1.0 - e) * r0
        return num, t * xp.ones_like(num)
    raise ValueError(f"unknown estimand {estimand!r}")


def _sigmoid(v):
    return jax.nn.sigmoid(v)


def outcome_means(out_params, Qo, link: str, y_loc: float, y_scale: float):
    """``(mu0, mu1)`` on the outcome's scale for one draw: ``out_params`` (2, 1 + p) holds per arm (control,
    treated) the intercept and the coefficients on ``Qo`` (n, p)."""
    eta = out_params[:, :1] + (Qo @ out_params[:, 1:].T).T  # (2, n)
    if link == "logistic":
        mu = _sigmoid(eta)
    else:
        mu = y_loc + y_scale * eta
    return mu[0], mu[1]


def propensity(prop_params, Qp):
    """``e`` (n,) for one draw: ``prop_params`` (1 + p,) = intercept then coefficients on ``Qp`` (n, p)."""
    return _sigmoid(prop_params[0] + Qp @ prop_params[1:])


def draw_batch_size(n: int, budget: float = 2e7) -> int:
    """Posterior draws evaluated at once so that about ``budget`` floats per array are alive (~160 MB)."""
    return int(max(1, budget // max(n, 1)))


def aipw_draws(key, prop_params, out_params, Qp, Qo, y, t, keep, estimand: str, link: str, y_loc: float = 0.0,
               y_scale: float = 1.0, batch_size: int | None = None) -> jnp.ndarray:
    """The AIPW estimate for every posterior draw, each under its own Bayesian-bootstrap weights.

    ``prop_params`` (S, 1 + pp) and ``out_params`` (S, 2, 1 + po) are the draws; ``keep`` (n,) 0/1 marks the units
    in the estimand's population (1 everywhere without trimming). Dirichlet(1, ..., 1) weights over the kept units
    are drawn as normalised unit exponentials (the normalisation cancels in the ratio). Draws are evaluated
    ``batch_size`` at a time (``lax.map``), so memory is O(batch_size * n) however many draws there are."""
    prop_params, out_params = jnp.asarray(prop_params), jnp.asarray(out_params)
    Qp, Qo, y, t, keep = (jnp.asarray(a, float) for a in (Qp, Qo, y, t, keep))
    n, S = y.shape[0], prop_params.shape[0]
    keys = jax.random.split(key, S)

    def one(args):
        k, g, b = args
        e = propensity(g, Qp)
        mu0, mu1 = outcome_means(b, Qo, link, y_loc, y_scale)
        num, den = aipw_terms(mu1, mu0, e, y, t, estimand)
        w = jax.random.exponential(k, (n,)) * keep
        return jnp.sum(w * num) / jnp.sum(w * den)

    bs = batch_size or draw_batch_size(n)
    return jax.lax.map(one, (keys, prop_params, out_params), batch_size=min(bs, S))


def mean_outcomes(out_params, Qo, link: str, y_loc: float = 0.0, y_scale: float = 1.0,
                  batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means ``(mu0, mu1)`` of every unit's outcome under control and treatment over the draws
    ``out_params`` (S, 2, 1 + p) (for the Gaussian link the mean of the linear predictor is the linear predictor
    of the mean draw; the logistic link needs the average over draws)."""
    out_params, Qo = jnp.asarray(out_params), jnp.asarray(Qo)
    if link != "logistic":
        mu0, mu1 = outcome_means(out_params.mean(0), Qo, link, y_loc, y_scale)
        return np.asarray(mu0), np.asarray(mu1)
    S = out_params.shape[0]
    mus = jax.lax.map(lambda b: jnp.stack(outcome_means(b, Qo, link, y_loc, y_scale)), out_params,
                      batch_size=min(batch_size or draw_batch_size(2 * Qo.shape[0]), S))
    mu = np.asarray(mus.mean(0))
    return mu[0], mu[1]


def mean_propensity(prop_params, Qp, batch_size: int | None = None) -> np.ndarray:
    """Posterior mean of each unit's propensity over the draws ``prop_params`` (S, 1 + p)."""
    prop_params, Qp = jnp.asarray(prop_params), jnp.asarray(Qp)
    S = prop_params.shape[0]
    total = jax.lax.map(lambda g: propensity(g, Qp), prop_params,
                        batch_size=min(batch_size or draw_batch_size(Qp.shape[0]), S))
    return np.asarray(total.mean(0))


# --------------------------------------------------------------------------------------------- overlap and balance
def ipw_weights(e: np.ndarray, t: np.ndarray, estimand: str) -> np.ndarray:
    """Inverse-probability weights: ``t/e + (1-t)/(1-e)`` for the ATE, ``t + (1-t) e/(1-e)`` for the ATT (the
    control units reweighted to the treated group's covariate distribution)."""
    e = np.clip(np.asarray(e, float), PROPENSITY_FLOOR, 1 - PROPENSITY_FLOOR)
    t = np.asarray(t, float)
    if estimand == "ATE":
        return t / e + (1 - t) / (1 - e)
    return t + (1 - t) * e / (1 - e)


def outside_share(e: np.ndarray, t: np.ndarray, bounds: tuple[float, float], estimand: str) -> float:
    """Share of the estimand's population whose propensity lies outside ``bounds``: all units for the ATE; for
    the ATT the treated units above the upper bound (controls with tiny propensities only lose weight)."""
    e, t = np.asarray(e, float), np.asarray(t).astype(bool)
    lo, hi = bounds
    if estimand == "ATT":
        return float(np.mean(e[t] > hi)) if t.any() else float("nan")
    return float(np.mean((e < lo) | (e > hi)))


def trim_mask(e: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """True for the units whose propensity lies inside ``bounds`` (Crump, Hotz, Imbens & Mitnik 2009)."""
    e = np.asarray(e, float)
    return (e >= bounds[0]) & (e <= bounds[1])


# --------------------------------------------------------------------------------------------- randomization null
def propensity_strata(e: np.ndarray, k: int = 10) -> np.ndarray:
    """Stratum (0..k-1) of each unit by the quantiles of its propensity (ties share a stratum)."""
    e = np.asarray(e, float)
    edges = np.unique(np.quantile(e, np.linspace(0, 1, k + 1)[1:-1]))
    return np.searchsorted(edges, e, side="right")


def residual_contrast(resid, t, strata_share, estimand: str):
    """The stratified, covariance-adjusted contrast used as the randomization test statistic, and the sd of its
    Bayesian-bootstrap distribution (exact: a Dirichlet(1,...,1)-weighted mean of ``psi`` has variance
    ``sum (psi - mean)^2 / (n (n + 1))``).

    ``resid``: outcome minus a fit that ignores the treatment; ``strata_share``: each unit's propensity-stratum
    share of treated units (the exact assignment probability under permutation within strata). Units in strata
    with no treated or no control units carry no contrast and get ``psi = 0``."""
    xp = jnp if isinstance(resid, jax.Array) or isinstance(t, jax.Array) else np
    e = strata_share
    inside = (e > 0) & (e < 1)
    e_safe = xp.where(inside, e, 0.5)
    if estimand == "ATE":
        psi = xp.where(inside, resid * (t / e_safe - (1 - t) / (1 - e_safe)), 0.0)
        den = xp.ones_like(psi)
    else:
        psi = xp.where(inside, resid * (t - (1 - t) * e_safe / (1 - e_safe)), 0.0)
        den = t * xp.ones_like(psi)
    n = psi.shape[-1]
    dbar = den.mean(-1, keepdims=True)
    est = psi.mean(-1) / dbar[..., 0]
    phi = (psi - est[..., None] * den) / dbar  # linearised ratio
    sd = xp.sqrt(((phi - phi.mean(-1, keepdims=True)) ** 2).sum(-1) / (n * (n + 1.0)))
    return est, sd


def stratified_permutation_null(key, resid, t, strata, estimand: str, permutations: int,
                                batch_size: int | None = None):
    """The test statistic of :func:`residual_contrast` (estimate, Bayesian-bootstrap sd) on the observed
    treatment and on ``permutations`` random permutations of the treatment within propensity strata (Rosenbaum
    1984, "Conditional permutation tests and the propensity score in observational studies", JASA 79:565).

    Within-stratum permutation keeps every stratum's treated count, so the stratum share is the exact assignment
    probability of a permuted label; under the sharp null of no effect on any unit the permuted statistics are
    draws from the statistic's null distribution. Permutations run ``batch_size`` at a time (one ``argsort`` of
    ``stratum + uniform`` each). Returns ``(observed, observed_sd, null, null_sd)``."""
    resid, t = np.asarray(resid, float), np.asarray(t, float)
    strata = np.asarray(strata)
    order = np.argsort(strata, kind="stable")
    s_o = strata[order]
    counts = np.bincount(s_o)
    share = (np.bincount(s_o, weights=t[order]) / np.maximum(counts, 1))[s_o]
    r_o, t_o = jnp.asarray(resid[order]), jnp.asarray(t[order])
    share_j, s_j = jnp.asarray(share), jnp.asarray(s_o, float)
    obs, obs_sd = residual_contrast(np.asarray(r_o), np.asarray(t_o), share, estimand)
    n = len(resid)

    def one(k):
        perm = jnp.argsort(s_j + jax.random.uniform(k, (n,)))
        return residual_contrast(r_o, t_o[perm], share_j, estimand)

    keys = jax.random.split(key, permutations)
    null, null_sd = jax.lax.map(one, keys, batch_size=min(batch_size or draw_batch_size(n, 5e6), permutations))
    return float(obs), float(obs_sd), np.asarray(null), np.asarray(null_sd)
