"""``SyntheticControlResult``: an impact result whose counterfactual is a weighted mix of donor units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..report import plots
from ..report.text import fmt
from ..result import interval, summarise_draws
from .result import ImpactResult, _flat, tail_area_probability

TOP_DONORS = 3  # donors named in the report, per treated unit


@dataclass(frozen=True)
class SyntheticControlResult(ImpactResult):
    """Impact of an intervention on one or more treated units, against a Bayesian synthetic control.

    The inherited fields (``effect``, ``pointwise``, ``cumulative``, ``counterfactual``, ``observed``)
    describe the treated units' average (the unit itself when there is one).

    Extra fields
    ------------
    weights : posterior draws of the donor weights (each draw sums to one over donors), dims
        ``(chain, draw, donor)`` with one treated unit, ``(chain, draw, treated, donor)`` with several.
    treated, donors : the column names.
    unit_pointwise : pointwise effect per treated unit, dims ``(chain, draw, treated, time)``.
    unit_counterfactual : counterfactual per treated unit over the window, dims ``(chain, draw, treated, time)``.
    unit_observed : the treated units' series over the window.
    placebos : one row per placebo unit (donor as fake treated unit): its average post-period effect on
        its own standardised scale, the interval, pre/post RMSPE, their ratio, and whether it entered the
        check's verdict; ``None`` when the placebo check did not run.
    """

    weights: xr.DataArray | None = None
    treated: tuple = ()
    donors: tuple = ()
    unit_pointwise: xr.DataArray | None = None
    unit_counterfactual: xr.DataArray | None = None
    unit_observed: pd.DataFrame | None = None
    placebos: pd.DataFrame | None = None

    # -- numbers ------------------------------------------------------------------------------------
    def _weights_by_unit(self) -> xr.DataArray:
        """Weights with a ``treated`` dimension always (length one for a single treated unit)."""
        w = self.weights
        return w if "treated" in w.dims else w.expand_dims(treated=[self.treated[0]], axis=2)

    def weights_table(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """Posterior mean, sd and interval of each donor's weight, largest first.

        Indexed by donor for one treated unit, by (treated, donor) for several. Columns ``mean``,
        ``sd``, ``lower``, ``upper`` (the ``hdi_prob`` interval, of the kind the result uses).
        """
        w = self._weights_by_unit()
        parts = []
        for unit in w["treated"].values:
            draws = {d: w.sel(treated=unit, donor=d).values.ravel() for d in w["donor"].values}
            table = summarise_draws(draws, hdi_prob, self.interval_kind).drop(columns="p_positive")
            table = table.sort_values("mean", ascending=False)
            table.index.name = "donor"
            if len(self.treated) > 1:
                table = pd.concat({unit: table}, names=["treated"])
            parts.append(table)
        return pd.concat(parts)

    def summary(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """CausalImpact's rows for the treated units' average effect; with several treated units, also
        one ``average: <unit>`` row per unit."""
        table = super().summary(hdi_prob)
        if len(self.treated) < 2:
            return table
        post = self.unit_pointwise["time"].values
        rows = {f"average: {u}": _flat(self.unit_pointwise.sel(treated=u)).mean(axis=1) for u in self.treated}
        units = summarise_draws(rows, hdi_prob, self.interval_kind)
        obs, pred, p_tail = [], [], []
        for u in self.treated:
            y_post = self.unit_observed[u].loc[post].to_numpy(float)
            cf = _flat(self.unit_counterfactual.sel(treated=u, time=post))
            obs.append(y_post.mean())
            pred.append(cf.mean())
            p_tail.append(tail_area_probability(float(y_post.sum()), cf.sum(axis=1)))
        units.insert(0, "predicted", pred)
        units.insert(0, "observed", obs)
        units["p_tail"] = p_tail
        return pd.concat([table, units])

    # -- words ------------------------------------------------------------------------------------------
    def _weights_sentences(self) -> str:
        table = self.weights_table()
        sentences = []
        for unit in self.treated:
            t = table.loc[unit] if len(self.treated) > 1 else table
            top = t.head(TOP_DONORS)
            parts = [f"{d} {r['mean']:.0%} (95% interval {r['lower']:.0%} to {r['upper']:.0%})"
                     for d, r in top.iterrows()]
            rest = t.iloc[TOP_DONORS:]
            tail = f"; the other {len(rest)} donors together {rest['mean'].sum():.0%}" if len(rest) else ""
            sentences.append(f"The synthetic control of {unit} weights its donors {', '.join(parts)}{tail}.")
        if "intercept" in self.idata.posterior:
            a = self.idata.posterior["intercept"]
            for unit in self.treated:
                d = a.sel(treated=unit).values.ravel() if "treated" in a.dims else a.values.ravel()
                lo, hi = interval(d, 0.95, self.interval_kind)
                sentences.append(f"Its level is shifted by an intercept of {fmt(float(d.mean()))} for {unit} "
                                 f"(95% interval {fmt(lo)} to {fmt(hi)}).")
        perm = self.info.get("permutation_p")
        if perm is not None:
            value = f"{perm:.3f}" if isinstance(perm, float) else str(perm)
            sentences.append(
                f"Ranked among the placebo units by the ratio of post- to pre-period prediction error (Abadie, "
                f"Diamond & Hainmueller 2010), the treated unit's permutation p-value is {value} (the smallest "
                f"possible with {len(self.donors)} placebo units is {1 / (len(self.donors) + 1):.3f}).")
        return " ".join(sentences)

    def report(self) -> str:
        """CausalImpact-style account, plus the donor weights; a failed check comes first."""
        text = super().report().replace("the controls were not themselves affected",
                                        "the donor units were not themselves affected")
        paragraphs = text.split("\n\n")
        body_at = 1 if paragraphs[0].startswith(("Warning", "Caution")) else 0
        paragraphs.insert(body_at + 1, self._weights_sentences())
        return "\n\n".join(paragraphs)

    # -- pictures ---------------------------------------------------------------------------------
    def plot_weights(self, hdi_prob: float = 0.95):
        """Horizontal bars of each donor's posterior mean weight with its interval (one panel per treated unit)."""
        import matplotlib.pyplot as plt

        table = self.weights_table(hdi_prob)
        n_units = len(self.treated)
        with plt.rc_context(plots.STYLE):
            fig, axes = plt.subplots(1, n_units, figsize=(min(5 * n_units, 14), 0.35 * len(self.donors) + 1.6),
                                     squeeze=False, sharex=True)
            for ax, unit in zip(axes[0], self.treated, strict=True):
                t = (table.loc[unit] if n_units > 1 else table).iloc[::-1]
                pos = np.arange(len(t))
                ax.barh(pos, t["mean"], color=plots.MODEL, alpha=0.6)
                ax.errorbar(t["mean"], pos, xerr=[t["mean"] - t["lower"], t["upper"] - t["mean"]], fmt="none",
                            ecolor=plots.OBSERVED, lw=1, capsize=2)
                ax.set_yticks(pos, [str(d) for d in t.index])
                ax.set_xlim(0, 1)
                ax.set_xlabel(f"weight (posterior mean, {hdi_prob:.0%} interval)")
                ax.set_title(f"Donor weights: {unit}")
            fig.tight_layout()
        return fig

    def _figures(self) -> list:
        return [self.plot(), self.plot_weights()]

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        tables = {"Donor weights": self.weights_table()}
        if self.placebos is not None:
            tables["Placebo units (placebo in space)"] = self.placebos
        return tables
