"""``SyntheticControl``: Bayesian synthetic control for one or more treated units against a donor pool.

Synthetic control (Abadie, Diamond & Hainmueller 2010, JASA 105(490); Abadie 2021, JEL 59(2)) builds
the counterfactual of a treated unit as a weighted average of untreated *donor* units, with weights on
the simplex (non-negative, summing to one) so that the counterfactual never extrapolates beyond the
donors. Here the weights get a Dirichlet prior and are fitted to the pre-period by NUTS, so they and
the effect come with posterior intervals. Following Doudchenko & Imbens (2016) an intercept is allowed
by default: it lets the treated unit sit at a different level from every donor (without it the treated
series must lie inside the donors' convex hull, which a region larger or smaller than all donors never
does), while the simplex still keeps the weights interpretable and the fit regularised.

Residuals are AR(1) by default: the pre-period misfit of a synthetic control is usually persistent, and
an iid model then claims averages over the post-period are known far better than they are. The AR(1)
residual is carried from the last pre-period point into the post-period counterfactual, which also
includes observation noise (as CausalImpact's). See ``benchmarks/recovery_sc.py`` for the coverage of
both choices on simulated series with autocorrelated noise.

Checks run by ``fit``: convergence; pre-period one-step-ahead predictive coverage; *placebo in space*
(Abadie et al. 2010): each donor in turn plays the treated unit against the remaining donors, all such fits
batched into one NUTS run; their intervals for the post-period effect should contain zero; and *placebo in
time* (Abadie et al. 2015): the treated unit itself refitted at fake intervention dates in the pre-period
(one more batched NUTS run, see ``sc_checks``), which catches a treated unit that drifts away from every
donor mix, something placebo in space cannot see.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import jax
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import xarray as xr

from ..checks import convergence_check, interval_coverage_check, normalise_level, skipped
from ..checks.placebo import placebo_rate_check
from ..errors import DataError, SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc, to_inference_data
from ..priors import from_overrides
from ..result import interval
from ._prepare import (
    MIN_PRE_POINTS,
    _check_frame,
    _check_index,
    check_complete_columns,
    check_period_arg,
    check_varying_columns,
    resolve_periods,
)
from .sc_checks import placebo_windows, window_targets
from .sc_model import posterior_predictive, sc_model, standardise_targets
from .sc_result import SyntheticControlResult

NUTS_WARMUP = 1000
PLACEBO_DRAWS = 500  # draws (and at most this many warm-up steps) per chain for the placebo refits


@dataclass(frozen=True)
class SCPriors:
    """Priors of :class:`SyntheticControl`, on each target's standardised scale (pre-period mean 0, sd 1).

    concentration
        Dirichlet concentration of the donor weights: 1 (default) is uniform on the simplex; below 1
        favours a few donors (sparser weights), above 1 spreads weight evenly.
    intercept
        Prior on the *offset*: the mean pre-period gap between the treated series and its weighted donors
        (the intercept is ``offset - xbar . w``, with ``xbar`` the donors' pre-period means). Normal(0, 1)
        is wide: the data pin the offset to about ``sigma / sqrt(n_pre)``.
    sigma
        Prior on the residual innovation sd: HalfNormal(1), i.e. at most about the treated series' own sd.
    rho
        Prior on the residual AR(1) coefficient (``errors="ar1"``): Uniform(-1, 1), any stationary value.
    """

    concentration: float = 1.0
    intercept: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 1.0))
    sigma: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    rho: dist.Distribution = field(default_factory=lambda: dist.Uniform(-1.0, 1.0))

    def __post_init__(self):
        c = self.concentration
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0:
            raise SpecError(f"SCPriors.concentration must be a positive number (got {c!r}).")
        for name in ("intercept", "sigma", "rho"):
            value = getattr(self, name)
            if not isinstance(value, dist.Distribution) or value.batch_shape or value.event_shape:
                raise SpecError(f"SCPriors.{name} must be a scalar numpyro distribution (got {value!r}), "
                                f"e.g. numpyro.distributions.HalfNormal(0.5).")
        low = getattr(self.sigma.support, "lower_bound", None)
        if low is None or float(low) < 0:
            raise SpecError("SCPriors.sigma must have positive support (e.g. HalfNormal, HalfCauchy, Exponential).")
        lo, hi = getattr(self.rho.support, "lower_bound", None), getattr(self.rho.support, "upper_bound", None)
        if lo is None or hi is None or float(lo) < -1 or float(hi) > 1:
            raise SpecError("SCPriors.rho must be supported inside [-1, 1] (a stationary AR(1) coefficient), "
                            "e.g. numpyro.distributions.Uniform(0.0, 1.0).")

    @classmethod
    def from_overrides(cls, priors) -> SCPriors:
        """Build from None, a SCPriors, or a dict of field overrides; an unknown name raises SpecError."""
        return from_overrides(cls, priors)


@dataclass
class PanelData:
    """A validated analysis window for synthetic control (rows from pre-period start to post-period end)."""

    index: pd.Index
    Y: np.ndarray  # (n, K) treated units
    X: np.ndarray  # (n, D) donors
    treated: tuple
    donors: tuple
    n_pre: int  # the first n_pre rows are the pre-period
    post: np.ndarray  # (n,) bool


def _column_list(arg, what: str) -> tuple:
    if isinstance(arg, (str, int)) and not isinstance(arg, bool):
        return (arg,)
    try:
        names = tuple(arg)
    except TypeError:
        raise SpecError(f"{what}={arg!r}: give a column name or a list of column names.") from None
    if len(set(names)) != len(names):
        dup = next(c for c in names if names.count(c) > 1)
        raise DataError(f"{what} lists column {dup!r} twice: {list(names)}; list each column once.")
    return names


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def prepare_panel(df, treated, donors, pre_period, post_period) -> PanelData:
    """Validate the frame, columns, index and periods; every failure names the column or row and the fix."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"fit() needs a pandas DataFrame with one column per unit, got {type(df).__name__}.")
    treated = _column_list(treated, "treated")
    if not treated:
        raise SpecError("treated=[]: name at least one treated unit's column.")
    missing = [c for c in treated if c not in df.columns]
    if missing:
        raise DataError(f"treated column(s) {missing} not found in the data; available columns: {list(df.columns)}.")
    if donors is None:
        donors = tuple(c for c in df.columns if c not in treated and _is_numeric(df[c]))
    else:
        donors = _column_list(donors, "donors")
        for d in donors:
            if d in treated:
                raise DataError(f"donor {d!r} is also a treated unit; a treated unit cannot be part of its own "
                                "control: remove it from donors.")
    _check_frame(df, [*treated, *donors])
    if len(donors) < 2:
        raise DataError(f"synthetic control needs at least 2 donor columns, got {len(donors)} ({list(donors)}); "
                        "add columns of untreated units (donors=None uses every other numeric column).")
    _check_index(df.index)
    p0, p1, q0, q1 = resolve_periods(df.index, pre_period, post_period)
    window = df.iloc[p0 : q1 + 1]
    n = len(window)
    n_pre = p1 - p0 + 1
    post = np.arange(n) >= (q0 - p0)
    Y = window[list(treated)].to_numpy(dtype=float)
    X = window[list(donors)].to_numpy(dtype=float)
    if n_pre < MIN_PRE_POINTS:
        raise DataError(f"the pre-period has {n_pre} points; synthetic control needs at least {MIN_PRE_POINTS} "
                        "to fit the donor weights. Start the pre-period earlier.")
    pre = np.arange(n) < n_pre
    for k, c in enumerate(treated):
        for mask, period in ((pre, "pre-period"), (post, "post-period")):
            bad = ~np.isfinite(Y[mask, k])
            if bad.any():
                row = window.index[mask][np.argmax(bad)]
                raise DataError(f"treated unit {c!r} is NaN or infinite at {row} in the {period}: synthetic control "
                                f"needs the treated series complete in both periods; fill the gap, or move the "
                                f"{period} so that it excludes that row.")
        if np.ptp(Y[pre, k]) == 0:
            raise DataError(f"treated unit {c!r} is constant in the pre-period: there is nothing to fit; check "
                            "the column.")
    check_complete_columns(X, donors, window.index, "donor", "donors must be complete over both periods (they "
                           "form the counterfactual); fill the gap or drop the donor.")
    check_varying_columns(X, donors, pre, "donor", "so it cannot track the treated unit; drop it from donors.")
    for j, d in enumerate(donors):
        for k, c in enumerate(treated):
            if np.array_equal(X[pre, j], Y[pre, k]):
                raise DataError(f"donor {d!r} equals treated unit {c!r} over the pre-period: it is a copy of the "
                                "treated series (or another treated unit), not an untreated donor; remove it "
                                "from donors.")
    return PanelData(window.index, Y, X, treated, tuple(donors), n_pre, post)


def _rmspe(y: np.ndarray, mu: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Root mean squared prediction error per row of ``y`` over the columns in ``mask``."""
    return np.sqrt(np.mean((y[:, mask] - mu[:, mask]) ** 2, axis=1))


@dataclass(frozen=True)
class SyntheticControl:
    """Bayesian synthetic control: the counterfactual of each treated unit is a weighted mix of donors.

    Parameters
    ----------
    pre_period, post_period : (start, end) pairs, inclusive: dates (or positions) on a DatetimeIndex,
        labels on an integer index. Rows between the periods are forecast but not used.
    intercept : allow a level shift between each treated unit and its weighted donors (default True;
        Doudchenko & Imbens 2016). With False the treated series must lie in the donors' convex hull.
    errors : ``"ar1"`` (default: autocorrelated residuals, carried into the post-period) or ``"iid"``.
    priors : :class:`SCPriors` or a dict of overrides by name.
    placebo_rmspe_ratio : placebo units whose pre-period RMSPE (on their own standardised scale) exceeds
        this multiple of the treated unit's are left out of the placebo verdict (Abadie et al. 2010 use
        5): a unit the donors cannot reproduce says nothing about false positives.
    placebos_in_time : number of fake intervention dates for the placebo-in-time check (0 skips it).
    """

    pre_period: tuple
    post_period: tuple
    intercept: bool = True
    errors: str = "ar1"
    priors: object = None
    placebo_rmspe_ratio: float = 5.0
    placebos_in_time: int = 5

    def __post_init__(self):
        object.__setattr__(self, "pre_period", check_period_arg("pre_period", self.pre_period))
        object.__setattr__(self, "post_period", check_period_arg("post_period", self.post_period))
        if not isinstance(self.intercept, bool):
            raise SpecError(f"intercept={self.intercept!r}: give True or False.")
        if self.errors not in ("ar1", "iid"):
            raise SpecError(f"errors={self.errors!r}: use 'ar1' (autocorrelated residuals) or 'iid'.")
        object.__setattr__(self, "priors", SCPriors.from_overrides(self.priors))
        r = self.placebo_rmspe_ratio
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0:
            raise SpecError(f"placebo_rmspe_ratio={r!r}: give a positive number (Abadie et al. use 5).")
        p = self.placebos_in_time
        if isinstance(p, bool) or not isinstance(p, int) or p < 0:
            raise SpecError(f"placebos_in_time={p!r}: give a whole number of fake dates (0 skips the check).")

    def _model(self):
        """The model with the spec bound, so that the data are its only argument (arrays only: a driver
        that traces model arguments can then reuse one compiled program for every dataset of a shape)."""
        return functools.partial(sc_model, priors=self.priors, intercept=self.intercept, errors=self.errors)

    def fit(self, df: pd.DataFrame, treated, donors=None, sampler: Sampler | None = None, seed: int = 0,
            checks="full") -> SyntheticControlResult:
        """Fit the donor weights to the pre-period and estimate the post-period effect; runs the checks.

        ``treated``: one column name or a list (one weight vector per treated unit, all fitted in one
        model; ``effect`` is then their average). ``donors``: the donor columns; None uses every other
        numeric column. ``checks="full"`` runs convergence, pre-period coverage, placebo in space (one
        batched NUTS run over all donors) and placebo in time (one batched NUTS run over the fake dates);
        ``"fast"`` skips the placebo refits; ``False`` skips all.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "SyntheticControl")
        data = prepare_panel(df, treated, donors, self.pre_period, self.post_period)
        n, K = data.Y.shape
        D = data.X.shape[1]
        n_pre, post = data.n_pre, data.post
        y_all = data.Y.T  # (K, n)
        inputs, c, s = standardise_targets(y_all, np.broadcast_to(data.X[None], (K, n, D)), n_pre)
        draws = run_mcmc(self._model(), sampler, seed, (inputs,), kernel_name="NUTS", jit_model_args=True)
        smp = draws.samples
        pred, mu = posterior_predictive(smp, inputs, seed + 1)  # (chain, draw, K, n), standardised
        cf = c[:, None] + s[:, None] * pred  # original units

        chains, n_draws = cf.shape[:2]
        base = {"chain": np.arange(chains), "draw": np.arange(n_draws)}
        tvals = data.index.values
        post_idx = np.flatnonzero(post)
        unit_cf = xr.DataArray(cf, dims=("chain", "draw", "treated", "time"),
                               coords={**base, "treated": list(data.treated), "time": tvals})
        unit_point = y_all[None, None][..., post_idx] - unit_cf.isel(time=post_idx)
        counterfactual = unit_cf.mean("treated")
        pointwise = unit_point.mean("treated")
        cumulative = pointwise.cumsum("time")
        effect = pointwise.mean("time")
        effect.name = "effect"
        unit_effect = unit_point.mean("time")

        w = smp["w"]  # (chain, draw, K, D)
        if K == 1:
            weights = xr.DataArray(w[:, :, 0], dims=("chain", "draw", "donor"),
                                   coords={**base, "donor": list(data.donors)})
        else:
            weights = xr.DataArray(w, dims=("chain", "draw", "treated", "donor"),
                                   coords={**base, "treated": list(data.treated), "donor": list(data.donors)})
        sigma = smp["sigma"] * s
        posterior = {"effect": effect.values, "cumulative_effect": cumulative.isel(time=-1).values,
                     "unit_effect": unit_effect.values, "weights": w, "sigma": sigma}
        if self.intercept:
            xbar = np.asarray(inputs.xbar)
            posterior["intercept"] = s * (smp["offset"] - np.einsum("cskd,kd->csk", w, xbar))
        if self.errors == "ar1":
            posterior["rho"] = smp["rho"]

        check_list = []
        placebo_table, perm_p = None, None
        if level in ("full", "fast"):
            conv = {k: v for k, v in posterior.items() if k != "unit_effect" or K > 1}
            check_list.append(convergence_check(conv, draws.sample_stats.get("diverging"),
                                                stopped=draws.sample_stats.get("stopped")))
            lo, hi = np.quantile(pred[..., :n_pre], [0.025, 0.975], axis=(0, 1))  # (K, n_pre)
            check_list.append(interval_coverage_check(
                np.asarray(inputs.y).ravel(), lo.ravel(), hi.ravel(), 0.95, "pre-period coverage",
                "pre-period points" + (" (all treated units)" if K > 1 else "")))
        if level == "full":
            treated_mu = mu.mean(axis=(0, 1))  # posterior mean synthetic control, standardised (K, n)
            y_std = (y_all - c[:, None]) / s[:, None]
            check, placebo_table, perm_p = self._placebo_in_space(data, y_std, treated_mu, sampler, seed)
            check_list.append(check)
            if self.placebos_in_time:
                check_list.append(self._placebo_in_time(data, sampler, seed))

        coords = {"treated": list(data.treated), "donor": list(data.donors), "time": tvals}
        dims = {"unit_effect": ["treated"], "weights": ["treated", "donor"], "sigma": ["treated"],
                "intercept": ["treated"], "rho": ["treated"], "counterfactual": ["treated", "time"],
                "y": ["time", "treated"], "donors": ["time", "donor"]}
        idata = to_inference_data(
            posterior,
            posterior_predictive={"counterfactual": cf},
            observed_data={"y": data.Y},
            constant_data={"donors": data.X},
            sample_stats={"diverging": draws.sample_stats["diverging"]} if "diverging" in draws.sample_stats else None,
            coords=coords,
            dims=dims,
            attrs={"method": "SyntheticControl", "treated": ", ".join(map(str, data.treated)),
                   "sampling_seconds": round(draws.wall_seconds, 2)},
        )
        name = str(data.treated[0]) if K == 1 else "mean(" + ", ".join(map(str, data.treated)) + ")"
        info = {"sampler": f"NUTS ({draws.chain_method} chains)", "chains": sampler.chains, "draws": sampler.draws,
                "warmup": sampler.warmup_or(NUTS_WARMUP), "seed": seed, "seconds": round(draws.wall_seconds, 2),
                "donors": ", ".join(map(str, data.donors)),
                "model": ("intercept + " if self.intercept else "") + f"Dirichlet({self.priors.concentration:g}) "
                         f"donor weights + {'AR(1)' if self.errors == 'ar1' else 'iid'} residuals"}
        if perm_p is not None:
            info["permutation_p"] = perm_p
        return SyntheticControlResult(
            estimand=("average effect per post-period time point on " + name
                      + (" (averaged over the treated units)" if K > 1 else "")),
            effect=effect,
            idata=idata,
            checks=tuple(check_list),
            method="Bayesian synthetic control",
            pointwise=pointwise,
            cumulative=cumulative,
            counterfactual=counterfactual,
            observed=pd.Series(data.Y.mean(axis=1), index=data.index, name=name),
            outcome=name,
            intervention=data.index[post_idx[0]],
            info=info,
            weights=weights,
            treated=data.treated,
            donors=data.donors,
            unit_pointwise=unit_point,
            unit_counterfactual=unit_cf,
            unit_observed=pd.DataFrame(data.Y, index=data.index, columns=list(data.treated)),
            placebos=placebo_table,
        )

    def _placebo_in_space(self, data: PanelData, y_std: np.ndarray, treated_mu: np.ndarray, sampler: Sampler,
                          seed: int):
        """Each donor in turn as the treated unit against the other donors, all in one NUTS run.

        Returns the check, a table per placebo unit, and Abadie's permutation p-value(s) as text: the
        rank of the treated unit's post/pre RMSPE ratio among the treated unit and all placebos,
        ``(1 + #{placebo ratio >= treated ratio}) / (1 + n_placebos)``. Placebos whose pre-period RMSPE
        is more than ``placebo_rmspe_ratio`` times the (worst) treated unit's are left out of the
        interval verdict (Abadie et al. 2010), but kept in the ratio ranking, which needs no such cut.
        RMSPEs are on each unit's own standardised scale, so that units of different size compare.
        """
        name = "placebo in space"
        n, D = data.X.shape
        n_pre, post = data.n_pre, data.post
        pre = np.arange(n) < n_pre
        others = np.array([[i for i in range(D) if i != j] for j in range(D)])  # (D, D-1)
        Xp = np.transpose(data.X[:, others], (1, 0, 2))  # (D, n, D-1)
        inputs_p, cp, sp = standardise_targets(data.X.T, Xp, n_pre)
        # Intervals only (no convergence verdict), so fewer draws, and no more chains than devices: on a
        # CPU, chains beyond the core count run vectorised on one core, as slowly as one after another.
        psampler = dataclasses.replace(sampler, draws=min(sampler.draws, PLACEBO_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), PLACEBO_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        draws = run_mcmc(self._model(), psampler, seed + 2, (inputs_p,), kernel_name="NUTS",
                         jit_model_args=True)
        pred, mu = posterior_predictive(draws.samples, inputs_p, seed + 3)
        yp = (data.X.T - cp[:, None]) / sp[:, None]  # (D, n), each placebo unit on its own scale
        eff = (yp[None, None][..., post] - pred[..., post]).mean(-1)  # (chain, draw, D)
        bounds = np.array([interval(eff[..., j], 0.95, "eti") for j in range(D)])
        mu_mean = mu.mean(axis=(0, 1))
        pre_p, post_p = _rmspe(yp, mu_mean, pre), _rmspe(yp, mu_mean, post)
        pre_t, post_t = _rmspe(y_std, treated_mu, pre), _rmspe(y_std, treated_mu, post)
        ratio_p, ratio_t = post_p / pre_p, post_t / pre_t
        limit = self.placebo_rmspe_ratio * pre_t.max()
        keep = pre_p <= limit
        labels = [str(d) for d in data.donors]
        perms = [(1 + int(np.sum(ratio_p >= r))) / (1 + D) for r in ratio_t]
        perm_text = ", ".join(f"{p:.3f}" + (f" ({u})" if len(data.treated) > 1 else "")
                              for p, u in zip(perms, data.treated, strict=True))
        note = (f"Permutation p-value (Abadie et al. 2010: the treated unit's post/pre RMSPE ratio ranked among "
                f"it and the {D} placebos): {perm_text}.")
        excluded = [f"{lab} (pre-period RMSPE {r:.2f} > {limit:.2f})"
                    for lab, r, k in zip(labels, pre_p, keep, strict=True) if not k]
        check = placebo_rate_check(bounds[keep, 0], bounds[keep, 1], [lab for lab, k in zip(labels, keep, strict=True)
                                                                       if k],
                                   name, "placebo units (each donor as a fake treated unit)", excluded=excluded,
                                   note=note)
        table = pd.DataFrame({"effect_mean": eff.mean(axis=(0, 1)), "lower": bounds[:, 0], "upper": bounds[:, 1],
                              "pre_rmspe": pre_p, "post_rmspe": post_p, "ratio": ratio_p, "in_verdict": keep},
                             index=pd.Index(labels, name="placebo unit"))
        if not keep.any():
            check = skipped(name, f"every placebo unit's pre-period fit is more than {self.placebo_rmspe_ratio:g} "
                                  f"times worse than the treated unit's. {note}")
        return check, table, (round(perms[0], 4) if len(perms) == 1 else perm_text)

    def _placebo_in_time(self, data: PanelData, sampler: Sampler, seed: int):
        """The treated unit(s) refitted at fake intervention dates in the pre-period, all in one NUTS run.

        Statistic: the number of placebo intervals (95%, equal-tailed, for the average effect over a window as
        long as the post-period) that exclude zero; the verdict is ``placebo_rate_check``'s binomial rule
        (fail when ``P(Binomial(n, 0.05) >= excluded) < 0.05``).
        """
        name = "placebo in time"
        n_post = int(data.post.sum())
        dates, length, fit = placebo_windows(data.n_pre, n_post, MIN_PRE_POINTS, self.placebos_in_time)
        if not dates:
            return skipped(name, "the pre-period is too short to hold a fake intervention date and its window")
        y, Xw = window_targets(data.Y, data.X, dates, length, fit)
        inputs, c, s = standardise_targets(y, Xw, fit)
        psampler = dataclasses.replace(sampler, draws=min(sampler.draws, PLACEBO_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), PLACEBO_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        draws = run_mcmc(self._model(), psampler, seed + 4, (inputs,), kernel_name="NUTS", jit_model_args=True)
        pred, _ = posterior_predictive(draws.samples, inputs, seed + 5)
        ys = (y - c[:, None]) / s[:, None]
        eff = (ys[None, None, :, fit:] - pred[..., fit:]).mean(-1)  # (chain, draw, K * P)
        bounds = np.array([interval(eff[..., j], 0.95, "eti") for j in range(eff.shape[-1])])
        when = [str(data.index[t].date() if hasattr(data.index[t], "date") else data.index[t]) for t in dates]
        labels = [w + (f" ({u})" if len(data.treated) > 1 else "") for u in data.treated for w in when]
        check = placebo_rate_check(bounds[:, 0], bounds[:, 1], labels, name,
                                   f"fake intervention dates in the pre-period (windows of {length} points)")
        if check.passed is False:
            check = dataclasses.replace(check, message=check.message.split(" The method finds")[0] + (
                " The synthetic control does not track the treated unit over windows as long as the post-period "
                "before the intervention, so its counterfactual after it is not reliable either: the treated unit "
                "likely has a trend or shocks of its own that no mix of donors reproduces (or lies outside the "
                "donors' range). Add donors that share its path, shorten the post-period, or use a model with "
                "its own trend (CausalImpact with trend='local_linear')."))
        return check
