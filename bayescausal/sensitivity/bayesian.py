"""Bayesian sensitivity analysis: a prior on an unmeasured confounder's strength gives a posterior of the
bias-adjusted effect.

The data carry no information about a confounder that was not measured, so its parameters keep their
prior: the joint posterior of (effect, confounder) factorises as ``p(effect | data) p(confounder)``.
Pairing each posterior draw of the effect with an independent prior draw of the confounder's parameters is
therefore an exact Monte Carlo draw from that joint posterior, and ``effect - bias`` an exact draw of the
bias-adjusted effect; no MCMC is needed (Greenland 2005, JRSS-A 168:267, calls this Monte Carlo
sensitivity analysis; McCandless, Gustafson & Levy 2007, Stat. Med. 26:2331, the Bayesian version).

Two parametrisations, for any effect on a difference scale:

* :class:`BinaryConfounder`: a binary ``U`` with effect ``gamma`` on the outcome (the same in both arms) and
  prevalence ``p_treated`` / ``p_control``; the bias of the effect is ``gamma (p_treated - p_control)``
  (VanderWeele & Arah 2011, Epidemiology 22:42-52, simplified formula for a binary confounder without
  interaction).
* :class:`PartialR2Confounder`: for a regression-type estimate with standard error ``se`` and ``dof``,
  priors on ``U``'s partial R-squared with the treatment and the outcome; the bias is Cinelli & Hazlett's
  (2020) ``se sqrt(dof) sqrt(r2yz r2dz / (1 - r2dz))`` and the spread of the draws is rescaled by the long
  regression's standard-error ratio ``sqrt((1 - r2yz) / (1 - r2dz))``.

Priors are numbers (a point mass) or frozen ``scipy.stats`` distributions (anything with
``rvs(size, random_state)``), drawn with a NumPy ``Generator`` seeded by ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import SpecError
from ..report import plots
from ..report.text import fmt
from ..result import interval, summarise_draws
from . import _math
from ._inputs import dof_value, draws_1d, finite_number, probability

DIRECTIONS = ("toward_null", "away_from_null", "as_drawn")
DEFAULT_SCALES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def _draw(prior, n: int, rng: np.random.Generator, name: str) -> np.ndarray:
    """``n`` draws of a prior: a number is a point mass, else a frozen distribution with ``rvs``."""
    if prior is None:
        raise SpecError(f"{name}: no prior given.")
    if hasattr(prior, "rvs"):
        x = np.asarray(prior.rvs(size=n, random_state=rng), float).reshape(n)
    else:
        x = np.full(n, finite_number(prior, name))
    if not np.all(np.isfinite(x)):
        raise SpecError(f"{name}: the prior produced NaN or infinite draws; use a proper distribution.")
    return x


def _check_range(x: np.ndarray, name: str, low: float, high: float, high_open: bool = False) -> None:
    bad = (x < low) | ((x >= high) if high_open else (x > high))
    if np.any(bad):
        interval_txt = f"[{low:g}, {high:g}{')' if high_open else ']'}"
        raise SpecError(f"{name}: prior draws must lie in {interval_txt} (got {x[bad][0]!r}); use a prior on that "
                        f"range, e.g. scipy.stats.beta.")


def _direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise SpecError(f"direction={direction!r}: use 'toward_null' (confounding inflated the estimate, the "
                        "default), 'away_from_null' or 'as_drawn' (the sign the priors give).")
    return direction


def _orient(raw_bias: np.ndarray, sign: float, direction: str) -> np.ndarray:
    """The bias with the sign the direction assumption gives (``sign`` is the effect's sign)."""
    if direction == "toward_null":
        return sign * np.abs(raw_bias)
    if direction == "away_from_null":
        return -sign * np.abs(raw_bias)
    return raw_bias


@dataclass(frozen=True)
class BinaryConfounder:
    """A binary unmeasured confounder ``U`` (VanderWeele & Arah 2011): bias = ``gamma (p_treated - p_control)``.

    Attributes (each a number for a point mass or a frozen ``scipy.stats`` distribution)
    ----------
    gamma : ``U``'s effect on the outcome, in the effect's units, the same with and without treatment.
        Default None: ``HalfNormal`` with scale ``|posterior mean of the effect|`` (a confounder whose
        outcome effect is typically of the size of the estimated effect).
    p_treated, p_control : prevalence of ``U`` among the treated and the controls. Default ``Beta(2, 2)``
        each (centred on 1/2, 95% within 0.09 to 0.91; ``|p_treated - p_control|`` averages 9/35, about 0.26).
    direction : ``"toward_null"`` (default: the bias has the sign of the estimate, i.e. confounding is
        assumed to have inflated it, the question the E-value and robustness value ask),
        ``"away_from_null"``, or ``"as_drawn"`` (the sign the priors give).

    ``scale`` in :meth:`BayesianSensitivityResult.across` multiplies ``gamma``, so the bias scales linearly.
    """

    gamma: object = None
    p_treated: object = field(default_factory=lambda: stats.beta(2, 2))
    p_control: object = field(default_factory=lambda: stats.beta(2, 2))
    direction: str = "toward_null"

    name = "binary confounder"

    def _draws(self, n: int, rng: np.random.Generator, centre: float) -> dict:
        _direction(self.direction)
        gamma = self.gamma if self.gamma is not None else stats.halfnorm(scale=max(abs(centre), 1e-12))
        out = {"gamma": _draw(gamma, n, rng, "gamma"),
               "p_treated": _draw(self.p_treated, n, rng, "p_treated"),
               "p_control": _draw(self.p_control, n, rng, "p_control")}
        for k in ("p_treated", "p_control"):
            _check_range(out[k], k, 0.0, 1.0)
        return out

    def _adjust(self, effect: np.ndarray, raw: dict, scale: float, ctx: dict) -> tuple[np.ndarray, np.ndarray]:
        bias = _orient(scale * raw["gamma"] * (raw["p_treated"] - raw["p_control"]), ctx["sign"], self.direction)
        return effect - bias, bias

    def describe(self) -> str:
        g = "HalfNormal(|effect mean|)" if self.gamma is None else _prior_text(self.gamma)
        return (f"binary confounder: effect on the outcome {g}, prevalence {_prior_text(self.p_treated)} among the "
                f"treated and {_prior_text(self.p_control)} among the controls, "
                f"bias {self.direction.replace('_', ' ')}")


@dataclass(frozen=True)
class PartialR2Confounder:
    """A confounder described by its partial R-squared (Cinelli & Hazlett 2020), for regression-type estimates.

    Attributes (each a number for a point mass or a frozen ``scipy.stats`` distribution on [0, 1))
    ----------
    r2_treatment : ``R2_{D~U|X}``, share of the treatment's residual variance ``U`` explains. Default
        ``Beta(1, 49)``: a weak confounder (mean 2%, 95% below 6%); set it from benchmark covariates
        (:func:`~bayescausal.sensitivity.robustness`) for a real analysis.
    r2_outcome : ``R2_{Y~U|D,X}``, share of the outcome's residual variance. Default ``Beta(1, 49)``.
    direction : as in :class:`BinaryConfounder`.

    Needs the estimate's ``dof`` (residual degrees of freedom) and ``se`` (default: the posterior sd) in
    :func:`bayesian_sensitivity`. ``scale`` in :meth:`BayesianSensitivityResult.across` multiplies Cohen's
    ``f^2 = R2 / (1 - R2)`` of both (so a scaled R-squared stays below 1: ``R2' = s f^2 / (1 + s f^2)``).
    The spread of the adjusted draws is rescaled by ``sqrt((1 - r2yz) / (1 - r2dz))`` about the posterior mean
    (the long regression's standard error relative to the short one); the small-sample factor
    ``sqrt(dof / (dof - 1))`` of the frequentist formula is left out, so a confounder of zero strength leaves
    the posterior unchanged.
    """

    r2_treatment: object = field(default_factory=lambda: stats.beta(1, 49))
    r2_outcome: object = field(default_factory=lambda: stats.beta(1, 49))
    direction: str = "toward_null"

    name = "partial R-squared confounder"

    def _draws(self, n: int, rng: np.random.Generator, centre: float) -> dict:
        _direction(self.direction)
        out = {"r2_treatment": _draw(self.r2_treatment, n, rng, "r2_treatment"),
               "r2_outcome": _draw(self.r2_outcome, n, rng, "r2_outcome")}
        _check_range(out["r2_treatment"], "r2_treatment", 0.0, 1.0, high_open=True)
        _check_range(out["r2_outcome"], "r2_outcome", 0.0, 1.0, high_open=True)
        return out

    def _adjust(self, effect: np.ndarray, raw: dict, scale: float, ctx: dict) -> tuple[np.ndarray, np.ndarray]:
        r2dz = _scale_r2(raw["r2_treatment"], scale)
        r2yz = _scale_r2(raw["r2_outcome"], scale)
        bias = _orient(_math.ovb_bias(ctx["se"], ctx["dof"], r2dz, r2yz), ctx["sign"], self.direction)
        ratio = np.sqrt((1.0 - r2yz) / (1.0 - r2dz))
        return ctx["centre"] + (effect - ctx["centre"]) * ratio - bias, bias

    def describe(self) -> str:
        return (f"partial R-squared confounder: {_prior_text(self.r2_treatment)} with the treatment, "
                f"{_prior_text(self.r2_outcome)} with the outcome, bias {self.direction.replace('_', ' ')}")


def _scale_r2(r2: np.ndarray, scale: float) -> np.ndarray:
    f2 = r2 / (1.0 - r2)
    return scale * f2 / (1.0 + scale * f2)


def _prior_text(prior) -> str:
    dist = getattr(prior, "dist", None)
    if dist is not None:
        args = ", ".join(f"{a:g}" for a in getattr(prior, "args", ()))
        kw = ", ".join(f"{k}={v:g}" for k, v in getattr(prior, "kwds", {}).items())
        return f"{dist.name}({', '.join(p for p in (args, kw) if p)})"
    return f"{prior:g}" if isinstance(prior, (int, float)) else repr(prior)


@dataclass(frozen=True)
class BayesianSensitivityResult:
    """Posterior of a bias-adjusted effect under a prior on an unmeasured confounder.

    Attributes
    ----------
    effect : the (flattened) posterior draws of the unadjusted effect.
    bias : draws of the bias at the prior as given (scale 1).
    adjusted : draws of the bias-adjusted effect.
    confounder : the confounder specification.
    prob : interval probability of the summaries.
    seed : the seed of the prior draws.
    """

    effect: np.ndarray
    bias: np.ndarray
    adjusted: np.ndarray
    confounder: object
    prob: float
    seed: int
    prior_draws: dict = field(repr=False, default_factory=dict)
    context: dict = field(repr=False, default_factory=dict)

    def __repr__(self) -> str:
        row = self.summary().loc["adjusted"]
        return (f"<BayesianSensitivityResult {self.confounder.name}: adjusted effect {fmt(row['mean'])} "
                f"({self.prob:.0%} interval {fmt(row['lower'])} to {fmt(row['upper'])}), "
                f"P(> 0) = {row['p_positive']:.3f}, {self.effect.size} draws, seed {self.seed}>")

    @property
    def p_positive(self) -> float:
        """Posterior probability that the bias-adjusted effect is positive."""
        return float(np.mean(self.adjusted > 0))

    def summary(self) -> pd.DataFrame:
        """Rows ``effect``, ``bias``, ``adjusted``: mean, sd, lower, upper, p_positive."""
        return summarise_draws({"effect": self.effect, "bias": self.bias, "adjusted": self.adjusted}, self.prob)

    def adjusted_at(self, scale: float) -> np.ndarray:
        """Adjusted draws with the confounder's strength multiplied by ``scale`` (same prior draws throughout)."""
        s = finite_number(scale, "scale")
        if s < 0:
            raise SpecError(f"scale={scale!r}: a strength multiplier must be >= 0.")
        return self.confounder._adjust(self.effect, self.prior_draws, s, self.context)[0]

    def across(self, scales=DEFAULT_SCALES) -> pd.DataFrame:
        """The adjusted effect's summary as the prior on the confounder's strength widens.

        One row per strength multiplier ``scale`` (0 = no confounding, 1 = the prior as given), with ``mean``,
        ``sd``, ``lower``, ``upper``, ``p_positive`` and ``covers_zero``. The same prior draws are reused at
        every scale (common random numbers), so rows differ only by the strength.
        """
        s = np.asarray(list(scales), float)
        if s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)) or np.any(s < 0):
            raise SpecError(f"scales={list(scales)!r}: give a non-empty list of non-negative multipliers.")
        table = summarise_draws({f"{v:g}": self.adjusted_at(v) for v in s}, self.prob)
        table.index = pd.Index(s, name="scale")
        table["covers_zero"] = (table["lower"] <= 0) & (table["upper"] >= 0)
        return table

    def _covers(self, scale: float) -> bool:
        lo, hi = interval(self.adjusted_at(scale), self.prob, "eti")
        return lo <= 0 <= hi

    def tipping_point(self, max_scale: float = 1000.0, tol: float = 1e-3) -> float | None:
        """Smallest strength multiplier at which the adjusted interval first includes zero (None if none up to
        ``max_scale``; 0 if the unadjusted interval already does). Found on a doubling grid, then by bisection
        inside the first bracket (relative tolerance ``tol``)."""
        if self._covers(0.0):
            return 0.0
        lo, hi = 0.0, 1.0 / 64
        while not self._covers(hi):
            lo, hi = hi, 2 * hi
            if hi > max_scale:
                return None
        while hi - lo > tol * hi:
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if self._covers(mid) else (mid, hi)
        return float(hi)

    @property
    def text(self) -> str:
        """One sentence a report can quote."""
        row = self.summary().loc["adjusted"]
        tip = self.tipping_point()
        if tip == 0.0:
            tip_txt = "the unadjusted interval already includes zero"
        elif tip is None:
            tip_txt = "the interval excludes zero even at 1000 times that confounding strength"
        else:
            tip_txt = f"the interval first includes zero at {tip:.2g} times the prior's confounding strength"
        return (f"Adjusted for an unmeasured {self.confounder.describe()}: effect {fmt(row['mean'])} "
                f"({self.prob:.0%} interval {fmt(row['lower'])} to {fmt(row['upper'])}), posterior probability "
                f"positive {row['p_positive']:.1%}; {tip_txt}.")

    def plot(self, scales=None):
        """Adjusted effect (mean and interval) against the confounder strength multiplier, tipping point marked."""
        table = self.across(DEFAULT_SCALES if scales is None else scales)
        tip = self.tipping_point(max_scale=float(table.index.max()))
        with plots.plt.rc_context(plots.STYLE):
            fig, ax = plots.plt.subplots(figsize=(7, 3.6))
            s = table.index.to_numpy(float)
            ax.fill_between(s, table["lower"], table["upper"], color=plots.EFFECT, alpha=plots.BAND_ALPHA, lw=0,
                            label=f"{self.prob:.0%} interval")
            ax.plot(s, table["mean"], color=plots.EFFECT, marker="o", lw=1.4, label="adjusted effect (mean)")
            ax.axhline(0, color=plots.OBSERVED, lw=0.8, ls="--")
            ax.axvline(1.0, color="#6b7280", lw=0.8, ls=":", label="prior as given")
            if tip is not None and tip > 0:
                ax.axvline(tip, color=plots.MODEL, lw=1.2, label=f"tipping point ({tip:.2g}x)")
            ax.set_xscale("symlog", linthresh=max(float(np.min(s[s > 0], initial=1.0)), 1e-6))
            ax.set_xlim(float(s.min()), float(s.max()))
            ax.set_xticks(s, [f"{v:g}" for v in s])
            ax.xaxis.set_minor_locator(plots.matplotlib.ticker.NullLocator())
            ax.set_xlabel("confounder strength (multiple of the prior)")
            ax.set_ylabel("bias-adjusted effect")
            ax.set_title(f"Sensitivity to an unmeasured {self.confounder.name}")
            ax.legend(loc="best")
            fig.tight_layout()
        return fig


def bayesian_sensitivity(effect_draws, confounder=None, *, se: float | None = None, dof: float | None = None,
                         prob: float = 0.95, seed: int = 0) -> BayesianSensitivityResult:
    """Posterior of ``effect - bias`` where the bias comes from a prior on an unmeasured confounder.

    ``effect_draws``: posterior draws of one scalar effect on a difference scale (1-D, ``(chain, draw)`` or an
    ``xarray.DataArray``). ``confounder``: a :class:`BinaryConfounder` (default, with its documented priors) or
    a :class:`PartialR2Confounder` (then ``dof``, the residual degrees of freedom of the regression-type
    estimate, is required and ``se`` defaults to the posterior sd). Each effect draw is paired with one
    independent prior draw (the data say nothing about the confounder; see the module docstring), drawn from
    ``numpy.random.default_rng(seed)``, so the same seed gives the same numbers.
    """
    effect = draws_1d(effect_draws, "effect_draws")
    confounder = BinaryConfounder() if confounder is None else confounder
    if not isinstance(confounder, (BinaryConfounder, PartialR2Confounder)):
        raise SpecError(f"confounder={confounder!r}: give a BinaryConfounder or a PartialR2Confounder.")
    prob = probability(prob, "prob", open_interval=True)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SpecError(f"seed={seed!r}: give an integer seed.")
    centre = float(np.mean(effect))
    ctx = {"centre": centre, "sign": -1.0 if centre < 0 else 1.0}
    if isinstance(confounder, PartialR2Confounder):
        if dof is None:
            raise SpecError("PartialR2Confounder needs dof=, the residual degrees of freedom of the regression "
                            "behind the effect (observations minus estimated coefficients).")
        ctx["dof"] = dof_value(dof)
        sd = float(np.std(effect, ddof=1))
        ctx["se"] = sd if se is None else float(se)
        if not (np.isfinite(ctx["se"]) and ctx["se"] > 0):
            raise SpecError(f"se={se!r}: the estimate's standard error must be a positive number.")
    elif se is not None or dof is not None:
        raise SpecError("se= and dof= apply only to a PartialR2Confounder; drop them for a BinaryConfounder.")
    rng = np.random.default_rng(int(seed))
    raw = confounder._draws(effect.size, rng, centre)
    adjusted, bias = confounder._adjust(effect, raw, 1.0, ctx)
    return BayesianSensitivityResult(effect=effect, bias=bias, adjusted=adjusted, confounder=confounder, prob=prob,
                                     seed=int(seed), prior_draws=raw, context=ctx)
