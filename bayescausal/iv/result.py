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
from ..sensitivity.figure import ConfoundingSensitivity, RegressionBenchmarks

DEFAULT_WIDTHS = (0.0, 0.05, 0.1, 0.2, 0.4)


@dataclass(frozen=True)
class IVResult(CausalResult, ConfoundingSensitivity):
    """Result of :class:`~bayescausal.iv.BayesianIV`.

    Extra fields
    ------------
    outcome, treatment, instruments, covariates : the column names (``treatment``: the treatments' names
        joined by ", " when there are several; ``treatments``: the tuple).
    tsls : two-stage least squares (estimate, homoskedastic se, 95% Wald interval), for comparison;
        arrays over treatments when there are several.
    ols : the OLS coefficient of the treatment (ignores endogeneity), for comparison (array when several).
    first_stage : first-stage F, partial R-squared and its p-value (``FirstStage``); with several treatments
        the Sanderson-Windmeijer conditional F of each and Cragg-Donald's statistic.
    ar_set : the 95% Anderson-Rubin confidence set (``ARSet``: an interval, two rays, the line, or empty) for
        one treatment; None with several (see ``ar_sets``).
    ar_sets : the AR set projected onto each treatment's effect, one ``ARSet`` each (for one treatment the
        exact AR set; for several, conservative projections of the joint set, Dufour & Taamouti 2005).
    ar_tests : joint AR tests (``ARTest``) of "all effects are zero" and of the posterior mean, in that order.
    sargan : Sargan's over-identification test, or None when instruments do not outnumber treatments.
    concentration : posterior draws of the concentration parameter ``pi'Z'M Z pi / sigma_v^2`` (with several
        treatments the smallest eigenvalue of the concentration matrix).
    endogeneity : posterior draws of the correlation between each treatment's and the outcome's
        structural errors (zero when the treatment is exogenous); dims like ``effect``.
    exclusion_prior_sd : prior sd of the direct instrument effects used by the fit (0: exact exclusion).
    placebos : one row per permuted-instrument placebo fit, or None when the placebo did not run.
    effect_prior_sd : sd of the effect's prior in original units (the weak-instrument posterior's scale).
    sensitivity_text : the E-value sentence of the report (``sensitivity.outcome_sentence``).
    confounding_benchmarks : the reduced form (least squares of the outcome on the instrument and covariates)
        summarised for :meth:`sensitivity`; None with several instruments or treatments, or for a result not
        built by ``fit``.
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
    treatments: tuple = ()
    ar_sets: tuple = ()
    ar_tests: tuple = ()
    sensitivity_text: str = ""  # E-value sentence of the effect per unit of treatment
    confounding_benchmarks: RegressionBenchmarks | None = field(default=None, repr=False, compare=False)

    # sensitivity() analyses the reduced form's least-squares estimate: the IV effect is zero exactly when the
    # reduced form is, so a confounder or side effect of the instrument that explains the reduced form away
    # explains the effect away (Cinelli & Hazlett 2025, Biometrika 112(2), asaf004)
    _sensitivity_of_posterior = False
    _sensitivity_regressor = "the instrument"

    # -- numbers ------------------------------------------------------------------------------------
    @property
    def weak_instruments(self) -> bool:
        """True when a (conditional) first-stage F is below 10 or an Anderson-Rubin set is unbounded."""
        return bool(self.first_stage.weak or not all(ar.bounded for ar in self.ar_sets))

    @property
    def _names(self) -> tuple:
        return self.treatments or (self.treatment,)

    def _per_treatment(self, values: np.ndarray, label: str) -> dict[str, np.ndarray]:
        """Rows ``label`` (one treatment) or ``label: name`` (several) from draws with a treatment axis last."""
        if len(self._names) == 1:
            return {label: values.ravel()}
        flat = values.reshape(-1, len(self._names))
        return {f"{label}: {name}": flat[:, j] for j, name in enumerate(self._names)}

    def _summary_rows(self) -> dict[str, np.ndarray]:
        return {**self._per_treatment(self.effect.values, "effect"),
                "concentration parameter": self.concentration.values.ravel(),
                **self._per_treatment(self.endogeneity.values, "error correlation (endogeneity)")}

    def diagnostics_table(self) -> pd.DataFrame:
        """The frequentist comparisons and weak-instrument statistics, one row each (per treatment when several)."""
        several = len(self._names) > 1
        fs, t = self.first_stage, self.tsls
        rows = {}
        for j, name in enumerate(self._names):
            tag = f": {name}" if several else ""
            ar = self.ar_sets[j]
            rows[f"2SLS estimate (Wald 95%){tag}"] = tuple(float(np.atleast_1d(v)[j])
                                                          for v in (t.estimate, t.lower, t.upper))
            rows[f"OLS estimate{tag}"] = (float(np.atleast_1d(self.ols)[j]), np.nan, np.nan)
            rows[f"Anderson-Rubin 95% set{' projection' if several else ''} ({ar.kind}){tag}"] = (
                np.nan, ar.lower, ar.upper)
            rows[f"{'conditional (Sanderson-Windmeijer) ' if several else ''}first-stage F{tag}"] = (
                float(np.atleast_1d(fs.f_stat)[j]), np.nan, np.nan)
            rows[f"partial R-squared of instruments{tag}"] = (float(np.atleast_1d(fs.partial_r2)[j]), np.nan, np.nan)
        if several:
            rows["Cragg-Donald minimum eigenvalue statistic"] = (fs.cragg_donald, np.nan, np.nan)
        for test, what in zip(self.ar_tests, ("all effects zero", "effects at the posterior mean"), strict=False):
            rows[f"Anderson-Rubin joint test p-value ({what})"] = (test.p_value, np.nan, np.nan)
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
        restriction. All widths run as one batched NUTS fit. Returns one row per width (per width and
        treatment, index ``(exclusion_prior_sd, treatment)``, when there are several) with ``mean``, ``sd``,
        ``lower``, ``upper``, ``p_positive`` and ``width`` (upper minus lower).
        """
        if self.refit is None:
            raise SpecError("this result holds no data to refit; exclusion_sensitivity needs a result from "
                            "BayesianIV.fit.")
        w = np.asarray(list(widths), float)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise SpecError(f"widths={list(widths)!r}: give a non-empty list of non-negative prior sds.")
        eff = self.refit.exclusion_draws(w, sampler, seed)  # (chain, draw, width, treatment)
        names = self._names
        table = summarise_draws({(v, t): eff[..., j, i] for j, v in enumerate(w) for i, t in enumerate(names)},
                                hdi_prob, self.interval_kind)
        if len(names) == 1:
            table.index = pd.Index(w, name="exclusion_prior_sd")
        else:
            table.index = pd.MultiIndex.from_tuples(table.index, names=["exclusion_prior_sd", "treatment"])
        table["width"] = table["upper"] - table["lower"]
        return table

    def plot_exclusion_sensitivity(self, table: pd.DataFrame | None = None):
        """Effect posterior (mean and interval) against the prior width on the direct effects.

        Pass the table from :meth:`exclusion_sensitivity` to avoid a refit."""
        table = self.exclusion_sensitivity() if table is None else table
        with plots.plt.rc_context(plots.STYLE):
            fig, ax = plots.plt.subplots(figsize=(7, 3.4))
            several = isinstance(table.index, pd.MultiIndex)
            parts = [(name, table.xs(name, level="treatment")) for name in self._names] if several else [
                ("", table)]
            for i, (name, part) in enumerate(parts):
                s = part.index.to_numpy(float)
                color = plots.MODEL if i == 0 else plots.plt.get_cmap("tab10")(i % 10)
                tag = f" ({name})" if several else ""
                ax.fill_between(s, part["lower"], part["upper"], color=color, alpha=plots.BAND_ALPHA, lw=0,
                                label="95% interval" + tag)
                ax.plot(s, part["mean"], color=color, marker="o", lw=1.4, label="posterior mean" + tag)
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
        t, fs = self.tsls, self.first_stage
        conc = (f"concentration parameter {fmt(row['mean'])} (95% interval {fmt(row['lower'])} to "
                f"{fmt(row['upper'])}, about {fmt(k * 10.0)} or more is strong)")
        if len(self._names) == 1:
            out = [f"Two-stage least squares gives {fmt(t.estimate)} (95% Wald interval {fmt(t.lower)} to "
                   f"{fmt(t.upper)}); OLS, which ignores the endogeneity, gives {fmt(self.ols)}.",
                   f"First stage: F = {fs.f_stat:.1f} on {k} instrument{'s' if k > 1 else ''}, partial R-squared "
                   f"{fs.partial_r2:.3f}; {conc}. {self.ar_sets[0].describe(fmt)}."]
        else:
            per = "; ".join(f"{name} {fmt(e)} ({fmt(lo)} to {fmt(hi)}, OLS {fmt(o)})" for name, e, lo, hi, o in zip(
                self._names, t.estimate, t.lower, t.upper, self.ols, strict=True))
            f_text = ", ".join(f"{name} {f:.1f}" for name, f in zip(self._names, fs.f_stat, strict=True))
            ar_text = "; ".join(f"{name}: {ar.describe(fmt)}" for name, ar in zip(self._names, self.ar_sets,
                                                                                  strict=True))
            out = [f"Two-stage least squares gives, with 95% Wald intervals: {per}.",
                   f"First stage, {k} instruments for {len(self._names)} treatments: Sanderson-Windmeijer conditional "
                   f"F (each treatment given the others) {f_text}; Cragg-Donald statistic {fs.cragg_donald:.1f}; "
                   f"smallest-eigenvalue {conc}.",
                   f"The Anderson-Rubin set is a joint set for all effects; projected onto each effect (conservative "
                   f"intervals, Dufour & Taamouti 2005): {ar_text}."]
        if self.ar_tests:
            zero = self.ar_tests[0]
            out.append(f"The Anderson-Rubin test of no effect{'s' if len(self._names) > 1 else ''}, valid however "
                       f"weak the instruments, gives p = {zero.p_value:.3g}.")
        if self.weak_instruments:
            out.append(f"The instruments are weak: the data barely identify the effect, so its posterior is wide and "
                       f"rests largely on the effect's prior (sd {fmt(np.max(self.effect_prior_sd))} in these units) "
                       f"rather than centring on the OLS answer. Rely on the Anderson-Rubin set, not on the 2SLS "
                       f"interval.")
        if self.exclusion_prior_sd > 0:
            out.append(f"The fit allows a direct effect of each instrument on the outcome with prior sd "
                       f"{self.exclusion_prior_sd:g} outcome sds per instrument sd (plausibly exogenous instruments, "
                       f"Conley, Hansen & Rossi 2012).")
        else:
            out.append("The fit assumes the exclusion restriction exactly (the instruments affect the outcome only "
                       "through the treatment); exclusion_sensitivity() shows how the answer moves when direct "
                       "effects are allowed.")
        if k == len(self._names):
            out.append("With as many instruments as treatments the exclusion restriction cannot be tested from the "
                       "data.")
        return out

    def _headline(self) -> str:
        if len(self._names) == 1:
            return super()._headline()
        table = self.summary()
        rows = table.iloc[:len(self._names)]
        parts = [f"{name} {fmt(r['mean'])} (95% interval {fmt(r['lower'])} to {fmt(r['upper'])}; P(> 0) "
                 f"{r['p_positive']:.1%})" for name, (_, r) in zip(self._names, rows.iterrows(), strict=True)]
        return f"{self.estimand[:1].upper()}{self.estimand[1:]}: " + "; ".join(parts) + "."

    def report(self) -> str:
        """Failed checks first, then the effect, the frequentist comparisons, instrument strength and the
        exclusion assumption, then the checks that passed."""
        opening, closing = checks_sentences(self.checks)
        parts = [opening, self._headline(), " ".join(self._iv_sentences()), self.sensitivity_text, closing]
        return "\n\n".join(p for p in parts if p)

    def plot(self):
        """Effect posterior with the 2SLS Wald interval, the Anderson-Rubin set and OLS marked; the posterior of
        the concentration parameter; and, for a fitted result with one instrument, the sensitivity contours of the
        reduced form (:meth:`sensitivity`)."""
        m = len(self._names)
        extra = int(self.confounding_benchmarks is not None)
        with plots.plt.rc_context(plots.STYLE):
            fig, axes = plots.plt.subplots(1, m + 1 + extra, figsize=(4.2 * m + 3.8 + 4.6 * extra, 3.4 + 0.8 * extra),
                                           gridspec_kw={"width_ratios": [1.6] * m + [1] + [1.35] * extra})
            for j in range(m):
                self._plot_effect(axes[j], j)
            if extra:
                self._sensitivity_panel(axes[-1])
            ax2 = axes[m]
            conc = self.concentration.values.ravel()
            ax2.hist(conc, bins=50, color=plots.MODEL, alpha=0.55, density=True)
            ax2.axvline(10.0 * len(self.instruments), color=plots.EFFECT, lw=1, ls="--", label="F = 10 equivalent")
            ax2.set_title("Concentration parameter" + (" (smallest eigenvalue)" if m > 1 else ""))
            ax2.set_yticks([])
            ax2.legend(loc="upper right", fontsize=8)
            fig.tight_layout()
        return fig

    def _plot_effect(self, ax, j: int) -> None:
        """Posterior of treatment ``j``'s effect with its 2SLS Wald interval, OLS and Anderson-Rubin set."""
        name = self._names[j]
        values = self.effect.values
        draws = values.ravel() if len(self._names) == 1 else values[..., j].ravel()
        lo, hi = interval(draws, 0.95, self.interval_kind)
        est, t_lo, t_hi = (float(np.atleast_1d(v)[j]) for v in (self.tsls.estimate, self.tsls.lower, self.tsls.upper))
        ols = float(np.atleast_1d(self.ols)[j])
        plots.effect_histogram(ax, draws, lo, hi, "95% posterior interval")
        ymax = ax.get_ylim()[1]
        ax.errorbar([est], [0.85 * ymax], xerr=[[est - t_lo], [t_hi - est]], fmt="s", color="#6b7280", capsize=3,
                    label="2SLS, Wald 95%")
        ax.axvline(ols, color="#6b7280", lw=1, ls=":", label="OLS")
        ar = self.ar_sets[j]
        if ar.kind == "interval":
            ax.hlines(0.72 * ymax, ar.lower, ar.upper, color="#047857", lw=2.5, label="Anderson-Rubin 95%")
        ax.set_title(f"Effect of {name} on {self.outcome}" + (" (AR set unbounded)" if not ar.bounded else ""))
        ax.legend(loc="upper right", fontsize=8)

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        tables = {"Frequentist comparisons and instrument strength": self.diagnostics_table()}
        if self.placebos is not None:
            tables["Placebo fits (permuted instruments)"] = self.placebos
        return {**tables, **self._sensitivity_tables()}

    # -- sensitivity to a confounder or side effect of the instrument ----------------------------------
    def _sensitivity_title(self, rob) -> str:
        return f"Reduced form {rob.treatment} -> {self.outcome} (RV {rob.rv_q:.1%}, interval {rob.rv_qa:.1%})"

    def _sensitivity_unavailable(self) -> str:
        if len(self.instruments) != 1 or len(self._names) != 1:
            return (f"sensitivity() analyses the reduced form of one instrument and one treatment (Cinelli & Hazlett "
                    f"2025); this fit has {len(self.instruments)} instruments for {len(self._names)} treatment(s). "
                    "Use exclusion_sensitivity() for how the effect moves when the instruments may act directly.")
        return super()._sensitivity_unavailable()
