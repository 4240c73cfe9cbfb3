"""``CEM``: coarsened exact matching with a Bayesian hierarchical outcome model over the strata.

Coarsened exact matching (Iacus, King & Porro 2012, Political Analysis 20(1):1-24) coarsens each covariate into
bins, matches units exactly on the bins (one stratum per combination), drops the strata that lack treated or
control units, and weights the rest so that both groups have the same distribution over strata. The outcome is
then compared within strata by a hierarchical model whose strata effects are partially pooled (``cem_model.py``),
fitted from per-stratum sufficient statistics: after one pass over the rows, its cost grows with the number of
strata, not of rows.

Checks run by ``fit``: convergence; posterior predictive (the strata's treated-minus-control differences inside
their predictive intervals); overlap (enough of the estimand's units matched); balance (weighted |SMD| < 0.1 on
every covariate); and, with ``checks="full"``, three refits batched into one NUTS run per outcome family: A/A
placebos (the matched controls split at random into fake groups), randomization inference (the treatment permuted
within strata) and, when named, a negative-control outcome (a pre-treatment outcome the treatment cannot have
changed).

This module is the only layer of CEM that sees pandas: the arithmetic is in ``_cem_math.py`` (NumPy) and the
models in ``cem_model.py`` (JAX).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import (
    convergence_check,
    interval_coverage_check,
    normalise_level,
    placebo_rate_check,
    randomization_check,
)
from ..checks.base import CheckResult
from ..errors import DataError, SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc, to_inference_data
from . import _cem_math as cm
from ._balance import SMD_THRESHOLD, standardised_mean_differences
from ._data import UnitTable, _finite_numeric, prepare_units
from .cem_model import (
    BinomialStrata,
    CEMPriors,
    GaussianGroups,
    GaussianStrata,
    baseline_conditional,
    bernoulli_model,
    bernoulli_strata_logits,
    effect_conditional,
    gaussian_model,
)
from .cem_result import CEMResult, refit_table

NUTS_WARMUP = 1000
REFIT_DRAWS = 500  # draws (and at most this many warm-up steps) per chain for the batched refits
PREDICTIVE_DRAWS = 200  # posterior draws replicated for the predictive check (fewer with very many strata)
PREDICTIVE_ELEMENTS = 2_000_000  # cap on draws x strata replicated, which bounds the predictive's memory
CHUNK_ELEMENTS = 2_000_000  # draws x strata handled at once when the stratum effects are drawn
MIN_MATCHED_SHARE = 0.5
PLACEBO_SHARE = 0.5  # chance that a matched control becomes "treated" in an A/A split
FAMILIES = ("auto", "gaussian", "bernoulli")


# -- the coarsening spec ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnCoarsening:
    """How one covariate was coarsened: ``rule`` is ``"auto"`` (quantile bins, count from
    :func:`~bayescausal.crosssection._cem_math.auto_bin_count`), ``"bins"`` (a given number of quantile bins),
    ``"cutpoints"``, ``"exact"`` (every value or category its own bin) or ``"groups"`` (categories grouped);
    ``labels`` name the bins."""

    name: str
    kind: str
    rule: str
    labels: tuple[str, ...]
    cutpoints: tuple[float, ...] = ()

    @property
    def cardinality(self) -> int:
        return len(self.labels)

    def describe(self) -> str:
        if self.kind == "numeric" and self.rule != "exact":
            return ", ".join(f"{c:.4g}" for c in self.cutpoints) or "(one bin)"
        shown = list(self.labels[:12])
        return " | ".join(shown) + (f" | ... ({len(self.labels)} in all)" if len(self.labels) > 12 else "")


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _normalise_rule(col: str, rule):
    """One column's coarsening as a hashable tuple; SpecError for anything else."""
    how = ("give 'auto', 'exact', a number of bins (e.g. 4), increasing cutpoints (e.g. [30, 50, 65]) or, for a "
           "categorical column, groups of categories (e.g. [['north', 'east'], ['south', 'west']])")
    if isinstance(rule, str):
        if rule in ("auto", "exact"):
            return (rule,)
        raise SpecError(f"coarsening[{col!r}] = {rule!r}: {how}.")
    if isinstance(rule, (bool, np.bool_)):
        raise SpecError(f"coarsening[{col!r}] = {rule!r}: {how}.")
    if isinstance(rule, (int, np.integer)):
        if rule < 1:
            raise SpecError(f"coarsening[{col!r}] = {rule}: a number of bins must be at least 1.")
        return ("bins", int(rule))
    if isinstance(rule, (list, tuple, np.ndarray)):
        items = list(rule)
        if not items:
            raise SpecError(f"coarsening[{col!r}] is empty: {how}.")
        if all(isinstance(g, (list, tuple, set, frozenset)) for g in items):
            groups = tuple(tuple(g) for g in items)
            if any(not g for g in groups):
                raise SpecError(f"coarsening[{col!r}] has an empty group of categories; list at least one in each.")
            return ("groups", groups)
        if all(_is_number(v) for v in items):
            cuts = np.asarray(items, dtype=float)
            if not np.all(np.isfinite(cuts)):
                raise SpecError(f"coarsening[{col!r}] cutpoints {items} must be finite numbers.")
            if np.any(np.diff(cuts) <= 0):
                raise SpecError(f"coarsening[{col!r}] cutpoints {items} must be strictly increasing.")
            return ("cutpoints", tuple(float(c) for c in cuts))
    raise SpecError(f"coarsening[{col!r}] = {rule!r}: {how}.")


def _normalise_coarsening(spec) -> tuple:
    if spec is None or (isinstance(spec, str) and spec == "auto"):
        return ()
    if not isinstance(spec, Mapping):
        raise SpecError(f"coarsening={spec!r}: give 'auto' or a dict {{column: rule}}, e.g. "
                        "{'age': [30, 50, 65], 'income': 5}; columns left out are coarsened automatically.")
    out = []
    for col, rule in spec.items():
        if not isinstance(col, str):
            raise SpecError(f"coarsening key {col!r}: give covariate names as strings.")
        out.append((col, _normalise_rule(col, rule)))
    return tuple(out)


def _coarsen_categorical(name: str, s: pd.Series, rule: tuple) -> tuple[ColumnCoarsening, np.ndarray]:
    categories = list(s.cat.categories)
    raw = s.cat.codes.to_numpy()
    if rule[0] in ("auto", "exact"):
        return (ColumnCoarsening(name, "categorical", "exact", tuple(str(c) for c in categories)),
                raw.astype(cm.code_dtype(len(categories))))
    if rule[0] != "groups":
        raise SpecError(f"coarsening[{name!r}]: {name!r} is categorical and is matched on its categories; give "
                        "'exact' or groups of categories (e.g. [['north', 'east'], ['south', 'west']]), not bins "
                        "or cutpoints.")
    position = {}
    for g, group in enumerate(rule[1]):
        for level in group:
            if level not in categories:
                raise SpecError(f"coarsening[{name!r}] names category {level!r}, which is not in the data; "
                                f"categories: {categories}.")
            if level in position:
                raise SpecError(f"coarsening[{name!r}] lists category {level!r} in two groups; list it once.")
            position[level] = g
    present = set(np.unique(raw).tolist())
    missing = [c for i, c in enumerate(categories) if c not in position and i in present]
    if missing:
        raise SpecError(f"coarsening[{name!r}] leaves categories {missing} out of every group; add them to a group "
                        "(or a group of their own).")
    lookup = np.array([position.get(c, 0) for c in categories], dtype=np.int64)
    labels = tuple("|".join(str(v) for v in group) for group in rule[1])
    return (ColumnCoarsening(name, "categorical", "groups", labels),
            lookup[raw].astype(cm.code_dtype(len(labels))))


def _coarsen_numeric(name: str, x: np.ndarray, rule: tuple, bins: int) -> tuple[ColumnCoarsening, np.ndarray]:
    if rule[0] == "exact":
        values, codes = np.unique(x, return_inverse=True)
        return (ColumnCoarsening(name, "numeric", "exact", tuple(f"{v:.6g}" for v in values)),
                codes.reshape(-1).astype(cm.code_dtype(len(values))))
    if rule[0] == "cutpoints":
        cuts = np.asarray(rule[1], dtype=float)
    else:
        cuts = cm.quantile_cutpoints(x, bins)
    return (ColumnCoarsening(name, "numeric", rule[0], tuple(cm.bin_labels(cuts)), tuple(float(c) for c in cuts)),
            cm.bin_codes(x, cuts))


def coarsen(covariates: pd.DataFrame, spec: tuple) -> tuple[list[ColumnCoarsening], list[np.ndarray]]:
    """Coarsen every covariate: ``(columns, codes)`` with one small-integer code array per column.

    Categorical columns are matched exactly unless grouped; numeric columns get quantile bins whose count follows
    :func:`~bayescausal.crosssection._cem_math.auto_bin_count` unless the spec says otherwise."""
    rules = dict(spec)
    unknown = [c for c in rules if c not in covariates.columns]
    if unknown:
        raise SpecError(f"coarsening names {unknown}, which {'is' if len(unknown) == 1 else 'are'} not among the "
                        f"covariates {list(covariates.columns)}; coarsen only covariates.")
    n = len(covariates)
    numeric = set(c for c in covariates.columns if not isinstance(covariates[c].dtype, pd.CategoricalDtype))
    done: dict[str, tuple[ColumnCoarsening, np.ndarray]] = {}
    auto = []
    for c in covariates.columns:
        rule = rules.get(c, ("auto",))
        if c in numeric:
            if rule[0] == "groups":
                raise SpecError(f"coarsening[{c!r}]: {c!r} is numeric; give a number of bins or cutpoints, not "
                                "groups of categories.")
            if rule[0] == "auto":
                auto.append(c)
                continue
            x = covariates[c].to_numpy(dtype=float)
            done[c] = _coarsen_numeric(c, x, rule, rule[1] if rule[0] == "bins" else 0)
        else:
            done[c] = _coarsen_categorical(c, covariates[c], rule)
    other_cells = math.prod(col.cardinality for col, _ in done.values()) if done else 1
    bins = cm.auto_bin_count(n, len(auto), other_cells)
    for c in auto:
        done[c] = _coarsen_numeric(c, covariates[c].to_numpy(dtype=float), ("auto",), bins)
    columns = [done[c][0] for c in covariates.columns]
    codes = [done[c][1] for c in covariates.columns]
    return columns, codes


def reference_cells(covariates: pd.DataFrame, columns: list[ColumnCoarsening], codes: list[np.ndarray]) -> np.ndarray:
    """Each unit's cell on the reference coarsening the L1 imbalance is measured on: twice as many quantile bins as
    the matching used for each binned numeric column, the raw categories of categorical columns, exact columns as
    they are. On the matching's own cells the weighted L1 is 0 by construction; the finer reference shows the
    imbalance left within the strata (Iacus, King & Porro 2012 measure L1 on a coarsening fixed apart from the
    matching)."""
    ref_codes, cards = [], []
    for col, code in zip(columns, codes, strict=True):
        s = covariates[col.name]
        if col.kind == "categorical":
            k = len(s.cat.categories)
            ref_codes.append(s.cat.codes.to_numpy().astype(cm.code_dtype(k)))
            cards.append(k)
        elif col.rule == "exact":
            ref_codes.append(code)
            cards.append(col.cardinality)
        else:
            cuts = cm.quantile_cutpoints(s.to_numpy(dtype=float), 2 * col.cardinality)
            ref_codes.append(cm.bin_codes(s.to_numpy(dtype=float), cuts))
            cards.append(len(cuts) + 1)
    cell, _ = cm.form_strata(cm.combine_codes(ref_codes, cards))
    return cell


# -- matching ---------------------------------------------------------------------------------------------------
@dataclass
class Matching:
    """Strata and weights of one matching: ``stratum`` (n,) each unit's stratum; per stratum ``first`` (a unit in
    it), ``n_t``, ``n_c``, ``kept``, CEM weights ``w_t``/``w_c``; ``unit_w`` (n,) each unit's weight; the L1
    imbalance before and after; the number of reference cells."""

    columns: list[ColumnCoarsening]
    codes: list[np.ndarray]
    stratum: np.ndarray
    first: np.ndarray
    n_t: np.ndarray
    n_c: np.ndarray
    kept: np.ndarray
    w_t: np.ndarray
    w_c: np.ndarray
    unit_w: np.ndarray
    l1_before: float
    l1_after: float
    seconds: float

    @property
    def n_strata(self) -> int:
        return len(self.n_t)


def match(units: UnitTable, spec: tuple, estimand: str) -> Matching:
    """Coarsen, form strata, drop strata without both groups, weight: see the module docstring. DataError when no
    stratum holds both treated and control units."""
    start = time.perf_counter()
    columns, codes = coarsen(units.covariates, spec)
    key = cm.combine_codes(codes, [c.cardinality for c in columns])
    stratum, first = cm.form_strata(key)
    del key
    n_t, n_c = cm.group_counts(stratum, units.t, len(first))
    kept = cm.kept_strata(n_t, n_c)
    if not kept.any():
        raise DataError(f"no overlap at all: none of the {len(first):,} strata formed by coarsening "
                        f"{list(units.covariate_names)} holds both treated and control units ({int(units.t.sum()):,} "
                        f"treated, {int(units.n - units.t.sum()):,} controls), so no unit can be matched. Coarsen "
                        "more (fewer bins, e.g. coarsening={'age': 3}), drop covariates that do not affect both "
                        "treatment and outcome, or check that the two groups come from the same population.")
    w_t, w_c = cm.cem_weights(n_t, n_c, kept, estimand)
    unit_w = cm.unit_weights(stratum, units.t, w_t, w_c)
    cells = reference_cells(units.covariates, columns, codes)
    l1_before = cm.l1_imbalance(cells, units.t)
    l1_after = cm.l1_imbalance(cells, units.t, unit_w)
    return Matching(columns, codes, stratum, first, n_t, n_c, kept, w_t, w_c, unit_w, l1_before, l1_after,
                    time.perf_counter() - start)


def balance_table(covariates: pd.DataFrame, t: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    """Raw and CEM-weighted standardised mean differences, one covariate column at a time (categories as 0/1
    columns but the first), so memory stays a few row-length arrays however many covariates there are."""
    rows = {}
    for c in covariates.columns:
        s = covariates[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cols = [(f"{c}[{lv}]", (s == lv).to_numpy(dtype=float)) for lv in s.cat.categories[1:]]
        else:
            cols = [(c, s.to_numpy(dtype=float))]
        for name, x in cols:
            x = x[:, None]
            raw = float(standardised_mean_differences(x, t)[0])
            weighted = float(standardised_mean_differences(x, t, weights)[0])
            rows[name] = {"smd_raw": raw, "smd_weighted": weighted, "balanced": abs(weighted) < SMD_THRESHOLD}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "covariate"
    return table


# -- stratum data sets for the outcome model ----------------------------------------------------------------------
def strata_data(stratum: np.ndarray, t: np.ndarray, y: np.ndarray, n_strata: int, estimand: str,
                family: str) -> dict | None:
    """Sufficient statistics of the strata with both groups (None when there is none): the model's inputs for one
    data set, with the strata's estimand weights, propensity score and indices."""
    n_t, n_c = cm.group_counts(stratum, t, n_strata)
    keep = cm.kept_strata(n_t, n_c)
    if not keep.any():
        return None
    stats = (cm.gaussian_stats if family == "gaussian" else cm.binomial_stats)(stratum, t, y, n_strata)
    out = {k: v[keep] for k, v in stats.items()}
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


def _pad(datasets: list[dict], key: str, fill: float, size: int) -> np.ndarray:
    arr = np.full((len(datasets), size), float(fill))
    for b, d in enumerate(datasets):
        arr[b, : len(d[key])] = d[key]
    return arr


def stack(datasets: list[dict], family: str):
    """Pad data sets to a common size and stack them on a leading batch axis: ``(inputs, post)`` with the model's
    NamedTuple of (B, K) arrays and what :func:`effect_draws` needs (padding weighs 0). Gaussian data sets are
    first summed by count pair (:func:`group_by_counts`); Bernoulli ones stay per stratum."""
    import jax.numpy as jnp

    if family == "gaussian":
        groups = [group_by_counts(d) for d in datasets]
        K = max(len(g["count"]) for g in groups)
        fills = {"n_c": 1, "n_t": 1, "count": 0, "mean_d": 0, "ss_d": 0, "ss_c": 0, "ss_t": 0, "score": 0}
        arrays = {k: _pad(groups, k, f, K) for k, f in fills.items()}
        arrays["mask"] = _pad([{"m": np.ones(len(g["count"]))} for g in groups], "m", 0, K)
        inputs = GaussianGroups(**{k: jnp.asarray(arrays[k]) for k in GaussianGroups._fields})
        post = {k: _pad(groups, k, 0, K) for k in ("sw", "sw2", "swd")}
        post["strata"] = (groups[0]["group"], groups[0]["d"])
        return inputs, post
    S = max(len(d["weight"]) for d in datasets)
    fills = {"n_c": 1, "n_t": 1, "k_c": 0, "k_t": 0, "score": 0}
    arrays = {k: _pad(datasets, k, f, S) for k, f in fills.items()}
    arrays["mask"] = _pad([{"m": np.ones(len(d["weight"]))} for d in datasets], "m", 0, S)
    inputs = BinomialStrata(**{k: jnp.asarray(arrays[k]) for k in BinomialStrata._fields})
    return inputs, {"weight": _pad(datasets, "weight", 0, S)}


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def effect_draws(family: str, inputs, post: dict, samples: dict, rng: np.random.Generator):
    """The estimand per draw and batch element, (chain, draw, B), on the model's scale (outcome sds for a Gaussian
    outcome, probabilities for a Bernoulli one), and the posterior mean and sd of each stratum's effect in batch
    element 0 (the main fit), each (S,).

    Gaussian: given the globals, each stratum's effect is normal with mean ``theta_g + k_g (d_s - theta_g)`` and
    variance ``k_g v_g`` (:func:`~bayescausal.crosssection.cem_model.effect_conditional`; ``k_g``, ``theta_g``
    and ``v_g`` depend on the stratum only through its count pair ``g``), independently across strata. So the
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
        m = _sigmoid(a_s + b_s) - _sigmoid(a_s)
        eff[sl] = (weights * m).sum(-1)
        s1 += m[:, 0].sum(0)
        s2 += (m[:, 0] ** 2).sum(0)
    mean = s1 / D
    return eff.reshape(chains, draws, B), mean, np.sqrt(np.maximum(s2 / D - mean**2, 0.0))


def _per_stratum(main: dict) -> GaussianStrata:
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
        one = _per_stratum(main)
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
    return (rng.binomial(n_c, _sigmoid(a_s)) / main["n_c"], rng.binomial(n_t, _sigmoid(a_s + b_s)) / main["n_t"])


@dataclass
class _Outcome:
    """One outcome on the model's scale: ``y`` (standardised for a Gaussian outcome), its family, and the scale
    that maps model effects back to the outcome's units."""

    name: str
    y: np.ndarray
    family: str
    mean: float
    scale: float


def _outcome(name: str, y: np.ndarray, family: str) -> _Outcome:
    if family == "bernoulli":
        return _Outcome(name, y, family, 0.0, 1.0)
    sd = float(y.std())
    if not sd > 0:
        raise DataError(f"outcome column {name!r} is constant ({y[0]!r} in every row): there is nothing to compare.")
    mean = float(y.mean())
    return _Outcome(name, (y - mean) / sd, family, mean, sd)


# -- the estimator ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CEM:
    """Coarsened exact matching with a Bayesian hierarchical outcome model over strata.

    Parameters
    ----------
    coarsening : ``"auto"`` or a dict ``{column: rule}``; columns left out follow ``"auto"``. A rule is
        ``"auto"`` (numeric: equal-frequency bins, as many as keep about ten units per cell, at most Sturges'
        number; categorical: exact), ``"exact"``, a number of equal-frequency bins, a list of increasing
        cutpoints (bins closed on the right: ``x <= c1``, ``c1 < x <= c2``, ...), or, for a categorical column,
        a list of groups of categories matched as one.
    priors : :class:`CEMPriors` or a dict of overrides by name.
    family : ``"auto"`` (Bernoulli when the outcome is 0/1, else Gaussian), ``"gaussian"`` or ``"bernoulli"``.
    placebo_splits : A/A placebo fits (the matched controls split at random into two groups).
    permutations : fits with the treatment permuted within strata, for randomization inference.
    min_matched_share : the overlap check fails when fewer of the estimand's units than this share are matched
        (0.5: an estimate on fewer than half of the treated describes a subgroup picked by the data, not them).
    """

    coarsening: object = "auto"
    priors: object = None
    family: str = "auto"
    placebo_splits: int = 5
    permutations: int = 20
    min_matched_share: float = MIN_MATCHED_SHARE

    def __post_init__(self):
        object.__setattr__(self, "coarsening", _normalise_coarsening(self.coarsening))
        object.__setattr__(self, "priors", CEMPriors.from_overrides(self.priors))
        if self.family not in FAMILIES:
            raise SpecError(f"family={self.family!r}: use 'auto', 'gaussian' or 'bernoulli'.")
        for name in ("placebo_splits", "permutations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"{name}={v!r}: give a positive integer.")
        s = self.min_matched_share
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 1.0:
            raise SpecError(f"min_matched_share={s!r}: give a share between 0 and 1.")

    # -- fit --------------------------------------------------------------------------------------------------
    def fit(self, df, treatment: str, outcome: str, covariates, estimand: str = "ATT", negative_control=None,
            sampler: Sampler | None = None, seed: int = 0, checks="full") -> CEMResult:
        """Match on the coarsened ``covariates`` and estimate the effect of ``treatment`` (0/1) on ``outcome``.

        ``estimand``: ``"ATT"`` (effect on the treated; default), ``"ATC"`` (on the controls) or ``"ATE"`` (on all
        matched units). ``negative_control``: a pre-treatment outcome column (e.g. last year's spend), analysed
        the same way; its interval must contain zero. ``checks="full"`` runs every check, including the batched
        refits; ``"fast"`` skips the refits; ``False`` skips all. The data frame is not modified.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "CEM")
        if estimand not in cm.ESTIMANDS:
            raise SpecError(f"estimand={estimand!r}: use 'ATT' (effect on the treated), 'ATC' (on the controls) or "
                            "'ATE' (on all matched units).")
        units = prepare_units(df, treatment, outcome, covariates)
        family = self._family(units)
        out = _outcome(outcome, units.y, family)
        nc = self._negative_control(df, negative_control, units) if level == "full" else None
        m = match(units, self.coarsening, estimand)

        start = time.perf_counter()
        main = strata_data(m.stratum, units.t, out.y, m.n_strata, estimand, family)
        aggregation_seconds = time.perf_counter() - start
        start = time.perf_counter()
        inputs, post = stack([main], family)
        draws = self._sample(family, inputs, sampler, seed)
        rng = np.random.default_rng(seed + 1)
        eff_std, s_mean, s_sd = effect_draws(family, inputs, post, draws.samples, rng)
        effect_values = eff_std[..., 0] * out.scale
        fit_seconds = time.perf_counter() - start

        start = time.perf_counter()
        check_list: list[CheckResult] = []
        n_pp = int(min(PREDICTIVE_DRAWS, max(20, PREDICTIVE_ELEMENTS // len(main["weight"]))))
        rep_c, rep_t = predictive(family, main, draws.samples, np.random.default_rng(seed + 2), n_pp)
        balance = balance_table(units.covariates, units.t, m.unit_w)
        if level in ("full", "fast"):
            check_list.append(convergence_check(self._convergence_draws(draws.samples, effect_values),
                                                draws.sample_stats.get("diverging")))
            check_list.append(_predictive_check(main, rep_c, rep_t))
            check_list.append(self._overlap_check(m, units, estimand))
            check_list.append(_balance_check(balance))
        refits = {}
        if level == "full":
            refits = self._refits(m, units, out, nc, estimand, sampler, seed)
            pl = refits["placebos"]
            if pl is None:
                check_list.append(CheckResult("placebo (A/A)", None, None, None,
                                              "not run: no split of the controls held both fake groups"))
            else:
                check_list.append(placebo_rate_check(
                    pl["lower"], pl["upper"], list(pl.index), "placebo (A/A)",
                    "A/A fits (matched controls split at random into fake treated and control groups)",
                    note=refits["note"].strip()))
            perm = refits["permutations"]
            ri = randomization_check(float(effect_values.mean()), perm["effect_mean"], perm["lower"], perm["upper"],
                                     what="fits with the treatment permuted within strata")
            check_list.append(dataclasses.replace(ri, message=ri.message + refits["note"]))
            if nc is not None:
                check_list.append(_negative_control_check(refits["negative_control"]))
        check_seconds = time.perf_counter() - start

        return self._result(units, out, m, main, draws, effect_values, eff_std[..., 0], s_mean[0], s_sd[0],
                            rep_c, rep_t, balance, check_list, refits, estimand, family, sampler, seed,
                            {"seconds_matching": round(m.seconds, 2),
                             "seconds_aggregation": round(aggregation_seconds, 2), "seconds": round(fit_seconds, 2),
                             "seconds_checks": round(check_seconds, 2)})

    # -- pieces of fit ------------------------------------------------------------------------------------------
    def _family(self, units: UnitTable) -> str:
        binary = units.binary_outcome
        if self.family == "bernoulli" and not binary:
            raise DataError(f"family='bernoulli' needs a 0/1 outcome, but {units.outcome!r} takes other values "
                            f"(e.g. {units.y[~np.isin(units.y, (0.0, 1.0))][0]!r}); use family='gaussian'.")
        if self.family == "auto":
            return "bernoulli" if binary else "gaussian"
        return self.family

    def _negative_control(self, df, name, units: UnitTable) -> _Outcome | None:
        if name is None:
            return None
        if not isinstance(name, str):
            raise SpecError(f"negative_control={name!r}: give the name of one pre-treatment outcome column.")
        if name in (units.treatment, units.outcome) or name in units.covariate_names:
            raise SpecError(f"negative_control={name!r} is already the treatment, outcome or a covariate; give a "
                            "separate pre-treatment outcome (e.g. last year's value of the outcome).")
        if name not in df.columns:
            raise DataError(f"negative_control column {name!r} not found in the data; available columns: "
                            f"{list(df.columns)}.")
        y = _finite_numeric(df[name], name, "negative_control")
        family = "bernoulli" if np.all(np.isin(y, (0.0, 1.0))) else "gaussian"
        return _outcome(name, y, family)

    def _sample(self, family: str, inputs, sampler: Sampler, seed: int):
        model = functools.partial(gaussian_model if family == "gaussian" else bernoulli_model, priors=self.priors)
        return run_mcmc(model, sampler, seed, (inputs,), kernel_name="NUTS", jit_model_args=True)

    @staticmethod
    def _convergence_draws(samples: dict, effect_values: np.ndarray) -> dict:
        names = ("tau", "gamma", "tau_sd", "sigma", "baseline", "baseline_sd", "baseline_slope")
        out = {k: np.asarray(samples[k])[:, :, 0] for k in names if k in samples}
        out["effect"] = effect_values
        return out

    def _overlap_check(self, m: Matching, units: UnitTable, estimand: str) -> CheckResult:
        group = {"ATT": "treated units", "ATC": "controls", "ATE": "units"}[estimand]
        n_t, n_c, kept = m.n_t, m.n_c, m.kept
        total = {"ATT": n_t.sum(), "ATC": n_c.sum(), "ATE": n_t.sum() + n_c.sum()}[estimand]
        matched = {"ATT": n_t[kept].sum(), "ATC": n_c[kept].sum(), "ATE": (n_t + n_c)[kept].sum()}[estimand]
        share = float(matched / total)
        passed = share >= self.min_matched_share
        msg = (f"{int(matched):,} of {int(total):,} {group} ({share:.1%}) fall in the {int(kept.sum()):,} strata "
               f"with both groups; {int(n_t[~kept].sum()):,} treated and {int(n_c[~kept].sum()):,} control units "
               f"in {int((~kept).sum()):,} strata without the other group were dropped.")
        if not passed:
            msg += (f" Fewer than {self.min_matched_share:.0%} of the {group} could be matched, so the estimate "
                    "describes a subgroup chosen by where the groups overlap, not all of them. Coarsen more (fewer "
                    "bins, e.g. coarsening={'age': 3}), drop covariates that do not confound, or report the "
                    "estimate as the effect on the matched units only.")
        return CheckResult("overlap", passed, round(share, 4), f"matched share >= {self.min_matched_share:g}", msg)

    def _refits(self, m: Matching, units: UnitTable, out: _Outcome, nc: _Outcome | None, estimand: str,
                sampler: Sampler, seed: int) -> dict:
        """A/A placebos, permutations within strata and the negative control, one batched NUTS run per family."""
        import jax

        matched = m.kept[m.stratum]
        s_m, t_m, y_m = m.stratum[matched], units.t[matched].astype(bool), out.y[matched]
        jobs: list[tuple[str, str, dict, float]] = []  # (kind, label, data set, scale)
        rng = np.random.default_rng(seed + 11)
        ctrl = ~t_m
        for j in range(self.placebo_splits):
            fake = cm.split_controls(int(ctrl.sum()), rng, PLACEBO_SHARE)
            d = strata_data(s_m[ctrl], fake, y_m[ctrl], m.n_strata, estimand, out.family)
            if d is not None:
                jobs.append(("placebo", f"split {j + 1}", d, out.scale))
        rng = np.random.default_rng(seed + 13)
        for j in range(self.permutations):
            t_perm = cm.permute_within_strata(s_m, t_m, rng)
            jobs.append(("permutation", f"permutation {j + 1}", strata_data(s_m, t_perm, y_m, m.n_strata, estimand,
                                                                               out.family), out.scale))
        if nc is not None:
            d = strata_data(m.stratum, units.t, nc.y, m.n_strata, estimand, nc.family)
            jobs.append(("negative_control", nc.name, d, nc.scale))
        rsampler = dataclasses.replace(sampler, draws=min(sampler.draws, REFIT_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), REFIT_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        results: dict[str, dict[str, np.ndarray]] = {"placebo": {}, "permutation": {}, "negative_control": {}}
        divergent = 0
        families = {"placebo": out.family, "permutation": out.family,
                    "negative_control": nc.family if nc is not None else out.family}
        for fam in ("gaussian", "bernoulli"):
            batch = [job for job in jobs if families[job[0]] == fam]
            if not batch:
                continue
            inputs, post = stack([job[2] for job in batch], fam)
            draws = self._sample(fam, inputs, rsampler, seed + (12 if fam == "gaussian" else 14))
            divergent += int(np.sum(draws.sample_stats.get("diverging", 0)))
            eff, _, _ = effect_draws(fam, inputs, post, draws.samples, np.random.default_rng(seed + 15))
            for j, (kind, label, _, scale) in enumerate(batch):
                results[kind][label] = eff[..., j] * scale
        note = (f" The batched refits had {divergent} divergent transitions, so their intervals are approximate."
                if divergent else "")

        def table(kind, name):
            if not results[kind]:
                return None
            labels = list(results[kind])
            t = refit_table(np.stack([results[kind][k] for k in labels], -1), labels, "eti", name)
            t.attrs["note"] = note
            return t

        return {"placebos": table("placebo", "placebo"), "permutations": table("permutation", "permutation"),
                "negative_control": table("negative_control", "negative control"), "note": note}

    # -- the result ---------------------------------------------------------------------------------------------
    def _result(self, units, out, m: Matching, main, draws, effect_values, eff_std, s_mean, s_sd, rep_c, rep_t,
                balance, check_list, refits, estimand, family, sampler, seed, timing) -> CEMResult:
        chains, n_draws = effect_values.shape
        base = {"chain": np.arange(chains), "draw": np.arange(n_draws)}
        effect = xr.DataArray(effect_values, dims=("chain", "draw"), coords=base, name="effect")
        strata = self._strata_table(m, main, s_mean * out.scale, s_sd * out.scale)
        matching = _matching_table(m)
        coarsening = pd.DataFrame({"kind": [c.kind for c in m.columns], "rule": [c.rule for c in m.columns],
                                   "bins": [c.cardinality for c in m.columns],
                                   "cutpoints or groups": [c.describe() for c in m.columns]},
                                  index=pd.Index([c.name for c in m.columns], name="covariate"))
        imbalance = pd.DataFrame({"L1": [m.l1_before, m.l1_after]},
                                 index=pd.Index(["before matching", "after matching (CEM weights)"], name="sample"))
        idata = self._idata(draws, effect_values, eff_std, main, rep_c, rep_t, out, family)
        perm = refits.get("permutations")
        p_value = float("nan")
        if perm is not None:
            from ..checks import permutation_p_value

            p_value = permutation_p_value(float(effect_values.mean()), perm["effect_mean"].to_numpy())
        nc_table = refits.get("negative_control")
        group = {"ATT": "treated", "ATC": "controls", "ATE": "matched units"}[estimand]
        scale_words = (f"difference in the probability that {units.outcome} = 1" if family == "bernoulli"
                       else f"in units of {units.outcome}")
        info = {"sampler": f"NUTS ({draws.chain_method} chains)", "chains": sampler.chains, "draws": sampler.draws,
                "warmup": sampler.warmup_or(NUTS_WARMUP), "seed": seed, "rows": units.n, "strata": m.n_strata,
                "kept strata": int(m.kept.sum()), "estimand": estimand, "family": family, **timing}
        return CEMResult(
            estimand=(f"average effect of {units.treatment} on {units.outcome} on the {group} ({estimand}, "
                      f"{scale_words}), over the matched strata"),
            effect=effect, idata=idata, checks=tuple(check_list), method="Coarsened exact matching", info=info,
            outcome=units.outcome, treatment=units.treatment, covariates=units.covariate_names,
            estimand_code=estimand, family=family, coarsening=coarsening, strata=strata, matching=matching,
            balance=balance, imbalance=imbalance, weights=pd.Series(m.unit_w, index=units.index, name="cem_weight"),
            stratum=pd.Series(m.stratum, index=units.index, name="stratum"), placebos=refits.get("placebos"),
            permutations=perm, randomization_p=p_value, negative_control=nc_table,
        )

    @staticmethod
    def _strata_table(m: Matching, main: dict, s_mean: np.ndarray, s_sd: np.ndarray) -> pd.DataFrame:
        cols = {}
        for col, code in zip(m.columns, m.codes, strict=True):
            cols[col.name] = pd.Categorical.from_codes(code[m.first].astype(np.int64), categories=list(col.labels))
        table = pd.DataFrame(cols, index=pd.RangeIndex(m.n_strata, name="stratum"))
        table["n_treated"] = m.n_t
        table["n_control"] = m.n_c
        table["kept"] = m.kept
        table["reason"] = np.where(m.kept, "kept", np.where(m.n_c == 0, "no controls", "no treated"))
        table["weight_treated"] = m.w_t
        table["weight_control"] = m.w_c
        ew = np.zeros(m.n_strata)
        ew[main["index"]] = main["weight"]
        table["estimand_weight"] = ew
        em, es = np.full(m.n_strata, np.nan), np.full(m.n_strata, np.nan)
        em[main["index"]], es[main["index"]] = s_mean, s_sd
        table["effect_mean"] = em
        table["effect_sd"] = es
        return table

    def _idata(self, draws, effect_values, eff_std, main, rep_c, rep_t, out: _Outcome, family: str):
        smp = {k: np.asarray(v)[:, :, 0] for k, v in draws.samples.items()}
        posterior = {"effect": effect_values, "effect_std": eff_std, **smp}
        coords = {"group": ["control", "treated"], "stratum": main["index"]}
        dims = {"sigma": ["group"], "z_baseline": ["stratum"], "z_effect": ["stratum"], "control_mean": ["stratum"],
                "treated_mean": ["stratum"], "n_control": ["stratum"], "n_treated": ["stratum"],
                "estimand_weight": ["stratum"], "propensity_score": ["stratum"]}
        if family == "gaussian":
            obs_c, obs_t = main["mean_c"], main["mean_t"]
        else:
            obs_c, obs_t = main["k_c"] / main["n_c"], main["k_t"] / main["n_t"]

        def scale(a):
            return out.mean + out.scale * a

        return to_inference_data(
            posterior,
            posterior_predictive={"control_mean": scale(rep_c), "treated_mean": scale(rep_t)},
            observed_data={"control_mean": scale(obs_c), "treated_mean": scale(obs_t)},
            constant_data={"n_control": main["n_c"], "n_treated": main["n_t"], "estimand_weight": main["weight"],
                           "propensity_score": main["score"]},
            sample_stats={"diverging": draws.sample_stats["diverging"]},
            coords=coords, dims=dims,
            attrs={"method": "CEM", "outcome": out.name, "family": family,
                   "sampling_seconds": round(draws.wall_seconds, 2)},
        )


def _matching_table(m: Matching) -> pd.DataFrame:
    """Strata and units kept and dropped, by reason, with totals."""
    reasons = np.where(m.kept, "kept", np.where(m.n_c == 0, "no controls", "no treated"))
    rows = {}
    for r in ("kept", "no controls", "no treated"):
        sel = reasons == r
        rows[r] = {"strata": int(sel.sum()), "treated": int(m.n_t[sel].sum()), "control": int(m.n_c[sel].sum())}
    rows["total"] = {"strata": m.n_strata, "treated": int(m.n_t.sum()), "control": int(m.n_c.sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["units"] = table["treated"] + table["control"]
    table.index.name = "strata"
    return table


def _predictive_check(main: dict, rep_c: np.ndarray, rep_t: np.ndarray) -> CheckResult:
    """The strata's treated-minus-control differences inside their 95% posterior predictive intervals."""
    if "mean_c" in main:
        observed = main["mean_t"] - main["mean_c"]
    else:
        observed = main["k_t"] / main["n_t"] - main["k_c"] / main["n_c"]
    diff = (rep_t - rep_c).reshape(-1, rep_c.shape[-1])
    lo, hi = np.quantile(diff, [0.025, 0.975], axis=0)
    base = interval_coverage_check(observed, lo, hi, 0.95, "posterior predictive", "strata")
    n = len(observed)
    msg = (f"{base.statistic:.1%} of the {n:,} strata's treated-minus-control differences fall inside their 95% "
           f"posterior predictive intervals (fails below {base.threshold:.1%}).")
    if not base.passed:
        msg += (" The model's strata effects or noise are too narrow for these data (outliers, heavy tails, or "
                "outcome variances that differ a lot between strata): transform the outcome (e.g. log) or coarsen "
                "differently.")
    return dataclasses.replace(base, message=msg)


def _balance_check(balance: pd.DataFrame) -> CheckResult:
    smd = balance["smd_weighted"].abs()
    worst = float(smd.max())
    bad = smd[smd >= SMD_THRESHOLD]
    passed = bad.empty
    msg = (f"largest |weighted SMD| {worst:.3f} ({smd.idxmax()}); before matching the largest was "
           f"{float(balance['smd_raw'].abs().max()):.3f}.")
    if not passed:
        signed = balance["smd_weighted"]
        first = str(bad.index[0])
        fix = (f"split the groups of {first.split('[')[0]!r} further" if "[" in first
               else f"give it more bins or cutpoints (e.g. coarsening={{{first!r}: 8}})")
        msg += (" Not balanced after matching: " + ", ".join(f"{k} ({signed[k]:.3f})" for k in bad.index)
                + f". The bins are too wide for these covariates: {fix}.")
    return CheckResult("balance", passed, round(worst, 4), f"|weighted SMD| < {SMD_THRESHOLD} on every covariate",
                       msg)


def _negative_control_check(table: pd.DataFrame) -> CheckResult:
    r = table.iloc[0]
    lo, hi = float(r["lower"]), float(r["upper"])
    passed = lo <= 0.0 <= hi
    name = table.index[0]
    msg = (f"effect on the pre-treatment outcome {name!r}: {r['effect_mean']:.4g} (95% interval {lo:.4g} to "
           f"{hi:.4g}).")
    if not passed:
        msg += (" The treatment 'affects' an outcome measured before it, so the matched groups still differ in "
                "something that drives the outcome: confounding remains (an unmeasured confounder, or bins too wide).")
    msg += table.attrs.get("note", "")
    return CheckResult("negative-control outcome", passed, round(float(r["effect_mean"]), 6),
                       "95% interval contains 0", msg)

