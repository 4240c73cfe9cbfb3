"""``CausalImpact``: Bayesian structural time-series impact analysis (the public estimator).

Brodersen, Gallusser, Koehler, Remy & Scott (2015), "Inferring causal impact using Bayesian
structural time-series models", Annals of Applied Statistics 9(1). The model is fitted to the
pre-period only (outcome and controls standardised by pre-period moments); the post-period outcome is
treated as missing, so the posterior predictive there is the counterfactual.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import convergence_check, normalise_level, placebo_interval_check, skipped
from ..errors import SpecError
from ..inference import Sampler, run_kernel_batch, to_inference_data
from ..result import interval
from ._inputs import make_inputs, standardise
from ._prepare import MIN_PRE_CYCLES, MIN_PRE_POINTS, check_period_arg, prepare_series
from .checks import one_step_coverage, placebo_dates
from .components import parse_seasonality
from .gibbs import BSTSGibbs, batch_axes, stack_datasets
from .priors import BSTSPriors
from .result import ImpactResult

GIBBS_WARMUP = 500
_KERNEL = BSTSGibbs()  # one instance, so compiled programs are reused across fits


@dataclasses.dataclass(frozen=True)
class CausalImpact:
    """Impact of an intervention on a time series, against a Bayesian structural time-series counterfactual.

    Parameters
    ----------
    pre_period, post_period : (start, end) pairs, inclusive: dates (or positions) on a DatetimeIndex,
        labels on an integer index. Rows between the periods are ignored.
    seasonality : None, an int (7: day of week on daily data), (period, duration), ``Seasonal``,
        ``Harmonic`` (trigonometric, for long periods such as 365.25), or a list of these. Integer
        periods above 60 become ``Harmonic(period, 3)``.
    trend : ``"level"`` (local level, CausalImpact's default) or ``"local_linear"`` (level and slope).
    dynamic_regression : controls' coefficients follow random walks instead of being static (no
        spike-and-slab selection then).
    priors : ``BSTSPriors`` or a dict of overrides by name.
    counterfactual : ``"observed"`` (default, as CausalImpact: the counterfactual outcome including
        observation noise) or ``"mean"`` (the noise-free expected outcome; narrower intervals for
        the pointwise effect, the same average effect).
    placebos : number of fake intervention dates for the placebo-in-time check.
    """

    pre_period: tuple
    post_period: tuple
    seasonality: object = None
    trend: str = "level"
    dynamic_regression: bool = False
    priors: object = None
    counterfactual: str = "observed"
    placebos: int = 5

    def __post_init__(self):
        object.__setattr__(self, "pre_period", check_period_arg("pre_period", self.pre_period))
        object.__setattr__(self, "post_period", check_period_arg("post_period", self.post_period))
        object.__setattr__(self, "seasonality", parse_seasonality(self.seasonality))
        if self.trend not in ("level", "local_linear"):
            raise SpecError(f"trend={self.trend!r}: use 'level' (local level) or 'local_linear' (level and slope).")
        if not isinstance(self.dynamic_regression, bool):
            raise SpecError(f"dynamic_regression={self.dynamic_regression!r}: give True or False.")
        object.__setattr__(self, "priors", BSTSPriors.from_overrides(self.priors))
        if self.counterfactual not in ("observed", "mean"):
            raise SpecError(f"counterfactual={self.counterfactual!r}: use 'observed' or 'mean'.")
        if not isinstance(self.placebos, int) or self.placebos < 1:
            raise SpecError(f"placebos={self.placebos!r}: give a positive integer.")

    @property
    def longest_cycle(self) -> float:
        return max((c.cycle_length for c in self.seasonality), default=1.0)

    def fit(self, df: pd.DataFrame, outcome: str, controls=None, sampler: Sampler | None = None, seed: int = 0,
            checks="full") -> ImpactResult:
        """Fit the model to the pre-period and estimate the post-period effect; runs the checks.

        ``checks="full"`` runs convergence, one-step-ahead coverage and the placebo-in-time refits
        (batched with the main fit in one compiled program); ``"fast"`` skips the refits; ``False``
        skips all checks. Returns an :class:`ImpactResult`.
        """
        level = normalise_level(checks)
        sampler = sampler or Sampler()
        if not isinstance(sampler, Sampler):
            raise SpecError(f"sampler must be a bc.Sampler, not {type(sampler).__name__}.")
        if sampler.kernel == "nuts":
            raise SpecError("CausalImpact samples with its Gibbs kernel (kernel='auto' or 'gibbs'); the NUTS "
                            "design measured slower per effective sample (benchmarks/README.md).")
        data = prepare_series(df, outcome, controls, self.pre_period, self.post_period, self.longest_cycle)
        n = len(data.index)
        y_std, X_std, y_mean, y_sd, x_mean, x_sd = standardise(data.y, data.X, data.pre)
        inputs, layout = make_inputs(y_std, X_std, data.pre, self.trend, self.seasonality, self.dynamic_regression,
                                     self.priors, data.controls)
        datasets = [inputs] * sampler.chains

        placebo_setup = []
        if level == "full":
            n_pre = int(data.pre.sum())
            min_fit = max(MIN_PRE_POINTS, int(np.ceil(MIN_PRE_CYCLES * self.longest_cycle)))
            dates, length = placebo_dates(n_pre, int(data.post.sum()), min_fit, self.placebos)
            positions = np.arange(n)
            for tau in dates:
                fit_p = positions < tau
                y_p, X_p, *_ = standardise(data.y, data.X, fit_p)
                inputs_p, _ = make_inputs(y_p, X_p, fit_p, self.trend, self.seasonality, self.dynamic_regression,
                                          self.priors, data.controls)
                datasets.append(inputs_p)
                placebo_setup.append((tau, length, y_p))

        axes = batch_axes(self.dynamic_regression)
        warmup = sampler.warmup_or(GIBBS_WARMUP)
        draws, seconds = run_kernel_batch(
            _KERNEL, stack_datasets(datasets, axes), seed, warmup, sampler.draws, sampler.thinning,
            progress=sampler.show_progress, desc="CausalImpact", batch_axes=axes,
            use_devices=sampler.chain_method in ("auto", "parallel"),
        )
        main = {k: v[: sampler.chains] for k, v in draws.items()}

        pred_key = "y_pred" if self.counterfactual == "observed" else "mean"
        cf = main[pred_key] * y_sd + y_mean  # (chain, draw, time)
        post = data.post
        time_index = data.index
        coords_time = time_index.values
        counterfactual = xr.DataArray(cf, dims=("chain", "draw", "time"),
                                      coords={"chain": np.arange(cf.shape[0]), "draw": np.arange(cf.shape[1]),
                                              "time": coords_time})
        pointwise = data.y[post][None, None, :] - counterfactual.isel(time=np.flatnonzero(post))
        cumulative = pointwise.cumsum("time")
        effect = pointwise.mean("time")
        effect.name = "effect"

        var_names = list(layout.variance_names)
        state_sd = main["state_sd"] * y_sd
        obs_sd = main["obs_sd"] * y_sd
        beta = main["beta"] * y_sd / np.where(x_sd[None, None, : main["beta"].shape[-1]] > 0,
                                              x_sd[None, None, : main["beta"].shape[-1]], 1.0) \
            if main["beta"].shape[-1] else main["beta"]

        check_list = []
        if level in ("full", "fast"):
            # The estimands and the noise scale must converge. The state innovation sds are nuisance
            # parameters that a Gibbs sampler mixes slowly without harming the effect's draws; their
            # diagnostics stay in idata (az.summary(res.idata)) but do not decide the verdict.
            conv = {"effect": effect.values, "cumulative_effect": cumulative.isel(time=-1).values,
                    "obs_sd": obs_sd}
            check_list.append(convergence_check(conv))
            burn = int(max(MIN_PRE_POINTS, self.longest_cycle))
            check_list.append(one_step_coverage(inputs, main["state_sd"], main["obs_sd"], main["beta"], burn, seed))
        if level == "full":
            check_list.append(self._placebo_check(draws, sampler.chains, placebo_setup, pred_key, time_index))

        posterior = {"effect": effect.values, "cumulative_effect": cumulative.isel(time=-1).values,
                     "obs_sd": obs_sd, "state_sd": state_sd}
        dims = {"state_sd": ["component"], "counterfactual": ["time"], "y": ["time"]}
        coords = {"component": var_names, "time": coords_time}
        if data.controls and not self.dynamic_regression:
            posterior["beta"] = beta
            posterior["inclusion"] = main["included"]
            dims.update(beta=["control"], inclusion=["control"])
            coords["control"] = list(data.controls)
        idata = to_inference_data(
            posterior,
            posterior_predictive={"counterfactual": cf},
            observed_data={"y": data.y},
            constant_data={"controls": data.X} if data.controls else None,
            coords=coords,
            dims={**dims, "controls": ["time", "control"]},
            attrs={"method": "CausalImpact", "outcome": outcome, "sampling_seconds": round(seconds, 2)},
        )
        return ImpactResult(
            estimand=f"average effect on {outcome} per post-period time point",
            effect=effect,
            idata=idata,
            checks=tuple(check_list),
            method="CausalImpact (BSTS)",
            pointwise=pointwise,
            cumulative=cumulative,
            counterfactual=counterfactual,
            observed=pd.Series(data.y, index=time_index, name=outcome),
            outcome=outcome,
            intervention=time_index[np.flatnonzero(post)[0]],
            info={"sampler": "Gibbs (simulation smoother + spike-and-slab)", "chains": sampler.chains,
                  "draws": sampler.draws, "warmup": warmup, "seed": seed, "seconds": round(seconds, 2),
                  "controls": ", ".join(data.controls) or "none",
                  "model": f"{self.trend} trend" + "".join(f" + {c.name}" for c in self.seasonality)
                  + (" + dynamic regression" if self.dynamic_regression else " + static regression" if data.controls
                     else "")},
        )

    def _placebo_check(self, draws, n_chains, placebo_setup, pred_key, time_index):
        name = "placebo in time"
        if not placebo_setup:
            return skipped(name, "the pre-period is too short to hold a fake intervention date and its window")
        lowers, uppers, labels = [], [], []
        for i, (tau, length, y_p) in enumerate(placebo_setup):
            pred = draws[pred_key][n_chains + i]  # (draw, time), in this placebo's standardised units
            window = slice(tau, tau + length)
            y_win = y_p[window]
            ok = np.isfinite(y_win)
            eff = (y_win[ok][None, :] - pred[:, window][:, ok]).mean(axis=1)
            lo, hi = interval(eff, 0.95, "eti")
            lowers.append(lo)
            uppers.append(hi)
            labels.append(str(time_index[tau].date() if hasattr(time_index[tau], "date") else time_index[tau]))
        return placebo_interval_check(lowers, uppers, labels, name, "fake intervention dates in the pre-period")
