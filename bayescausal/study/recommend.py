"""The method recommender: the design's shape and the decision guide give a method and the reasons for it.

Decision guide (README, "Which method"):
- marketing spend over time (``spend`` channels named): a marketing mix model (MMM);
- one aggregate series with one intervention date: BSTS impact analysis (``causal_impact``);
- a valid instrument named: Bayesian instrumental variables (``iv``);
- a panel (units observed over periods): fixed effects (``panel_fe``);
- a cross-section of units with pre-exposure covariates: matching (``cem``) when the covariates are few enough to
  match exactly on their coarsened values (at most 4), else doubly robust estimation (``aipw``).
The user may override the recommendation with ``method:``; the report records both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SpecError
from .config import StudyConfig, design_kind

LABELS = {
    "cem": "coarsened exact matching (bc.CEM)",
    "aipw": "doubly robust estimation (bc.AIPW)",
    "iv": "Bayesian instrumental variables (bc.BayesianIV)",
    "causal_impact": "BSTS impact analysis (bc.CausalImpact)",
    "panel_fe": "panel fixed effects (bc.PanelFE)",
    "event_study": "event study (bc.EventStudy)",
    "mmm": "marketing mix model (bc.MMM)",
}
SHAPE_METHODS = {
    "cross_section": ("cem", "aipw", "iv"),
    "series": ("causal_impact",),
    "panel": ("panel_fe", "event_study"),
    "marketing": ("mmm",),
}
MAX_CEM_COVARIATES = 4


@dataclass(frozen=True)
class Recommendation:
    """The recommended method, the reasons in words, and the method that will run (the user's when overridden)."""

    method: str
    reasons: tuple[str, ...]
    shape: str
    chosen: str
    overridden: bool
    available: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        return LABELS[self.method]

    def text(self) -> str:
        lines = [f"Recommended: {LABELS[self.method]} ({self.shape.replace('_', '-')} design)."]
        lines += [f"  - {r}" for r in self.reasons]
        if self.overridden:
            lines.append(f"Overridden by the config: method {self.chosen!r} ({LABELS[self.chosen]}) will run.")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def mmm_available() -> bool:
    import bayescausal

    return hasattr(bayescausal, "MMM")


def recommend(cfg: StudyConfig, table=None) -> Recommendation:
    """The method for ``cfg`` by the decision guide, with its reasons. ``table``: the built
    :class:`~bayescausal.study.pipeline.ModellingTable`, when there is one, adds what the data show (group sizes,
    units without variation)."""
    shape = design_kind(cfg)
    reasons: list[str] = []
    notes: list[str] = []
    if shape == "marketing":
        method = "mmm"
        reasons.append(f"the study names marketing spend channels ({', '.join(cfg.spend)}): spend varies over time "
                       "with carry-over and saturation, which a marketing mix model describes; the data are one "
                       "weekly series of the outcome and of each channel's spend")
        if not mmm_available():
            notes.append("bc.MMM is not available in this version of bayescausal (it is being written); the study "
                         "cannot be fitted until it is, or choose another method with 'method:'")
    elif shape == "series":
        method = "causal_impact"
        reasons.append(f"one intervention date ({cfg.treatment.date:%Y-%m-%d}) applies to the whole cohort: the data "
                       "are one aggregate daily series, so the counterfactual is a forecast from the pre-period "
                       "(BSTS), with control series that the intervention did not touch")
    elif shape == "panel":
        method = "panel_fe"
        reasons.append("units are observed over many periods before and after exposure: unit fixed effects remove "
                       "every stable difference between units, period effects the shocks common to all")
    elif cfg.instrument:
        method = "iv"
        reasons.append(f"an instrument is named ({cfg.instrument!r}): it shifts the treatment and, by the study's "
                       "assumption, reaches the outcome only through it, so unmeasured confounding is handled")
    else:
        k = len(cfg.covariates)
        if k == 0:
            raise SpecError("covariates: a cross-sectional study needs at least one pre-exposure covariate to "
                            "adjust for (or name an instrument).")
        if k <= MAX_CEM_COVARIATES:
            method = "cem"
            reasons.append(f"a cross-section of units with {k} pre-exposure covariate(s): few enough to match treated "
                           "and control units exactly on their coarsened values (coarsened exact matching), which "
                           "makes the comparison transparent and checks overlap directly")
        else:
            method = "aipw"
            reasons.append(f"a cross-section of units with {k} pre-exposure covariates: too many to match exactly "
                           f"(more than {MAX_CEM_COVARIATES}); doubly robust estimation combines a propensity and an "
                           "outcome model and stays consistent when either is right")
    if table is not None and table.kind in ("cross_section", "cem_strata"):
        reasons.append(f"the modelling table holds {table.n_treated} treated and {table.n_control} control units")
        if table.kind == "cem_strata":
            reasons.append(f"the engine returned CEM's stratum statistics ({len(table.frame):,} strata; "
                           f"{table.aggregation_reason}), which only CEM fits")
        if method == "cem" and min(table.n_treated, table.n_control) < 30:
            reasons.append("few units in one group: matching may discard many; consider AIPW")
    chosen = method if cfg.method == "auto" else cfg.method
    if cfg.method != "auto" and cfg.method not in SHAPE_METHODS.get(shape, ()):
        if not (shape == "cross_section" and cfg.method in SHAPE_METHODS["cross_section"]):
            notes.append(f"method {cfg.method!r} does not fit a {shape.replace('_', '-')} design; it needs "
                         f"{_needs(cfg.method)}")
    if chosen == "iv" and not cfg.instrument:
        notes.append("method 'iv' needs an 'instrument' column")
    available = not (chosen == "mmm" and not mmm_available())
    return Recommendation(method, tuple(reasons), shape, chosen, cfg.method != "auto", available, tuple(notes))


def _needs(method: str) -> str:
    for shape, methods in SHAPE_METHODS.items():
        if method in methods:
            return {"cross_section": "a treatment table (a cross-section of units)",
                    "series": "one treatment date (an aggregate series)",
                    "panel": "a 'panel' section (units over periods)",
                    "marketing": "'spend' channels"}[shape]
    return "another design"
