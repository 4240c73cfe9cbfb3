"""``IVResult``: the posterior of an instrumented effect with its weak-instrument and exclusion diagnostics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SpecError
from ..report import plots
from ..report.text import checks_sentences, fmt
from ..result import CausalResult, interval, summarise_draws

DEFAULT_WIDTHS = (0.0, 0.05, 0.1, 0.2, 0.4)


@dataclass(frozen=True)
class IVResult(CausalResult):
    """Result of :class:`~bayescausal.iv.BayesianIV`.

    Extra fields
    ------------
    outcome, treatment, instruments, covariates : the column names.
    tsls : two-stage least squares (estimate, homoskedastic se, 95% Wald interval), for comparison.
    ols : the OLS coefficient of the treatment (ignores endogeneity), for comparison.
    first_stage : first-stage F, partial R-squared and its p-value (``FirstStage``).
    ar_set : the 95% Anderson-Rubin confidence set (``ARSet``: an interval, two rays, the line, or empty).
    sargan : Sargan's over-identification test, or None with one instrument.
    concentration : posterior draws of the concentration parameter ``pi'Z'M Z pi / sigma_v^2``.
    endogeneity : posterior draws of the correlation between the treatment's and the outcome's
        structural errors (zero when the treatment is exogenous).
    exclusion_prior_sd : prior sd of the direct instrument effects used by the fit (0: exact exclusion).
    placebos : one row per permuted-instrument placebo fit, or None when the placebo did not run.
    effect_prior_sd : sd of the effect's prior in original units (the weak-instrument posterior's scale).
    """

    outcome: str = ""
    treatment: str = ""
    instruments: tuple = ()
    covariates: tuple = ()
    tsls: object = None
    ols: float = float("nan")
    first_stage: object = None
    ar_set: object = None
    sargan: object = None
    concentration: xr.DataArray | None = None
    endogeneity: xr.DataArray | None = None
    exclusion_prior_sd: float = 0.0
    placebos: pd.DataFrame | None = None
    refit: object = field(default=None, repr=False, compare=False)
    effect_prior_sd: float = float("nan")

    # -- numbers ------------------------------------------------------------------------------------
    @property
    def weak_instruments(self) -> bool:
        """True when the first-stage F is below 10 or the Anderson-Rubin set is unbounded."""
        return bool(self.first_stage.weak or not self.ar_set.bounded)

    def _summary_rows(self) -> dict[str, np.ndarray]:
        return {"effect": self.effect.values.ravel(),
                "concentration parameter": self.concentration.values.ravel(),
                "error correlation (endogeneity)": self.endogeneity.values.ravel()}

    def diagnostics_table(self) -> pd.DataFrame:
        """The frequentist comparisons and weak-instrument statistics, one row each."""
        ar = self.ar_set
        rows = {
            "2SLS estimate (Wald 95%)": (self.tsls.estimate, self.tsls.lower, self.tsls.upper),
            "OLS estimate": (self.ols, np.nan, np.nan),
            f"Anderson-Rubin 95% set ({ar.kind})": (np.nan, ar.lower, ar.upper),
            "first-stage F": (self.first_stage.f_stat, np.nan, np.nan),
            "partial R-squared of instruments": (self.first_stage.partial_r2, np.nan, np.nan),
        }
        if self.sargan is not None:
            rows["Sargan over-identification p-value"] = (self.sargan.p_value, np.nan, np.nan)
        table = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "lower", "upper"])
        table.index.name = "quantity"
        return table

    # -- exclusion restriction ------------------------------------------------------------------------
    def exclusion_sensitivity(self, widths: Sequence[float] = DEFAULT_WIDTHS, sampler=None,
                              seed: int | None = None, hdi_prob: float = 0.95) -> pd.DataFrame:
        """Posterior of the effect across prior widths of a direct instrument-to-outcome effect.

        Each width ``s`` refits the model with ``phi ~ Normal(0, s)`` (outcome sds per instrument sd) on
        every instrument's direct effect (Conley, Hansen & Rossi 2012); ``s = 0`` is the exact exclusion
        restriction. All widths run as one batched NUTS fit. Returns one row per width with ``mean``,
        ``sd``, ``lower``, ``upper``, ``p_positive`` and ``width`` (upper minus lower).
        """
        if self.refit is None:
            raise SpecError("this result holds no data to refit; exclusion_sensitivity needs a result from "
                            "BayesianIV.fit.")
        w = np.asarray(list(widths), float)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise SpecError(f"widths={list(widths)!r}: give a non-empty list of non-negative prior sds.")
        eff = self.refit.exclusion_draws(w, sampler, seed)
        table = summarise_draws({f"{v:g}": eff[..., j] for j, v in enumerate(w)}, hdi_prob, self.interval_kind)
        table.index = pd.Index(w, name="exclusion_prior_sd")
        table["width"] = table["upper"] - table["lower"]
        return table

    def plot_exclusion_sensitivity(self, table: pd.DataFrame | None = None):
        """Effect posterior (mean and interval) against the prior width on the direct effects.

        Pass the table from :meth:`exclusion_sensitivity` to avoid a refit."""
        table = self.exclusion_sensitivity() if table is None else table
        with plots.plt.rc_context(plots.STYLE):
            fig, ax = plots.plt.subplots(figsize=(7, 3.4))
            s = table.index.to_numpy(float)
            ax.fill_between(s, table["lower"], table["upper"], color=plots.MODEL, alpha=plots.BAND_ALPHA, lw=0,
                            label="95% interval")
            ax.plot(s, table["mean"], color=plots.MODEL, marker="o", lw=1.4, label="posterior mean")
            ax.axhline(0, color=plots.OBSERVED, lw=0.8, ls="--")
            ax.set_xlabel("prior sd of the direct instrument effect (outcome sds per instrument sd)")
            ax.set_ylabel(f"effect on {self.outcome}")
            ax.set_title("How the effect depends on the exclusion restriction")
            ax.legend(loc="best")
            fig.tight_layout()
        return fig

    # -- words and pictures ---------------------------------------------------------------------------
    def _iv_sentences(self) -> list[str]:
        row = summarise_draws({"c": self.concentration.values.ravel()}, 0.95, self.interval_kind).iloc[0]
        k = len(self.instruments)
        t = self.tsls
        out = [f"Two-stage least squares gives {fmt(t.estimate)} (95% Wald interval {fmt(t.lower)} to {fmt(t.upper)}); "
               f"OLS, which ignores the endogeneity, gives {fmt(self.ols)}.",
               f"First stage: F = {self.first_stage.f_stat:.1f} on {k} instrument{'s' if k > 1 else ''}, partial "
               f"R-squared {self.first_stage.partial_r2:.3f}; concentration parameter {fmt(row['mean'])} (95% interval "
               f"{fmt(row['lower'])} to {fmt(row['upper'])}, about {fmt(k * 10.0)} or more is strong). "
               f"{self.ar_set.describe(fmt)}."]
        if self.weak_instruments:
            out.append(f"The instruments are weak: the data barely identify the effect, so its posterior is wide and "
                       f"rests largely on the effect's prior (sd {fmt(self.effect_prior_sd)} in these units) rather "
                       f"than centring on the OLS answer. Rely on the Anderson-Rubin set, not on the 2SLS interval.")
        if self.exclusion_prior_sd > 0:
            out.append(f"The fit allows a direct effect of each instrument on the outcome with prior sd "
                       f"{self.exclusion_prior_sd:g} outcome sds per instrument sd (plausibly exogenous instruments, "
                       f"Conley, Hansen & Rossi 2012).")
        else:
            out.append("The fit assumes the exclusion restriction exactly (the instruments affect the outcome only "
                       "through the treatment); exclusion_sensitivity() shows how the answer moves when direct "
                       "effects are allowed.")
        if k == 1:
            out.append("With one instrument the exclusion restriction cannot be tested from the data.")
        return out

    def report(self) -> str:
        """Failed checks first, then the effect, the frequentist comparisons, instrument strength and the
        exclusion assumption, then the checks that passed."""
        opening, closing = checks_sentences(self.checks)
        parts = [opening, self._headline(), " ".join(self._iv_sentences()), closing]
        return "\n\n".join(p for p in parts if p)

    def plot(self):
        """Effect posterior with the 2SLS Wald interval, the Anderson-Rubin set and OLS marked; and the
        posterior of the concentration parameter."""
        draws = self.effect.values.ravel()
        lo, hi = interval(draws, 0.95, self.interval_kind)
        with plots.plt.rc_context(plots.STYLE):
            fig, (ax, ax2) = plots.plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
            ax.hist(draws, bins=60, color=plots.MODEL, alpha=0.55, density=True)
            ax.axvspan(lo, hi, color=plots.MODEL, alpha=0.12, label="95% posterior interval")
            ax.axvline(float(draws.mean()), color=plots.EFFECT, lw=1.6, label="posterior mean")
            ax.axvline(0, color=plots.OBSERVED, lw=1, ls="--")
            ymax = ax.get_ylim()[1]
            ax.errorbar([self.tsls.estimate], [0.85 * ymax], xerr=[[self.tsls.estimate - self.tsls.lower],
                                                                   [self.tsls.upper - self.tsls.estimate]],
                        fmt="s", color="#6b7280", capsize=3, label="2SLS, Wald 95%")
            ax.axvline(self.ols, color="#6b7280", lw=1, ls=":", label="OLS")
            ar = self.ar_set
            if ar.kind == "interval":
                ax.hlines(0.72 * ymax, ar.lower, ar.upper, color="#047857", lw=2.5, label="Anderson-Rubin 95%")
            ax.set_title(f"Effect of {self.treatment} on {self.outcome}" + (" (AR set unbounded)"
                                                                            if not ar.bounded else ""))
            ax.set_yticks([])
            ax.legend(loc="upper right", fontsize=8)
            conc = self.concentration.values.ravel()
            ax2.hist(conc, bins=50, color=plots.MODEL, alpha=0.55, density=True)
            ax2.axvline(10.0 * len(self.instruments), color=plots.EFFECT, lw=1, ls="--", label="F = 10 equivalent")
            ax2.set_title("Concentration parameter")
            ax2.set_yticks([])
            ax2.legend(loc="upper right", fontsize=8)
            fig.tight_layout()
        return fig

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        tables = {"Frequentist comparisons and instrument strength": self.diagnostics_table()}
        if self.placebos is not None:
            tables["Placebo fits (permuted instruments)"] = self.placebos
        return tables
