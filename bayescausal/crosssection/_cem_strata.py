"""The strata data sets of coarsened exact matching and what is drawn from their posteriors (pure NumPy: no pandas,
no JAX).

* the inputs of the outcome models (``cem_model.py``) as NamedTuples of (B, K) arrays:
  :class:`GaussianStrata`, :class:`GaussianGroups`, :class:`BinomialStrata`; built from rows by
  :func:`strata_data` (per-stratum sufficient statistics), :func:`group_by_counts` (Gaussian strata summed by
  count pair) and :func:`stack` (data sets padded onto a batch axis);
* the conditionals of the collapsed Gaussian model: :func:`effect_conditional`, :func:`baseline_conditional`; the
  Bernoulli model's strata logits :func:`bernoulli_strata_logits` (arithmetic only, so the NumPyro model uses the
  same function on JAX tracers);
* after sampling: :func:`effect_draws` (the estimand per draw and the strata's posterior moments) and
  :func:`predictive` (replicated stratum means for the posterior predictive check).

Everything after the one pass over the rows in :func:`strata_data` costs O(draws x strata) or less. The
arithmetic stays in NumPy rather than JAX: run eagerly on fresh shapes, each JAX operation compiles a program of
its own (about 1.7 s of a 2M-row fit went to the predictive's conditionals before they moved here).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _cem_math as cm

CHUNK_ELEMENTS = 2_000_000  # draws x strata handled at once when the stratum effects are drawn
PAIR_SIZES = 4  # Gaussian count pairs are padded to a power of 4 (at least 64): one program for most data sets


def padded_pairs(n: int) -> int:
    """The Gaussian model's count-pair axis for ``n`` pairs: 64, 256, 1024, ... (powers of 4).

    A NUTS program is compiled for one shape (about 12 s on this 2-core machine, against 3 s to sample a 3,000-unit
    fit once compiled). With padded shapes, data sets of similar size can share one program wherever the chains
    take the data as inputs (sequential or vectorised chains in this session, see ``CEM._sample``). Padded pairs
    are masked out of the likelihood and weigh 0 in the estimand, and a pair costs next to nothing per gradient.
    Bernoulli strata are not padded: each carries two sampled parameters, and padding them would change what NUTS
    samples, not only the shape."""
    size = 64
    while size < n:
        size *= PAIR_SIZES
    return size


# -- model inputs ---------------------------------------------------------------------------------------------
class GaussianStrata(NamedTuple):
    """Per-stratum inputs of the collapsed Gaussian model, each (B, S): group counts, means and within-group sums of
    squared deviations of the standardised outcome, the propensity score ``score``, and ``mask`` (1 real, 0
    padding). :func:`~bayescausal.crosssection.cem_model.gaussian_model` takes them summed by count pair
    (:class:`GaussianGroups`); the conditionals below and the tests take them per stratum."""

    n_c: np.ndarray
    n_t: np.ndarray
    mean_c: np.ndarray
    mean_t: np.ndarray
    ss_c: np.ndarray
    ss_t: np.ndarray
    score: np.ndarray
    mask: np.ndarray


class GaussianGroups(NamedTuple):
    """Inputs of :func:`~bayescausal.crosssection.cem_model.gaussian_model`: the strata grouped by their pair of
    group counts, each field (B, K).

    The collapsed likelihood of a stratum depends on it only through ``(n_c, n_t)``, its difference in means ``d``
    and its within-group sums of squares, and its propensity score is a function of ``(n_c, n_t)`` too. So the
    ``count`` strata sharing a pair contribute ``sum_s log N(d_s; theta, T) = -count/2 log(2 pi T) - (ss_d +
    count (mean_d - theta)^2) / (2 T)``, with ``mean_d`` and ``ss_d`` the mean and the sum of squared deviations of
    their ``d``: exactly the sum of their terms, at the cost of one. A gradient then costs O(distinct pairs), which
    grows far more slowly than the number of strata (78,452 strata formed 491 pairs in the 1M-row benchmark).
    ``ss_c``/``ss_t`` are the groups' summed within sums of squares; ``mask`` marks real (1) and padded (0) pairs."""

    n_c: np.ndarray
    n_t: np.ndarray
    count: np.ndarray
    mean_d: np.ndarray
    ss_d: np.ndarray
    ss_c: np.ndarray
    ss_t: np.ndarray
    score: np.ndarray
    mask: np.ndarray


class BinomialStrata(NamedTuple):
    """Inputs of :func:`~bayescausal.crosssection.cem_model.bernoulli_model`, each (B, S): group counts ``n``,
    successes ``k``, ``score``, ``mask``."""

    n_c: np.ndarray
    n_t: np.ndarray
    k_c: np.ndarray
    k_t: np.ndarray
    score: np.ndarray
    mask: np.ndarray


# -- conditionals -----------------------------------------------------------------------------------------------
def effect_conditional(stats: GaussianStrata, tau, gamma, tau_sd, sigma_c, sigma_t):
    """Mean and variance (each (..., B, S)) of the stratum effects ``tau_s`` given the globals and the data.

    ``tau_s`` has prior ``N(theta_s, tau_sd^2)`` and the stratum's difference in means is ``N(tau_s, v_s)`` once
    ``mu_s`` is integrated out, so ``tau_s | . ~ N(theta_s + k (d_s - theta_s), k v_s)`` with
    ``k = tau_sd^2 / (tau_sd^2 + v_s)``. Globals may carry leading draw axes: shape (..., B)."""
    col = lambda a: np.asarray(a)[..., None]  # noqa: E731
    v = col(sigma_c) ** 2 / stats.n_c + col(sigma_t) ** 2 / stats.n_t
    s2 = col(tau_sd) ** 2
    k = s2 / (s2 + v)
    theta = col(tau) + col(gamma) * stats.score
    d = stats.mean_t - stats.mean_c
    return theta + k * (d - theta), k * v


def baseline_conditional(stats: GaussianStrata, tau_s, sigma_c, sigma_t):
    """Mean and variance of the stratum baselines ``mu_s`` given ``tau_s``: the precision-weighted mean of the
    control mean and the treated mean less the effect (flat prior)."""
    col = lambda a: np.asarray(a)[..., None]  # noqa: E731
    prec_c = stats.n_c / col(sigma_c) ** 2
    prec_t = stats.n_t / col(sigma_t) ** 2
    prec = prec_c + prec_t
    return (prec_c * stats.mean_c + prec_t * (stats.mean_t - tau_s)) / prec, 1.0 / prec


def bernoulli_strata_logits(score, base, base_sd, delta, tau, gamma, tau_sd, z_a, z_b):
    """Control log-odds ``a_s`` and log-odds effects ``b_s`` (..., B, S) from globals (..., B) and ``z`` (..., B, S).

    Arithmetic only, so it runs on NumPy arrays after sampling and on JAX arrays inside the model alike."""
    col = lambda a: a[..., None]  # noqa: E731
    a_s = col(base) + col(delta) * score + col(base_sd) * z_a
    b_s = col(tau) + col(gamma) * score + col(tau_sd) * z_b
    return a_s, b_s


# -- data sets from rows ----------------------------------------------------------------------------------------
def strata_data(stratum: np.ndarray, t: np.ndarray, y: np.ndarray, n_strata: int, estimand: str,
                family: str) -> dict | None:
    """Sufficient statistics of the strata with both groups (None when there is none): the model's inputs for one
    data set, with the strata's estimand weights, propensity score and indices."""
    n_t, n_c = cm.group_counts(stratum, t, n_strata)
    if not cm.kept_strata(n_t, n_c).any():
        return None
    stats = (cm.gaussian_stats if family == "gaussian" else cm.binomial_stats)(stratum, t, y, n_strata)
    return data_from_stats(stats, estimand)


def data_from_stats(stats: dict, estimand: str) -> dict | None:
    """The model's data set from per-stratum statistics of every stratum (:func:`~._cem_math.gaussian_stats` or
    :func:`~._cem_math.binomial_stats`, however computed: from rows, or in a database by ``CEM.fit_strata``): the
    strata with both groups, their estimand weights, propensity score and indices; None when no stratum has both."""
    n_t, n_c = np.asarray(stats["n_t"]), np.asarray(stats["n_c"])
    keep = cm.kept_strata(n_t, n_c)
    if not keep.any():
        return None
    out = {k: np.asarray(v)[keep] for k, v in stats.items()}
    out["weight"] = cm.estimand_weights(n_t[keep], n_c[keep], estimand)
    out["score"] = cm.propensity_score(n_t[keep], n_c[keep], out["weight"])
    out["index"] = np.flatnonzero(keep)
    return out


def group_by_counts(d: dict) -> dict:
    """A Gaussian data set's strata summed by count pair (the model's inputs, see ``GaussianGroups``) with the
    per-group sums of estimand weights ``sw``, squared weights ``sw2`` and weighted differences ``swd`` that the
    estimand's draws need, and ``group``: each stratum's group."""
    group, first = cm.count_pair_groups(d["n_c"], d["n_t"])
    K = len(first)
    diff = d["mean_t"] - d["mean_c"]
    count = np.bincount(group, minlength=K).astype(float)
    mean_d = np.bincount(group, weights=diff, minlength=K) / count
    dev = diff - mean_d[group]
    w = d["weight"]
    return {"n_c": d["n_c"][first], "n_t": d["n_t"][first], "count": count, "mean_d": mean_d,
            "ss_d": np.bincount(group, weights=dev * dev, minlength=K),
            "ss_c": np.bincount(group, weights=d["ss_c"], minlength=K),
            "ss_t": np.bincount(group, weights=d["ss_t"], minlength=K), "score": d["score"][first],
            "sw": np.bincount(group, weights=w, minlength=K), "sw2": np.bincount(group, weights=w * w, minlength=K),
            "swd": np.bincount(group, weights=w * diff, minlength=K), "group": group, "d": diff}


def pad(datasets: list[dict], key: str, fill: float, size: int) -> np.ndarray:
    """``datasets[b][key]`` stacked into a (B, size) array, each padded with ``fill``."""
    arr = np.full((len(datasets), size), float(fill))
    for b, d in enumerate(datasets):
        arr[b, : len(d[key])] = d[key]
    return arr


def stack(datasets: list[dict], family: str):
    """Pad data sets to a common size and stack them on a leading batch axis: ``(inputs, post)`` with the model's
    NamedTuple of (B, K) arrays and what :func:`effect_draws` needs (padding weighs 0). Gaussian data sets are
    first summed by count pair (:func:`group_by_counts`) and padded to :func:`padded_pairs`; Bernoulli ones stay
    per stratum, padded to the largest data set."""
    if family == "gaussian":
        groups = [group_by_counts(d) for d in datasets]
        K = padded_pairs(max(len(g["count"]) for g in groups))
        fills = {"n_c": 1, "n_t": 1, "count": 0, "mean_d": 0, "ss_d": 0, "ss_c": 0, "ss_t": 0, "score": 0}
        arrays = {k: pad(groups, k, f, K) for k, f in fills.items()}
        arrays["mask"] = pad([{"m": np.ones(len(g["count"]))} for g in groups], "m", 0, K)
        inputs = GaussianGroups(**{k: arrays[k] for k in GaussianGroups._fields})
        post = {k: pad(groups, k, 0, K) for k in ("sw", "sw2", "swd")}
        post["strata"] = (groups[0]["group"], groups[0]["d"])
        return inputs, post
    S = max(len(d["weight"]) for d in datasets)
    fills = {"n_c": 1, "n_t": 1, "k_c": 0, "k_t": 0, "score": 0}
    arrays = {k: pad(datasets, k, f, S) for k, f in fills.items()}
    arrays["mask"] = pad([{"m": np.ones(len(d["weight"]))} for d in datasets], "m", 0, S)
    inputs = BinomialStrata(**{k: arrays[k] for k in BinomialStrata._fields})
    return inputs, {"weight": pad(datasets, "weight", 0, S)}


def sigmoid(x):
    """The logistic function, through ``tanh`` (no overflow for large |x|)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def effect_draws(family: str, inputs, post: dict, samples: dict, rng: np.random.Generator):
    """The estimand per draw and batch element, (chain, draw, B), on the model's scale (outcome sds for a Gaussian
    outcome, probabilities for a Bernoulli one), and the posterior mean and sd of each stratum's effect in batch
    element 0 (the main fit), each (S,).

    Gaussian: given the globals, each stratum's effect is normal with mean ``theta_g + k_g (d_s - theta_g)`` and
    variance ``k_g v_g`` (:func:`effect_conditional`; ``k_g``, ``theta_g`` and ``v_g`` depend on the stratum only
    through its count pair ``g``), independently across strata. So the
    estimand, a weighted sum of them, is drawn exactly as one normal per draw from per-pair sums of weights, and
    each stratum's posterior moments are Rao-Blackwellised from per-pair moments over the draws: all O(draws x
    pairs + strata). Bernoulli: the strata's probabilities per draw, in chunks of about ``CHUNK_ELEMENTS``."""
    chains, draws = samples["tau"].shape[:2]
    D = chains * draws
    flat = {k: np.asarray(v).reshape((D,) + v.shape[2:]) for k, v in samples.items()}
    if family == "gaussian":
        n_c, n_t, score = (np.asarray(a) for a in (inputs.n_c, inputs.n_t, inputs.score))
        B, K = n_c.shape
        step = max(1, CHUNK_ELEMENTS // (B * K))
        eff = np.empty((D, B))
        sums = {k: np.zeros(K) for k in ("a", "aa", "k", "kk", "ak", "kv")}
        for lo in range(0, D, step):
            sl = slice(lo, min(D, lo + step))
            sc, st = flat["sigma"][sl][..., 0:1], flat["sigma"][sl][..., 1:2]  # (c, B, 1)
            v = sc**2 / n_c + st**2 / n_t  # (c, B, K)
            s2 = flat["tau_sd"][sl][..., None] ** 2
            k = s2 / (s2 + v)
            theta = flat["tau"][sl][..., None] + flat["gamma"][sl][..., None] * score
            mean = (k * post["swd"] + (1.0 - k) * theta * post["sw"]).sum(-1)
            eff[sl] = mean + np.sqrt((k * v * post["sw2"]).sum(-1)) * rng.standard_normal(mean.shape)
            a0, k0 = theta[:, 0] * (1.0 - k[:, 0]), k[:, 0]  # the main fit's pairs
            for name, val in (("a", a0), ("aa", a0 * a0), ("k", k0), ("kk", k0 * k0), ("ak", a0 * k0),
                              ("kv", k0 * v[:, 0])):
                sums[name] += val.sum(0)
        m = {name: val / D for name, val in sums.items()}
        va, vk = m["aa"] - m["a"] ** 2, m["kk"] - m["k"] ** 2
        cak = m["ak"] - m["a"] * m["k"]
        g, d = post["strata"]
        s_mean = m["a"][g] + m["k"][g] * d
        s_var = m["kv"][g] + va[g] + 2.0 * d * cak[g] + d * d * vk[g]
        return eff.reshape(chains, draws, B), s_mean, np.sqrt(np.maximum(s_var, 0.0))
    weights = post["weight"]
    B, S = weights.shape
    step = max(1, CHUNK_ELEMENTS // (B * S))
    eff = np.empty((D, B))
    s1, s2 = np.zeros(S), np.zeros(S)
    for lo in range(0, D, step):
        sl = slice(lo, min(D, lo + step))
        a_s, b_s = bernoulli_strata_logits(np.asarray(inputs.score), flat["baseline"][sl], flat["baseline_sd"][sl],
                                           flat["baseline_slope"][sl], flat["tau"][sl], flat["gamma"][sl],
                                           flat["tau_sd"][sl], flat["z_baseline"][sl], flat["z_effect"][sl])
        a_s, b_s = np.asarray(a_s), np.asarray(b_s)
        m = sigmoid(a_s + b_s) - sigmoid(a_s)
        eff[sl] = (weights * m).sum(-1)
        s1 += m[:, 0].sum(0)
        s2 += (m[:, 0] ** 2).sum(0)
    mean = s1 / D
    return eff.reshape(chains, draws, B), mean, np.sqrt(np.maximum(s2 / D - mean**2, 0.0))


def per_stratum(main: dict) -> GaussianStrata:
    """The main data set's per-stratum Gaussian statistics (S,) as the model's conditionals take them."""
    return GaussianStrata(main["n_c"], main["n_t"], main["mean_c"], main["mean_t"], main["ss_c"], main["ss_t"],
                          main["score"], np.ones(len(main["n_c"])))


def predictive(family: str, main: dict, samples: dict, rng: np.random.Generator, n_draws: int):
    """Replicated stratum means of both groups for ``n_draws`` posterior draws spread over the chains, each
    (chain, draw, S), on the model's scale (main fit: batch element 0)."""
    chains, draws = samples["tau"].shape[:2]
    per_chain = max(1, min(draws, n_draws // chains))
    idx = np.unique(np.linspace(0, draws - 1, per_chain).round().astype(int))
    sub = {k: np.asarray(v)[:, idx, 0] for k, v in samples.items()}  # (chain, d, ...)
    shape = (chains, len(idx), len(main["n_c"]))
    if family == "gaussian":
        one = per_stratum(main)
        sc, st = sub["sigma"][..., 0], sub["sigma"][..., 1]
        m, v = effect_conditional(one, sub["tau"], sub["gamma"], sub["tau_sd"], sc, st)
        tau_s = np.asarray(m) + np.sqrt(np.asarray(v)) * rng.standard_normal(shape)
        mm, mv = baseline_conditional(one, tau_s, sc, st)
        mu = np.asarray(mm) + np.sqrt(np.asarray(mv)) * rng.standard_normal(shape)
        rep_c = mu + sc[..., None] / np.sqrt(one.n_c) * rng.standard_normal(shape)
        rep_t = mu + tau_s + st[..., None] / np.sqrt(one.n_t) * rng.standard_normal(shape)
        return rep_c, rep_t
    a_s, b_s = bernoulli_strata_logits(main["score"], sub["baseline"], sub["baseline_sd"], sub["baseline_slope"],
                                       sub["tau"], sub["gamma"], sub["tau_sd"], sub["z_baseline"], sub["z_effect"])
    a_s, b_s = np.asarray(a_s), np.asarray(b_s)
    n_c, n_t = main["n_c"].astype(np.int64), main["n_t"].astype(np.int64)
    return (rng.binomial(n_c, sigmoid(a_s)) / main["n_c"], rng.binomial(n_t, sigmoid(a_s + b_s)) / main["n_t"])
