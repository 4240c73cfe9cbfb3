"""``CEMResult``: the posterior of a matched effect with the matching's own diagnostics (strata, L1, balance)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..report import plots
from ..report.text import checks_sentences, fmt
from ..result import CausalResult, interval, summarise_draws
from ..sensitivity.figure import ConfoundingSensitivity, RegressionBenchmarks
from ._balance import SMD_THRESHOLD

ESTIMAND_WORDS = {"ATT": "treated", "ATC": "controls", "ATE": "units"}
LARGEST_STRATA = 20  # strata listed in the HTML report (by weight in the estimand)


@dataclass(frozen=True)
class CEMResult(CausalResult, ConfoundingSensitivity):
    """Result of :class:`~bayescausal.crosssection.CEM`.

    Extra fields
    ------------
    outcome, treatment, covariates : the column names.
    estimand_code : ``"ATT"``, ``"ATC"`` or ``"ATE"``.
    family : ``"gaussian"`` or ``"bernoulli"`` (the outcome model).
    coarsening : one row per covariate: how it was coarsened (kind, number of bins, cutpoints or level groups).
    strata : one row per stratum (all of them, kept or not): its bin on every covariate, ``n_treated``,
        ``n_control``, ``kept``, ``reason`` (why it was dropped), the CEM weights of its treated and control
        units, its share of the estimand (``estimand_weight``) and the posterior mean and sd of its effect.
    matching : units and strata kept and dropped, by reason.
    balance : one row per covariate column (categories as 0/1 columns): standardised mean differences before
        (``smd_raw``) and after matching (``smd_weighted``, CEM weights).
    imbalance : the multivariate L1 imbalance before and after matching, on a reference coarsening finer than
        the matching's.
    weights : each unit's CEM weight (0 for dropped units), indexed like the data.
    stratum : each unit's stratum, a row label of ``strata``.
        ``balance``, ``imbalance``, ``weights`` and ``stratum`` are None for a result of ``CEM.fit_strata`` (no unit
        rows), whose balance, A/A and randomization checks are reported as not run.
    placebos : A/A fits (controls split at random into fake groups), one row each; None when not run.
    permutations : fits with the treatment permuted within strata, one row each; None when not run.
    randomization_p : randomization p-value of the estimate (NaN when not run).
    negative_control : the same analysis on a pre-treatment outcome (one row), or None.
    sensitivity_text : the E-value sentence of the report (``sensitivity.outcome_sentence``).
    confounding_benchmarks : least squares of the outcome on the treatment and covariates over all rows (before
        matching, which balances the measured covariates: a hidden confounder is compared with the confounding they
        posed), summarised for :meth:`sensitivity`; None for a result not built by ``fit``.
    """

    outcome: str = ""
    treatment: str = ""
    covariates: tuple = ()
    estimand_code: str = "ATT"
    family: str = "gaussian"
    coarsening: pd.DataFrame | None = None
    strata: pd.DataFrame | None = None
    matching: pd.DataFrame | None = None
    balance: pd.DataFrame | None = None
    imbalance: pd.DataFrame | None = None
    weights: pd.Series | None = None
    stratum: pd.Series | None = None
    placebos: pd.DataFrame | None = None
    permutations: pd.DataFrame | None = None
    randomization_p: float = float("nan")
    negative_control: pd.DataFrame | None = None
    sensitivity_text: str = ""  # E-value sentence: how strong a hidden confounder would have to be
    confounding_benchmarks: RegressionBenchmarks | None = field(default=None, repr=False, compare=False)

    # -- numbers ------------------------------------------------------------------------------------------
    def _summary_rows(self) -> dict[str, np.ndarray]:
        return {"effect": self.effect.values.ravel()}

    @property
    def matched_share(self) -> float:
        """Share of the estimand's units (the treated for ATT) that were matched."""
        m = self.matching
        col = {"ATT": "treated", "ATC": "control", "ATE": "units"}[self.estimand_code]
        return float(m.loc["kept", col] / m.loc["total", col])

    def balance_summary(self) -> tuple[float, str]:
        """The largest weighted |SMD| and its covariate column (NaN and "" when balance was not measured)."""
        if self.balance is None:
            return float("nan"), ""
        smd = self.balance["smd_weighted"].abs()
        return float(smd.max()), str(smd.idxmax())

    # -- words ----------------------------------------------------------------------------------------------
    def _matching_sentences(self) -> list[str]:
        m = self.matching
        group = ESTIMAND_WORDS[self.estimand_code]
        col = {"ATT": "treated", "ATC": "control", "ATE": "units"}[self.estimand_code]
        kept_strata, all_strata = int(m.loc["kept", "strata"]), int(m.loc["total", "strata"])
        out = [f"Coarsening {len(self.covariates)} covariate{'s' if len(self.covariates) > 1 else ''} formed "
               f"{all_strata:,} strata; {kept_strata:,} hold both treated and control units."]
        drops = []
        for reason in ("no controls", "no treated"):
            if reason in m.index and m.loc[reason, "units"] > 0:
                drops.append(f"{int(m.loc[reason, 'treated']):,} treated and {int(m.loc[reason, 'control']):,} "
                             f"control units in {int(m.loc[reason, 'strata']):,} strata with {reason}")
        if drops:
            out.append("Dropped: " + "; ".join(drops) + ".")
        out.append(f"The estimate is therefore the effect on the {int(m.loc['kept', col]):,} matched {group} "
                   f"({self.matched_share:.1%} of all {int(m.loc['total', col]):,}).")
        if self.balance is None or self.imbalance is None:
            out.append("Fitted from stratum statistics, so covariate balance and the L1 imbalance, which need unit "
                       "rows, were not measured.")
            return out + self._refit_sentences()
        before, after = self.imbalance["L1"]
        worst, name = self.balance_summary()
        out.append(f"Multivariate L1 imbalance went from {before:.3f} before matching to {after:.3f} after (0 is "
                   f"perfect balance, on a reference coarsening finer than the matching's); the largest weighted "
                   f"|standardised mean difference| is {worst:.3f} ({name}; below {SMD_THRESHOLD} counts as "
                   "balanced).")
        return out + self._refit_sentences()

    def _refit_sentences(self) -> list[str]:
        out = []
        if np.isfinite(self.randomization_p):
            out.append(f"Randomization p-value (treatment permuted within strata {len(self.permutations)} times): "
                       f"{self.randomization_p:.3f}.")
        if self.negative_control is not None:
            r = self.negative_control.iloc[0]
            out.append(f"On the pre-treatment outcome {self.negative_control.index[0]!r}, which the treatment cannot "
                       f"have changed, the same analysis finds {fmt(r['effect_mean'])} (95% interval "
                       f"{fmt(r['lower'])} to {fmt(r['upper'])}).")
        return out

    def _causal_sentence(self) -> str:
        if self.trustworthy:
            return ("Every check passed, so the estimate can be called causal under the assumption matching rests on: "
                    "the covariates include every common cause of treatment and outcome, and units in one stratum "
                    "are comparable (no unmeasured confounding). A sensitivity analysis (E-value) says how strong an "
                    "unmeasured confounder would have to be to explain the effect away.")
        return ("Because at least one check failed or did not run, this estimate cannot be called causal as it "
                "stands.")

    def report(self) -> str:
        """Failed checks first, then the effect, the matching, balance and refits, whether it can be called causal,
        then the checks that passed."""
        opening, closing = checks_sentences(self.checks)
        parts = [opening, self._headline() + " " + " ".join(self._matching_sentences()), self.sensitivity_text,
                 self._causal_sentence(), closing]
        return "\n\n".join(p for p in parts if p)

    # -- pictures -------------------------------------------------------------------------------------------
    def plot(self):
        """Four panels: the effect's posterior; |SMD| of each covariate before and after matching (with the L1
        imbalance); the strata's effects against their treated share; the randomization distribution. A fitted
        result adds the sensitivity contours (:meth:`sensitivity`, Cinelli & Hazlett 2020) on the right."""
        draws = self.effect.values.ravel()
        lo, hi = interval(draws, 0.95, self.interval_kind)
        with plots.plt.rc_context(plots.STYLE):
            if self.confounding_benchmarks is None:
                fig, axes = plots.plt.subplots(2, 2, figsize=(11, 7.2))
            else:
                fig = plots.plt.figure(figsize=(16, 7.2))
                gs = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1.1])
                axes = np.array([[fig.add_subplot(gs[i, j]) for j in range(2)] for i in range(2)])
                self._sensitivity_panel(fig.add_subplot(gs[:, 2]))
            ax = axes[0, 0]
            plots.effect_histogram(ax, draws, lo, hi)
            ax.set_title(f"{self.estimand_code}: effect of {self.treatment} on {self.outcome}")
            ax.legend(loc="upper right", fontsize=8)

            ax = axes[0, 1]
            bal = self.balance
            if bal is None:
                ax.text(0.5, 0.5, "balance not measured\n(fitted from stratum statistics)", ha="center",
                        va="center", transform=ax.transAxes, color="#6b7280")
                ax.set_title("Balance")
                bal = pd.DataFrame({"smd_raw": [], "smd_weighted": []})
            pos = np.arange(len(bal))
            ax.scatter(bal["smd_raw"].abs(), pos, color="#6b7280", label="before matching", zorder=3)
            ax.scatter(bal["smd_weighted"].abs(), pos, color=plots.MODEL, label="after (CEM weights)", zorder=3)
            ax.axvline(SMD_THRESHOLD, color=plots.EFFECT, lw=1, ls="--", label=f"|SMD| = {SMD_THRESHOLD}")
            ax.set_yticks(pos)
            ax.set_yticklabels(bal.index, fontsize=8)
            if self.imbalance is not None:
                before, after = self.imbalance["L1"]
                ax.set_title(f"Balance (L1 imbalance {before:.2f} -> {after:.2f})")
                ax.legend(loc="lower right", fontsize=8)
            ax.set_xlabel("|standardised mean difference|")

            ax = axes[1, 0]
            kept = self.strata[self.strata["kept"]]
            share = kept["n_treated"] / (kept["n_treated"] + kept["n_control"])
            size = 8 + 60 * kept["estimand_weight"] / max(float(kept["estimand_weight"].max()), 1e-12)
            ax.scatter(share, kept["effect_mean"], s=size, color=plots.MODEL, alpha=0.5, lw=0)
            ax.axhline(float(draws.mean()), color=plots.EFFECT, lw=1.2, label="average effect")
            ax.axhline(0, color=plots.OBSERVED, lw=0.8, ls="--")
            ax.set_xlabel("treated share of the stratum")
            ax.set_ylabel("stratum effect (posterior mean)")
            ax.set_title("Stratum effects (partially pooled; size: weight)")
            ax.legend(loc="best", fontsize=8)

            ax = axes[1, 1]
            if self.permutations is not None and len(self.permutations):
                ax.hist(self.permutations["effect_mean"], bins=min(30, max(5, len(self.permutations) // 2)),
                        color="#9ca3af", alpha=0.8, label="permuted treatment")
                ax.axvline(float(draws.mean()), color=plots.EFFECT, lw=1.6, label="estimate")
                ax.set_title(f"Randomization distribution (p = {self.randomization_p:.3f})")
                ax.legend(loc="best", fontsize=8)
            else:
                ax.text(0.5, 0.5, "randomization inference not run\n(checks='full' runs it)", ha="center",
                        va="center", transform=ax.transAxes, color="#6b7280")
                ax.set_title("Randomization distribution")
            ax.set_yticks([])
            fig.tight_layout()
        return fig

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        tables = {"Matching: strata and units kept and dropped": self.matching,
                  "Coarsening": self.coarsening,
                  "Covariate balance (standardised mean differences)": self.balance,
                  "Multivariate L1 imbalance": self.imbalance}
        tables = {k: v for k, v in tables.items() if v is not None}
        kept = self.strata[self.strata["kept"]]
        tables[f"Largest strata (by weight in the {self.estimand_code})"] = kept.nlargest(
            LARGEST_STRATA, "estimand_weight")
        if self.placebos is not None:
            tables["Placebo fits (controls split at random)"] = self.placebos
        if self.permutations is not None:
            tables["Randomization inference (treatment permuted within strata)"] = self.permutations
        if self.negative_control is not None:
            tables["Negative-control outcome"] = self.negative_control
        return {**tables, **self._sensitivity_tables()}

    def stratum_effects(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """The kept strata's effects: posterior mean and sd with a normal-approximation interval at ``hdi_prob``."""
        from statistics import NormalDist

        kept = self.strata[self.strata["kept"]].copy()
        z = NormalDist().inv_cdf(0.5 + hdi_prob / 2)
        kept["lower"] = kept["effect_mean"] - z * kept["effect_sd"]
        kept["upper"] = kept["effect_mean"] + z * kept["effect_sd"]
        return kept


def refit_table(draws: np.ndarray, labels: list[str], kind: str, name: str) -> pd.DataFrame:
    """One row per batched refit: posterior mean, sd, interval and P(effect > 0) of its effect draws
    (chain, draw, B)."""
    rows = {lab: draws[..., j] for j, lab in enumerate(labels)}
    table = summarise_draws(rows, 0.95, kind).rename(columns={"mean": "effect_mean"})
    table.index.name = name
    return table
