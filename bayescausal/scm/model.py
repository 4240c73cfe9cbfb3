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
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._math import Encoding, features, gaussian_loglik, negbin_loglik
from .mechanisms import Mechanism


@dataclass(frozen=True)
class NodeLayout:
    """Everything the model needs about one node (set up from the data by the estimator).

    ``center``: the offset of the linear predictor (logit of the share, log of the mean count, log-odds of each
    level against the first; 0 for continuous nodes); ``mean``/``sd``: a continuous node's data moments (its
    standardised scale); ``levels``: number of categories; ``width``: number of parent features.
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
    ``{"X", "y", "w"}`` (other families), or ``{"parents", "obs"}`` (a custom mechanism).
    """
    for lay in layouts:
        if nodes is not None and lay.name not in nodes:
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
            numpyro.factor(lay.name, negbin_loglik(eta, 1.0 / params["dispersion"], inp["y"], inp["w"], inp["tail"]))
        else:
            d = node_distribution(lay, params, inp["X"], standardised=True)
            numpyro.factor(lay.name, jnp.sum(inp["w"] * d.log_prob(inp["y"])))


def generative_model(layouts: tuple[NodeLayout, ...], observed: dict, n_rows: int,
                     fixed: frozenset[str] = frozenset()) -> dict:
    """Sample every node from its parents, in topological order, over ``n_rows`` rows.

    ``observed[node]`` (optional) is used as the node's ``obs``; nodes in ``fixed`` skip their mechanism and
    take ``observed[node]`` directly (the non-descendants of an intervened node: their values are the data's).
    Returns the values of all nodes.
    """
    values: dict = {}
    for lay in layouts:
        if lay.name in fixed:
            values[lay.name] = observed[lay.name]
            continue
        parent_values = [values[p] for p in lay.parents]
        if lay.family == "custom":
            values[lay.name] = lay.mechanism.fn(lay.name, dict(zip(lay.parents, parent_values, strict=True)),
                                                observed.get(lay.name))
            continue
        params = sample_params(lay)
        X = features(parent_values, list(lay.parent_encodings), n_rows)
        with numpyro.plate(f"{lay.name}__rows", n_rows):
            values[lay.name] = numpyro.sample(lay.name, node_distribution(lay, params, X), obs=observed.get(lay.name))
    return values
