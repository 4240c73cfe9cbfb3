"""``CausalResult``: what every estimator's ``fit`` returns (see DESIGN.md, "The Result contract")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .checks.base import CheckResult
from .errors import SpecError
from .report import html as html_report
from .report import plots
from .report.text import checks_sentences, fmt


def interval(draws: np.ndarray, prob: float, kind: str) -> tuple[float, float]:
    """Central (equal-tailed, ``"eti"``) or highest-density (``"hdi"``) interval of 1-D draws."""
    draws = np.asarray(draws, float).ravel()
    if kind == "hdi":
        lo, hi = az.hdi(draws, hdi_prob=prob)
        return float(lo), float(hi)
    if kind == "eti":
        tail = (1.0 - prob) / 2.0
        lo, hi = np.quantile(draws, [tail, 1.0 - tail])
        return float(lo), float(hi)
    raise SpecError(f"interval={kind!r}: use 'eti' (equal-tailed) or 'hdi' (highest density).")


def summarise_draws(rows: dict[str, np.ndarray], prob: float = 0.95, kind: str = "eti") -> pd.DataFrame:
    """One row per quantity: mean, sd, interval limits and the posterior probability of being positive."""
    if not 0.0 < prob < 1.0:
        raise SpecError(f"interval probability {prob!r} must lie strictly between 0 and 1.")
    records = {}
    for name, draws in rows.items():
        d = np.asarray(draws, float).ravel()
        lo, hi = interval(d, prob, kind)
        records[name] = {"mean": d.mean(), "sd": d.std(ddof=1), "lower": lo, "upper": hi,
                         "p_positive": float(np.mean(d > 0))}
    df = pd.DataFrame.from_dict(records, orient="index")
    df.index.name = "quantity"
    return df


@dataclass(frozen=True)
class CausalResult:
    """Posterior of a causal effect with the checks that say whether it can be trusted.

    Attributes
    ----------
    estimand : what ``effect`` is, in words.
    effect : posterior draws of the effect, dims ``(chain, draw, ...)``.
    idata : ``arviz.InferenceData`` (posterior, posterior_predictive, observed_data, sample_stats).
    checks : verdicts of the checks run by ``fit``.
    method : the estimator that produced the result.
    interval_kind : ``"eti"`` (default: equal-tailed, as CausalImpact reports) or ``"hdi"``.
    """

    estimand: str
    effect: xr.DataArray
    idata: az.InferenceData
    checks: tuple[CheckResult, ...]
    method: str = ""
    interval_kind: str = "eti"
    info: dict = field(default_factory=dict)

    # -- verdicts -------------------------------------------------------------------------------
    @property
    def trustworthy(self) -> bool:
        """True only when every check ran and passed."""
        return bool(self.checks) and all(c.passed is True for c in self.checks)

    def checks_table(self) -> pd.DataFrame:
        return pd.DataFrame([c.as_row() for c in self.checks]).set_index("check")

    # -- numbers --------------------------------------------------------------------------------
    def _summary_rows(self) -> dict[str, np.ndarray]:
        """Quantities in the summary table (subclasses add theirs)."""
        return {"effect": self.effect.values.reshape(self.effect.sizes["chain"] * self.effect.sizes["draw"], -1)
                .mean(axis=1) if self.effect.ndim > 2 else self.effect.values.ravel()}

    def summary(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """One row per reported quantity: ``mean, sd, lower, upper, p_positive`` (interval at ``hdi_prob``)."""
        return summarise_draws(self._summary_rows(), hdi_prob, self.interval_kind)

    # -- words and pictures --------------------------------------------------------------------
    def _headline(self) -> str:
        row = self.summary().iloc[0]
        return (f"{self.estimand[:1].upper()}{self.estimand[1:]}: {fmt(row['mean'])} "
                f"(95% interval {fmt(row['lower'])} to {fmt(row['upper'])}); posterior probability that it "
                f"is positive {row['p_positive']:.1%}.")

    def report(self) -> str:
        """Plain-language paragraph: a failed check first, then the numbers, then the checks' verdicts."""
        opening, closing = checks_sentences(self.checks)
        return " ".join(p for p in (opening, self._headline(), closing) if p)

    def plot(self):
        """Posterior distribution of the effect (methods override with their own views)."""
        draws = self._summary_rows()
        name, values = next(iter(draws.items()))
        lo, hi = interval(values, 0.95, self.interval_kind)
        return plots.effect_density(values, lo, hi, self.estimand, name)

    def _figures(self) -> list:
        return [self.plot()]

    def _extra_tables(self) -> dict[str, pd.DataFrame]:
        return {}

    def _meta(self) -> dict:
        return {"method": self.method, **{k: v for k, v in self.info.items() if isinstance(v, (str, int, float))}}

    def to_html(self, path: str | os.PathLike) -> str:
        """Write one self-contained HTML file (text, tables, plots embedded); returns its path."""
        import matplotlib.pyplot as plt

        figures = self._figures()
        try:
            page = html_report.render_page(
                title=f"{self.method}: {self.estimand}",
                paragraphs=self.report().split("\n\n"),
                summary=self.summary(),
                checks=self.checks,
                figures=figures,
                extra_tables=self._extra_tables(),
                meta=self._meta(),
            )
        finally:
            for fig in figures:
                plt.close(fig)
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(page)
        return path

    def _repr_html_(self) -> str:
        return html_report.notebook_card(f"{self.method}: {self.estimand}", self._headline(), self.summary(),
                                         self.checks)

    def __repr__(self) -> str:
        verdict = "trustworthy" if self.trustworthy else "NOT trustworthy (see .checks)"
        return f"<{type(self).__name__} {self.method}: {self._headline()} [{verdict}]>"
