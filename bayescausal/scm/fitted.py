"""``SCM``: a Bayesian structural causal model fitted to data, and ``FittedSCM.effect`` for interventions.

>>> import bayescausal as bc
>>> scm = bc.SCM("age -> exercise; age -> health; exercise -> health", mechanisms={"exercise": "logistic"})
>>> fitted = scm.fit(df)                                     # doctest: +SKIP
>>> fitted.effect("exercise", "health", treat=1, control=0)  # doctest: +SKIP

Each node gets a mechanism from its parents (``mechanisms.py``), all mechanisms form one NumPyro model
(``model.py``), and the posterior is sampled with NUTS. The posterior factorises over the mechanisms (their
parameters are independent a priori and each observed node's likelihood term is its own), except that the nodes
of a latent block (children of a latent node, ``latent.py``) share one term. So two samplings are exact: one NUTS
run over the whole model (``blocks="joint"``) or one NUTS run per mechanism or latent block (``blocks="node"``;
the chains of the runs are paired by index to form joint draws; the cheap mechanisms, those fitted from
sufficient statistics or a few compressed rows, share one of these runs, see ``_node_runs``).
Each node run adapts its step size and mass matrix to its own block and touches only its own data, where a
joint run's step size and tree depth are set by its hardest block and every gradient pays for all nodes' data;
but every NUTS run pays a fixed trace-and-compile cost (about 3 s per program on a cold compile cache, 1-10 s
on a loaded 2-core CPU). The node runs are known before the first starts, so their programs are lowered up
front and compiled side by side on background threads (``inference/ahead.py``), each run waiting only for its
own. Measured on 2 cores
(2 chains): 5 nodes, 2,000 rows, 1,000 draws: joint 35 s, node 70 s; 6 mixed nodes, 100k rows, 500+500 draws
(``benchmarks/speed_scm.py``): joint 151 s, node 70 s of sampling. So ``blocks="auto"`` (default) samples
jointly below ``NODE_BLOCKS_FROM_ROWS`` rows and per node from there. The data cost per gradient is small
either way: linear-Gaussian nodes enter through sufficient statistics, the others through row-compressed data.

``effect`` answers ``E[outcome | do(treatment = treat)] - E[outcome | do(treatment = control)]`` by
ancestral sampling under ``numpyro.handlers.do`` (Pearl 2009, ch. 3.2: the intervened node's mechanism is
replaced by the constant, every other mechanism kept), for each posterior draw, over the rows of the data
(the empirical distribution of the non-descendants of the treatment), with the same noise draws in both
arms (common random numbers) and the outcome's own noise integrated out (its conditional mean is used).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from numpyro import handlers

from ..checks import CheckResult, convergence_check, normalise_level, skipped
from ..errors import DataError, SpecError
from ..inference import Sampler, compile_mcmc_ahead, nuts_sampler, run_mcmc, to_inference_data
from ..inference.draw_map import over_devices
from ..report import html as html_report
from ..report.text import checks_sentences
from ..result import CausalResult, summarise_draws
from ._data import SCMData, fit_inputs, prepare
from ._math import thin_draws
from .checks import identification_check, independence_check, predictive_checks
from .graph import CausalGraph, as_causal_graph
from .mechanisms import Mechanism, as_mechanism
from .model import block_members, generative_model, scm_model

_log = logging.getLogger(__name__)
EFFECT_DRAWS = 1000
NODE_BLOCKS_FROM_ROWS = 20_000  # blocks="auto": one NUTS run per mechanism from this many rows (module doc)
_CELLS_PER_BATCH = 4_000_000  # draws x rows evaluated at once by effect(); bounds memory at ~32 MB per array


@dataclass(frozen=True)
class SCM:
    """A structural causal model: a causal graph and one mechanism per node (frozen spec; ``fit`` does the work).

    Parameters
    ----------
    graph : a :class:`CausalGraph`, the arrow syntax (``"a -> b; b -> c"``), a ``networkx.DiGraph`` or an
        edge list. Latent nodes: roots whose children are linear-Gaussian, fitted as correlated errors of their
        children where the model is identified (``latent.py``); any other latent node raises :class:`SpecError`.
    mechanisms : ``{node: mechanism}``: a name (``"linear_gaussian"``, ``"student_t"``, ``"logistic"``,
        ``"poisson"``, ``"negative_binomial"``, ``"categorical"``), an instance (``bc.scm.StudentT()``, priors
        overridable as fields) or a NumPyro function ``fn(name, parents, obs)`` (see :class:`Custom`). Nodes
        not listed get :func:`infer_mechanism` of their column.
    priors : ``{node: {prior_name: numpyro distribution}}``, overriding the mechanism's priors by name (on
        the standardised scale, see ``mechanisms.py``). For a node whose mechanism is inferred from the data,
        the override is applied to the inferred mechanism.
    """

    graph: Any
    mechanisms: Mapping[str, Any] | None = None
    priors: Mapping[str, Mapping[str, Any]] | None = None

    def __post_init__(self):
        g = as_causal_graph(self.graph)
        object.__setattr__(self, "graph", g)
        mechs = {}
        for node, m in dict(self.mechanisms or {}).items():
            g.check_node(node, "node named in mechanisms")
            mechs[node] = as_mechanism(m, node)
        priors = {}
        for node, over in dict(self.priors or {}).items():
            g.check_node(node, "node named in priors")
            if node in g.latent:
                raise SpecError(f"priors[{node!r}]: {node!r} is latent, so it has no mechanism and no priors of its "
                                "own; it enters the model as correlated errors of its children (an LKJ(2) prior on "
                                "their correlation). Set priors on its children instead.")
            if not isinstance(over, Mapping):
                raise SpecError(f"priors[{node!r}] must be a dict {{prior_name: distribution}}, got {over!r}.")
            if node in mechs:
                mechs[node] = mechs[node].with_priors(dict(over))
            priors[node] = dict(over)
        object.__setattr__(self, "mechanisms", mechs)
        object.__setattr__(self, "priors", priors)

    def fit(self, df: pd.DataFrame, sampler: Sampler | None = None, seed: int = 0, checks="full", *,
            blocks: str = "auto") -> FittedSCM:
        """Fit every mechanism by NUTS and run the checks; returns a :class:`FittedSCM` (``df`` is not changed).

        ``checks``: "full" (default) and "fast" run convergence, a posterior predictive check per node, its
        calibration within bins of each continuous or count parent (``checks.calibration_check``) and the
        graph's implied independencies (none of them refits); False runs none. ``blocks``: "auto" (default: joint below
        ``NODE_BLOCKS_FROM_ROWS`` rows, else per node), "joint" (one NUTS run over the whole model) or "node" (one
        NUTS run per mechanism, the cheap ones sharing one; both exact, see the module doc).
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "SCM")
        if blocks not in ("auto", "node", "joint"):
            raise SpecError(f"blocks={blocks!r}: use 'auto', 'joint' (one NUTS run) or 'node' (one NUTS run per "
                            "mechanism).")
        data = prepare(self.graph, dict(self.mechanisms), df, self.priors)
        inputs = fit_inputs(data)
        if blocks == "auto":
            blocks = "node" if data.n >= NODE_BLOCKS_FROM_ROWS else "joint"
        start = time.perf_counter()
        posterior, flags, timings = _sample(data, inputs, sampler, seed, blocks)
        diverging = flags["diverging"]
        fit_seconds = time.perf_counter() - start
        check_list: list[CheckResult] = []
        replicates: dict = {}
        if level:
            check_list.append(convergence_check(posterior, diverging, stopped=flags["stopped"]))
            check_list.extend(predictive_checks(data, posterior, seed, replicates=replicates))
            check_list.append(independence_check(self.graph, data))
        idata = to_inference_data(posterior, sample_stats={"diverging": diverging},
                                  attrs={"method": "SCM", "blocks": blocks})
        if replicates:
            _add_predictive(idata, data, replicates)
        info = {"fit_seconds": round(fit_seconds, 3), "blocks": blocks, "node_seconds": timings,
                "n_rows": data.n, "checks_level": level}
        return FittedSCM(self, data, posterior, idata, tuple(check_list), sampler, seed, info)


def _add_predictive(idata, data: SCMData, replicates: dict) -> None:
    """``posterior_predictive`` (the predictive check's replicated values, one chain of its draws) and
    ``observed_data`` (the same rows' values) for the nodes, on a shared ``row`` dimension (the data's labels)."""
    rows = replicates.pop("__rows__")
    coords = {"row": np.asarray(data.index)[rows]}
    pp = {node: xr.DataArray(v[None], dims=("chain", "draw", "row"), coords=coords) for node, v in replicates.items()}
    obs = {node: xr.DataArray(np.asarray(data.values[node])[rows], dims=("row",), coords=coords) for node in replicates}
    idata.add_groups(posterior_predictive=xr.Dataset(pp), observed_data=xr.Dataset(obs))


# Start per-node NUTS runs from the Laplace approximation (``inference/laplace.py``)? Off: measured on the
# 100k-row benchmark (benchmarks/speed_scm.py, idle, warm compile cache) it saves 16-24% of the sampling time of
# the GLM nodes and passes the convergence check the default start fails, but the mode search costs more than it
# saves (73.1 s total against 60.1 s). Since then the start's initial point is found in one compiled program (30%
# less start time at 100k rows) and it runs only for nodes fitted from rows; not re-measured on an idle machine.
LAPLACE_START = False
# Whether node runs adapt a dense mass matrix instead of a diagonal one. Measured on the 100k-row benchmark
# (benchmarks/speed_scm.py, 2026-12-06): dense made the negative binomial node slower (17.6 -> 22.0 s) and did not
# fix its convergence check, so it is off.
DENSE_NODE_MASS = False
CHEAP_NODE_ROWS = 5_000  # compressed rows up to which a node's gradient is cheap enough to share a run


def _sample(data: SCMData, inputs: dict, sampler: Sampler, seed: int, blocks: str):
    """Draws of every mechanism's parameters, ``(chain, draw, ...)``, and the divergence indicators."""
    layouts = data.layouts
    jin = jax.tree.map(jnp.asarray, inputs)
    if blocks == "joint":
        d = run_mcmc(scm_model, sampler, seed, model_args=(layouts, jin, None), desc="SCM (joint)")
        return d.samples, _flags(d, None), {"joint": round(d.wall_seconds, 3)}
    posterior, flags, timings = {}, None, {}
    runs = []
    for i, label, names, cheap in _node_runs(layouts, jin):
        # the Laplace start pays only where each gradient touches every row (not sufficient statistics)
        row_level = any(isinstance(jin.get(name), dict) and "X" in jin[name] for name in names)
        runs.append((i, label, names, cheap, LAPLACE_START and row_level and not cheap))
    # The shared cheap run goes last: its sampler takes the longest to compile (4 mechanisms, dense mass: 5.7 s
    # cold on the benchmark, against about 3 s for a row-level node) and the shortest to run, so it compiles
    # while the others sample. The order changes no draw (each run's seed is its own).
    runs.sort(key=lambda r: r[3])
    for i, _, names, cheap, laplace in runs:  # every run's sampler compiles in the background, side by side
        if not laplace and len(runs) > 1:
            compile_mcmc_ahead(scm_model, sampler, seed + 1009 * i, model_args=(layouts, jin, frozenset(names)),
                               dense_mass=cheap or DENSE_NODE_MASS)
    for k, (i, label, names, cheap, laplace) in enumerate(runs):
        fams = ", ".join(sorted({lay.family.replace("_", " ") for lay in layouts if lay.name in names}))
        desc = f"SCM node run {k + 1}/{len(runs)}: {label} ({fams})"
        _log.info("%s: sampling", desc)
        d = run_mcmc(scm_model, sampler, seed + 1009 * i, model_args=(layouts, jin, frozenset(names)),
                     laplace=laplace, dense_mass=cheap or DENSE_NODE_MASS, desc=desc)
        _log.info("%s: %.1f s", desc, d.wall_seconds)
        posterior.update(d.samples)
        flags = _flags(d, flags)
        timings[label] = round(d.wall_seconds, 3)
    return posterior, flags, timings


def _flags(d, flags: dict | None) -> dict:
    """The run's per-draw divergence and stall flags (``inference/stall.py``), or-ed with earlier runs' (node runs
    pair their chains by index)."""
    new = {"diverging": np.asarray(d.sample_stats["diverging"], bool)}
    new["stopped"] = np.asarray(d.sample_stats.get("stopped", np.zeros_like(new["diverging"])), bool)
    return new if flags is None else {k: flags[k] | new[k] for k in new}


def _node_runs(layouts, jin: dict) -> list[tuple[int, str, list[str], bool]]:
    """The NUTS runs of ``blocks="node"``: ``(index for the seed, label, node names, cheap)`` each; the label
    (the key of ``info["node_seconds"]``) is the mechanism's or latent block's name, ``+``-joined for the shared
    cheap run.

    A mechanism or latent block whose every gradient touches all rows gets its own run (its own step size and
    tree depth, and the other nodes' data is not paid for). The cheap ones, linear-Gaussian nodes fitted from
    sufficient statistics and nodes whose compressed rows number at most ``CHEAP_NODE_ROWS``, share one run:
    their gradients cost microseconds, so each own run would be mostly its fixed trace-and-compile cost (1-3 s
    each). That shared run adapts a dense mass matrix: it is small (a few dozen parameters) and it removes the
    posterior correlation of an intercept with its parents' dummy coefficients, which a diagonal metric mixes
    slowly (bulk ESS 466 of 1,000 draws and R-hat 1.012 on the benchmark's ``price`` node). Custom mechanisms
    and latent blocks always run alone.
    """
    units: dict[str, tuple[int, list[str]]] = {}
    for i, lay in enumerate(layouts):
        units.setdefault(lay.block or lay.name, (i, []))[1].append(lay.name)
    by_name = {lay.name: lay for lay in layouts}
    runs, cheap_units, cheap_names = [], [], []
    for unit, (i, names) in units.items():
        if all(_is_cheap(by_name[n], jin.get(n)) for n in names):
            cheap_units.append((i, unit))
            cheap_names.extend(names)
        else:
            runs.append((i, unit, names, False))
    if cheap_units:
        runs.insert(0, (cheap_units[0][0], "+".join(u for _, u in cheap_units), cheap_names, True))
    return runs


def _is_cheap(lay, inp) -> bool:
    """Whether a node's gradient is cheap enough to share a run (``_node_runs``). A latent block's nodes have no
    own entry in the inputs (the block's statistics are under its name), so they are never cheap here."""
    if lay.family == "custom" or not isinstance(inp, dict):
        return False
    if "X" in inp:
        return int(inp["X"].shape[0]) <= CHEAP_NODE_ROWS
    return "wtw" in inp


@dataclass(frozen=True)
class FittedSCM:
    """A fitted SCM: posterior of every mechanism, the fit's checks, and interventions through :meth:`effect`."""

    spec: SCM
    data: SCMData = field(repr=False)
    posterior: dict = field(repr=False)
    idata: Any = field(repr=False)
    checks: tuple[CheckResult, ...] = ()
    sampler: Sampler = field(default_factory=Sampler)
    seed: int = 0
    info: dict = field(default_factory=dict)
    # refits made for the checks of queries (the placebo refit per outcome), reused by later queries
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def graph(self) -> CausalGraph:
        return self.spec.graph

    @property
    def mechanisms(self) -> dict[str, Mechanism]:
        """The mechanism used for each node (given or inferred)."""
        return {lay.name: lay.mechanism for lay in self.data.layouts}

    @property
    def trustworthy(self) -> bool:
        """True only when every check of the fit ran and passed."""
        return bool(self.checks) and all(c.passed is True for c in self.checks)

    # -- tables and words ---------------------------------------------------------------------------------
    def _coef_labels(self, lay) -> list[str]:
        labels = []
        for p, enc in zip(lay.parents, lay.parent_encodings, strict=True):
            if enc.kind == "categorical":
                labels += [f"{p}={lv}" for lv in self.data.levels[p][1:]]
            else:
                labels.append(p)
        return labels

    def summary(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """The mechanisms' parameters, one row each: ``node``, ``family``, ``why`` (the family was given, or how
        it was inferred from the data: for a count node, its Pearson dispersion given its parents, see
        :func:`~bayescausal.scm.mechanisms.choose_mechanism`), ``parameter``, mean, sd, interval, ``p_positive``.
        On the standardised scale (see ``mechanisms.py``): continuous parents per data sd, binary
        parents per switch 0 -> 1, categorical parents against their first level."""
        rows, meta = {}, []
        total = None
        for lay in self.data.layouts:
            for key in ("intercept", "coef", "sigma", "nu", "dispersion"):
                site = f"{lay.name}__{key}"
                if site not in self.posterior:
                    continue
                arr = np.asarray(self.posterior[site])
                total = arr.shape[0] * arr.shape[1]
                flat = arr.reshape(total, -1)
                if key == "coef":
                    names = self._coef_labels(lay)
                    if lay.family == "categorical":
                        outs = self.data.levels[lay.name][1:]
                        names = [f"{n} -> {lay.name}={o}" for n in names for o in outs]
                elif key == "intercept" and lay.family == "categorical":
                    names = [f"intercept {lay.name}={o}" for o in self.data.levels[lay.name][1:]]
                else:
                    names = [key]
                for j, nm in enumerate(names):
                    label = f"{lay.name}: {nm}" if key == "coef" or lay.family == "categorical" else \
                        f"{lay.name}: {key}"
                    label = f"{lay.name}: coef[{nm}]" if key == "coef" and lay.family != "categorical" else label
                    rows[label] = flat[:, j]
                    meta.append((lay.name, lay.family, key))
        for block in dict.fromkeys(lay.block for lay in self.data.layouts if lay.block):
            names = [m.name for m in block_members(self.data.layouts, block)]
            chol = np.asarray(self.posterior[f"{block}__corr_chol"])
            chol = chol.reshape((-1,) + chol.shape[2:])
            corr = np.einsum("nij,nkj->nik", chol, chol)  # the error correlation the latent node induces
            for i in range(len(names)):
                for j in range(i):
                    rows[f"{block}: corr[{names[j]}, {names[i]}]"] = corr[:, i, j]
                    meta.append((block, "latent", "error correlation"))
        table = summarise_draws(rows, hdi_prob)
        table.insert(0, "parameter", [m[2] for m in meta])
        table.insert(0, "why", [self.data.choices.get(m[0], "latent block: correlated errors of its children")
                                for m in meta])
        table.insert(0, "family", [m[1] for m in meta])
        table.insert(0, "node", [m[0] for m in meta])
        return table

    def report(self) -> str:
        opening, closing = checks_sentences(self.checks)
        fams = ", ".join(f"{lay.name} ({lay.family})" for lay in self.data.layouts)
        body = f"Structural causal model over {self.data.n} rows with mechanisms {fams}."
        choices = self.data.choices
        counts = [f"{lay.name} is {lay.family.replace('_', ' ')} ({choices[lay.name].removeprefix('inferred: ')})"
                  for lay in self.data.layouts
                  if lay.encoding.kind == "count" and self.data.choices.get(lay.name, "").startswith("inferred: ")]
        if counts:
            body += " Count families chosen from the data: " + "; ".join(counts) + "."
        return " ".join(p for p in (opening, body, closing) if p)

    def _repr_html_(self) -> str:
        return html_report.notebook_card("SCM (fitted)", self.report(), self.summary(), self.checks)

    def __repr__(self) -> str:
        verdict = "trustworthy" if self.trustworthy else "NOT trustworthy (see .checks)"
        return f"<FittedSCM {self.graph.to_string(sep='; ')!r}, {self.data.n} rows [{verdict}]>"

    # -- interventions ----------------------------------------------------------------------------------------
    def effect(self, treatment: str, outcome: str, treat: Any = 1, control: Any = 0, where: Any = None, *,
               shift: float | None = None, level: Any = None, draws: int = EFFECT_DRAWS,
               seed: int | None = None) -> CausalResult:
        """Average effect of ``do(treatment = treat)`` against ``do(treatment = control)`` on ``outcome``.

        ``where``: a subgroup of rows, ``{column: value}`` (any column of the fitted data; a list or set of
        values matches any of them) or a boolean mask over the rows; the effect is averaged over those rows.
        ``shift``: for a continuous or count treatment, compare ``do(T = T + shift)`` with the natural value
        ``do(T = T)`` row by row (``treat``/``control`` are then ignored). ``level``: for a categorical outcome,
        the effect on ``P(outcome == level)``. ``draws``: posterior draws used (thinned evenly per chain).
        The effect is in the outcome's units (a difference of probabilities for a binary outcome).
        """
        g = self.graph
        x = g.check_node(treatment, "treatment")
        y = g.check_node(outcome, "outcome")
        if x == y:
            raise SpecError(f"treatment and outcome are the same node {x!r}; name two different nodes.")
        seed = self.seed if seed is None else seed
        if not isinstance(draws, int) or isinstance(draws, bool) or draws < 2:
            raise SpecError(f"draws={draws!r}: give an integer of at least 2.")
        rows = self._rows(where)
        t_arm, c_arm, words = self._arms(x, treat, control, shift, rows)
        out_level, out_words = self._outcome_value(y, level)
        if self.info.get("checks_level", "full") == "full":  # the placebo's refit compiles while we intervene
            from .placebo import prepare_refit

            prepare_refit(self, y, x, seed)
        effect, m_t, m_c, chains = self._intervene(x, y, t_arm, c_arm, rows, out_level, draws, seed)
        sub = "" if where is None else f" among the {int(rows.sum())} rows with {self._where_words(where)}"
        estimand = f"average effect on {out_words} of {words}{sub}"
        checks = list(self.checks) + [identification_check(g, x, y), self._placebo_check(x, y, rows, out_level, seed)]
        eff = effect.reshape(chains, -1)
        da = xr.DataArray(eff, dims=("chain", "draw"), name="effect",
                          coords={"chain": np.arange(chains), "draw": np.arange(eff.shape[1])})
        idata = to_inference_data({"effect": eff, "mean_treat": m_t.reshape(chains, -1),
                                   "mean_control": m_c.reshape(chains, -1)},
                                  sample_stats={"diverging": np.zeros_like(eff, dtype=bool)},
                                  attrs={"method": "SCM", "treatment": x, "outcome": y})
        info = {"treatment": x, "outcome": y, "rows": int(rows.sum())}
        return CausalResult(estimand, da, idata, tuple(checks), method="SCM", info=info)

    def counterfactual(self, rows, do: Mapping[str, Any], outcome: str, **options):
        """Per-unit counterfactual posterior of ``outcome`` had ``do`` been set (abduction, action, prediction);
        see :func:`bayescausal.scm.counterfactual.counterfactual` for the arguments and the method."""
        from .counterfactual import counterfactual

        return counterfactual(self, rows, do, outcome, **options)

    def rank_levers(self, outcome: str, levers: Mapping[str, Any], cost: Mapping[str, float] | None = None,
                    **options):
        """Rank interventions on ``outcome`` by effect, probability of being best and effect per unit cost; see
        :func:`bayescausal.scm.levers.rank_levers` for the arguments."""
        from .levers import rank_levers

        return rank_levers(self, outcome, levers, cost=cost, **options)

    def _placebo_check(self, x: str, y: str, rows, out_level, seed: int) -> CheckResult:
        """The refit placebo of :mod:`.placebo` (skipped when the fit ran with ``checks="fast"`` or False)."""
        from .placebo import NAME, placebo_check

        level = self.info.get("checks_level", "full")
        if level != "full":
            return skipped(NAME, f"the fit ran with checks={level!r}; the placebo refits the outcome's mechanism")
        return placebo_check(self, x, y, rows, out_level, seed)

    def _rows(self, where) -> np.ndarray:
        n = self.data.n
        if where is None:
            return np.ones(n, bool)
        if isinstance(where, Mapping):
            mask = np.ones(n, bool)
            for col, value in where.items():
                series = self._column(col)
                if isinstance(value, (list, tuple, set, frozenset)):
                    mask &= series.isin(list(value)).to_numpy()
                else:
                    mask &= (series == value).to_numpy()
        elif isinstance(where, str):
            raise SpecError(f"where={where!r}: string expressions are not evaluated; pass a dict {{column: value}} "
                            "or a boolean mask over the rows.")
        else:
            mask = np.asarray(where)
            if mask.dtype != bool or mask.shape != (n,):
                raise SpecError(f"where must be a dict {{column: value}} or a boolean mask of length {n} (the "
                                f"fitted rows); got an array of dtype {mask.dtype} and shape {mask.shape}.")
        if not mask.any():
            raise DataError(f"where={self._where_words(where)} selects no rows; check the column values.")
        return mask

    def _column(self, col) -> pd.Series:
        if col in self.data.values:
            lv = self.data.levels.get(col)
            v = self.data.values[col]
            return pd.Series(np.asarray(lv, dtype=object)[v.astype(int)] if lv else v)
        extra = self.data.extra
        if col in extra:
            return pd.Series(extra[col])
        raise DataError(f"where names column {col!r}, which is not in the fitted data; available columns: "
                        f"{sorted(set(self.data.values) | set(extra))}.")

    @staticmethod
    def _where_words(where) -> str:
        if isinstance(where, Mapping):
            return " and ".join(f"{k} = {v!r}" for k, v in where.items())
        return "a boolean mask"

    def _arms(self, x: str, treat, control, shift, rows):
        lay = self.data.layout(x)
        kind = lay.encoding.kind
        observed = self.data.values[x][rows]
        if shift is not None:
            if kind not in ("continuous", "count"):
                raise SpecError(f"shift= applies to a continuous or count treatment; {x!r} is {kind}: give "
                                "treat= and control= values instead.")
            if not np.isfinite(float(shift)):
                raise SpecError(f"shift={shift!r}: give a finite number.")
            return observed + float(shift), observed, f"shifting {x} by {shift:g} (do({x} = {x} + {shift:g}))"

        def code(v, arm):
            if kind == "categorical":
                levels = self.data.levels[x]
                if v not in levels:
                    raise SpecError(f"{arm}={v!r} is not a level of the categorical treatment {x!r}; its levels are "
                                    f"{list(levels)}.")
                return float(levels.index(v))
            if isinstance(v, (bool, np.bool_)):
                v = float(v)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise SpecError(f"{arm}={v!r}: the treatment {x!r} is {kind}; give a number.") from None
            if kind == "binary" and v not in (0.0, 1.0):
                raise SpecError(f"{arm}={v!r}: the treatment {x!r} is binary; use 0 or 1 (False/True).")
            if kind == "count" and (v < 0 or v != round(v)):
                raise SpecError(f"{arm}={v!r}: the treatment {x!r} is a count; use a non-negative integer.")
            if not np.isfinite(v):
                raise SpecError(f"{arm}={v!r}: give a finite value.")
            return v

        t, c = code(treat, "treat"), code(control, "control")
        dtype = np.int64 if kind == "categorical" else float
        n = int(rows.sum())
        return np.full(n, t, dtype), np.full(n, c, dtype), f"do({x} = {treat!r}) against do({x} = {control!r})"

    def _outcome_value(self, y: str, level):
        lay = self.data.layout(y)
        if lay.family == "categorical" or lay.encoding.kind == "categorical":
            levels = self.data.levels[y]
            if level is None or level not in levels:
                raise SpecError(f"outcome {y!r} is categorical: pass level= one of {list(levels)} to get the effect "
                                "on the probability of that level.")
            return levels.index(level), f"P({y} = {level!r})"
        if level is not None:
            raise SpecError(f"level= applies to a categorical outcome only; {y!r} is {lay.encoding.kind}.")
        words = f"P({y} = 1)" if lay.encoding.kind == "binary" else f"the mean of {y}"
        return None, words

    def _param_draws(self, draws: int) -> tuple[dict, int]:
        chains = next(iter(self.posterior.values())).shape[0]
        thinned = {k: thin_draws(v, -(-draws // chains)) for k, v in self.posterior.items()}
        return {k: v.reshape((-1,) + v.shape[2:]) for k, v in thinned.items()}, chains

    def _layouts_for(self, y: str) -> tuple:
        """The layouts that ``y`` depends on: its ancestors and itself, plus the other nodes of their latent
        blocks (whose residuals inform the block's errors) and those nodes' ancestors, in topological order."""
        g, layouts = self.graph, self.data.layouts
        keep = set(g.ancestors(y)) | {y}
        while True:
            blocks = {lay.block for lay in layouts if lay.name in keep and lay.block}
            more = {lay.name for lay in layouts if lay.block in blocks} - keep
            if not more:
                break
            keep |= more | set().union(*(g.ancestors(m) for m in more))
        return tuple(lay for lay in layouts if lay.name in keep)

    def _intervene(self, x: str, y: str, t_arm, c_arm, rows, out_level, draws: int, seed: int,
                   sampled: frozenset[str] | None = None):
        """Per posterior draw: mean over rows of E[y | do(x = t)] and E[y | do(x = c)], common random numbers.

        ``sampled``: the nodes drawn from their mechanisms (default: the descendants of ``x``); every other
        node keeps its observed values, which is what makes the average over rows the average over the
        empirical distribution of the non-descendants. In a latent block (correlated errors), the sampled nodes'
        errors are drawn given the residuals of the block's other nodes in the same row, the treatment's natural
        one included (see ``model.generative_model``). Returns ``(effect, mean_treat, mean_control, chains)``.
        """
        g = self.graph
        sampled = frozenset(g.descendants(x)) if sampled is None else sampled
        # the same query asked again (a lever ranking after effect(), a report re-run) reuses its draws: the
        # answer is a deterministic function of these arguments and the fitted posterior
        key = ("intervene", x, y, _digest(t_arm), _digest(c_arm), _digest(rows), out_level, draws, seed, sampled)
        if key in self._cache:
            return self._cache[key]
        out = self._intervene_uncached(x, y, t_arm, c_arm, rows, out_level, draws, seed, sampled)
        self._cache[key] = out
        return out

    def _intervene_uncached(self, x, y, t_arm, c_arm, rows, out_level, draws, seed, sampled):
        params, chains = self._param_draws(draws)
        n_draws = len(next(iter(params.values())))
        n = int(rows.sum())
        if y not in sampled:  # no directed path: the outcome keeps its observed distribution in both arms
            m = np.full(n_draws, float(np.mean(self.data.values[y][rows])))
            return np.zeros(n_draws), m, m, chains
        layouts = self._layouts_for(y)  # nodes after the outcome do not change it: not simulated
        kept = {lay.name for lay in layouts}
        sampled = sampled & kept
        fixed = frozenset(node for node in kept if node not in sampled and node != x)
        observed = {k: jnp.asarray(v[rows]) for k, v in self.data.values.items() if k in kept and k not in sampled}
        keys = jax.random.split(jax.random.PRNGKey(seed + 104729), n_draws)
        n_dev = jax.local_device_count()  # the draws are split over the devices (cores): draw_map.py
        per_device = -(-n_draws // n_dev)
        batch = int(max(1, min(per_device, _CELLS_PER_BATCH // max(n * len(sampled), 1))))
        run = _intervention_program(layouts, x, y, fixed, n, batch, out_level, n_dev)
        out = np.asarray(run((params, keys), (observed, jnp.asarray(t_arm), jnp.asarray(c_arm))))
        return out[:, 0] - out[:, 1], out[:, 0], out[:, 1], chains


def _digest(a) -> tuple:
    """A hashable fingerprint of an array argument (shape, dtype, SHA-1 of the bytes) for the query cache."""
    arr = np.ascontiguousarray(np.asarray(a))
    return arr.shape, str(arr.dtype), hashlib.sha1(arr.tobytes()).hexdigest()


@functools.lru_cache(maxsize=64)
def _intervention_program(layouts, x: str, y: str, fixed: frozenset, n: int, batch: int, level: int | None,
                          n_devices: int = 1):
    """The compiled ancestral sampler of one intervention query, cached: repeated ``effect`` calls with the same
    shapes (other treat/control values, shifts, seeds, lever rankings) reuse one compiled program.

    Returns ``run((params, keys), (observed, t_arm, c_arm)) -> (draws, 2)``: for each posterior draw the mean
    over rows of the outcome's conditional mean under ``do(x = t_arm)`` and ``do(x = c_arm)``, sampled with the
    same key in both arms (common random numbers: the same exogenous noise, Pearl 2009, ch. 7.1). The draws
    are split over ``n_devices`` devices (``inference/draw_map.py``), ``batch`` at a time on each.
    """

    def arm(p, key, observed, value):
        model = handlers.do(generative_model, data={x: value})
        model = handlers.substitute(handlers.seed(model, key), data=p)
        tr = handlers.trace(model).get_trace(layouts, observed, n, fixed)
        return jnp.mean(_site_mean(tr[y], level))

    def run(per_draw, shared):
        observed, t_arm, c_arm = shared

        def one(args):
            p, key = args
            return jnp.stack([arm(p, key, observed, t_arm), arm(p, key, observed, c_arm)])

        return jax.lax.map(one, per_draw, batch_size=batch)

    return over_devices(run, n_devices)


def _site_mean(site: dict, level: int | None):
    """The outcome's conditional mean given its parents (its own noise integrated out): the mean of its
    distribution, or the probability of ``level``; the sampled value for a custom mechanism without a mean."""
    fn = site["fn"]
    if level is not None:
        try:
            return fn.probs[..., level]
        except (AttributeError, NotImplementedError):
            return (site["value"] == level).astype(jnp.float64)
    try:
        return jnp.broadcast_to(fn.mean, jnp.shape(site["value"]))
    except (AttributeError, NotImplementedError):
        return site["value"].astype(jnp.float64)


__all__ = ["SCM", "FittedSCM"]
