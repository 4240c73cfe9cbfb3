#!/usr/bin/env python
"""Peer benchmark: CausalPy (PyMC) interrupted-time-series impact analysis.

Which CausalPy model, and why (causalpy 0.9.0 as pinned in requirements-peers-pymc.txt):

  --model forecast (DEFAULT) -- closest to "local level + weekly seasonality + regression
      on controls". CausalPy's ``InterruptedTimeSeries`` with its
      ``pymc_forecast_models.PyMCForecastModel`` backend (extra ``causalpy[forecast]``,
      i.e. pymc-forecast 0.2), the backend CausalPy's own docs point to for "local level /
      trend, stochastic seasonality" counterfactuals. The model body (written here, with
      pymc_forecast primitives) is:
        level_t = level_0 + sigma_level * cumsum(z_t),  z_t ~ N(0, 1)   (non-centred random walk)
        season  ~ ZeroSumNormal(sigma=1) over the --seasons days, tiled  (static weekly effect)
        y_t ~ N(level_t + season[t mod S] + X_t beta, sigma_obs)
      on data standardised with pre-period moments (as R CausalImpact's standardize.data),
      priors level_0 ~ N(0,1), sigma_level ~ HalfNormal(0.05), beta ~ N(0,1), sigma_obs ~
      HalfNormal(1). Fitted by NUTS (HMCForecaster -> pm.sample) on the pre-period only;
      the post-period level innovations are drawn from the prior given each posterior draw
      (pymc-forecast's *_future mechanism), so the counterfactual widens as in a BSTS.
      Differences from R/TFP CausalImpact: seasonality is static (no drift), beta has a
      Gaussian prior (no spike-and-slab: NUTS cannot sample the discrete inclusion
      indicators), level and effects are sampled jointly by NUTS rather than by Gibbs +
      Kalman smoothing.
  --model linreg -- CausalPy's default ITS model, ``pymc_models.LinearRegression`` with
      formula ``y ~ 1 + x1..xk + C(dow)`` (static regression + day-of-week dummies, no
      level). Cheap baseline.
  --model statespace -- CausalPy's built-in ``pymc_models.StateSpaceTimeSeries``
      (pymc-extras Kalman filter: local level, level_order=1, + FrequencySeasonality of
      length --seasons). Closest *structurally* (a real state-space model), but in causalpy
      0.9.0 it ignores the design matrix entirely, so it has NO regression on controls, and
      its priors are hard-coded. Included for comparison only; it is also impractically slow
      here (NUTS through the Kalman-filter scan: 2 chains x 400 iterations on the synthetic
      425-day CSV had not finished after 9 minutes on 2 cores), so it is not in the default run.
  BayesianBasisExpansionTimeSeries was not used: its default trend/seasonality need
  pymc-marketing, its seasonality is day-of-year Fourier (yearly), and it has no local level.

Effect = CausalPy's own convention: post_impact = y_obs - mu (noise-free counterfactual
mean, NOT the noisy posterior predictive that CausalImpact uses); average effect per draw
= mean of post_impact over the post period, interval = equal-tailed 2.5/97.5% of those
draws. For --model forecast the prediction uses ALL chains x draws in sampler order
(CausalPy would otherwise use a random 500-draw subsample, PyMCForecastModel.num_samples),
so the bulk ESS over chains is meaningful. We additionally report an interval that
includes observation noise (y_obs - y_hat), comparable to tfp-causalimpact's interval,
computed after the timed section.

Usage:
  python run_causalpy.py data.csv --pre-end 364 --post-end 424 --seasons 7 \
      --draws 1000 --chains 4 --seed 1 [--model forecast|linreg|statespace] [--cores 2]
Warm-up (tune) = --draws unless --tune is given. Prints one JSON line on stdout.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _peer_common import add_window_args, emit, ess_bulk, load_csv, peak_rss_children_mb, peak_rss_mb, versions  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_window_args(p)
    p.add_argument("--seasons", type=int, default=0, help="seasonal period in rows (7 = weekly); 0 = none")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=None, help="warm-up per chain (default: = --draws)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--cores", type=int, default=None,
                   help="parallel chain processes (default: min(chains, os.cpu_count()); "
                        "pm.sample's own default is physical cores // 2, i.e. 1 on a 2-core box)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", choices=["forecast", "linreg", "statespace"], default="forecast")
    p.add_argument("--nuts-sampler", default="pymc", help="pymc (default), nutpie, numpyro, blackjax")
    p.add_argument("--target-accept", type=float, default=0.9)
    p.add_argument("--sigma-level-prior", type=float, default=0.05,
                   help="HalfNormal scale of the level innovation sd, in pre-period sd units")
    p.add_argument("--no-predictive-interval", action="store_true",
                   help="skip the extra (untimed) y - y_hat interval")
    return p.parse_args(argv)


def _forecast_model_fn(seasons: int, sigma_level_prior: float):
    import pymc as pm
    import pymc_forecast as pf
    import pytensor.tensor as pt

    def model_fn(h, covariates):
        z = pf.time_series(h, "level_innov", lambda name, dims: pm.Normal(name, 0.0, 1.0, dims=dims))
        sigma_level = pm.HalfNormal("sigma_level", sigma=sigma_level_prior)
        level0 = pm.Normal("level0", 0.0, 1.0)
        latent = level0 + sigma_level * pt.cumsum(z)
        if seasons and seasons > 1:
            season = pm.ZeroSumNormal("season", sigma=1.0, shape=(seasons,))
            latent = latent + pf.periodic_repeat(season, h.duration, period=seasons)
        if covariates.sizes.get("covariate", 0) > 0:
            beta = pm.Normal("beta", 0.0, 1.0, shape=(covariates.sizes["covariate"],))
            latent = latent + pt.as_tensor_variable(covariates.transpose("time", "covariate").values) @ beta
        sigma_obs = pm.HalfNormal("sigma_obs", 1.0)
        pf.predict(h, lambda name, mu, dims, observed: pm.Normal(
            name, mu, sigma_obs, dims=dims, observed=observed), latent)

    return model_fn


def _blas_flags():
    try:
        import pytensor

        return pytensor.config.blas__ldflags
    except Exception:  # noqa: BLE001
        return None


def main(argv=None) -> int:
    a = parse(argv)
    if not (0 < a.pre_end < a.post_end):
        raise SystemExit("need 0 < --pre-end < --post-end")
    tune = a.draws if a.tune is None else a.tune
    if a.cores is None:
        a.cores = max(1, min(a.chains, os.cpu_count() or 1))
    df, outcome, controls, time_col = load_csv(a.csv, a.post_end)

    t0 = time.perf_counter()
    import causalpy as cp
    import pymc as pm  # noqa: F401

    import_s = time.perf_counter() - t0

    # Standardise with pre-period moments (CausalImpact's standardize.data); effects are
    # rescaled by the pre-period sd of y at the end.
    pre = df.iloc[: a.pre_end + 1]
    cols = [outcome] + controls
    mean, sd = pre[cols].mean(), pre[cols].std(ddof=1).replace(0.0, 1.0)
    data = ((df[cols] - mean) / sd).astype("float64")
    y_sd = float(sd[outcome])
    if time_col == "date":
        data.index = pd.DatetimeIndex(pd.to_datetime(df["date"]))
        treatment_time = data.index[a.pre_end + 1]
    else:
        data.index = pd.Index(np.arange(len(df)), dtype="int64")
        treatment_time = int(a.pre_end + 1)
    if a.seasons and a.seasons > 1:
        data["dow"] = np.arange(len(df)) % a.seasons

    sample_kwargs = dict(draws=a.draws, tune=tune, chains=a.chains, random_seed=a.seed,
                         progressbar=False, target_accept=a.target_accept)
    sample_kwargs["cores"] = a.cores
    xs = " + ".join(controls)

    if a.model == "forecast":
        import pymc_forecast as pf
        from causalpy.pymc_forecast_models import PyMCForecastModel

        class _AllDrawsForecastModel(PyMCForecastModel):
            """Predict with every chain x draw, in order (default: random 500-draw subsample)."""

            def fit(self, X, y, coords=None):
                out = super().fit(X, y, coords)
                self._posterior = self.forecaster.idata.posterior
                return out

        fkw = dict(draws=a.draws, tune=tune, chains=a.chains, nuts_sampler=a.nuts_sampler,
                   progressbar=False, sample_kwargs={"target_accept": a.target_accept, "cores": a.cores})
        model = _AllDrawsForecastModel(_forecast_model_fn(a.seasons, a.sigma_level_prior),
                                       forecaster=pf.HMCForecaster, forecaster_kwargs=fkw,
                                       random_seed=a.seed)
        formula = f"{outcome} ~ 0 + {xs}" if controls else f"{outcome} ~ 0"
        season_txt = f"static seasonal({a.seasons})" if a.seasons > 1 else "no seasonal"
        desc = (f"PyMCForecastModel: random-walk local level + {season_txt} + Gaussian regression "
                f"on {len(controls)} controls, NUTS")
    elif a.model == "linreg":
        if a.nuts_sampler != "pymc":
            sample_kwargs["nuts_sampler"] = a.nuts_sampler
        model = cp.pymc_models.LinearRegression(sample_kwargs=sample_kwargs)
        formula = f"{outcome} ~ 1" + (f" + {xs}" if controls else "") + (" + C(dow)" if a.seasons > 1 else "")
        desc = "LinearRegression: intercept + controls" + (" + day-of-cycle dummies" if a.seasons > 1 else "")
    else:
        if time_col != "date":
            raise SystemExit("--model statespace needs a 'date' column (CausalPy requires a DatetimeIndex)")
        if a.nuts_sampler != "pymc":
            sample_kwargs["nuts_sampler"] = a.nuts_sampler
        model = cp.pymc_models.StateSpaceTimeSeries(level_order=1, seasonal_length=max(a.seasons, 2),
                                                    sample_kwargs=sample_kwargs)
        formula = f"{outcome} ~ 1"
        desc = f"StateSpaceTimeSeries: local level + FrequencySeasonality({a.seasons}), Kalman; NO controls"

    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        result = cp.InterruptedTimeSeries(data, treatment_time, formula=formula, model=model)
    wall_s = time.perf_counter() - t1

    impact = result.post_impact  # (chain, draw, obs_ind) in standardised units, y - mu
    impact = impact.transpose("chain", "draw", "obs_ind")
    avg = impact.mean("obs_ind").values * y_sd  # [chains, draws]
    ess, how = ess_bulk(avg)
    lo, hi = np.quantile(avg.ravel(), [0.025, 0.975])
    rec = {
        "peer": "causalpy",
        "model": desc,
        "cp_model": a.model,
        "formula": formula,
        "wall_s": wall_s,
        "import_s": import_s,
        "average_effect_mean": float(avg.mean()),
        "average_effect_lower": float(lo),
        "average_effect_upper": float(hi),
        "average_effect_sd": float(avg.std(ddof=1)),
        "ess_average_effect": ess,
        "ess_method": how,
        "n_effect_draws": int(avg.size),
        "effect_draws_shape": list(avg.shape),
        "interval_note": "y - mu (noise-free counterfactual), CausalPy's convention",
    }
    # Sampler diagnostics if available.
    try:
        idata = (model.forecaster.idata if a.model == "forecast" else model.idata)
        ss = idata.sample_stats
        rec["divergences"] = int(ss["diverging"].sum())
        import arviz as az

        post = idata.posterior
        scal = [v for v in post.data_vars
                if set(post[v].dims) <= {"chain", "draw"} or v in ("beta", "season")]
        if scal:
            rh = az.rhat(post[scal])
            rec["max_rhat_params"] = float(max(float(rh[v].max()) for v in rh.data_vars))
    except Exception as e:  # noqa: BLE001
        rec["diagnostics_error"] = repr(e)[:200]

    if not a.no_predictive_interval and a.model == "forecast":
        # Untimed extra: interval including observation noise (y - y_hat), like CausalImpact's.
        try:
            pp = model.predict(result.post_design["X"], out_of_sample=True)
            y_hat = pp.posterior_predictive["y_hat"].isel(treated_units=0)
            y_hat = y_hat.transpose("chain", "draw", "obs_ind")
            yobs = result.post_design["y"].isel(treated_units=0).values
            avg_pred = (yobs[None, None, :] - y_hat.values).mean(-1) * y_sd
            plo, phi = np.quantile(avg_pred.ravel(), [0.025, 0.975])
            rec.update({"average_effect_pred_lower": float(plo), "average_effect_pred_upper": float(phi),
                        "average_effect_pred_note":
                            "y - y_hat (includes observation noise, as CausalImpact)"})
        except Exception as e:  # noqa: BLE001
            rec["predictive_interval_error"] = repr(e)[:200]

    rec.update({
        "chains": a.chains, "draws": a.draws, "warmup": tune, "seed": a.seed, "seasons": a.seasons,
        "n_pre": a.pre_end + 1, "n_post": a.post_end - a.pre_end, "n_controls": len(controls),
        "time_col": time_col, "nuts_sampler": a.nuts_sampler, "cores": a.cores,
        "pytensor_blas_ldflags": _blas_flags(),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_children_mb": peak_rss_children_mb(),  # largest single chain worker (multiprocess sampling)
        "versions": versions("causalpy", "pymc", "pytensor", "pymc-forecast", "pymc-extras", "arviz",
                             "numpy", "pandas", "xarray"),
    })
    emit(rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
