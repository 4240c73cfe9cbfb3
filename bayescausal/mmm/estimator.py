"""``MMM``: a Bayesian marketing mix model (adstock, saturation, trend, seasonality, controls, geos, lift tests).

The outcome is a baseline (level, trend, yearly Fourier seasonality, controls) plus each channel's
contribution ``beta_c * saturation(adstock(spend_c))`` (Jin, Wang, Sun, Chan & Koehler 2017); ``model.py`` has
the equations. Spend and outcome are divided by their means (per geo) so the default priors
(:class:`MMMPriors`) sit on the data's own scale; every reported number is back in the data's units.

Checks run by ``fit``: convergence; posterior predictive coverage of the observed weeks; the residuals'
autocorrelation over lags 1-4 against the model's own noise (a posterior predictive check that sees carry-over of
the wrong shape or length; ``residuals.py``); an out-of-sample time slice (the model refitted without its last
weeks must cover them with its predictive intervals); and a placebo channel (a random spend series with no effect,
added to the model with a signed coefficient, must get a ROAS interval covering zero). The two refits run side by
side in one batched NUTS run (one compile), with fewer draws than the main fit; ``checks="fast"`` skips them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from ..checks import convergence_check, interval_coverage_check, normalise_level, placebo_interval_check
from ..checks.base import CheckResult
from ..errors import SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc, to_inference_data
from ..result import interval
from . import _math
from ._data import MMMData, prepare, prepare_lift_tests
from .model import MMMInputs, ModelSpec, lift_means, media_coefficients, mmm_model
from .posterior import flatten_member, predictive, summaries
from .priors import MMMPriors
from .residuals import residual_autocorrelation_check
from .result import MMMResult

NUTS_WARMUP = 500
# The least NUTS target acceptance the MMM runs at (a higher one set in the sampler is kept, as CEM does with its
# Bernoulli model): the remaining divergences of this model were one or two per fit in the curved
# adstock/saturation directions, and a smaller step removes most of them. Measured over simulate_mmm(n_weeks=104,
# n_channels=4, seed=1000 + i), i < 30, 2 chains x (500 + 1000): the convergence check passed in 83% of fits at
# 0.8, 90% at 0.9, 93% at 0.95 (same ROAS coverage; about 15% more time).
MMM_TARGET_ACCEPT = 0.95
CHECK_DRAWS = 500  # draws and warm-up per chain of the batched check refits
PREDICTIVE_DRAWS = 400
ADSTOCKS = ("geometric", "weibull", "weibull_pdf")
SATURATIONS = ("logistic", "hill")


@dataclass(frozen=True)
class MMM:
    """Bayesian marketing mix model.

    Parameters
    ----------
    channels : the spend columns (one per paid channel; spend >= 0, in money).
    adstock : ``"geometric"`` (default), ``"weibull"`` (Weibull survival weights: monotone, flexible decay) or
        ``"weibull_pdf"`` (Weibull density weights: allows a delayed peak).
    saturation : ``"logistic"`` (default) or ``"hill"``.
    seasonality : order of the yearly Fourier seasonality (0: none; default 2).
    trend : ``"linear"`` (default), ``None`` (none) or an integer ``k >= 1``: piecewise linear with ``k``
        evenly spaced change points.
    geo : column naming the geo of each row (then one row per geo and week): channel effects are pooled across
        geos by a hierarchical (non-centred, log-normal) prior; each geo has its own baseline level.
    priors : :class:`MMMPriors` or a dict of overrides by name.
    parameterisation : ``"coef"`` (priors on the media coefficients, default) or ``"roas"`` (a prior on each
        channel's return on ad spend, ``MMMPriors.roas``).
    l_max : adstock length in weeks (default 8).
    holdout_weeks : weeks held out at the end by the time-slice check (default: 13, at most a fifth of the data).
    """

    channels: tuple = ()
    adstock: str = "geometric"
    saturation: str = "logistic"
    seasonality: int = 2
    trend: object = "linear"
    geo: str | None = None
    priors: object = None
    parameterisation: str = "coef"
    l_max: int = 8
    holdout_weeks: int | None = None

    def __post_init__(self):
        ch = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        if not ch or not all(isinstance(c, str) for c in ch):
            raise SpecError(f"channels={self.channels!r}: give the spend column names, e.g. ['tv', 'search'].")
        if len(set(ch)) != len(ch):
            raise SpecError(f"channels={list(ch)!r} names a column twice.")
        object.__setattr__(self, "channels", ch)
        if self.adstock not in ADSTOCKS:
            raise SpecError(f"adstock={self.adstock!r}: use one of {ADSTOCKS}.")
        if self.saturation not in SATURATIONS:
            raise SpecError(f"saturation={self.saturation!r}: use one of {SATURATIONS}.")
        s = self.seasonality
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise SpecError(f"seasonality={s!r}: give the Fourier order as a non-negative integer (0: none).")
        t = self.trend
        if not (t is None or t is False or t == "linear" or (isinstance(t, int) and not isinstance(t, bool)
                                                              and t >= 1)):
            raise SpecError(f"trend={t!r}: use 'linear', None, or an integer number of change points.")
        if self.parameterisation not in ("coef", "roas"):
            raise SpecError(f"parameterisation={self.parameterisation!r}: use 'coef' or 'roas'.")
        if isinstance(self.l_max, bool) or not isinstance(self.l_max, int) or self.l_max < 1:
            raise SpecError(f"l_max={self.l_max!r}: give the adstock length in weeks, a positive integer.")
        h = self.holdout_weeks
        if h is not None and (isinstance(h, bool) or not isinstance(h, int) or h < 1):
            raise SpecError(f"holdout_weeks={h!r}: give a positive integer or None.")
        if self.geo is not None and not isinstance(self.geo, str):
            raise SpecError(f"geo={self.geo!r}: give the name of the geo column, or None.")
        priors = MMMPriors.from_overrides(self.priors)
        priors.check_channels(len(ch))
        object.__setattr__(self, "priors", priors)

    # -- building the inputs ---------------------------------------------------------------------------
    def _n_params(self, n_controls: int) -> int:
        per_channel = 1 + (1 if self.adstock == "geometric" else 2) + (1 if self.saturation == "logistic" else 2)
        return 2 + self._trend_size() + 2 * self.seasonality + n_controls + per_channel * len(self.channels)

    def _trend_size(self) -> int:
        if self.trend is None or self.trend is False:
            return 0
        return 1 if self.trend == "linear" else 1 + int(self.trend)

    def _trend_basis(self, T: int) -> np.ndarray:
        u = np.linspace(0.0, 1.0, T)
        if self._trend_size() == 0:
            return np.zeros((T, 0))
        cols = [u]
        if self.trend != "linear":
            for s in np.linspace(0, 1, int(self.trend) + 2)[1:-1]:
                cols.append(np.maximum(u - s, 0.0))
        return np.column_stack(cols)

    def _spec(self, n_placebo: int, geo: bool, n_lift: int) -> ModelSpec:
        return ModelSpec(self.adstock, self.saturation, self.l_max, self.parameterisation, n_placebo, geo, n_lift,
                         self.priors)

    @staticmethod
    def _inputs(data: MMMData, spend: np.ndarray, spend_unit: np.ndarray, masks: np.ndarray, trend: np.ndarray,
                season: np.ndarray, lift: dict | None) -> MMMInputs:
        """Inputs for a batch of ``len(masks)`` members sharing the data (``spend`` (G, T, C'))."""
        B = len(masks)
        ref = float(data.y_unit.mean())
        ctrl = (data.controls - data.control_mean) / np.where(data.control_sd > 0, data.control_sd, 1.0)
        x = spend / spend_unit[:, None, :]
        T = spend.shape[1]
        lift = lift or {"lift_channel": np.zeros(0, np.int32), "lift_geo": np.zeros(0, np.int32),
                        "lift_delta": np.zeros((0, T)), "lift_window": np.zeros((0, T)), "lift_obs": np.zeros(0),
                        "lift_se": np.ones(0)}

        def rep(a):
            return jnp.asarray(np.repeat(np.asarray(a, float)[None], B, axis=0))

        return MMMInputs(x=rep(x), y=rep(data.y / data.y_unit[:, None]), mask=jnp.asarray(masks, float),
                         trend=jnp.asarray(trend), season=jnp.asarray(season), controls=rep(ctrl),
                         spend_unit=rep(spend_unit / ref), outcome_unit=rep(data.y_unit / ref),
                         lift_channel=jnp.asarray(lift["lift_channel"], jnp.int32),
                         lift_geo=jnp.asarray(lift["lift_geo"], jnp.int32),
                         lift_delta=jnp.asarray(lift["lift_delta"]), lift_window=jnp.asarray(lift["lift_window"]),
                         lift_obs=jnp.asarray(lift["lift_obs"]), lift_se=jnp.asarray(lift["lift_se"]))

    def _basis(self, data: MMMData):
        weeks = (data.dates - data.dates[0]).days.to_numpy() / 7.0
        season = np.asarray(_math.fourier(weeks, self.seasonality)) if self.seasonality else np.zeros((len(weeks), 0))
        return self._trend_basis(len(weeks)), season

    def holdout_length(self, T: int) -> int:
        return self.holdout_weeks or max(1, min(13, T // 5))

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(self, df, date: str, outcome: str, controls=None, lift_tests: pd.DataFrame | None = None,
            sampler: Sampler | None = None, seed: int = 0, checks="full") -> MMMResult:
        """Fit the model to weekly data ``df`` (one row per week, or per geo and week with ``geo``).

        ``date``: the week column (parsed as dates, evenly spaced); ``outcome``: the outcome column (sales, in
        money for ROAS to be a return per unit of money); ``controls``: other columns that move the outcome
        (prices, promotions, macro indices), standardised. ``lift_tests``: experiments, one row each, with
        columns ``channel, start, end, spend_delta, lift, lift_se`` (and ``geo`` with geos): ``spend_delta`` is
        the change in that channel's spend per week inside ``[start, end]`` and ``lift`` the measured change
        in the outcome summed over those weeks; each enters the likelihood through the model's own
        counterfactual. ``checks``: ``"full"`` (default), ``"fast"`` (no refits) or False. ``df`` is not
        modified.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "MMM")
        ctrl_names = () if controls is None else ((controls,) if isinstance(controls, str) else tuple(controls))
        data = prepare(df, date, outcome, self.channels, ctrl_names, self.geo,
                       self.l_max + max(10, self._n_params(len(ctrl_names))))
        lift = prepare_lift_tests(lift_tests, data, self.geo)
        n_lift = 0 if lift is None else len(lift["lift_obs"])
        G, T, C = data.spend.shape
        trend, season = self._basis(data)
        inp = self._inputs(data, data.spend, data.spend_unit, np.ones((1, G, T)), trend, season, lift)
        spec = self._spec(0, G > 1, n_lift)
        if sampler.warmup is None:  # a dense mass matrix adapts in 500 warm-up steps on this model (measured)
            sampler = dataclasses.replace(sampler, warmup=NUTS_WARMUP)
        if sampler.target_accept < MMM_TARGET_ACCEPT:
            sampler = dataclasses.replace(sampler, target_accept=MMM_TARGET_ACCEPT)
        draws = run_mcmc(mmm_model, sampler, seed, (inp, spec), kernel_name="NUTS", jit_model_args=True,
                         dense_mass=True)
        samples = {k: v for k, v in draws.samples.items()}
        chains, n_draws = next(iter(samples.values())).shape[:2]
        params = flatten_member(samples)
        der = summaries(params, inp, spec, data.y_unit, data.spend)
        check_list: list[CheckResult] = []
        rng = np.random.default_rng(seed + 7)
        pick = np.sort(rng.choice(chains * n_draws, size=min(PREDICTIVE_DRAWS, chains * n_draws), replace=False))
        y_rep = predictive(der["mu"][pick], params["sigma"][pick], data.y_unit, seed + 1)
        lift_table = None
        if n_lift:
            lift_table = self._lift_table(lift_tests, params, inp, spec, data)
        placebo = holdout = None
        if level in ("full", "fast"):
            conv = {k: v[:, :, 0] for k, v in samples.items() if k != "geo_z"}
            check_list.append(convergence_check(conv, draws.sample_stats.get("diverging"),
                                                stopped=draws.sample_stats.get("stopped")))
            lo, hi = np.quantile(y_rep, [0.025, 0.975], axis=0)
            check_list.append(interval_coverage_check(
                data.y.ravel(), lo.ravel(), hi.ravel(), 0.95, "posterior predictive", "observed weeks",
                interval="posterior predictive",
                advice="The model's predictive intervals miss too many observed weeks: add controls (promotions, "
                       "prices, holidays), more seasonality, or a flexible trend."))
            check_list.append(residual_autocorrelation_check(data.y, der["mu"][pick], y_rep, l_max=self.l_max))
        if level == "full":
            more, placebo, holdout = self._refit_checks(data, trend, season, lift, sampler, seed)
            check_list += more
        return self._result(data, samples, params, der, y_rep, pick, draws, check_list, placebo, holdout,
                            lift_table, spec, inp, outcome, date, ctrl_names, sampler, seed)

    # -- checks that refit --------------------------------------------------------------------------------
    def _placebo_spend(self, data: MMMData, seed: int) -> np.ndarray:
        """A random spend series (G, T) with no effect: a log-AR(1) path (autocorrelated like real spend) at the
        median channel's mean spend in each geo."""
        rng = np.random.default_rng(seed + 1234)
        G, T, _ = data.spend.shape
        e = np.zeros((G, T))
        e[:, 0] = rng.normal(0, 0.5, G)
        for t in range(1, T):
            e[:, t] = 0.7 * e[:, t - 1] + rng.normal(0, 0.35, G)
        s = np.exp(e)
        return s / s.mean(axis=1, keepdims=True) * np.median(data.spend_unit, axis=1)[:, None]

    def _refit_checks(self, data, trend, season, lift, sampler, seed):
        """The time slice (the main model with its last weeks out of the likelihood: same shapes, so the main
        fit's compiled sampler runs it) and the placebo channel (one more channel), each with fewer draws."""
        G, T, C = data.spend.shape
        h = self.holdout_length(T)
        n_lift = 0 if lift is None else len(lift["lift_obs"])
        if T - h < self.l_max + max(10, self._n_params(len(data.controls_names))):
            from ..checks import skipped

            return ([skipped("out-of-sample time slice", f"too few weeks to hold out {h}"),
                     skipped("placebo channel", "too few weeks for a refit")], None, None)
        # the time slice runs the main fit's compiled program (same shapes and iterations, two chains); the placebo
        # channel has one more channel, so its own program, with fewer draws
        same = dataclasses.replace(sampler, chains=min(sampler.chains, 2))
        chk = dataclasses.replace(same, draws=min(CHECK_DRAWS, sampler.draws),
                                  warmup=min(CHECK_DRAWS, sampler.warmup_or(NUTS_WARMUP)))
        results = []
        # time slice
        mask = np.ones((1, G, T))
        mask[:, :, T - h:] = 0.0
        inp = self._inputs(data, data.spend, data.spend_unit, mask, trend, season, lift)
        spec = self._spec(0, G > 1, n_lift)
        draws = run_mcmc(mmm_model, same, seed + 41, (inp, spec), kernel_name="NUTS", jit_model_args=True,
                         dense_mass=True)
        p1 = flatten_member(draws.samples, 0)
        d1 = summaries(p1, inp, spec, data.y_unit, data.spend)
        y_rep = predictive(d1["mu"], p1["sigma"], data.y_unit, seed + 42)[:, :, T - h:]
        lo_h, hi_h = np.quantile(y_rep, [0.025, 0.975], axis=0)
        obs = data.y[:, T - h:]
        mean_h = y_rep.mean(axis=0)
        mape = float(np.mean(np.abs(obs - mean_h) / np.abs(obs)))
        cov = interval_coverage_check(obs.ravel(), lo_h.ravel(), hi_h.ravel(), 0.95, "out-of-sample time slice",
                                      f"held-out weeks (last {h})", interval="out-of-sample predictive",
                                      advice="Refitted without its last weeks, the model does not forecast them: "
                                             "its trend or baseline is off, so its attributions may be too.")
        results.append(CheckResult(cov.name, cov.passed, cov.statistic, cov.threshold,
                                   cov.message + f" Mean absolute percentage error {mape:.1%}."))
        holdout = pd.DataFrame({"geo": np.repeat(np.array(data.geos, dtype=object), h),
                                "date": np.tile(data.dates[T - h:], G), "observed": obs.ravel(),
                                "mean": mean_h.ravel(), "lower": lo_h.ravel(), "upper": hi_h.ravel()})
        # placebo channel
        fake = self._placebo_spend(data, seed)
        spend = np.concatenate([data.spend, fake[..., None]], axis=-1)
        unit = np.concatenate([data.spend_unit, fake.mean(axis=1)[:, None]], axis=-1)
        inp = self._inputs(data, spend, unit, np.ones((1, G, T)), trend, season, lift)
        spec = self._spec(1, G > 1, n_lift)
        draws = run_mcmc(mmm_model, chk, seed + 31, (inp, spec), kernel_name="NUTS", jit_model_args=True,
                         dense_mass=True)
        p0 = flatten_member(draws.samples, 0)
        d0 = summaries(p0, inp, spec, data.y_unit, spend)
        proas = d0["roas"][:, -1]
        lo, hi = interval(proas, 0.95, "eti")
        chk_p = placebo_interval_check(np.array([lo]), np.array([hi]), ["placebo channel"], "placebo channel",
                                       "placebo channels (random spend with no effect)")
        msg = (f"A random spend series with no effect, added as a channel, got ROAS {proas.mean():.3g} "
               f"(95% interval {lo:.3g} to {hi:.3g}); " + ("the interval covers zero." if chk_p.passed else
                                                          "the interval excludes zero: the model attributes "
                                                          "outcome to spend that cannot have caused it, so its "
                                                          "channel effects are not reliable (add controls or "
                                                          "seasonality that explain the baseline)."))
        results.append(CheckResult("placebo channel", chk_p.passed, float(proas.mean()),
                                   "95% ROAS interval contains 0", msg))
        placebo = pd.DataFrame({"mean": [proas.mean()], "lower": [lo], "upper": [hi]}, index=["placebo channel"])
        return results, placebo, holdout

    def _lift_table(self, lift_tests, params, inp, spec, data) -> pd.DataFrame:
        import jax

        from .model import components

        @jax.jit
        def one(p):
            return lift_means(p, components(p, inp, spec), inp, spec)

        n = len(params["sigma"])
        pred = np.concatenate([np.asarray(one({k: jnp.asarray(v[i:i + 500]) for k, v in params.items()}))
                               for i in range(0, n, 500)])  # (S, L) scaled
        pred = pred * data.y_unit[np.asarray(inp.lift_geo)][None]
        table = lift_tests.reset_index(drop=True).copy()
        table["model_mean"] = pred.mean(axis=0)
        table["model_lower"] = np.quantile(pred, 0.025, axis=0)
        table["model_upper"] = np.quantile(pred, 0.975, axis=0)
        return table

    # -- the result -----------------------------------------------------------------------------------------
    def _result(self, data, samples, params, der, y_rep, pick, draws, check_list, placebo, holdout, lift_table,
                spec, inp, outcome, date, ctrl_names, sampler, seed) -> MMMResult:
        chains, n_draws = next(iter(samples.values())).shape[:2]
        G, T, C = data.spend.shape
        chan = list(data.channels)
        base = {"chain": np.arange(chains), "draw": np.arange(n_draws)}

        def cd(a):
            return a.reshape((chains, n_draws) + a.shape[1:])

        roas = xr.DataArray(cd(der["roas"]), dims=("chain", "draw", "channel"), coords={**base, "channel": chan},
                            name="roas")
        mroas = xr.DataArray(cd(der["mroas"]), dims=("chain", "draw", "channel"),
                             coords={**base, "channel": chan}, name="mroas")
        parts = np.concatenate([der["baseline"][..., None], der["contrib"]], axis=-1)  # (S, G, T, 1 + C)
        geo_labels = [str(g) for g in data.geos] if self.geo else ["all"]
        contributions = xr.DataArray(cd(parts), dims=("chain", "draw", "geo", "date", "component"),
                                     coords={**base, "geo": geo_labels, "date": data.dates,
                                             "component": ["baseline", *chan]}, name="contribution")
        posterior = {k: v[:, :, 0] for k, v in samples.items()}
        posterior["intercept"] = cd(np.asarray(der["intercept"]))  # derived from the sampled level
        if "media_effect" in posterior:
            posterior["coef"] = cd(np.asarray(media_coefficients(params, spec)[0]))
        posterior.update(roas=roas.values, mroas=mroas.values, fitted=cd(der["mu"]))
        dims = {"roas": ["channel"], "mroas": ["channel"], "outcome": ["geo", "date"], "fitted": ["geo", "date"]}
        for k in ("coef", "media_effect", "alpha", "weibull_shape", "weibull_scale", "hill_half", "hill_slope", "lam",
                  "geo_sd"):
            if k in posterior:
                dims[k] = ["channel"]
        if "roas" in samples:  # the sampled ROAS (ROAS parameterisation) is the same quantity as the derived one
            posterior["roas"] = roas.values
        idata = to_inference_data(
            posterior,
            posterior_predictive={"outcome": y_rep.reshape((1, len(pick), G, T))},
            observed_data={"outcome": data.y},
            sample_stats={k: v for k, v in draws.sample_stats.items()},
            coords={"channel": chan, "geo": geo_labels, "date": data.dates}, dims=dims)
        info = {"sampler": f"NUTS ({draws.chain_method} chains)", "chains": sampler.chains, "draws": sampler.draws,
                "warmup": sampler.warmup_or(NUTS_WARMUP), "seed": seed, "seconds": round(draws.wall_seconds, 2),
                "adstock": self.adstock, "saturation": self.saturation, "l_max": self.l_max,
                "seasonality": self.seasonality, "trend": str(self.trend), "parameterisation": self.parameterisation,
                "weeks": T, "geos": G, "channels": ", ".join(chan), "controls": ", ".join(ctrl_names) or "none",
                "lift tests": 0 if lift_table is None else len(lift_table)}
        sat_names = ("hill_half", "hill_slope") if self.saturation == "hill" else ("lam",)
        response = {"beta": der["beta"] * data.y_unit[None, :, None],  # (S, G, C) outcome units per saturation
                    "sat": {n: params[n] for n in sat_names}, "saturation": self.saturation,
                    "spend_unit": data.spend_unit,
                    "share": data.spend.sum(axis=1) / np.maximum(data.spend.sum(axis=(0, 1)), 1e-300)[None, :]}
        return MMMResult(
            estimand="return on ad spend (ROAS) of each channel over the data: its contribution to "
                     f"{outcome} divided by its spend",
            effect=roas, idata=idata, checks=tuple(check_list), method="Bayesian marketing mix model", info=info,
            channels=tuple(chan), outcome=outcome, date=date, geo=self.geo, dates=data.dates, geos=data.geos,
            mroas=mroas, contributions=contributions, observed=data.y, spend=data.spend, placebo=placebo,
            holdout=holdout, lift_tests=lift_table, response=response)
