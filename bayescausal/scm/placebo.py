"""The placebo of an SCM effect: a refit in which a node without a directed path to the outcome is allowed to
affect it, and ``do()`` on that node must then give an interval containing zero.

Why a refit. In the fitted model a node with no directed path to the outcome has, by construction, no effect on
it: ``do()`` on it changes nothing, so asking the fitted model is a tautology. The graph's claim is testable
only against the data. Here the outcome's mechanism is refitted with the placebo node added as an extra parent
(the graph plus one edge ``placebo -> outcome``); every other mechanism keeps its posterior. If the graph is
right (the outcome independent of that node given its parents, which the local Markov condition implies for
any non-descendant), the extra coefficient is near zero and the placebo intervention's interval contains zero;
if the node does act on the outcome, or shares a missing confounder with it, the interval moves away from zero.
This is the Bayesian counterpart of the refutation tests of DoWhy (a placebo treatment) and of the
implied-independence check, stated in the units of the question.

Candidates: observed nodes that are neither ancestors nor descendants of the outcome (a descendant would make
the graph cyclic), non-categorical first, at most ``MAX_PLACEBO_NODES`` of them, each interval at the
Bonferroni level ``1 - 0.05 / k``. When the graph has no such node, the placebo is a permuted copy of the
treatment (an A/A test: a node independent of everything by construction), which checks the calibration of
the outcome's mechanism instead of the graph; the check's message says which kind it ran. That refit carries
permuted copies of the treatment and of the outcome's other parents (at most ``MAX_PLACEBO_NODES`` in all), so
later queries and lever rankings on the same outcome whose treatment is one of those parents reuse it; each
query's check reads only its own treatment's copy.

Cost: one NUTS run of the outcome's mechanism (500 warm-up and 250 draws per chain, ``refit_sampler``) on at most
``PLACEBO_ROWS`` rows (a seeded subsample: enough to
see a placebo coefficient of 0.02 outcome-sds), cached per outcome on the fitted model, so repeated queries on
one outcome pay for it once; the placebo ``do()`` averages over at most as many of the query's rows.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import CheckResult
from ..inference import compile_mcmc_ahead, run_mcmc
from ..report.text import fmt
from ..result import interval
from ._data import fit_inputs
from ._math import thin_draws
from .graph import as_causal_graph
from .model import scm_model

MAX_PLACEBO_NODES = 3
PLACEBO_ROWS = 20_000
PLACEBO_DRAWS = 400
REFIT_WARMUP, REFIT_DRAWS = 500, 250  # per chain (refit_sampler)
PERMUTED = "placebo_permuted"
NAME = "placebo: do() on a node without a path to the outcome (refit)"


def refit_sampler(sampler):
    """The refit's sampler: the fit's chains, at most ``REFIT_WARMUP`` warm-up and ``REFIT_DRAWS`` draws per chain.
    The placebo's ``do()`` reads ``PLACEBO_DRAWS`` draws thinned evenly from the refit, so the fit's default 1,000
    per chain were mostly thrown away (on 20,000 rows the refit was 10 of a lever ranking's 31 s)."""
    warmup = min(sampler.warmup_or(1000), REFIT_WARMUP)
    return dataclasses.replace(sampler, warmup=warmup, draws=min(sampler.draws, REFIT_DRAWS))


def placebo_nodes(graph, data, outcome: str, treatment: str) -> list[str]:
    """Observed nodes with no directed path to or from ``outcome``, non-categorical first (at most 3)."""
    related = graph.ancestors(outcome) | graph.descendants(outcome) | {outcome}
    observed = [n for n in graph.topological_order() if n in data.values and n not in related and n != treatment]
    observed.sort(key=lambda n: data.layout(n).encoding.kind == "categorical")
    return observed[:MAX_PLACEBO_NODES]


def permuted_name(node: str) -> str:
    """The name of the permuted copy of ``node`` in a placebo refit."""
    return f"{PERMUTED}__{node}"


def permuted_sources(fitted, outcome: str, treatment: str) -> list[str]:
    """The nodes whose permuted copies a permuted-kind refit carries: the treatment, then the outcome's other
    observed parents (the likely next treatments and levers), at most ``MAX_PLACEBO_NODES`` in all."""
    data = fitted.data
    others = [p for p in data.layout(outcome).parents if p != treatment and p in data.values]
    return [treatment] + others[:MAX_PLACEBO_NODES - 1]


def _augmented(fitted, outcome: str, extra: list[str], permuted_from: list[str], rng):
    """The fitted model's graph and data with ``extra`` nodes added as parents of ``outcome``; with
    ``permuted_from``, new root nodes (:func:`permuted_name`) holding permutations of those nodes' values are the
    extra ones."""
    data = fitted.data
    values, layouts = dict(data.values), list(data.layouts)
    dag = fitted.graph.to_networkx()
    if permuted_from:
        extra = []
        for src in permuted_from:
            name = permuted_name(src)
            values[name] = rng.permutation(data.values[src])
            # a root outside any latent block: joining the treatment's block would make the refit unidentified
            layouts.insert(0, dataclasses.replace(data.layout(src), name=name, parents=(), parent_encodings=(),
                                                  block=None))
            extra.append(name)
    dag.add_edges_from((node, outcome) for node in extra)
    encodings = {lay.name: lay.encoding for lay in layouts}
    i = next(k for k, lay in enumerate(layouts) if lay.name == outcome)
    layouts[i] = dataclasses.replace(layouts[i], parents=layouts[i].parents + tuple(extra),
                                     parent_encodings=layouts[i].parent_encodings + tuple(encodings[n] for n in extra))
    graph = as_causal_graph(dag)
    by_name = {lay.name: lay for lay in layouts}  # the new edges may change the topological order
    ordered = tuple(by_name[n] for n in graph.topological_order() if n in by_name)
    return graph, dataclasses.replace(data, values=values, layouts=ordered), extra


def _setup(fitted, outcome: str, treatment: str, seed: int):
    """The refit's cache key and inputs, ``(key, kind, graph, augmented data, extra nodes, refit inputs)``,
    built once per key; the refit's NUTS program is queued for compilation in the background (``ahead.py``),
    so it compiles while the query's own intervention runs. Returns ``(key, None)`` when the refit is done."""
    data = fitted.data
    nodes = placebo_nodes(fitted.graph, data, outcome, treatment)
    cache = fitted._cache
    if not nodes:  # a refit whose permuted copies include this treatment's serves this query
        for key in list(cache):
            if isinstance(key, tuple) and key[:2] == ("placebo-permuted", outcome) and treatment in key[2]:
                return key, None
    sources = [] if nodes else permuted_sources(fitted, outcome, treatment)
    key = ("placebo", outcome, tuple(nodes)) if nodes else ("placebo-permuted", outcome, tuple(sources))
    if key in cache:
        return key, None
    if ("setup", key) not in cache:
        rng = np.random.default_rng(seed + 7919)
        kind = "graph" if nodes else "permuted"
        graph, aug, extra = _augmented(fitted, outcome, nodes, sources, rng)
        rows = None
        if aug.n > PLACEBO_ROWS:
            rows = np.sort(rng.choice(aug.n, PLACEBO_ROWS, replace=False))
        inputs = jax.tree.map(jnp.asarray, fit_inputs(aug, rows))
        compile_mcmc_ahead(scm_model, refit_sampler(fitted.sampler), seed + 31337,
                           model_args=(aug.layouts, inputs, frozenset({outcome})))
        cache[("setup", key)] = (kind, graph, aug, extra, inputs)
    return key, cache[("setup", key)]


def prepare_refit(fitted, outcome: str, treatment: str, seed: int) -> None:
    """Build the refit's inputs and start compiling its sampler (called before the query's own work)."""
    _setup(fitted, outcome, treatment, seed)


def refit_outcome(fitted, outcome: str, treatment: str, seed: int):
    """The fitted model with the outcome's mechanism refitted with placebo parents (cached per outcome).

    Returns ``(placebo_fitted, placebo_nodes, kind)``, ``kind`` "graph" (real nodes without a path) or
    "permuted" (the permuted copy of the treatment: one node).
    """
    cache = fitted._cache
    key, setup = _setup(fitted, outcome, treatment, seed)
    if setup is None:
        placebo, extra, kind = cache[key]
        return placebo, (extra if kind == "graph" else [permuted_name(treatment)]), kind
    kind, graph, aug, extra, inputs = cache.pop(("setup", key))
    draws = run_mcmc(scm_model, refit_sampler(fitted.sampler), seed + 31337,
                     model_args=(aug.layouts, inputs, frozenset({outcome})), desc=f"SCM placebo refit: {outcome}")
    per_chain = next(iter(draws.samples.values())).shape[1]  # the other mechanisms' draws, thinned to as many
    posterior = {k: thin_draws(v, per_chain) for k, v in fitted.posterior.items()}
    posterior.update(draws.samples)
    spec = dataclasses.replace(fitted.spec, graph=graph, mechanisms=dict(fitted.mechanisms), priors={})
    placebo = dataclasses.replace(fitted, spec=spec, data=aug, posterior=posterior, _cache={})
    cache[key] = (placebo, extra, kind)
    return placebo, (extra if kind == "graph" else [permuted_name(treatment)]), kind


def placebo_check(fitted, treatment: str, outcome: str, rows: np.ndarray, out_level, seed: int) -> CheckResult:
    """Refit the outcome's mechanism with placebo parents; ``do()`` on each must give an interval with 0."""
    placebo, nodes, kind = refit_outcome(fitted, outcome, treatment, seed)
    k = len(nodes)
    prob = 1.0 - 0.05 / k
    lows, highs, labels = [], [], []
    if rows.sum() > PLACEBO_ROWS:  # the placebo's do() averages over a seeded subsample of the query's rows
        keep = np.random.default_rng(seed + 7).choice(np.flatnonzero(rows), PLACEBO_ROWS, replace=False)
        rows = np.zeros_like(rows)
        rows[keep] = True
    n = int(rows.sum())
    for node in nodes:
        lay = placebo.data.layout(node)
        v = placebo.data.values[node][rows]
        if lay.encoding.kind in ("binary", "categorical"):
            t, c = 1.0, 0.0
        else:
            t, c = float(np.mean(v) + np.std(v)), float(np.mean(v))
            if lay.encoding.kind == "count":
                t, c = float(np.round(t)), float(np.round(c))
                t = c + 1.0 if t == c else t
        dtype = np.int64 if lay.encoding.kind == "categorical" else float
        eff, *_ = placebo._intervene(node, outcome, np.full(n, t, dtype), np.full(n, c, dtype), rows, out_level,
                                     PLACEBO_DRAWS, seed)
        lo, hi = interval(eff, prob, "eti")
        lows.append(lo)
        highs.append(hi)
        labels.append(f"do({node})" if kind == "graph" else f"do(permuted {treatment})")
    what = (f"refit of {outcome!r} with placebo parent(s) {', '.join(labels)}" if kind == "graph" else
            f"refit of {outcome!r} with a permuted copy of {treatment!r} as a parent (no node of the graph is "
            f"without a path to {outcome!r}; an A/A check of the outcome's mechanism, not of the graph)")
    lows, highs = np.array(lows), np.array(highs)
    flagged = [lab for lab, lo, hi in zip(labels, lows, highs, strict=True) if lo > 0 or hi < 0]
    shown = "; ".join(f"{lab}: [{fmt(lo)}, {fmt(hi)}]" for lab, lo, hi in zip(labels, lows, highs, strict=True))
    message = f"{what}; {prob:.1%} intervals {shown}."
    if flagged:
        message += (f" In the data {', '.join(flagged)} moves {outcome!r} although the graph has no such path: "
                    "an edge or a confounder is missing from the graph, so effects computed from it are questionable."
                    if kind == "graph" else
                    f" A permuted copy of {treatment!r} 'acts' on {outcome!r}: the outcome's mechanism finds "
                    "effects where none exist, so its intervals are too narrow.")
    return CheckResult(NAME, not flagged, len(flagged), "every interval contains 0", message)
