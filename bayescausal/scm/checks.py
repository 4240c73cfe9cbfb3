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
from ._math import bin_means_matrix, ci_test, features, holm, quantile_bins, realized_chi_square
from .identification import identify, implied_independencies
from .latent import sem_identification
from .model import block_conditional, block_members, linear_predictor, node_distribution, standardised_residual

PPC_DRAWS = 200
PPC_ROWS = 5_000  # rows simulated per draw: a seeded subsample beyond this (the observed statistic on the same rows)
PP_ROWS = 500  # rows whose replicated values are kept in idata.posterior_predictive
PPC_LEVEL = 0.99  # each node's statistics together: 1% false-failure rate per node (Bonferroni)
CALIBRATION_BINS = 10  # bins (deciles) of each continuous or count parent for the calibration check
CALIBRATION_MIN_ROWS = 50  # rows at least per bin (smaller bins merged into a neighbour)
CALIBRATION_LEVEL = 0.99  # a node's parents together: 1% false-failure rate per node (Bonferroni over parents)
CALIBRATION = "calibration within parent bins"
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

    A second check per node, ``calibration within parent bins: <node>``, reads the same replicated values: see
    :func:`calibration_check`. It is returned right after the node's own check, for every non-categorical node
    with at least one continuous or count parent (others have no such check: a binary or categorical parent
    enters as free dummies, so the mechanism has no shape along it to get wrong).

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
        bins = _parent_bins(data, lay, rows)
        M = None if bins is None else jnp.asarray(bins[1])
        keys = jax.random.split(jax.random.PRNGKey(seed + 7919 * (i + 1)), len(pick))
        block = None
        if lay.block is not None:
            members = block_members(data.layouts, lay.block)
            before = members[:[m.name for m in members].index(lay.name)]
            chol = posterior[f"{lay.block}__corr_chol"]
            params = {"node": params, "corr_chol": jnp.asarray(chol.reshape((total,) + chol.shape[2:])[pick]),
                      "members": {m.name: _node_draws(posterior, m, pick, total) for m in members}}
            block = (members, [(m, _design(data, m, rows), jnp.asarray(data.values[m.name][rows])) for m in before])

        def one(args, lay=lay, X=X, stat=stat, block=block, M=M):
            p, k = args
            if block is None:
                d = node_distribution(lay, p, X)
            else:
                members, before = block
                resid = {m.name: standardised_residual(m, p["members"][m.name], Xm, v) for m, Xm, v in before}
                d = block_conditional(members, p["members"], p["corr_chol"], lay.name,
                                      linear_predictor(lay, p["node"], X), resid)
            values = d.sample(k).astype(jnp.float64)
            if M is None:
                moments = jnp.zeros((2, 1))  # unused (a zero-size output does not pass over_devices' reshape)
            else:  # each bin mean's mean and variance given the draw (rows independent given parents and draw)
                variance = jnp.broadcast_to(d.variance, values.shape)
                moments = jnp.stack([jnp.broadcast_to(d.mean, values.shape) @ M, variance @ (M * M)])
            return stat(values), moments, values[:PP_ROWS]

        batch = max(1, min(-(-len(pick) // jax.local_device_count()), int(2e6 // len(rows))))
        run = over_devices(lambda per_draw, _, one=one, batch=batch: jax.lax.map(one, per_draw, batch_size=batch))
        reps, moments, kept = run((params, keys), None)
        reps = np.asarray(reps)
        if replicates is not None:
            replicates[lay.name] = np.asarray(kept)
            replicates["__rows__"] = rows[:PP_ROWS]
        observed = np.asarray(stat(jnp.asarray(data.values[lay.name][rows], dtype=jnp.float64)))
        calibration = None
        if bins is not None:
            observed_means = np.asarray(data.values[lay.name][rows], dtype=float) @ bins[1]
            moments = np.asarray(moments)
            calibration = calibration_check(lay, bins[0], moments[:, 0], moments[:, 1], observed_means)
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
        if calibration is not None:
            out.append(calibration)
    return out


def _parent_bins(data, lay, rows) -> tuple[list[tuple[str, float, float]], np.ndarray] | None:
    """The bins of the calibration check for one node: ``(labels, M)``, one label ``(parent, low, high)`` per bin
    and ``M`` (rows, bins) with ``values @ M`` the node's mean in each bin; None when the check does not apply
    (a categorical or custom node, or no continuous or count parent with at least two bins)."""
    if lay.encoding.kind == "categorical" or lay.family == "custom":
        return None
    labels, blocks = [], []
    for parent, enc in zip(lay.parents, lay.parent_encodings, strict=True):
        if enc.kind not in ("continuous", "count"):
            continue
        which, ranges = quantile_bins(np.asarray(data.values[parent])[rows], CALIBRATION_BINS, CALIBRATION_MIN_ROWS)
        if len(ranges) < 2:
            continue
        labels += [(parent, lo, hi) for lo, hi in ranges]
        blocks.append(bin_means_matrix(which, len(ranges)))
    if not blocks:
        return None
    return labels, np.concatenate(blocks, axis=1)


def calibration_check(lay, bins: list[tuple[str, float, float]], means: np.ndarray, variances: np.ndarray,
                      observed: np.ndarray) -> CheckResult:
    """Is the node's mechanism calibrated along each of its parents? (A posterior predictive check by bins.)

    Statistic: for each continuous or count parent, the rows are cut into ``CALIBRATION_BINS`` (10) bins at the
    parent's deciles (ties kept together, at least ``CALIBRATION_MIN_ROWS`` rows a bin), and the node's observed
    mean in each bin is compared with what the mechanism predicts given the observed parents: for each posterior
    draw, the chi-square discrepancy ``T(y, theta) = sum_b ((observed_b - mu_b) / s_b)^2`` over the parent's ``B``
    bins, ``mu_b`` and ``s_b^2`` the mean and variance of the bin's mean under the draw (``means`` and
    ``variances``, (draws, bins)). Given the draw, the replicated discrepancy is chi-square on ``B`` degrees of
    freedom (the bins hold disjoint rows, independent given their parents, and each bin mean averages at least 50
    of them, so is close to normal), so the posterior predictive p-value of this realized discrepancy (Gelman,
    Meng & Stern 1996) is the average over draws of its chi-square upper tail
    (:func:`~bayescausal.scm._math.realized_chi_square`). Threshold: every parent's p-value at least ``0.01 / k``,
    ``k`` the number of parents checked (Bonferroni: at most a 1% chance per node that a correct mechanism fails;
    less in practice, as posterior predictive p-values are conservative: Meng 1994). The statistic reported is
    the smallest p-value over the parents.

    Why: a mechanism linear in a parent (on the node's scale, or the logit or log scale of a GLM) fitted to a
    curved or thresholded relation reproduces the node's overall mean and sd, so the node's predictive check
    passes, but it is wrong within ranges of the parent (too low at both ends of a convex curve, too high in the
    middle), and an intervention that moves the parent inherits the wrong slope. This is the binned calibration
    of a regression's fitted values along each covariate (residuals against each predictor: Gelman, Hill &
    Vehtari 2020, *Regression and Other Stories*, ch. 11). A chi-square over the bins was chosen over the largest
    single bin (Bonferroni over the bins) on simulated quadratic relations: it sums the evidence of a smooth
    departure across bins. Standardising by each draw's own moments, rather than by the spread of the replicated
    bin means over all draws, keeps the posterior's uncertainty about the slope out of the denominator, where it
    swamped the departure at the parent's extremes.
    """
    name = f"{CALIBRATION}: {lay.name}"
    parents = list(dict.fromkeys(b[0] for b in bins))
    group = np.array([parents.index(b[0]) for b in bins])
    z, chi2, dof, p = realized_chi_square(means, variances, observed, group)
    alpha = (1 - CALIBRATION_LEVEL) / len(parents)
    threshold = f"chi-square p-value of each parent's bin means >= {alpha:.2g} (0.01 / {len(parents)} parents)"
    worst = float(np.min(p))
    detail = "; ".join(f"{q}: chi2 {chi2[k]:.1f} on {dof[k]} df, p {p[k]:.2g}" for k, q in enumerate(parents))
    bad = [k for k in range(len(parents)) if p[k] < alpha]
    if not bad:
        return CheckResult(name, True, worst, threshold,
                           f"{lay.name!r} ({lay.family}): its mean within the bins of each parent agrees with the "
                           f"posterior predictive ({detail}; each p >= {alpha:.2g}).")
    caught = [parents[k] for k in bad]
    shown = []
    for k in bad:
        idx = np.flatnonzero(group == k)
        top = idx[np.argsort(-np.abs(z[idx]))[:3]]
        shown += [f"{bins[j][0]} in [{bins[j][1]:.4g}, {bins[j][2]:.4g}]: observed mean {observed[j]:.4g} against "
                  f"{means[:, j].mean():.4g} predicted ({z[j]:+.1f} sd)" for j in sorted(top)]
    scale = {"logistic": "on the logit scale ", "poisson": "on the log scale ",
             "negative_binomial": "on the log scale "}.get(lay.family, "")
    names = " and ".join(repr(q) for q in caught)
    msg = (f"the {lay.family.replace('_', ' ')} mechanism of {lay.name!r} is miscalibrated along {names}: its mean "
           f"within bins of the parent departs from what the mechanism predicts ({detail}; largest departures: "
           f"{'; '.join(shown)}). The mechanism is linear {scale}in its parents, but in the data {lay.name!r} "
           f"depends on {names} with another shape (a curve, a threshold or an interaction), so the effect of "
           "do() on that parent, or on anything acting through it, can be biased. Give the node a mechanism of "
           "the right shape (a Custom NumPyro mechanism with, e.g., a spline, a squared or a threshold term of the "
           "parent) and fit again; until then, do not rest a causal claim on effects through this mechanism.")
    return CheckResult(name, False, worst, threshold, msg)


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
