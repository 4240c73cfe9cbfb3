"""``PanelResult``: the posterior of a treatment effect from a panel with unit and time effects removed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..report import plots
from ..report.text import checks_sentences, fmt
from ..result import CausalResult, interval

_SCALE_LABELS = {"sigma": "error sd (sigma)", "sd_unit": "sd of unit effects", "sd_time": "sd of time effects",
                 "rho": "AR(1) error correlation (rho)"}


@dataclass(frozen=True)
class PanelResult(CausalResult):
    """Result of :class:`~bayescausal.panel.PanelFE`.

    Extra fields
    ------------
    coefficients : posterior draws of the covariates' coefficients, dims ``(chain, draw, covariate)``.
    time_effects : draws of the time effects ``(chain, draw, time)`` (the first period 0 under fixed time effects),
        or None without time effects.
    scales : draws of the sampled scale parameters (``sigma``, ``sd_unit``, ``sd_time``, ``rho`` as present), each
        ``(chain, draw)``, original units (``rho`` unitless).
    effect_mean : the Rao-Blackwellised posterior mean of the effect (mean over draws of its exact conditional
        mean): equal to the within (two-way fixed-effects) estimator for fixed effects with flat priors.
    outcome, unit, time, treatment, covariates : the column names.
    spec : the model in words (unit effects, time effects, errors, Mundlak).
    n_rows, n_units, n_times, balanced : the panel's shape.
    placebos : one row per placebo adoption date (shift, mean, interval), or None.
    randomization : the randomization test (``statistic``, ``p_value``, ``null``, ``permutations``), or None.
    """

    coefficients: xr.DataArray | None = None
    time_effects: xr.DataArray | None = None
    scales: dict = field(default_factory=dict, repr=False, compare=False)
    effect_mean: float = float("nan")
    outcome: str = ""
    unit: str = ""
    time: str = ""
    treatment: str = ""
    covariates: tuple = ()
    spec: str = ""
    n_rows: int = 0
    n_units: int = 0
    n_times: int = 0
    balanced: bool = True
    placebos: pd.DataFrame | None = field(default=None, compare=False)
    randomization: dict | None = field(default=None, repr=False, compare=False)

    # -- numbers --------------------------------------------------------------------------------------------
    def _summary_rows(self) -> dict[str, np.ndarray]:
        rows = {"effect": self.effect.values.ravel()}
        if self.coefficients is not None:
            for name in self.coefficients.coords["covariate"].values:
                rows[f"coefficient: {name}"] = self.coefficients.sel(covariate=name).values.ravel()
        for name, draws in self.scales.items():
            rows[_SCALE_LABELS.get(name, name)] = np.asarray(draws).ravel()
        return rows

    # -- words and pictures ---------------------------------------------------------------------------------
    def _panel_sentences(self) -> list[str]:
        shape = (f"{self.n_units:,} units over {self.n_times} periods ({self.n_rows:,} rows, "
                 f"{'balanced' if self.balanced else 'unbalanced'})")
        out = [f"Model: {self.spec}; {shape}. Unit and time effects are integrated out analytically and the fit "
               "works from sufficient statistics."]
        out += [singleton_sentence(self.info.get("singleton_units_dropped", 0))] \
            if self.info.get("singleton_units_dropped") else []
        table = self.summary()
        parts = []
        for name in ("sigma", "sd_unit", "sd_time", "rho"):
            label = _SCALE_LABELS[name]
            if label in table.index:
                r = table.loc[label]
                parts.append(f"{label} {fmt(r['mean'])} ({fmt(r['lower'])} to {fmt(r['upper'])})")
        if parts:
            out.append("Scales: " + "; ".join(parts) + ".")
        if self.randomization is not None:
            out.append(f"Randomization inference over which units were treated: p = "
                       f"{self.randomization['p_value']:.3f} for the effect's size over "
                       f"{self.randomization['permutations']} permutations of the units' treatment paths.")
        return out

    def report(self) -> str:
        """Failed checks first, then the effect, the model and scales, then the checks that passed."""
        opening, closing = checks_sentences(self.checks)
        parts = [opening, self._headline(), " ".join(self._panel_sentences()), closing]
        return "\n\n".join(p for p in parts if p)

    def plot(self):
        """Posterior of the effect (with zero marked) and, when present, the time effects with 95% bands."""
        draws = self.effect.values.ravel()
        lo, hi = interval(draws, 0.95, self.interval_kind)
        with plots.plt.rc_context(plots.STYLE):
            ncols = 2 if self.time_effects is not None else 1
            fig, axes = plots.plt.subplots(1, ncols, figsize=(5.2 * ncols + 1, 3.4), squeeze=False)
            ax = axes[0, 0]
            plots.effect_histogram(ax, draws, lo, hi)
            ax.set_title(f"Effect of {self.treatment} on {self.outcome}")
            ax.legend(loc="upper right", fontsize=8)
            if self.time_effects is not None:
                ax2 = axes[0, 1]
                te = self.time_effects.values.reshape(-1, self.time_effects.sizes["time"])
                x = np.arange(te.shape[1])
                lo_t, hi_t = np.quantile(te, [0.025, 0.975], axis=0)
                ax2.fill_between(x, lo_t, hi_t, color=plots.MODEL, alpha=plots.BAND_ALPHA, lw=0, label="95% interval")
                ax2.plot(x, te.mean(axis=0), color=plots.MODEL, lw=1.4, label="posterior mean")
                labels = [str(v) for v in self.time_effects.coords["time"].values]
                step = max(1, len(labels) // 8)
                ax2.set_xticks(x[::step])
                ax2.set_xticklabels(labels[::step], rotation=30, ha="right")
                ax2.set_title("Time effects")
                ax2.legend(loc="best", fontsize=8)
            fig.tight_layout()
        return fig

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        tables = {}
        if self.placebos is not None:
            tables["Placebo adoption dates (pre-period only)"] = self.placebos
        return tables


def singleton_sentence(n: int) -> str:
    """The report's note on units with a single row, dropped under fixed unit effects (``_data.prepare_panel``)."""
    return (f"{n:,} unit{'s' if n > 1 else ''} with a single row {'were' if n > 1 else 'was'} dropped: with fixed "
            "unit effects such a row only fixes its own unit effect and carries no information about the effect.")
