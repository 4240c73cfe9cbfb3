"""Mechanisms: how each node of a structural causal model depends on its parents.

A mechanism is a small frozen dataclass naming a family (its likelihood and link) and its priors, all on the
*standardised scale*, so that one set of defaults suits any units:

* parents enter as features: continuous and count parents standardised by their data mean and sd, binary
  parents as 0/1 (a coefficient is then the effect of switching the parent on), categorical parents one-hot
  against their first level;
* a continuous node (:class:`LinearGaussian`, :class:`StudentT`) is modelled on its own standardised scale
  (mean 0, sd 1), so a coefficient is in node-sds per feature unit and the noise scale is at most about 1;
* a binary, count or categorical node has its linear predictor *centred* at the data's marginal value (the
  logit of the observed share, the log of the mean count, the log-odds of each level against the first), so
  the intercept prior is about departures from the marginal rather than about the units.

Defaults: intercepts and coefficients Normal(0, 1) for the continuous families (a standardised parent
moving the node by more than ~2 sds per sd is unusual), Normal(0, 1.5) for the GLM families (logit / log
scale: Gelman, Jakulin, Pittau & Su 2008 recommend a weakly informative scale of this order for standardised
inputs); noise sd HalfNormal(1); Student-t degrees of freedom Gamma(2, 0.1) (Juárez & Steel 2010);
negative binomial overdispersion ``1/concentration`` HalfNormal(1), so the Poisson limit (0) is inside the
prior's bulk. Override any of them by name, on an instance (``LinearGaussian(coef=dist.Normal(0, 0.5))``)
or through ``SCM(priors={"node": {"coef": ...}})``; a wrong name raises :class:`SpecError`.

:func:`choose_mechanism` chooses a family from the data when the user gives none, and says why (see its docstring).
A user-written NumPyro function can stand in for any mechanism (:class:`Custom`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpyro.distributions as dist
import pandas as pd

from ..errors import SpecError
from ._math import compress_rows, poisson_dispersion

# a count node whose Pearson dispersion given its parents exceeds this ratio, by more than OVERDISPERSION_Z standard
# errors, gets a negative binomial (see choose_mechanism)
OVERDISPERSION_RATIO = 1.1
OVERDISPERSION_Z = 3.0
MAX_CATEGORIES = 50


def _normal(scale: float):
    return field(default_factory=lambda: dist.Normal(0.0, scale))


@dataclass(frozen=True)
class Mechanism:
    """Base class: a family of conditional distributions ``node | parents``."""

    family = "base"
    prior_names = ()  # class attribute, not a field: the names of the prior fields
    # the kinds of data a family accepts (for the data checks): continuous, binary, count, categorical
    kind = "continuous"

    def priors(self) -> dict[str, dist.Distribution]:
        return {name: getattr(self, name) for name in self.prior_names}

    def with_priors(self, overrides: dict) -> Mechanism:
        """A copy with the named priors replaced; an unknown name raises SpecError."""
        unknown = sorted(set(overrides) - set(self.prior_names))
        if unknown:
            raise SpecError(f"unknown prior name(s) {unknown} for a {type(self).__name__} mechanism; "
                            f"its priors are {list(self.prior_names)}.")
        return dataclasses.replace(self, **overrides)

    def __post_init__(self):
        for name in self.prior_names:
            value = getattr(self, name)
            if not isinstance(value, dist.Distribution) or value.batch_shape or value.event_shape:
                raise SpecError(f"{type(self).__name__}.{name} must be a scalar numpyro distribution, got {value!r} "
                                "(e.g. numpyro.distributions.Normal(0, 0.5)).")


@dataclass(frozen=True)
class LinearGaussian(Mechanism):
    """``z = intercept + features @ coef + sigma * eps``, eps ~ Normal(0, 1), on the node's standardised scale.

    Fitted through its sufficient statistics (X'X, X'z, z'z), so the cost per gradient does not grow with rows.
    """

    intercept: dist.Distribution = _normal(1.0)
    coef: dist.Distribution = _normal(1.0)
    sigma: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    prior_names = ("intercept", "coef", "sigma")
    family = "linear_gaussian"
    kind = "continuous"


@dataclass(frozen=True)
class StudentT(Mechanism):
    """As :class:`LinearGaussian` with Student-t noise (heavy tails: outliers pull the coefficients less)."""

    intercept: dist.Distribution = _normal(1.0)
    coef: dist.Distribution = _normal(1.0)
    sigma: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    nu: dist.Distribution = field(default_factory=lambda: dist.Gamma(2.0, 0.1))
    prior_names = ("intercept", "coef", "sigma", "nu")
    family = "student_t"
    kind = "continuous"


@dataclass(frozen=True)
class Logistic(Mechanism):
    """Binary node (0/1 or bool): ``logit P(node = 1) = logit(share) + intercept + features @ coef``."""

    intercept: dist.Distribution = _normal(1.5)
    coef: dist.Distribution = _normal(1.5)
    prior_names = ("intercept", "coef")
    family = "logistic"
    kind = "binary"


@dataclass(frozen=True)
class Poisson(Mechanism):
    """Count node: ``log E[node] = log(mean count) + intercept + features @ coef``, Poisson likelihood."""

    intercept: dist.Distribution = _normal(1.5)
    coef: dist.Distribution = _normal(1.5)
    prior_names = ("intercept", "coef")
    family = "poisson"
    kind = "count"


@dataclass(frozen=True)
class NegativeBinomial(Mechanism):
    """Count node with overdispersion: as :class:`Poisson`, variance ``mu + dispersion * mu**2``.

    ``dispersion`` is ``1/concentration`` (0 is the Poisson limit), sampled on the log scale under a HalfNormal(1)
    prior with a likelihood that stays exact and smooth as it goes to 0 (``_math.negbin_loglik``). The reciprocal
    square root of the concentration under a half-normal prior, a common recommendation for Stan models, was
    measured against it on 20,000 Poisson and negative binomial rows (4 chains x 1,000 draws): equal where the
    counts are overdispersed, worse at the Poisson limit (minimum ESS per second 54-76 against 85-111, and a
    divergence), since it puts more prior mass near 0.
    """

    intercept: dist.Distribution = _normal(1.5)
    coef: dist.Distribution = _normal(1.5)
    dispersion: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    prior_names = ("intercept", "coef", "dispersion")
    family = "negative_binomial"
    kind = "count"


@dataclass(frozen=True)
class Categorical(Mechanism):
    """Node with K unordered levels: multinomial logit against the first level, centred at the level shares."""

    intercept: dist.Distribution = _normal(1.5)
    coef: dist.Distribution = _normal(1.5)
    prior_names = ("intercept", "coef")
    family = "categorical"
    kind = "categorical"


@dataclass(frozen=True)
class Custom(Mechanism):
    """A user-written NumPyro mechanism.

    ``fn(name, parents, obs)`` must sample its own parameters (site names starting with ``name + "__"``) and
    then exactly one site called ``name`` for the rows, ``numpyro.sample(name, some_dist, obs=obs)``,
    returning its value. ``parents`` maps each parent's name to its values in the data's units (a 1-D array
    over rows; categorical parents as integer codes). It is called outside the row plate, so its parameter
    sites are scalars and its row site must broadcast over the rows itself. ``kind`` says what values the
    node takes ("continuous", "binary", "count" or "categorical"), which decides how the node enters its
    children.
    """

    fn: Callable | None = None
    kind: str = "continuous"
    family = "custom"

    def __post_init__(self):
        if not callable(self.fn):
            raise SpecError("Custom(fn=...) needs a callable fn(name, parents, obs) that samples the node.")
        if self.kind not in ("continuous", "binary", "count", "categorical"):
            raise SpecError(f"Custom(kind={self.kind!r}): use 'continuous', 'binary', 'count' or 'categorical'.")


MECHANISMS: dict[str, type[Mechanism]] = {
    "linear_gaussian": LinearGaussian, "gaussian": LinearGaussian, "linear": LinearGaussian, "normal": LinearGaussian,
    "student_t": StudentT, "studentt": StudentT, "logistic": Logistic, "bernoulli": Logistic, "binary": Logistic,
    "poisson": Poisson, "negative_binomial": NegativeBinomial, "negbin": NegativeBinomial,
    "categorical": Categorical,
}


def as_mechanism(value, node: str) -> Mechanism:
    """A :class:`Mechanism` from a name, an instance, a Mechanism class or a user NumPyro function."""
    if isinstance(value, Mechanism):
        return value
    if isinstance(value, type) and issubclass(value, Mechanism) and value not in (Mechanism, Custom):
        return value()
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        if key in MECHANISMS:
            return MECHANISMS[key]()
        names = sorted({"linear_gaussian", "student_t", "logistic", "poisson", "negative_binomial", "categorical"})
        raise SpecError(f"unknown mechanism {value!r} for node {node!r}; use one of {names}, a mechanism "
                        "instance such as bc.scm.StudentT(), or a NumPyro function fn(name, parents, obs).")
    if callable(value):
        return Custom(fn=value)
    raise SpecError(f"mechanism for node {node!r} must be a name, a mechanism instance or a NumPyro function, "
                    f"not {type(value).__name__}.")


def infer_mechanism(series: pd.Series, parents: np.ndarray | None = None) -> Mechanism:
    """Choose a mechanism from a column's dtype and values (and, for counts, its parents' features); see
    :func:`choose_mechanism` for the rule and the reason it gives."""
    return choose_mechanism(series, parents)[0]


def choose_mechanism(series: pd.Series, parents=None) -> tuple[Mechanism, str]:
    """A mechanism for a node whose family the user did not give, and the reason in words.

    * bool, or numbers that are all 0 or 1 -> :class:`Logistic`;
    * categorical, object or string dtype -> :class:`Categorical`;
    * integers (integer dtype, or floats that are all whole) that are non-negative, with more than two
      distinct values -> :class:`Poisson`, or :class:`NegativeBinomial` when the counts are overdispersed
      *given the parents*: a Poisson log-linear fit on the parents' features (``parents``, an ``(n, p)`` array
      as the mechanism sees them, or a function returning it, called only for a count column; the marginal when
      None) leaves a Pearson dispersion above
      ``OVERDISPERSION_RATIO`` (1.1) *and* more than ``OVERDISPERSION_Z`` (3) standard errors above 1
      (``_math.poisson_dispersion``). The marginal variance is the wrong statistic: parents that move the mean
      inflate it even when every count is Poisson given its parents, and a negative binomial fitted there has no
      overdispersion to explain. Below 1.1 a Poisson fit's intervals are at most about 5% too narrow;
    * any other numbers -> :class:`LinearGaussian`.
    """
    s = series.dropna()
    if pd.api.types.is_bool_dtype(series):
        return Logistic(), "inferred: boolean values"
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(series) or \
            pd.api.types.is_string_dtype(series):
        return Categorical(), "inferred: non-numeric values"
    if not pd.api.types.is_numeric_dtype(series):
        return Categorical(), "inferred: non-numeric values"
    values = s.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size and np.all((finite == 0) | (finite == 1)):
        return Logistic(), "inferred: values 0 and 1"
    whole = finite.size > 0 and np.all(finite == np.round(finite))
    if (pd.api.types.is_integer_dtype(series) or whole) and finite.size and finite.min() >= 0:
        if finite.mean() <= 0 or finite.size != len(series):
            return Poisson(), "inferred: non-negative integers"
        X = np.zeros((len(finite), 0)) if parents is None else \
            np.asarray(parents() if callable(parents) else parents, float)
        Xc, yc, wc = compress_rows(X, finite)
        dispersion, se = poisson_dispersion(Xc, yc, wc)
        given = "given its parents" if X.shape[1] else "(no parents)"
        words = f"non-negative integers, Pearson dispersion {dispersion:.2f} (se {se:.2f}) {given}"
        if dispersion > OVERDISPERSION_RATIO and dispersion > 1.0 + OVERDISPERSION_Z * se:
            return NegativeBinomial(), f"inferred: {words}, above {OVERDISPERSION_RATIO}"
        return Poisson(), f"inferred: {words}, not above {OVERDISPERSION_RATIO}"
    return LinearGaussian(), "inferred: real numbers"
