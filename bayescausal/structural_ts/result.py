"""``ImpactResult``: the result of an impact analysis (CausalImpact, synthetic control)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..report import plots
from ..report.text import checks_sentences, fmt, pct
from ..result import CausalResult, interval, summarise_draws


def tail_area_probability(observed_sum: float, counterfactual_sums: np.ndarray) -> float:
    """CausalImpact's one-sided posterior tail-area probability of the observed post-period sum.

    The share of counterfactual sums at least as extreme, on the side the observation lies on,
    counting the observation itself (so it is never exactly zero): ``min(#{s >= obs}, #{s <= obs}) /
    (N + 1)`` over the N posterior draws plus the observed sum (Brodersen et al. 2015).
    """
    sums = np.append(np.asarray(counterfactual_sums, float).ravel(), observed_sum)
    return float(min(np.sum(sums >= observed_sum), np.sum(sums <= observed_sum)) / sums.size)


def _flat(da: xr.DataArray) -> np.ndarray:
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).values


@dataclass(frozen=True)
class ImpactResult(CausalResult):
    """Impact of an intervention on a time series.

    Extra fields
    ------------
    pointwise : effect at each post-period time, dims ``(chain, draw, time)``.
    cumulative : running sum of ``pointwise``.
    counterfactual : posterior predictive of the outcome without the intervention over the whole
        window (the fit in the pre-period, the forecast after), dims ``(chain, draw, time)``.
    observed : the outcome as observed over the window.
    outcome : the outcome's column name.
    intervention : the first post-period index label.
    """

    pointwise: xr.DataArray | None = None
    cumulative: xr.DataArray | None = None
    counterfactual: xr.DataArray | None = None
    observed: pd.Series | None = None
    outcome: str = ""
    intervention: object = None

    # -- numbers ------------------------------------------------------------------------------------
    @property
    def post_mask(self) -> np.ndarray:
        return np.isin(self.observed.index, self.pointwise["time"].values)

    @property
    def p_tail(self) -> float:
        """Posterior tail-area probability of the observed post-period sum (CausalImpact's p)."""
        cf_sums = _flat(self.counterfactual.sel(time=self.pointwise["time"])).sum(axis=1)
        return tail_area_probability(float(self.observed[self.post_mask].sum()), cf_sums)

    def _summary_rows(self) -> dict[str, np.ndarray]:
        cf_post = _flat(self.counterfactual.sel(time=self.pointwise["time"]))
        point = _flat(self.pointwise)
        relative = point.sum(axis=1) / cf_post.sum(axis=1)
        return {
            "average": point.mean(axis=1),
            "cumulative": point.sum(axis=1),
            "average (relative)": relative,
            "cumulative (relative)": relative,
        }

    def summary(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """Rows: average and cumulative effect, absolute and relative. Columns: ``observed`` and
        ``predicted`` (counterfactual posterior mean), then ``mean, sd, lower, upper, p_positive`` of
        the effect and CausalImpact's tail-area probability ``p_tail``."""
        table = summarise_draws(self._summary_rows(), hdi_prob, self.interval_kind)
        y_post = self.observed[self.post_mask].to_numpy(float)
        cf_mean = _flat(self.counterfactual.sel(time=self.pointwise["time"])).mean(axis=0)
        observed = [y_post.mean(), y_post.sum(), np.nan, np.nan]
        predicted = [cf_mean.mean(), cf_mean.sum(), np.nan, np.nan]
        table.insert(0, "predicted", predicted)
        table.insert(0, "observed", observed)
        table["p_tail"] = self.p_tail
        return table

    # -- words ------------------------------------------------------------------------------------------
    def _headline(self) -> str:
        s = self.summary()
        avg, rel = s.loc["average"], s.loc["average (relative)"]
        return (f"Average effect on {self.outcome}: {fmt(avg['mean'])} per period "
                f"(95% interval {fmt(avg['lower'])} to {fmt(avg['upper'])}; relative {pct(rel['mean'])}), "
                f"tail-area probability p = {s['p_tail'].iloc[0]:.3f}.")

    def report(self) -> str:
        """Plain-language account in CausalImpact's manner; a failed check comes first."""
        s = self.summary()
        avg, cum, rel = s.loc["average"], s.loc["cumulative"], s.loc["average (relative)"]
        n_post = int(self.post_mask.sum())
        opening, closing = checks_sentences(self.checks)
        cf_lo, cf_hi = interval(_flat(self.counterfactual.sel(time=self.pointwise["time"])).mean(axis=1), 0.95,
                                self.interval_kind)
        p = float(s["p_tail"].iloc[0])
        excludes_zero = avg["lower"] > 0 or avg["upper"] < 0
        direction = "an increase" if avg["mean"] > 0 else "a decrease"
        p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        body = [
            f"Over the {n_post} post-intervention periods, {self.outcome} averaged {fmt(avg['observed'])}. "
            f"Had the intervention not happened, the model expects it would have averaged "
            f"{fmt(avg['predicted'])} (95% interval {fmt(cf_lo)} to {fmt(cf_hi)}).",
            f"The difference, {fmt(avg['mean'])} per period (95% interval {fmt(avg['lower'])} to "
            f"{fmt(avg['upper'])}), is the estimated effect of the intervention; summed over the post-period it "
            f"comes to {fmt(cum['mean'])} (95% interval {fmt(cum['lower'])} to {fmt(cum['upper'])}), a relative "
            f"change of {pct(rel['mean'])} (95% interval {pct(rel['lower'])} to {pct(rel['upper'])}).",
        ]
        if excludes_zero:
            body.append(
                f"The 95% interval excludes zero: the data support {direction}. The posterior probability of an "
                f"effect in this direction is {max(avg['p_positive'], 1 - avg['p_positive']):.1%}, and the "
                f"probability of seeing a post-period total this extreme by chance alone is {p_text}."
            )
        else:
            body.append(
                f"The 95% interval includes zero, so the data do not establish an effect (tail-area probability "
                f"{p_text}). This is not proof of no effect: an effect smaller than the interval's width "
                "could go undetected."
            )
        body.append("These conclusions hold if the controls were not themselves affected by the intervention "
                    "and their relation to the outcome stayed as it was before it.")
        paragraphs = [opening, " ".join(body), closing]
        return "\n\n".join(p for p in paragraphs if p)

    # -- pictures ---------------------------------------------------------------------------------
    def plot(self):
        """Three panels: observed vs counterfactual (with its 95% band), pointwise and cumulative effect."""
        time = self.observed.index
        cf = _flat(self.counterfactual)
        lo, hi = np.quantile(cf, [0.025, 0.975], axis=0)
        y = self.observed.to_numpy(float)
        # pointwise effect over the whole window: in the pre-period it is the fit's residual
        point = y[None, :] - cf
        p_lo, p_hi = np.quantile(point, [0.025, 0.975], axis=0)
        post = self.post_mask
        cum = _flat(self.cumulative)
        c_lo, c_hi = np.quantile(cum, [0.025, 0.975], axis=0)
        cum_time = time[post]
        return plots.impact_panels(
            time, y, cf.mean(axis=0), lo, hi, point.mean(axis=0), p_lo, p_hi,
            cum_time, cum.mean(axis=0), c_lo, c_hi, self.intervention, self.outcome,
        )

    def _meta(self) -> dict:
        return {"method": self.method, "outcome": self.outcome, "intervention": str(self.intervention),
                **{k: v for k, v in self.info.items() if isinstance(v, (str, int, float))}}
