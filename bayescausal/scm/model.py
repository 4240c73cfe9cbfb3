"""The NumPyro model of a structural causal model: one mechanism per node, in topological order.

Two views of the same model share every parameter site (``{node}__intercept``, ``{node}__coef``,
``{node}__sigma``, ``{node}__nu``, ``{node}__dispersion``) and :func:`node_distribution`:

* :func:`scm_model` is the likelihood used for fitting. Its ``nodes`` argument restricts it to some
  mechanisms: with every node observed the posterior factorises over mechanisms (the parameters of different
  nodes are independent a priori and the likelihood is a product over nodes), so fitting each node's block
  alone is exact. Linear-Gaussian nodes use sufficient statistics; other families use row-compressed data
  with count weights (``numpyro.factor`` of the weighted log-likelihood, identical to ``numpyro.sample(node,
  family, obs=...)`` over the uncompressed rows; the negative binomial's count-only terms through a histogram,
  see ``_math.negbin_loglik``).
* :func:`generative_model` samples the nodes in topological order from their parents' values, over a plate
  of rows: with ``observed`` values it is the data model, and under ``numpyro.handlers.do`` and
  ``substitute`` (posterior parameters) it is ancestral sampling of an intervention (Pearl 2009, ch. 1.4 and
  3.2: the truncated factorisation).

Latent blocks (``latent.py``): the linear-Gaussian children of a latent root node have jointly Gaussian
structural errors with covariance ``Omega = diag(sigma) R diag(sigma)``; ``R``'s Cholesky factor is the site
``{block}__corr_chol`` (LKJ prior, concentration ``LKJ_CONCENTRATION``), the nodes keep their own
``intercept``/``coef``/``sigma`` sites. In :func:`scm_model` the block contributes one factor (named after the
block), the multivariate normal density of its residuals from cross-products (``_latent_math.block_loglik``),
in place of its nodes' own factors: p(V) is that factor times every other node's conditional. The posterior no
longer factorises over the block's nodes, so ``nodes=`` naming one node of a block fits its whole block.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._latent_math import block_covariance, block_loglik, gaussian_conditional
from ._math import Encoding, features, gaussian_loglik, negbin_loglik
from .mechanisms import Mechanism

# LKJ(2) on the error correlation of a latent block: density proportional to det(R), which leans away from
# correlations of +-1 but keeps the whole range (Lewandowski, Kurowicka & Joe 2009)
LKJ_CONCENTRATION = 2.0


@dataclass(frozen=True)
class NodeLayout:
    """Everything the model needs about one node (set up from the data by the estimator).

    ``center``: the offset of the linear predictor (logit of the share, log of the mean count, log-odds of each
    level against the first; 0 for continuous nodes); ``mean``/``sd``: a continuous node's data moments (its
    standardised scale); ``levels``: number of categories; ``width``: number of parent features; ``block``: the
    latent block whose errors this node shares (``latent.LatentBlock.name``), or None.
    """

    name: str
    mechanism: Mechanism
    parents: tuple[str, ...]
    parent_encodings: tuple[Encoding, ...]
    encoding: Encoding
    center: tuple[float, ...] = (0.0,)
    mean: float = 0.0
    sd: float = 1.0
    levels: int = 0
    block: str | None = None

    @property
    def width(self) -> int:
        return sum(e.width for e in self.parent_encodings)

    @property
    def family(self) -> str:
        return self.mechanism.family

    @property
    def n_out(self) -> int:
        """Columns of the linear predictor: K-1 for a categorical node, else 1."""
        return self.levels - 1 if self.family == "categorical" else 1


def sample_params(lay: NodeLayout) -> dict:
    """Sample a node's parameters from their priors (the sites substituted by posterior draws later)."""
    m = lay.mechanism
    out, k, p = {}, lay.n_out, lay.width
    shape_i = (k,) if lay.family == "categorical" else ()
    out["intercept"] = numpyro.sample(f"{lay.name}__intercept", _expand(m.intercept, shape_i))
    shape_c = (p, k) if lay.family == "categorical" else (p,)
    out["coef"] = numpyro.sample(f"{lay.name}__coef", _expand(m.coef, shape_c)) if p else jnp.zeros(shape_c)
    for name in ("sigma", "nu", "dispersion"):
        if name in m.prior_names:
            out[name] = numpyro.sample(f"{lay.name}__{name}", getattr(m, name))
    return out


def _expand(d: dist.Distribution, shape: tuple) -> dist.Distribution:
    return d.expand(shape).to_event(len(shape)) if shape else d


def linear_predictor(lay: NodeLayout, params: dict, X):
    """``center + intercept + X @ coef``: shape (n,) or (n, K-1) for a categorical node."""
    return jnp.asarray(lay.center if lay.family == "categorical" else lay.center[0]) + params["intercept"] + \
        X @ params["coef"]


def node_distribution(lay: NodeLayout, params: dict, X, standardised: bool = False) -> dist.Distribution:
    """The conditional distribution of the node given its parents' features ``X`` (rows on the batch axis).

    Continuous families are in the data's units unless ``standardised`` (then on the node's standardised scale).
    """
    eta = linear_predictor(lay, params, X)
    fam = lay.family
    if fam in ("linear_gaussian", "student_t"):
        loc, scale = (eta, params["sigma"]) if standardised else (lay.mean + lay.sd * eta, lay.sd * params["sigma"])
        if fam == "linear_gaussian":
            return dist.Normal(loc, scale)
        return dist.StudentT(params["nu"], loc, scale)
    if fam == "logistic":
        return dist.BernoulliLogits(eta)
    if fam == "poisson":
        return dist.Poisson(jnp.exp(eta))
    if fam == "negative_binomial":
        return dist.NegativeBinomial2(jnp.exp(eta), 1.0 / params["dispersion"])
    if fam == "categorical":
        zeros = jnp.zeros(eta.shape[:-1] + (1,))
        return dist.CategoricalLogits(jnp.concatenate([zeros, eta], axis=-1))
    raise ValueError(f"no distribution for family {fam!r}")  # pragma: no cover - custom handled by callers


def scm_model(layouts: tuple[NodeLayout, ...], inputs: dict, nodes: frozenset[str] | None = None) -> None:
    """The likelihood of the mechanisms in ``nodes`` (all when None) given their prepared ``inputs``.

    ``inputs[node]``: sufficient statistics ``{"wtw", "wtz", "ztz", "n"}`` (linear-Gaussian), compressed rows
    ``{"X", "y", "w"}`` (other families), or ``{"parents", "obs"}`` (a custom mechanism); ``inputs[block]``:
    ``{"cross", "n"}`` of a latent block (``_latent_math.block_suffstats``), whose nodes have no own entry.
    A block's nodes share one factor, so naming one of them in ``nodes`` fits the whole block.
    """
    if nodes is not None:
        touched = {lay.block for lay in layouts if lay.name in nodes and lay.block is not None}
        nodes = frozenset(nodes) | {lay.name for lay in layouts if lay.block in touched and lay.block is not None}
    blocks: dict[str, list] = {}
    for lay in layouts:
        if nodes is not None and lay.name not in nodes:
            continue
        if lay.block is not None:
            blocks.setdefault(lay.block, []).append((lay, sample_params(lay)))
            continue
        inp = inputs[lay.name]
        if lay.family == "custom":
            lay.mechanism.fn(lay.name, inp["parents"], inp["obs"])
            continue
        params = sample_params(lay)
        if lay.family == "linear_gaussian":
            theta = jnp.concatenate([jnp.atleast_1d(params["intercept"]), params["coef"]])
            numpyro.factor(lay.name, gaussian_loglik(theta, params["sigma"], inp["wtw"], inp["wtz"], inp["ztz"],
                                                     inp["n"]))
        elif lay.family == "negative_binomial":
            eta = linear_predictor(lay, params, inp["X"])
            numpyro.factor(lay.name, negbin_loglik(eta, params["dispersion"], inp["y"], inp["w"], inp["tail"]))
        else:
            d = node_distribution(lay, params, inp["X"], standardised=True)
            numpyro.factor(lay.name, jnp.sum(inp["w"] * d.log_prob(inp["y"])))
    for name, members in blocks.items():
        size = len(members)
        corr_chol = numpyro.sample(f"{name}__corr_chol", dist.LKJCholesky(size, LKJ_CONCENTRATION))
        thetas = [jnp.concatenate([jnp.atleast_1d(p["intercept"]), p["coef"]]) for _, p in members]
        sigmas = jnp.stack([p["sigma"] for _, p in members])
        numpyro.factor(name, block_loglik(thetas, sigmas, corr_chol, inputs[name]["cross"], inputs[name]["n"]))


def block_members(layouts: tuple[NodeLayout, ...], block: str) -> tuple[NodeLayout, ...]:
    """The layouts of a latent block's nodes, in topological order (the order of Omega's rows)."""
    return tuple(lay for lay in layouts if lay.block == block)


def block_conditional(members: tuple[NodeLayout, ...], params: dict, corr_chol, node: str, eta,
                      residuals: dict) -> dist.Normal:
    """The law (data units) of a block node given its parents (linear predictor ``eta``, standardised) and the
    standardised structural residuals ``residuals`` of other nodes of its block: Normal with the Gaussian
    conditional mean and sd (``_latent_math.gaussian_conditional``). ``params[member]`` holds each member's
    ``sigma``."""
    names = [m.name for m in members]
    omega, _ = block_covariance(jnp.stack([params[m]["sigma"] for m in names]), corr_chol)
    cond = tuple(j for j, m in enumerate(names) if m in residuals and m != node)
    r = jnp.stack([residuals[names[j]] for j in cond], axis=-1) if cond else None
    off, sd = gaussian_conditional(omega, names.index(node), cond, r)
    lay = members[names.index(node)]
    return dist.Normal(lay.mean + lay.sd * (eta + off), lay.sd * sd)


def standardised_residual(lay: NodeLayout, params: dict, X, values):
    """``(value - mean) / sd - (intercept + X @ coef)``: a linear-Gaussian node's structural residual."""
    return (values - lay.mean) / lay.sd - linear_predictor(lay, params, X)


def generative_model(layouts: tuple[NodeLayout, ...], observed: dict, n_rows: int,
                     fixed: frozenset[str] = frozenset()) -> dict:
    """Sample every node from its parents, in topological order, over ``n_rows`` rows.

    ``observed[node]`` (optional) is used as the node's ``obs``; nodes in ``fixed`` skip their mechanism and
    take ``observed[node]`` directly (the non-descendants of an intervened node: their values are the data's).
    Returns the values of all nodes.

    Nodes of a latent block have jointly Gaussian errors. A block node's residual is *known* when its value and
    its parents' values are all in ``observed`` (computed from them with the posterior parameters); the others
    are sampled in topological order, each from its Gaussian conditional given every known residual of its
    block and the residuals already sampled (so the unknown errors are drawn from their joint conditional given
    the known ones, exactly). A known node that is not fixed (every node of the data model, or the treatment
    under ``do``) conditions only on the residuals before it, which makes the data model the chain rule of the
    block's joint density. The treatment under ``do`` thus keeps its *natural* residual from the data: it is a
    non-descendant of the intervention, like the fixed nodes, and keeping it (rather than marginalising it) makes
    a subgroup's effect the effect in that subgroup, whose latent values the treatment's residual informs. Pass
    the treatment's natural value in ``observed`` (as ``FittedSCM.effect`` does); a node that is intervened on
    without it would lend the intervention value to the residual.
    """
    values: dict = {}
    names = dict.fromkeys(lay.block for lay in layouts if lay.block is not None)  # ordered, unique
    blocks = {b: _block_state(layouts, b, observed, n_rows) for b in names}
    for lay in layouts:
        if lay.name in fixed:
            values[lay.name] = observed[lay.name]
            continue
        parent_values = [values[p] for p in lay.parents]
        if lay.family == "custom":
            values[lay.name] = lay.mechanism.fn(lay.name, dict(zip(lay.parents, parent_values, strict=True)),
                                                observed.get(lay.name))
            continue
        X = features(parent_values, list(lay.parent_encodings), n_rows)
        if lay.block is None:
            params = sample_params(lay)
            d = node_distribution(lay, params, X)
        else:
            st = blocks[lay.block]
            params = st["params"][lay.name]
            eta = linear_predictor(lay, params, X)
            names = [m.name for m in st["members"]]
            before = set(names[:names.index(lay.name)])
            usable = {k: v for k, v in st["residuals"].items() if k in before or lay.name not in st["known"]}
            d = block_conditional(st["members"], st["params"], st["corr_chol"], lay.name, eta, usable)
        with numpyro.plate(f"{lay.name}__rows", n_rows):
            values[lay.name] = numpyro.sample(lay.name, d, obs=observed.get(lay.name))
        if lay.block is not None and lay.name not in blocks[lay.block]["known"]:
            blocks[lay.block]["residuals"][lay.name] = standardised_residual(lay, params, X, values[lay.name])
    return values


def _block_state(layouts, block: str, observed: dict, n_rows: int) -> dict:
    """A latent block's parameters (sampled sites) and the residuals known from ``observed``."""
    members = block_members(layouts, block)
    corr_chol = numpyro.sample(f"{block}__corr_chol", dist.LKJCholesky(len(members), LKJ_CONCENTRATION))
    params = {m.name: sample_params(m) for m in members}
    residuals, known = {}, set()
    for m in members:
        if m.name in observed and all(p in observed for p in m.parents):
            X = features([observed[p] for p in m.parents], list(m.parent_encodings), n_rows)
            residuals[m.name] = standardised_residual(m, params[m.name], X, observed[m.name])
            known.add(m.name)
    return {"members": members, "corr_chol": corr_chol, "params": params, "residuals": residuals,
            "known": frozenset(known)}
