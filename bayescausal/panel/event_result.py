"""``EventStudyResult``: the aggregated effect on the treated, the dynamic effects by event time, the cohort-by-event-
time effects they are averaged from, the aggregation weights, and the pre-trend verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..report import plots
from ..report.text import checks_sentences, fmt
from ..result import CausalResult, interval, summarise_draws
from .result import singleton_sentence

ATT_ROW = "average effect on the treated"


def event_label(e) -> str:
    return f"event time {int(e)}"


@dataclass(frozen=True)
class EventStudyResult(CausalResult):
    """Result of :class:`~bayescausal.panel.EventStudy`.

    Extra fields
    ------------
    dynamic : draws of the effect at each event time, dims ``(chain, draw, event_time)``: the cohort-by-event-time
        effects averaged over cohorts, per draw, with the weights in ``weights`` (leads are placebo effects before
        adoption; the reference period -1 is 0 by construction and not included; the last lag pools all later
        periods, the first lead all earlier ones when ``control="never"``).
    cohort_effects : draws of each cohort's effect at each event time (every event time with a cell, not pooled),
        dims ``(chain, draw, cohort, event_time)``; NaN where a cohort is not observed at that event time.
    weights : one row per (cohort, event time) cell: ``reported_event_time`` (the dynamic effect it counts in: its
        event time, or the pooled end point), its rows ``n_obs``, ``weight_dynamic`` (its share of that dynamic
        effect) and ``weight_att`` (its share of the average effect on the treated).
    twfe : the pooled two-way fixed-effects coefficient of the treatment (OLS with unit and period effects), for
        comparison only: it is biased when effects vary across cohorts or with time since adoption.
    coefficients : covariate-coefficient draws, dims ``(chain, draw, covariate)`` (empty without covariates).
    pretrend : the joint test of the leads: ``statistic`` (squared Mahalanobis distance of 0 from the leads'
        posterior), ``threshold`` (the chi-square quantile), ``df``, ``p_value``, ``tolerance`` and
        ``p_within`` (posterior probability that every lead lies within +-tolerance); empty without leads.
    placebos : one row per placebo adoption date moved into the pre-period: the shift, the average effect over the
        fake-treated rows (``mean``, ``sd``, 95% ``lower``/``upper``) and their number ``treated_rows``.
    permutations : one row per permutation of which units were treated: ``estimate`` (on the observed outcome, the
        randomization null) and the 95% interval with the fitted effects removed (``lower_effect_removed``,
        ``upper_effect_removed``).
    dropped_units, dropped_periods : labels of units and periods left out of the design, with why in ``info``.
    """

    dynamic: xr.DataArray | None = None
    cohort_effects: xr.DataArray | None = None
    weights: pd.DataFrame | None = None
    twfe: float = float("nan")
    coefficients: xr.DataArray | None = None
    pretrend: dict = field(default_factory=dict)
    placebos: pd.DataFrame | None = field(default=None, compare=False)
    permutations: pd.DataFrame | None = field(default=None, compare=False)
    unit: str = ""
    time: str = ""
    outcome: str = ""
    treatment: str = ""
    covariates: tuple = ()
    leads: int = 0
    lags: int = 0
    control: str = "never"
    dropped_units: tuple = ()
    dropped_periods: tuple = ()

    # -- numbers ----------------------------------------------------------------------------------------
    def _flat(self, da: xr.DataArray) -> np.ndarray:
        return da.values.reshape(da.sizes["chain"] * da.sizes["draw"], *da.shape[2:])

    def _summary_rows(self) -> dict[str, np.ndarray]:
        rows = {ATT_ROW: self.effect.values.ravel()}
        if self.dynamic is not None:
            flat = self._flat(self.dynamic)
            for j, e in enumerate(self.dynamic["event_time"].values):
                rows[event_label(e)] = flat[:, j]
        return rows

    def dynamic_table(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """One row per event time, the reference period -1 included (0 by construction): ``mean, sd, lower, upper,
        p_positive`` and ``kind`` (lead, reference or lag)."""
        flat = self._flat(self.dynamic)
        events = [int(e) for e in self.dynamic["event_time"].values]
        table = summarise_draws({e: flat[:, j] for j, e in enumerate(events)}, hdi_prob, self.interval_kind)
        table.loc[-1] = {"mean": 0.0, "sd": 0.0, "lower": 0.0, "upper": 0.0, "p_positive": 0.0}
        table = table.sort_index()
        table.index = pd.Index(table.index.astype(int), name="event_time")
        table["kind"] = np.select([table.index < -1, table.index == -1], ["lead", "reference"], "lag")
        return table

    # -- words ----------------------------------------------------------------------------------------
    def _headline(self) -> str:
        row = self.summary().loc[ATT_ROW]
        n_treated = int(self.weights.loc[self.weights["event_time"] >= 0, "n_obs"].sum()) if self.weights is not None \
            else 0
        return (f"Average effect of {self.treatment or 'the treatment'} on {self.outcome or 'the outcome'} over "
                f"{n_treated:,} treated unit-periods: {fmt(row['mean'])} (95% interval {fmt(row['lower'])} to "
                f"{fmt(row['upper'])}); posterior probability that it is positive {row['p_positive']:.1%}.")

    def _dynamic_sentence(self) -> str:
        table = self.dynamic_table()
        lags = table[table["kind"] == "lag"]
        if lags.empty:
            return ""
        first, last = lags.iloc[0], lags.iloc[-1]
        pooled = " or later" if self.lags > 0 and int(lags.index[-1]) == self.lags else ""
        text = (f"By event time: {fmt(first['mean'])} (95% interval {fmt(first['lower'])} to {fmt(first['upper'])}) "
                f"in the adoption period, {fmt(last['mean'])} ({fmt(last['lower'])} to {fmt(last['upper'])}) "
                f"{int(lags.index[-1])} period{'s' if int(lags.index[-1]) != 1 else ''} after{pooled}.")
        n_cohorts = self.cohort_effects.sizes["cohort"] if self.cohort_effects is not None else 0
        return (text + f" Each is the average of {n_cohorts} cohort{'s' if n_cohorts != 1 else ''}' own effects at "
                "that event time, weighted by their treated rows (Sun & Abraham 2021), so cohorts with different "
                "effects do not contaminate each other.")

    def _pretrend_sentence(self) -> str:
        if any(c.name.startswith("pre-trends") for c in self.checks):
            return ""  # the check's own message says it, first when it failed
        p = self.pretrend
        if not p:
            return ("No leads were estimated (leads=1, or no unit observed two or more periods before adoption), so "
                    "the pre-trends are not tested.")
        earliest = f"{-self.leads}{' or earlier' if self.control == 'never' else ''}"
        return (f"Before adoption, the {p['df']} lead{'s' if p['df'] != 1 else ''} (event times {earliest} to -2) "
                f"have a squared Mahalanobis distance from zero of {p['statistic']:.2f} (fails above "
                f"{p['threshold']:.2f}, p = {p['p_value']:.3f}); the posterior probability that every lead is within "
                f"+-{fmt(p['tolerance'])} is {p['p_within']:.1%}.")

    def _twfe_sentence(self) -> str:
        if not np.isfinite(self.twfe):
            return ""
        att = float(self.effect.mean())
        return (f"For comparison only, the pooled two-way fixed-effects coefficient of {self.treatment} is "
                f"{fmt(self.twfe)} ({fmt(self.twfe - att)} from the estimate above). It is not the answer: with "
                "staggered adoption it averages the cohort effects with weights that can be negative, using "
                "already-treated units as controls, so it is biased when effects differ across cohorts or change "
                "with time since adoption (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020).")

    def _dropped_sentence(self) -> str:
        parts = []
        if self.dropped_units:
            shown = ", ".join(map(str, self.dropped_units[:5])) + (" ..." if len(self.dropped_units) > 5 else "")
            parts.append(f"{len(self.dropped_units)} unit{'s' if len(self.dropped_units) > 1 else ''} left out "
                         f"(no untreated period to compare with: {shown})")
        if self.dropped_periods:
            shown = ", ".join(map(str, self.dropped_periods[:5])) + (" ..." if len(self.dropped_periods) > 5 else "")
            parts.append(f"{len(self.dropped_periods)} period{'s' if len(self.dropped_periods) > 1 else ''} left out "
                         f"(no comparison unit untreated then: {shown})")
        out = ("Design: " + "; ".join(parts) + ".") if parts else ""
        if self.info.get("singleton_units_dropped"):
            out = (out + " " + singleton_sentence(self.info["singleton_units_dropped"])).strip()
        return out

    def report(self) -> str:
        """Failed checks first (the pre-trend check leads the list), then the average effect, the dynamics, the
        pre-trend test, the pooled coefficient as a caution, and the checks that passed."""
        opening, closing = checks_sentences(self.checks)
        body = [self._headline(), self._dynamic_sentence(), self._pretrend_sentence(), self._twfe_sentence(),
                self._dropped_sentence()]
        return " ".join(p for p in (opening, *body, closing) if p)

    # -- pictures -------------------------------------------------------------------------------------
    def plot(self):
        """Event-study figure (dynamic effects with 95% intervals around adoption, the reference period marked)
        above the aggregation weights (each cohort's share of every event time)."""
        table = self.dynamic_table()
        w = self.weights
        with plots.plt.rc_context(plots.STYLE):
            fig, (ax, bx) = plots.plt.subplots(2, 1, figsize=(9, 6.4), sharex=True,
                                                gridspec_kw={"height_ratios": [2.2, 1]})
            e = table.index.to_numpy()
            lead = table["kind"].to_numpy() == "lead"
            lag = table["kind"].to_numpy() == "lag"
            ref = ~lead & ~lag
            for mask, color, label in ((lead, plots.MODEL, "leads (placebo, before adoption)"),
                                       (lag, plots.EFFECT, "effect after adoption")):
                if mask.any():
                    ax.errorbar(e[mask], table["mean"].to_numpy()[mask],
                                yerr=[table["mean"].to_numpy()[mask] - table["lower"].to_numpy()[mask],
                                      table["upper"].to_numpy()[mask] - table["mean"].to_numpy()[mask]],
                                fmt="o", color=color, ms=5, capsize=3, lw=1.4, label=label)
            ax.plot(e[ref], np.zeros(ref.sum()), "o", mfc="white", mec=plots.OBSERVED, ms=6,
                    label="reference period (0 by construction)")
            ax.axhline(0, color=plots.OBSERVED, lw=0.8)
            ax.axhline(float(self.effect.mean()), color=plots.EFFECT, lw=1, ls="--",
                       label=f"average effect on the treated {fmt(float(self.effect.mean()))}")
            ax.axvline(-0.5, color="#6b7280", lw=1, ls=":", label="adoption")
            ax.set_ylabel(f"effect on {self.outcome}")
            ax.set_title("Event study: effect by periods since adoption (95% intervals)")
            ax.legend(loc="upper left", fontsize=8)
            if w is not None and len(w):
                cohorts = sorted(dict.fromkeys(w["cohort"].tolist()))
                bottom = pd.Series(0.0, index=sorted(w["reported_event_time"].unique()))
                cmap = plots.plt.get_cmap("viridis")
                for i, g in enumerate(cohorts):
                    part = (w[w["cohort"] == g].groupby("reported_event_time")["weight_dynamic"].sum()
                            .reindex(bottom.index, fill_value=0.0))
                    bx.bar(bottom.index, part.to_numpy(), bottom=bottom.to_numpy(), width=0.8,
                           color=cmap(i / max(len(cohorts) - 1, 1)), label=str(g))
                    bottom = bottom + part
                bx.set_ylim(0, 1)
                bx.set_ylabel("cohort weight")
                bx.set_title("Aggregation weights: each cohort's share of the rows at each event time")
                bx.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="cohort", title_fontsize=8)
            bx.axvline(-0.5, color="#6b7280", lw=1, ls=":")
            bx.set_xlabel("event time (periods since adoption; the end points pool the periods beyond them)")
            bx.set_xticks(e)
            fig.tight_layout()
        return fig

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        tables = {"Dynamic effects by event time": self.dynamic_table()}
        if self.weights is not None:
            tables["Aggregation weights (cohort by event time)"] = self.weights
        if self.placebos is not None:
            tables["Placebo adoption dates in the pre-period"] = self.placebos
        if self.permutations is not None:
            tables["Randomization inference: permuted treated units"] = self.permutations
        return tables


def interval_row(draws: np.ndarray, kind: str = "eti") -> dict:
    """Mean and 95% interval of 1-D draws, as a table row."""
    lo, hi = interval(draws, 0.95, kind)
    return {"mean": float(np.mean(draws)), "lower": lo, "upper": hi}
