"""``MMMResult``: channel ROAS and marginal ROAS, contributions over time, response curves, budget optimisation.

``effect`` is the ROAS of every channel over the data, dims ``(chain, draw, channel)``: each channel's total
contribution to the outcome divided by its total spend. ``summary()`` has one row per channel for ROAS and for
marginal ROAS (the return on the next unit of spend: every week's spend raised by 1%), then each channel's
share of the outcome, then the total media contribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SpecError
from ..report.text import checks_sentences, fmt
from ..result import CausalResult, summarise_draws
from .optimize import BudgetAllocation, optimize, weekly_response


@dataclass(frozen=True)
class MMMResult(CausalResult):
    """Result of :class:`~bayescausal.mmm.MMM`.

    Extra fields
    ------------
    channels, outcome, date, geo : the columns; ``dates`` and ``geos`` the index of the arrays.
    mroas : marginal ROAS draws, dims ``(chain, draw, channel)``.
    contributions : draws of the outcome's parts, dims ``(chain, draw, geo, date, component)`` with components
        ``baseline`` (level, trend, seasonality, controls) and one per channel; in every draw they add up to the
        fitted mean of the outcome (geo ``"all"`` without geos).
    observed, spend : the outcome ``(G, T)`` and spend ``(G, T, C)`` in original units.
    placebo : the placebo channel's ROAS (mean and interval), or None when the check did not run.
    holdout : the held-out weeks of the time-slice check with their predictive means and intervals, or None.
    lift_tests : the lift tests with the model's posterior lift (mean and interval) beside the measured one.
    response : what the response curves and the optimiser need (geo coefficients per draw in outcome units,
        saturation parameters, spend units, geo shares of each channel's spend).
    """

    channels: tuple = ()
    outcome: str = ""
    date: str = ""
    geo: str | None = None
    dates: pd.DatetimeIndex | None = None
    geos: tuple = ()
    mroas: xr.DataArray | None = None
    contributions: xr.DataArray | None = None
    observed: np.ndarray | None = field(default=None, repr=False)
    spend: np.ndarray | None = field(default=None, repr=False)
    placebo: pd.DataFrame | None = None
    holdout: pd.DataFrame | None = None
    lift_tests: pd.DataFrame | None = None
    response: dict = field(default_factory=dict, repr=False)

    # -- numbers ------------------------------------------------------------------------------------------
    def _flat(self, da: xr.DataArray) -> np.ndarray:
        return da.values.reshape((-1,) + da.shape[2:])

    def _summary_rows(self) -> dict[str, np.ndarray]:
        roas, mroas = self._flat(self.effect), self._flat(self.mroas)
        parts = self._flat(self.contributions).sum(axis=(1, 2))  # (S, 1 + C)
        fitted = parts.sum(axis=1)
        rows = {f"ROAS: {c}": roas[:, j] for j, c in enumerate(self.channels)}
        rows.update({f"mROAS: {c}": mroas[:, j] for j, c in enumerate(self.channels)})
        rows.update({f"share of {self.outcome}: {c}": parts[:, 1 + j] / fitted for j, c in enumerate(self.channels)})
        rows["total media contribution"] = parts[:, 1:].sum(axis=1)
        return rows

    def contribution_table(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """Each component's total contribution over the data (mean, sd, interval, p_positive)."""
        parts = self._flat(self.contributions).sum(axis=(1, 2))
        comps = list(self.contributions.coords["component"].values)
        return summarise_draws({c: parts[:, j] for j, c in enumerate(comps)}, hdi_prob, self.interval_kind)

    def contributions_over_time(self, stat: str = "mean") -> pd.DataFrame:
        """Posterior mean (or ``"median"``) contribution of each component per date, summed over geos; with the
        observed outcome and the fitted mean as the last two columns."""
        da = self.contributions.sum("geo")
        val = da.mean(("chain", "draw")) if stat == "mean" else da.median(("chain", "draw"))
        df = pd.DataFrame(val.values, index=pd.Index(self.dates, name=self.date),
                          columns=list(da.coords["component"].values))
        df["fitted"] = df.sum(axis=1)
        df["observed"] = self.observed.sum(axis=0)
        return df

    def current_weekly_spend(self, weeks: int = 13) -> pd.Series:
        """Mean weekly spend per channel over the last ``weeks`` weeks (summed over geos)."""
        s = self.spend.sum(axis=0)[-weeks:].mean(axis=0)
        return pd.Series(s, index=list(self.channels), name="weekly spend")

    def response_curves(self, max_multiple: float = 2.0, points: int = 41, hdi_prob: float = 0.95) -> pd.DataFrame:
        """Steady-state weekly contribution of each channel against its weekly spend, with intervals.

        Spend from 0 to ``max_multiple`` times the channel's mean weekly spend (summed over geos, split across
        geos as in the data). Long format: ``channel, spend, mean, lower, upper``.
        """
        mean_spend = self.spend.sum(axis=0).mean(axis=0)
        grid = np.linspace(0.0, max_multiple, points)
        tail = (1 - hdi_prob) / 2
        frames = []
        for k, m in enumerate(grid):
            b = mean_spend * m
            resp = np.asarray(weekly_response(b, self.response))  # (S, C)
            frames.append(pd.DataFrame({"channel": list(self.channels), "spend": b, "multiple": m,
                                        "mean": resp.mean(axis=0), "lower": np.quantile(resp, tail, axis=0),
                                        "upper": np.quantile(resp, 1 - tail, axis=0), "order": k}))
        return pd.concat(frames).sort_values(["channel", "order"]).drop(columns="order").reset_index(drop=True)

    def optimize_budget(self, total: float, bounds: dict | None = None, horizon: int = 13, risk: str = "mean",
                        alpha: float = 0.1, current_weeks: int | None = None) -> BudgetAllocation:
        """Allocate ``total`` (spend over ``horizon`` weeks, at a steady weekly rate) across the channels.

        Maximises ``risk`` of the media outcome over the horizon across all posterior draws: ``"mean"``
        (expected outcome), ``"quantile"`` (its lower ``alpha`` quantile) or ``"cvar"`` (mean of the worst
        ``alpha`` share of draws). ``bounds``: ``{channel: (low, high)}`` spend over the horizon; by default each
        channel may move between 0.5 and 1.5 times its current spend (the mean over the last ``current_weeks``
        weeks, default ``horizon``). Returns a :class:`BudgetAllocation` with the allocation, the outcome draws
        under it and under current spend, and the expected regret (see ``mmm/optimize.py``).
        """
        if not self.response:
            raise SpecError("this result holds no posterior response to optimise; it needs a result from MMM.fit.")
        weeks = current_weeks or horizon
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            raise SpecError(f"current_weeks={current_weeks!r}: give a positive integer.")
        current = self.current_weekly_spend(min(weeks, self.spend.shape[1])).to_numpy()
        reference = np.maximum(current, self.spend.sum(axis=0).mean(axis=0))
        return optimize(self.response, current, reference, self.channels, float(total), horizon, bounds, risk,
                        float(alpha))

    # -- words and pictures --------------------------------------------------------------------------------
    def _headline(self) -> str:
        table = self.summary()
        parts = []
        for c in self.channels:
            r = table.loc[f"ROAS: {c}"]
            parts.append(f"{c} {fmt(r['mean'])} ({fmt(r['lower'])} to {fmt(r['upper'])})")
        tot = table.loc["total media contribution"]
        share = tot["mean"] / float(self.observed.sum())
        return (f"Return on ad spend over the data (95% intervals): {'; '.join(parts)}. Media contributed "
                f"{fmt(tot['mean'])} of {self.outcome} ({share:.1%} of the total; 95% interval {fmt(tot['lower'])} "
                f"to {fmt(tot['upper'])}).")

    def report(self) -> str:
        opening, closing = checks_sentences(self.checks)
        table = self.summary()
        marg = "; ".join(f"{c} {fmt(table.loc[f'mROAS: {c}', 'mean'])}" for c in self.channels)
        text = [self._headline(), f"Marginal ROAS (the return on the next unit of spend): {marg}. A channel whose "
                "marginal ROAS is below its ROAS is saturating; money moves best towards high marginal ROAS."]
        if self.lift_tests is not None:
            text.append(f"The fit is calibrated by {len(self.lift_tests)} lift test(s) (see the lift-test table).")
        return " ".join(p for p in (opening, *text, closing) if p)

    def plot(self):
        """Contributions over time (stacked), ROAS and marginal ROAS with intervals, response curves."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 2, figsize=(12, 8))
        ot = self.contributions_over_time()
        ax = axes[0, 0]
        comps = ["baseline", *self.channels]
        ax.stackplot(ot.index, *[ot[c].to_numpy() for c in comps], labels=comps, alpha=0.8)
        ax.plot(ot.index, ot["observed"], color="k", lw=1, label="observed")
        ax.set_title(f"Contributions to {self.outcome}")
        ax.legend(fontsize=7, loc="upper left")
        table = self.summary()
        for ax, key, title in ((axes[0, 1], "ROAS", "ROAS (95% interval)"),
                               (axes[1, 0], "mROAS", "Marginal ROAS (95% interval)")):
            rows = table.loc[[f"{key}: {c}" for c in self.channels]]
            y = np.arange(len(self.channels))
            ax.errorbar(rows["mean"], y, xerr=[rows["mean"] - rows["lower"], rows["upper"] - rows["mean"]],
                        fmt="o", capsize=3)
            ax.axvline(1.0, color="0.6", ls="--", lw=1)
            ax.axvline(0.0, color="0.8", lw=1)
            ax.set_yticks(y, self.channels)
            ax.set_title(title)
        ax = axes[1, 1]
        curves = self.response_curves()
        for j, c in enumerate(self.channels):
            d = curves[curves["channel"] == c]
            ax.plot(d["spend"], d["mean"], color=f"C{j}", label=c)
            ax.fill_between(d["spend"], d["lower"], d["upper"], color=f"C{j}", alpha=0.2)
        ax.set_xlabel("weekly spend")
        ax.set_ylabel("weekly contribution (steady state)")
        ax.set_title("Response curves (95% intervals)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        out = {"Contributions over the data": self.contribution_table()}
        if self.placebo is not None:
            out["Placebo channel ROAS"] = self.placebo
        if self.holdout is not None:
            out["Out-of-sample time slice"] = self.holdout
        if self.lift_tests is not None:
            out["Lift tests: measured and modelled"] = self.lift_tests
        return out
