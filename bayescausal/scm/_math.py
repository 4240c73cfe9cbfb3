"""Pure helpers of the SCM (``jax.numpy`` and NumPy only; no NumPyro, no pandas).

* :class:`Encoding` and :func:`features`: how a parent's values enter its children's linear predictors.
* :func:`gaussian_suffstats` / :func:`gaussian_loglik`: the linear-Gaussian likelihood from X'X, X'z, z'z,
  so that its cost per NUTS gradient does not depend on the number of rows.
* :func:`compress_rows`: identical (features, value) rows merged into one row with a count weight; exact for
  any likelihood, and with discrete parents it turns 100k rows into a few dozen.
* :func:`negbin_loglik` / :func:`poisson_dispersion`: the negative binomial likelihood, stable down to its
  Poisson limit, and the statistic that chooses between the two count families given a node's parents.
* :func:`ci_test`: the test of a conditional independence used by the graph check.
* :func:`quantile_bins` / :func:`bin_means_matrix` / :func:`realized_chi_square`: the bins of a parent's values
  within which the calibration check compares a node's observed and replicated means, and its statistic.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from scipy import stats


class Encoding(NamedTuple):
    """How a node's values become features of its children.

    ``kind``: "continuous" and "count" are standardised by ``(mean, sd)``; "binary" enters as 0/1;
    "categorical" (integer codes ``0..levels-1``) is one-hot against level 0.
    """

    kind: str
    mean: float = 0.0
    sd: float = 1.0
    levels: int = 0

    @property
    def width(self) -> int:
        return self.levels - 1 if self.kind == "categorical" else 1


def feature_block(values, enc: Encoding):
    """Features of one parent: an ``(n, width)`` array."""
    v = jnp.asarray(values)
    if enc.kind == "categorical":
        codes = v.astype(jnp.int32)
        return (codes[..., None] == jnp.arange(1, enc.levels)).astype(jnp.float64)
    if enc.kind == "binary":
        return v.astype(jnp.float64)[..., None]
    return ((v - enc.mean) / enc.sd)[..., None]


def features(parent_values: list, encodings: list[Encoding], n: int):
    """Concatenated features of all parents, ``(n, p)``; ``(n, 0)`` for a root node."""
    if not encodings:
        return jnp.zeros((n, 0))
    return jnp.concatenate([feature_block(v, e) for v, e in zip(parent_values, encodings, strict=True)], axis=-1)


def gaussian_suffstats(X: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """Sufficient statistics of ``z = a + X b + sigma * eps``: with ``W = [1, X]``, W'W, W'z, z'z and n."""
    W = np.column_stack([np.ones(len(z)), X])
    return {"wtw": W.T @ W, "wtz": W.T @ z, "ztz": np.array(z @ z), "n": np.array(float(len(z)))}


def gaussian_loglik(theta, sigma, wtw, wtz, ztz, n):
    """Log-likelihood of ``z ~ Normal(W theta, sigma)`` from sufficient statistics (exact)."""
    sse = ztz - 2.0 * theta @ wtz + theta @ wtw @ theta
    return -0.5 * n * jnp.log(2.0 * jnp.pi * sigma**2) - 0.5 * sse / sigma**2


def count_tail(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``c[k] = sum_i w_i [y_i > k]`` for ``k = 0..max(y)-1``: the statistic of the count-only part of the
    negative binomial likelihood (see :func:`negbin_loglik`)."""
    top = int(np.max(y)) if len(y) else 0
    hist = np.bincount(y.astype(np.int64), weights=w, minlength=top + 1)
    return (np.sum(hist) - np.cumsum(hist))[:top]


def negbin_loglik(eta, dispersion, y, w, tail):
    """Log-likelihood of counts ``y ~ NegativeBinomial(mean = exp(eta), variance = mu + dispersion * mu**2)``
    with row weights ``w``, up to the constant ``-sum w log y!``.

    Written in ``alpha = dispersion = 1/concentration`` so that it is exact and smooth down to the Poisson limit
    ``alpha -> 0``: with ``mu = exp(eta)`` the log pmf is ``y eta - (y + 1/alpha) log1p(alpha mu) +
    sum_{k < y} log1p(alpha k)`` (the concentration's ``y log phi`` terms cancel exactly). The textbook form in
    the concentration, ``phi log phi - (phi + y) log(phi + mu) + sum_k log(phi + k)``, cancels terms of size
    ``phi log phi``: at ``alpha`` of 1e-30 its value and gradient were rounding noise, NUTS's step size collapsed
    and a chain that wandered there stayed at maximum tree depth for the rest of the run (issue 21).

    The count-only part is ``sum_k tail[k] log1p(alpha k)`` (``tail`` from :func:`count_tail`): O(max count)
    instead of O(rows) evaluations per gradient. ``alpha`` is floored at 1e-300 (where ``log1p(alpha mu) /
    alpha`` is still ``mu`` to rounding) so that an underflow to 0 cannot give ``0 * inf``.
    """
    alpha = jnp.maximum(dispersion, 1e-300)
    rows = w * (y * eta - (y + 1.0 / alpha) * jnp.log1p(alpha * jnp.exp(eta)))
    ks = jnp.arange(tail.shape[0])
    return jnp.sum(rows) + jnp.sum(tail * jnp.log1p(alpha * ks))


def poisson_dispersion(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, iterations: int = 50):
    """Pearson dispersion of counts ``y`` around a Poisson log-linear fit on ``[1, X]`` (row weights ``w``).

    The fit is Newton's method on the Poisson log-likelihood (iteratively reweighted least squares), started at
    the intercept-only solution and damped by step halving; the statistic is ``sum w (y - mu)^2 / mu / (n - p)``
    with ``n`` the total weight and ``p`` the columns of ``[1, X]``. Under a correctly specified Poisson model it
    is about 1 with standard error ``sqrt(mean(2 + 1/mu) / (n - p))`` (the variance of ``(y - mu)^2 / mu`` for a
    Poisson count is ``2 + 1/mu``); overdispersion given the parents makes it larger. Returns
    ``(dispersion, standard_error)``. Pure NumPy; cost O(rows x columns^2) per iteration.
    """
    y = np.asarray(y, float)
    w = np.ones_like(y) if w is None else np.asarray(w, float)
    W = np.column_stack([np.ones(len(y)), np.asarray(X, float).reshape(len(y), -1)])
    n, p = float(w.sum()), W.shape[1]
    beta = np.zeros(p)
    beta[0] = np.log(max(np.sum(w * y) / n, 1e-12))

    def loglik(b):
        eta = W @ b
        return float(np.sum(w * (y * eta - np.exp(eta))))

    current = loglik(beta)
    for _ in range(iterations):
        mu = np.exp(W @ beta)
        grad = W.T @ (w * (y - mu))
        hess = (W * (w * mu)[:, None]).T @ W
        try:
            step = np.linalg.solve(hess + 1e-10 * np.eye(p), grad)
        except np.linalg.LinAlgError:
            break
        scale, trial = 1.0, loglik(beta + step)
        while scale > 1e-6 and not (np.isfinite(trial) and trial >= current - 1e-12):
            scale /= 2
            trial = loglik(beta + scale * step)
        if not np.isfinite(trial):
            break
        beta, previous, current = beta + scale * step, current, trial
        if abs(current - previous) < 1e-10 * (1.0 + abs(current)):
            break
    mu = np.maximum(np.exp(W @ beta), 1e-12)
    dof = max(n - p, 1.0)
    dispersion = float(np.sum(w * (y - mu) ** 2 / mu) / dof)
    se = float(np.sqrt(np.sum(w * (2.0 + 1.0 / mu)) / n / dof))
    return dispersion, se


def thin_draws(a, per_chain: int) -> np.ndarray:
    """``(chain, draw, ...)`` draws thinned evenly to ``per_chain`` draws per chain (all of them when there are
    no more than that), keeping the first and the last."""
    a = np.asarray(a)
    return a[:, np.linspace(0, a.shape[1] - 1, max(1, min(a.shape[1], per_chain))).astype(int)]


def compress_rows(X: np.ndarray, y: np.ndarray, max_unique_share: float = 0.5):
    """Merge identical rows of ``[X, y]``: returns ``(X_u, y_u, counts)``, or the inputs with unit weights when
    fewer than ``1 - max_unique_share`` of the rows would be saved (continuous parents)."""
    n = len(y)
    joined = np.column_stack([X, y]) if X.size else y[:, None].astype(float)
    uniq, counts = np.unique(joined, axis=0, return_counts=True)
    if len(uniq) > max_unique_share * n:
        return X, y, np.ones(n)
    return uniq[:, : X.shape[1]], uniq[:, X.shape[1]].astype(y.dtype), counts.astype(float)


def _residualise(A: np.ndarray, Z: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(Z, A, rcond=None)
    return A - Z @ coef


def ci_test(X: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> tuple[float, float, int]:
    """Test ``X ⊥ Y | Z`` by the canonical correlations of X and Y after linear adjustment for Z.

    ``X`` (n, p) and ``Y`` (n, q) are the features of the two nodes (one-hot for categorical ones), ``Z``
    (n, r) those of the conditioning set. Both are residualised on ``[1, Z]``; Bartlett's statistic
    ``-(n - r - 1 - (p + q + 1) / 2) * sum(log(1 - rho_i^2))`` is referred to chi-square with ``p q`` degrees of
    freedom (Bartlett 1938; with p = q = 1 it is the partial-correlation test). It detects linear dependence
    left after linear adjustment, the dependence a linear-predictor mechanism would carry. Returns
    ``(statistic, p_value, dof)``.
    """
    n = X.shape[0]
    Zc = np.column_stack([np.ones(n), Z]) if Z.size else np.ones((n, 1))
    rx, ry = _residualise(X, Zc), _residualise(Y, Zc)
    qx = _orthonormal(rx)
    qy = _orthonormal(ry)
    p, q = qx.shape[1], qy.shape[1]
    if p == 0 or q == 0:
        return 0.0, 1.0, 0
    rho = np.clip(np.linalg.svd(qx.T @ qy, compute_uv=False), 0.0, 1.0 - 1e-12)
    r = Zc.shape[1] - 1
    stat = float(-(n - r - 1 - (p + q + 1) / 2.0) * np.sum(np.log1p(-(rho**2))))
    dof = p * q
    return stat, float(stats.chi2.sf(stat, dof)), dof


def _orthonormal(A: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis of the column space of A (rank-revealing via SVD)."""
    if A.size == 0:
        return A
    u, s, _ = np.linalg.svd(A, full_matrices=False)
    keep = s > tol * max(s.max(), 1e-300) * max(A.shape)
    return u[:, keep]


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(p_values, float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


def quantile_bins(values: np.ndarray, n_bins: int, min_rows: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Bins of ``values`` at their quantiles: ``(labels, ranges)``, ``labels[i]`` the bin of row ``i`` (0, 1, ...)
    and ``ranges[k]`` the smallest and largest value in bin ``k``.

    Equal-count bins at the ``k / n_bins`` quantiles; tied values stay in one bin (a count with few distinct values
    gets fewer, unequal bins), and a bin with fewer than ``min_rows`` rows is merged into its neighbour (the next
    one, or the previous for the last), so that every bin's mean is an average over at least ``min_rows`` rows.
    A column with one distinct value (or fewer than ``2 * min_rows`` rows) gives a single bin.
    """
    v = np.asarray(values, float)
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, n_bins + 1))[1:-1])
    labels = np.searchsorted(edges, v, side="left")  # bin k: edges[k-1] < v <= edges[k]
    counts = np.bincount(labels, minlength=len(edges) + 1)
    groups: list[list[int]] = []  # consecutive raw bins merged until each holds min_rows
    total = 0
    for k, c in enumerate(counts):
        if c == 0:
            continue
        if groups and total < min_rows:
            groups[-1].append(k)
            total += c
        else:
            groups.append([k])
            total = c
    if len(groups) > 1 and total < min_rows:  # the last group is short: into the previous one
        groups[-2].extend(groups.pop())
    remap = np.zeros(len(counts), int)
    for g, members in enumerate(groups):
        remap[members] = g
    labels = remap[labels]
    ranges = [(float(v[labels == g].min()), float(v[labels == g].max())) for g in range(len(groups))]
    return labels, ranges


def bin_means_matrix(labels: np.ndarray, n_groups: int) -> np.ndarray:
    """``(rows, n_groups)`` matrix ``M`` with ``values @ M`` the mean of ``values`` within each bin."""
    onehot = (np.asarray(labels)[:, None] == np.arange(n_groups)).astype(float)
    return onehot / onehot.sum(axis=0)


def realized_chi_square(means: np.ndarray, variances: np.ndarray, observed: np.ndarray, group: np.ndarray):
    """Posterior predictive p-value of a chi-square discrepancy of observed bin means, per group of bins.

    ``means`` and ``variances`` (draws, m): each of m bin means' expectation and variance under each posterior
    draw; ``observed`` (m,); ``group`` (m,): the group (parent) of each bin. Per draw and group, ``T = sum_b
    (observed_b - means_b)^2 / variances_b``; given the draw the replicated ``T`` is chi-square on as many degrees
    of freedom as the group has bins (independent, close to normal bin means), so the predictive p-value
    ``P(T_rep >= T_obs)`` is the mean over draws of the chi-square upper tail at ``T_obs``. Returns ``(z, chi2,
    dof, p)``: ``z`` per bin at the posterior mean (the average of ``(observed - means) / sd`` over draws), and per
    group (order ``0..max(group)``) the discrepancy averaged over draws, its degrees of freedom and the p-value.
    A bin whose variance is 0 under a draw (e.g. a share of exactly 0) counts 0 if it matches and 1e12 if not.
    """
    means, variances = np.asarray(means, float), np.asarray(variances, float)
    observed, group = np.asarray(observed, float), np.asarray(group)
    diff = observed - means
    safe = np.where(variances > 0, variances, 1.0)
    sq = np.where(variances > 0, diff**2 / safe, np.where(diff != 0, 1e12, 0.0))
    z = np.mean(np.where(variances > 0, diff / np.sqrt(safe), 0.0), axis=0)
    k = int(group.max()) + 1
    dof = np.array([int(np.sum(group == g)) for g in range(k)])
    per_draw = np.stack([sq[:, group == g].sum(axis=1) for g in range(k)], axis=1)  # (draws, groups)
    p = stats.chi2.sf(per_draw, dof).mean(axis=0)
    return z, per_draw.mean(axis=0), dof, p
