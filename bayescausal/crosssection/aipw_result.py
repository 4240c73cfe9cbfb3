"""``AIPWResult``: the posterior of a doubly robust effect with its overlap, balance and trimming diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..report import plots
from ..report.text import checks_sentences, fmt
from ..result import CausalResult, interval
from ..sensitivity.figure import ConfoundingSensitivity, RegressionBenchmarks
from ._balance import SMD_THRESHOLD


@dataclass(frozen=True)
class AIPWResult(CausalResult, ConfoundingSensitivity):
    """Result of :class:`~bayescausal.crosssection.AIPW`.

    Extra fields
    ------------
    outcome, treatment, covariates : the column names.
    target : ``"ATE"`` or ``"ATT"``.
    naive : the raw difference in mean outcome between treated and control units (no adjustment), for comparison.
    propensity : posterior-mean propensity of every unit; ``treated``: its group; ``kept``: whether it is in the
        estimand's population (False for units removed by trimming).
    overlap : per group: units, propensity range and mean, shares beyond [0.05, 0.95], Kish effective size of the
        inverse-probability weights.
    balance : per covariate column: standardised mean difference raw and weighted, and whether |SMD| < 0.1.
    trimming : per group: units, removed, kept; None without trimming.
    placebos : one row per A/A split of the control group (effect mean and interval), or None.
    randomization : the permutation test: ``statistic``, ``statistic_sd``, ``p_value``, ``null`` (draws); or None.
    negative_control : the estimate on the pre-treatment outcome, or None.
    calibration : tables of the misspecification checks by check name: ``"outcome calibration"`` and
        ``"propensity calibration"`` (one row per tested bin, worst first: arm, variable, bin, units, residual
        mean, z, p) and ``"specification"`` (this fit's and the more flexible refit's estimates; None when
        skipped).
    outcome_model, propensity_model : the models used.
    sensitivity_text : the E-value sentence of the report (``sensitivity.outcome_sentence``).
    confounding_benchmarks : least squares of the outcome on the treatment and covariates over the estimand's rows,
        summarised for :meth:`sensitivity` (the residual scale and each covariate's partial R-squared with the
        treatment and the outcome); None for a result not built by ``fit``.
    """

    outcome: str = ""
    treatment: str = ""
    covariates: tuple = ()
    target: str = "ATE"
    naive: float = float("nan")
    propensity: np.ndarray | None = field(default=None, repr=False, compare=False)
    treated: np.ndarray | None = field(default=None, repr=False, compare=False)
    kept: np.ndarray | None = field(default=None, repr=False, compare=False)
    overlap: pd.DataFrame | None = field(default=None, compare=False)
    balance: pd.DataFrame | None = field(default=None, compare=False)
    trimming: pd.DataFrame | None = field(default=None, compare=False)
    placebos: pd.DataFrame | None = field(default=None, compare=False)
    randomization: dict | None = field(default=None, repr=False, compare=False)
    negative_control: pd.DataFrame | None = field(default=None, compare=False)
    calibration: dict = field(default_factory=dict, compare=False)
    outcome_model: str = ""
    propensity_model: str = ""
    sensitivity_text: str = ""  # E-value sentence: how strong a hidden confounder would have to be
    confounding_benchmarks: RegressionBenchmarks | None = field(default=None, repr=False, compare=False)

    # -- words ---------------------------------------------------------------------------------------
    def _method_sentence(self) -> str:
        return (f"Doubly robust (AIPW) estimate: a {self.propensity_model} propensity model and a {self.outcome_model} "
                "outcome model (separate coefficients per group) fitted with NUTS; the AIPW estimate is computed for "
                "every posterior draw under Bayesian-bootstrap weights (Saarela, Belzile & Stephens 2016), so it is "
                "consistent if either model is right and its interval carries both the models' and the sampling "
                "uncertainty.")

    def _detail_sentences(self) -> list[str]:
        out = [f"The naive difference in mean {self.outcome} between treated and control units is {fmt(self.naive)} "
               "(no adjustment for the covariates)."]
        if self.overlap is not None:
            o = self.overlap
            out.append(f"Propensities range {o.loc['treated', 'propensity_min']:.3f} to "
                       f"{o.loc['treated', 'propensity_max']:.3f} among treated and "
                       f"{o.loc['control', 'propensity_min']:.3f} to {o.loc['control', 'propensity_max']:.3f} among "
                       f"control units; the weights leave {o.loc['treated', 'effective_size']:.0f} and "
                       f"{o.loc['control', 'effective_size']:.0f} effective units.")
        if self.trimming is not None:
            tr = self.trimming
            out.append(f"Trimming removed {tr.loc['treated', 'removed']} of {tr.loc['treated', 'units']} treated and "
                       f"{tr.loc['control', 'removed']} of {tr.loc['control', 'units']} control units whose propensity "
                       "fell outside the bounds, so the estimate is the effect in the remaining overlap population, "
                       "not in the whole table.")
        if self.balance is not None:
            b = self.balance
            out.append(f"Largest |standardised mean difference| of a covariate: {b['smd_raw'].abs().max():.3f} before "
                       f"and {b['smd_weighted'].abs().max():.3f} after weighting (threshold {SMD_THRESHOLD:g}).")
        if self.randomization is not None:
            r = self.randomization
            out.append(f"Randomization inference (treatment permuted within propensity strata, {len(r['null'])} "
                       f"permutations): p = {r['p_value']:.3f}.")
        if self.negative_control is not None:
            row = self.negative_control.iloc[0]
            out.append(f"On the pre-treatment outcome {self.negative_control.index[0]!r} the same estimator gives "
                       f"{fmt(row['mean'])} (95% interval {fmt(row['lower'])} to {fmt(row['upper'])}); it should be "
                       "zero.")
        return out

    def report(self) -> str:
        """Failed checks first, then the effect, the comparisons and diagnostics, then the checks that passed."""
        opening, closing = checks_sentences(self.checks)
        parts = [opening, self._headline(), " ".join(self._detail_sentences()), self.sensitivity_text,
                 self._method_sentence(), closing]
        return "\n\n".join(p for p in parts if p)

    # -- pictures ------------------------------------------------------------------------------------
    def plot(self):
        """Effect posterior (naive difference marked), propensity distributions by group, the love plot of
        standardised mean differences before and after weighting and, for a fitted result, the sensitivity contours
        (:meth:`sensitivity`, Cinelli & Hazlett 2020) in a fourth panel."""
        draws = self.effect.values.ravel()
        lo, hi = interval(draws, 0.95, self.interval_kind)
        with plots.plt.rc_context(plots.STYLE):
            if self.confounding_benchmarks is None:
                fig, axes = plots.plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.3, 1.1, 1]})
            else:
                fig, grid = plots.plt.subplots(2, 2, figsize=(11.5, 8))
                axes = grid.ravel()
                self._sensitivity_panel(axes[3])
            ax = axes[0]
            plots.effect_histogram(ax, draws, lo, hi)
            if np.isfinite(self.naive):
                ax.axvline(self.naive, color="#6b7280", lw=1.2, ls=":", label="naive difference")
            ax.set_title(f"{self.target} of {self.treatment} on {self.outcome}")
            ax.legend(loc="upper right", fontsize=8)
            ax = axes[1]
            if self.propensity is not None:
                bins = np.linspace(0, 1, 41)
                ax.hist(self.propensity[self.treated], bins=bins, color=plots.EFFECT, alpha=0.5, density=True,
                        label="treated")
                ax.hist(self.propensity[~self.treated], bins=bins, color=plots.MODEL, alpha=0.5, density=True,
                        label="control")
                for b in (0.05, 0.95):
                    ax.axvline(b, color=plots.OBSERVED, lw=0.8, ls="--")
                if self.trimming is not None and self.kept is not None and (~self.kept).any():
                    ax.set_title(f"Propensity overlap ({int((~self.kept).sum())} trimmed)")
                else:
                    ax.set_title("Propensity overlap")
                ax.set_xlabel("posterior-mean propensity")
                ax.set_yticks([])
                ax.legend(loc="upper center", fontsize=8)
            ax = axes[2]
            if self.balance is not None:
                b = self.balance.iloc[::-1]
                yy = np.arange(len(b))
                ax.scatter(b["smd_raw"].abs(), yy, color="#6b7280", marker="o", label="raw", zorder=3)
                ax.scatter(b["smd_weighted"].abs(), yy, color=plots.MODEL, marker="D", label="weighted", zorder=3)
                ax.axvline(SMD_THRESHOLD, color=plots.EFFECT, lw=1, ls="--")
                ax.set_yticks(yy)
                ax.set_yticklabels([str(i) for i in b.index], fontsize=8)
                ax.set_xlabel("|standardised mean difference|")
                ax.set_title("Covariate balance")
                ax.legend(loc="lower right", fontsize=8)
            fig.tight_layout()
        return fig

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        tables = {}
        if self.overlap is not None:
            tables["Overlap of the propensity by group"] = self.overlap
        if self.balance is not None:
            tables["Covariate balance (standardised mean differences)"] = self.balance
        if self.trimming is not None:
            tables["Trimming"] = self.trimming
        if self.placebos is not None:
            tables["A/A placebo fits (control group split at random)"] = self.placebos
        if self.negative_control is not None:
            tables["Negative-control outcome"] = self.negative_control
        titles = {"outcome calibration": "Outcome model calibration by bin (worst 10)",
                  "propensity calibration": "Propensity model calibration by bin (worst 10)",
                  "specification": "Specification check: more flexible nuisance models"}
        for name, table in (self.calibration or {}).items():
            if table is not None and len(table):
                tables[titles.get(name, name)] = table.head(10) if "calibration" in name else table
        if self.randomization is not None:
            r = self.randomization
            lo, hi = np.quantile(r["null"], [0.025, 0.975])
            tables["Randomization inference"] = pd.DataFrame(
                {"value": [r["statistic"], r["p_value"], lo, hi, len(r["null"])]},
                index=pd.Index(["observed statistic", "p-value", "null 2.5%", "null 97.5%", "permutations"],
                               name="quantity"))
        return {**tables, **self._sensitivity_tables()}
