"""The SCM's checks: posterior predictive per node, the graph's implied independencies, identification.

(Convergence is the shared :func:`~bayescausal.checks.convergence_check`; the placebo intervention runs in
``FittedSCM.effect``, which owns the intervention machinery.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ..checks import CheckResult, skipped
from ..inference.draw_map import over_devices
from ._math import ci_test, features, holm
from .identification import identify, implied_independencies
from .latent import sem_identification
from .model import block_conditional, block_members, linear_predictor, node_distribution, standardised_residual

PPC_DRAWS = 200
PPC_ROWS = 5_000  # rows simulated per draw: a seeded subsample beyond this (the observed statistic on the same rows)
PP_ROWS = 500  # rows whose replicated values are kept in idata.posterior_predictive
PPC_LEVEL = 0.99  # each node's statistics together: 1% false-failure rate per node (Bonferroni)
CI_ALPHA = 0.05  # family-wise level of the independence tests (Holm)


def _statistics(kind: str, levels: int):
    """Names and a function of the node's values giving the statistics checked for this kind of node."""
    if kind == "binary":
        return ["share of 1"], lambda v: jnp.stack([jnp.mean(v)])
    if kind == "categorical":
        return [f"share of level {k}" for k in range(levels)], \
            lambda v: jnp.mean(v[:, None] == jnp.arange(levels), axis=0)
    if kind == "count":
        return ["mean", "sd", "share of zeros"], lambda v: jnp.stack([jnp.mean(v), jnp.std(v), jnp.mean(v == 0)])
    return ["mean", "sd"], lambda v: jnp.stack([jnp.mean(v), jnp.std(v)])


def predictive_checks(data, posterior: dict, seed: int, n_draws: int = PPC_DRAWS,
                      replicates: dict | None = None) -> list[CheckResult]:
    """Per node: statistics of the observed column inside the central 99% (jointly: Bonferroni) of their predictive
    distribution, each node simulated from its mechanism given the *observed* parents (a per-mechanism check).

    Beyond ``PPC_ROWS`` rows the check uses a seeded random subsample of rows (same rows for the observed and the
    replicated statistics). Sampling counts is the cost (a negative binomial node took 13 s for 200 draws x 20k
    rows at 100k rows, its gamma and Poisson samplers being rejection loops); 5k rows take a quarter of that and
    still resolve a statistic to about 1/70 of the node's sd, enough to see overdispersion or a missing level.

    Statistics: the share for a binary node, the level shares for a categorical one, mean, sd and share of
    zeros for counts (this is what tells a Poisson from an overdispersed count), mean and sd otherwise.

    ``replicates``: when a dict is given, it receives the replicated values of each node on the first
    ``PP_ROWS`` checked rows (``{node: (draws, rows)}``) and those rows' positions under ``"__rows__"``, for the
    fit's ``idata.posterior_predictive`` (so ArviZ's ``plot_ppc`` works on a fitted SCM).

    A node of a latent block is simulated from its conditional given its parents *and* the observed residuals
    of the block's nodes before it (the data model's chain rule): its error is correlated with theirs, so its
    law given its parents alone would not reproduce, e.g., its sd when a block node is among its parents.
    """
    out = []
    any_draw = next(iter(posterior.values()))
    total = any_draw.shape[0] * any_draw.shape[1]
    pick = np.linspace(0, total - 1, min(n_draws, total)).astype(int)
    rows = np.arange(data.n)
    if data.n > PPC_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(data.n, PPC_ROWS, replace=False))
    for i, lay in enumerate(data.layouts):
        name = f"posterior predictive: {lay.name}"
        if lay.family == "custom":
            out.append(skipped(name, "a custom mechanism has no built-in predictive check"))
            continue
        params = _node_draws(posterior, lay, pick, total)
        X = _design(data, lay, rows)
        names, stat = _statistics(lay.encoding.kind, lay.levels)
        keys = jax.random.split(jax.random.PRNGKey(seed + 7919 * (i + 1)), len(pick))
        block = None
        if lay.block is not None:
            members = block_members(data.layouts, lay.block)
            before = members[:[m.name for m in members].index(lay.name)]
            chol = posterior[f"{lay.block}__corr_chol"]
            params = {"node": params, "corr_chol": jnp.asarray(chol.reshape((total,) + chol.shape[2:])[pick]),
                      "members": {m.name: _node_draws(posterior, m, pick, total) for m in members}}
            block = (members, [(m, _design(data, m, rows), jnp.asarray(data.values[m.name][rows])) for m in before])

        def one(args, lay=lay, X=X, stat=stat, block=block):
            p, k = args
            if block is None:
                d = node_distribution(lay, p, X)
            else:
                members, before = block
                resid = {m.name: standardised_residual(m, p["members"][m.name], Xm, v) for m, Xm, v in before}
                d = block_conditional(members, p["members"], p["corr_chol"], lay.name,
                                      linear_predictor(lay, p["node"], X), resid)
            values = d.sample(k).astype(jnp.float64)
            return stat(values), values[:PP_ROWS]

        batch = max(1, min(-(-len(pick) // jax.local_device_count()), int(2e6 // len(rows))))
        run = over_devices(lambda per_draw, _, one=one, batch=batch: jax.lax.map(one, per_draw, batch_size=batch))
        reps, kept = run((params, keys), None)
        reps = np.asarray(reps)
        if replicates is not None:
            replicates[lay.name] = np.asarray(kept)
            replicates["__rows__"] = rows[:PP_ROWS]
        observed = np.asarray(stat(jnp.asarray(data.values[lay.name][rows], dtype=jnp.float64)))
        level = 1 - (1 - PPC_LEVEL) / len(names)  # Bonferroni over the node's statistics
        lo, hi, ppp = predictive_interval(reps, observed, level)
        bad = [j for j in range(len(names)) if not lo[j] <= observed[j] <= hi[j]]
        detail = "; ".join(f"{names[j]} {observed[j]:.4g} (predictive {lo[j]:.4g} to {hi[j]:.4g})"
                           for j in range(len(names)))
        worst = float(np.min(ppp))
        if bad:
            msg = (f"the {lay.family} mechanism of {lay.name!r} does not reproduce the data: "
                   + ", ".join(names[j] for j in bad) + f" outside the central {level:.1%} of the posterior "
                   f"predictive ({detail}). Try another mechanism for this node (e.g. negative binomial for "
                   "overdispersed counts, Student-t for heavy tails) or add the missing parents.")
        else:
            msg = f"{lay.name!r} ({lay.family}): {detail}; all inside the central {level:.1%}."
        out.append(CheckResult(name, not bad, round(worst, 4), f"each statistic inside the central {level:.1%}",
                               msg))
    return out


def predictive_interval(reps: np.ndarray, observed: np.ndarray, level: float):
    """Central ``level`` predictive interval of each statistic and its two-sided predictive p-value.

    The statistics are means over thousands of rows, so their predictive distribution is close to normal
    (central limit theorem): its mean and sd from the replicated draws give the interval far more stably than
    the extreme order statistics of 200 draws (with which a 99% interval is roughly the range of the draws,
    and a correct model failed about one statistic in seven). A strongly skewed statistic (|skewness| > 1,
    e.g. the sd of a heavy-tailed node) keeps the empirical quantiles and p-value.
    """
    m, s = reps.mean(axis=0), reps.std(axis=0, ddof=1)
    s = np.where(s > 0, s, np.finfo(float).tiny)
    z = stats.norm.ppf(0.5 + level / 2)
    lo, hi = m - z * s, m + z * s
    ppp = 2 * stats.norm.sf(np.abs(observed - m) / s)
    skew = np.abs(stats.skew(reps, axis=0))
    tail = (1 - level) / 2
    q_lo, q_hi = np.quantile(reps, [tail, 1 - tail], axis=0)
    emp = np.minimum(np.mean(reps >= observed, axis=0), np.mean(reps <= observed, axis=0)) * 2
    skewed = skew > 1
    return np.where(skewed, q_lo, lo), np.where(skewed, q_hi, hi), np.where(skewed, emp, ppp)


def _node_draws(posterior: dict, lay, pick: np.ndarray, total: int) -> dict:
    """The node's parameter draws at the flat draw indices ``pick``; zero coefficients for a root node."""
    params = {}
    for key in ("intercept", "coef", "sigma", "nu", "dispersion"):
        site = f"{lay.name}__{key}"
        if site in posterior:
            arr = posterior[site]
            params[key] = jnp.asarray(arr.reshape((total,) + arr.shape[2:])[pick])
    if "coef" not in params:
        shape = (len(pick), lay.width, lay.n_out) if lay.family == "categorical" else (len(pick), 0)
        params["coef"] = jnp.zeros(shape)
    return params


def _design(data, lay, rows):
    return jnp.asarray(features([data.values[p][rows] for p in lay.parents], list(lay.parent_encodings), len(rows)))


def independence_check(graph, data, alpha: float = CI_ALPHA) -> CheckResult:
    """Every conditional independence the graph implies (one per missing edge: Pearl 2009, Theorem 1.2.7),
    tested against the data by :func:`~bayescausal.scm._math.ci_test` with Holm's correction. A failure
    means the data contradict the graph (a missing edge or confounder): the effects computed from it are
    questionable whatever the posterior says.

    With latent nodes the statements are those among observed nodes that d-separation in the full graph implies
    with the latent nodes unobserved (``implied_independencies`` conditions only on observed nodes and leaves out
    pairs that no observed set separates, e.g. two children of a latent confounder)."""
    name = "graph: implied independencies"
    statements = implied_independencies(graph)
    if not statements:
        # nothing the data could contradict: vacuously satisfied, said plainly (a "not run" would make every fit
        # of a complete graph untrustworthy for want of a testable claim, not for a failed one)
        return CheckResult(name, True, None, None, "nothing to test: the graph implies no conditional independence "
                           "(every pair of observed nodes is adjacent or linked through a latent node), so the data "
                           "cannot contradict it; its edges rest on domain knowledge alone.")

    def feats(nodes):
        nodes = sorted(nodes)
        return np.asarray(features([data.values[n] for n in nodes], [data.layout(n).encoding for n in nodes], data.n))

    rows = []
    for s in statements:
        stat, p, dof = ci_test(feats([s.x]), feats([s.y]), feats(s.given))
        rows.append((str(s), stat, p, dof))
    adjusted = holm(np.array([r[2] for r in rows]))
    failed = [f"{r[0]} (chi2 {r[1]:.1f} on {r[3]} df, Holm-adjusted p {a:.2g})"
              for r, a in zip(rows, adjusted, strict=True) if a < alpha]
    n = len(rows)
    threshold = f"Holm-adjusted p >= {alpha:g}"
    if failed:
        msg = (f"{len(failed)} of {n} independencies implied by the graph are contradicted by the data: "
               + "; ".join(failed) + ". The graph is questionable: a missing edge or an unmeasured common cause "
               "links these nodes, so effects computed from this graph may be biased.")
        return CheckResult(name, False, float(np.min(adjusted)), threshold, msg)
    msg = (f"all {n} independencies implied by the graph are consistent with the data (linear conditional-"
           f"independence tests, Holm-adjusted at {alpha:g}; smallest adjusted p {np.min(adjusted):.2g}).")
    return CheckResult(name, True, float(np.min(adjusted)), threshold, msg)


def identification_check(graph, treatment: str, outcome: str) -> CheckResult:
    """What the graph alone says about the effect, and why the fitted SCM can answer it anyway.

    With every node observed the effect follows from the truncated factorisation. With latent nodes (as
    correlated errors of their linear-Gaussian children, ``latent.py``) the effect is identified
    nonparametrically when the graph criteria say so (e.g. frontdoor); otherwise it rests on the parametric
    identification of the linear-Gaussian model (e.g. the instrument graph: Rothenberg 1971), and the message
    says that it holds only under that assumption. It fails when neither holds (a fit refuses such a model).
    """
    ident = identify(graph, treatment, outcome)
    if not graph.latent:
        msg = (f"All nodes are observed and every mechanism is fitted, so P({outcome} | do({treatment})) follows "
               "from the truncated factorisation (Pearl 2009, eq. 3.10); it is only as right as the graph and the "
               f"mechanisms. From the graph alone: {ident.explanation}")
        return CheckResult("identification", True, None, "all nodes observed", msg)
    latent = ", ".join(sorted(graph.latent))
    threshold = "graph criteria, or parametric (linear-Gaussian) identification"
    if ident.identifiable:
        msg = (f"The latent node(s) {latent} enter the model as correlated errors of their children; the effect "
               f"of {treatment} on {outcome} is identified by the graph itself, whatever the mechanisms: "
               f"{ident.explanation}")
        return CheckResult("identification", True, None, threshold, msg)
    sem = sem_identification(graph)
    if sem.identified:
        msg = (f"The graph criteria do not identify the effect of {treatment} on {outcome} ({ident.explanation}) "
               f"but the model is identified parametrically: with the latent node(s) {latent} as correlated "
               "Gaussian errors of their linear-Gaussian children, the map from the model's parameters to the "
               f"observed covariances is locally one-to-one (Jacobian rank {sem.rank} of {sem.n_params}; "
               "Rothenberg 1971). The effect is identified only under the linear-Gaussian assumption (parametric "
               "identification): if those mechanisms are not linear with Gaussian errors, the estimate can be "
               "biased.")
        return CheckResult("identification", True, None, threshold, msg)
    msg = (f"Neither the graph criteria ({ident.explanation}) nor the linear-Gaussian model (Jacobian rank "
           f"{sem.rank} of {sem.n_params} parameters) identify the effect of {treatment} on {outcome}.")
    return CheckResult("identification", False, None, threshold, msg)
