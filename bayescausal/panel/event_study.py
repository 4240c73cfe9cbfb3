"""``EventStudy``: effects by time since adoption, and staggered adoption, as a Bayesian two-way panel.

The model is the Gaussian panel of :mod:`bayescausal.panel.core` (unit effects, period effects, covariates,
iid or AR(1) errors) with one effect per (adoption cohort, event time) cell: the interaction-weighted design of
Sun & Abraham (2021, J. Econometrics 225(2)); see :mod:`bayescausal.panel._event` for the window, the binned end
points and the comparison rows. The cell effects' joint posterior is then averaged per draw: over cohorts at each
event time (the dynamic effects) and over all treated cells (the average effect on the treated unit-periods, the
headline), with weights equal to each cell's share of the rows, shown in ``result.weights``. Averaging per draw
carries the joint uncertainty of the cells into every interval.

The pooled two-way fixed-effects coefficient of the treatment dummy is NOT the answer: with staggered adoption
it averages cell effects with weights that can be negative, because already-treated units act as controls for
later adopters, so it is biased whenever effects differ across cohorts or change with time since adoption
(Goodman-Bacon 2021, J. Econometrics 225(2); de Chaisemartin & D'Haultfoeuille 2020, AER 110(9)). It is
computed only as a comparison (``result.twfe``), with a caution in the report.

Checks run by ``fit``:

- pre-trends: the leads (effects before adoption, which are zero under parallel trends and no anticipation)
  must be jointly near zero: the squared Mahalanobis distance of 0 from the leads' posterior (mean ``m``,
  covariance ``S``), ``m' S^-1 m``, must not exceed the 95% quantile of a chi-square with as many degrees of
  freedom as leads, i.e. 0 must lie inside the leads' 95% joint credible ellipsoid under a normal approximation
  (the Bayesian counterpart of the joint Wald pre-trend test). The posterior probability that every lead lies
  within a tolerance is reported beside it. Passing is no proof of parallel trends: such tests have little
  power against smooth violations (Roth 2022, AER: Insights 4(3)).
- convergence, posterior predictive coverage and serial correlation of the residuals (the core's checks);
- placebo adoption dates: each treated unit's adoption moved ``s`` periods earlier and only its rows before
  the real adoption kept; the average effect over the fake-treated rows must be zero (binomial rule over the
  shifts);
- randomization inference: which units were treated (their whole adoption paths) permuted across units; the
  real estimate's permutation p-value (on the observed outcome: the sharp null of no effect) and the permuted
  fits' intervals on the outcome with the fitted cell effects removed, where the truth is 0 (binomial rule).

The placebo and permutation refits hold the scale parameters (error sd, AR(1) coefficient, effect sds) at their
posterior means from the main fit and use the effects' exact Gaussian posterior given them
(:func:`conditional_effects`), so they need no MCMC; the scales' own uncertainty, small next to the effects', is
not carried into those intervals. ``checks="fast"`` skips them. On panels of more than ``MAX_CHECK_UNITS``
units both run on a seeded random subset of that many units (each check's rows are re-reduced once per placebo
date or permutation, and at a million units a permutation cost about 4 s): the randomization test stays exact on
the subset (its units' assignments are permuted among themselves, and the real estimate it is compared with is
the subset's), and at 50,000 units its intervals are still a few hundredths of an outcome sd wide.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from ..checks import normalise_level, placebo_rate_check, randomization_check, skipped
from ..checks.base import CheckResult
from ..errors import DataError, SpecError
from ..inference import Sampler, nuts_sampler, to_inference_data
from . import _event
from ._data import prepare_panel
from .core import (
    PREDICTIVE_DRAWS,
    PanelDesign,
    PanelSpec,
    _config,
    _numpy_inputs,
    convergence,
    fit_panel_design,
    observed_outcome,
    posterior_predictive,
    predictive_check,
    predictive_rows,
    prepare,
    serial_correlation_check,
)
from .event_result import EventStudyResult
from .model import conditional_numpy

Z95 = 1.959963984540054  # the 97.5% normal quantile: check intervals from the exact conditional posterior
PRETREND_LEVEL = 0.95
MAX_CHECK_UNITS = 50_000


@dataclass
class _Fitted:
    """One design and its fit, with what aggregating it needs."""

    design: _event.EventDesign
    panel: PanelDesign
    fit: object

    @property
    def att(self) -> np.ndarray:
        return np.asarray(self.fit.effects) @ self.design.att_weights()

    @property
    def dynamic(self) -> np.ndarray:
        return np.asarray(self.fit.effects) @ self.design.dynamic_weights().T


@dataclass(frozen=True)
class EventStudy:
    """Event study with staggered adoption: cohort-by-event-time effects aggregated to dynamic and overall effects.

    Parameters
    ----------
    leads, lags : the reported window: lead effects at event times ``-leads..-2`` (``leads=1``: none; the
        pre-trend test needs ``leads >= 2``) and lag effects at ``0..lags``; ``-1``, the period before adoption, is
        the reference. The end points are pooled when the cells are averaged: ``lags`` reports every later event
        time too (and with ``control="never"``, ``-leads`` every earlier one); the cells themselves are never
        pooled (see :mod:`bayescausal.panel._event` for why).
    unit_effects, time_effects, errors, priors : the panel model (``PanelSpec``): ``"fixed"`` or
        ``"hierarchical"`` unit effects, ``"fixed"``, ``"hierarchical"`` or None period effects, ``"iid"`` or
        ``"ar1"`` errors (use ``"ar1"`` when the serial-correlation check fails: otherwise the intervals are too
        narrow), ``PanelPriors`` or a dict of overrides.
    control : ``"never"`` (default): the comparison group is the never-treated units (a DataError when there are
        none); ``"notyet"``: also the not-yet-treated rows more than ``leads`` periods before adoption, and with
        no never-treated units the last cohort until it adopts.
    sampler : a ``bc.Sampler`` (default: 4 chains of 1000 draws); ``fit(sampler=...)`` overrides it.
    placebo_shifts : how many periods earlier the fake adoption dates of the placebo check are.
    permutations : permutations of the treated units for randomization inference (99: p-values down to 0.01).
    pretrend_tolerance : the tolerance of the reported probability that every lead is within +-tolerance, in
        outcome units; default the larger of 20% of the absolute average effect and its posterior sd.

    Event time counts the distinct periods in the data, so every period should appear in at least one row. Under
    fixed unit effects, units with a single row are dropped with a UserWarning (they carry no information about
    the cells); ``info["singleton_units_dropped"]`` and the report give how many.
    """

    leads: int = 4
    lags: int = 4
    unit_effects: str = "fixed"
    time_effects: str | None = "fixed"
    errors: str = "iid"
    control: str = "never"
    priors: object = None
    sampler: Sampler | None = None
    placebo_shifts: tuple = (2, 3, 4)
    permutations: int = 99
    pretrend_tolerance: float | None = None

    def __post_init__(self):
        for name, low in (("leads", 1), ("lags", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise SpecError(f"{name}={value!r}: give an integer >= {low} (leads=4: event times -4..-2 before "
                                "adoption; lags=4: 0..4 after, -1 the reference).")
        if self.control not in _event.CONTROLS:
            raise SpecError(f"control={self.control!r}: use 'never' (never-treated units as the comparison group) or "
                            "'notyet' (also units not yet treated).")
        shifts = tuple(self.placebo_shifts)
        if not shifts or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shifts):
            raise SpecError(f"placebo_shifts={self.placebo_shifts!r}: give positive integers (periods earlier).")
        object.__setattr__(self, "placebo_shifts", tuple(int(s) for s in shifts))
        if isinstance(self.permutations, bool) or not isinstance(self.permutations, int) or self.permutations < 1:
            raise SpecError(f"permutations={self.permutations!r}: give a positive integer.")
        tol = self.pretrend_tolerance
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not np.isfinite(tol)
                                or tol <= 0):
            raise SpecError(f"pretrend_tolerance={tol!r}: give a positive number (outcome units) or None.")
        if self.sampler is not None and not isinstance(self.sampler, Sampler):
            raise SpecError(f"sampler must be a bc.Sampler, not {type(self.sampler).__name__}.")
        # the panel model's own validation (unit/time effects, errors, priors) raises SpecError early
        object.__setattr__(self, "_spec", PanelSpec(unit_effects=self.unit_effects, time_effects=self.time_effects,
                                                    errors=self.errors, priors=self.priors))

    # -- fitting ------------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, unit: str, time: str, outcome: str, treatment: str, covariates=None,
            seed: int = 0, checks="full", sampler: Sampler | None = None) -> EventStudyResult:
        """Fit the event study; returns an :class:`EventStudyResult` (``effect``: the average effect on the
        treated unit-periods; ``dynamic``: by event time; ``cohort_effects``; ``weights``; ``twfe``).

        ``treatment`` is a 0/1 column that switches on at a unit's adoption and stays on; never-treated units are
        all 0. ``checks="full"`` runs every check; ``"fast"`` skips the placebo and permutation refits; False none.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler or self.sampler, "EventStudy")
        if not isinstance(treatment, str):
            raise SpecError(f"treatment={treatment!r}: give the name of the 0/1 treatment column.")
        frame = prepare_panel(df, unit, time, outcome, treatment, covariates, absorbing=True,
                              fixed_units=self.unit_effects == "fixed")
        cohort = np.asarray(frame.adoption, dtype=np.int64)
        if self.control == "never" and not np.any(cohort == _event.NEVER):
            raise DataError(f"every unit in {unit!r} is treated at some point, so there are no never-treated units to "
                            f"compare with (control='never'). Use EventStudy(control='notyet'): the not-yet-treated "
                            "units, and the last cohort until it adopts, then serve as the comparison group.")
        main = self._build(frame, cohort, frame.time >= 0, self.lags, "fit")
        if not np.any(main.design.col_event >= 0):
            raise DataError(f"no treated unit-period of {treatment!r} has a comparison: check the treatment column, "
                            "or use control='notyet'.")
        main.fit = fit_panel_design(main.panel, self._spec, sampler, seed)
        twfe = float(_event.two_way_ols(frame.y, [frame.treatment, *frame.X.T], frame.unit, frame.time)[0])

        pred_rows = predictive_rows(main.fit, seed)
        y_rep = posterior_predictive(main.fit, pred_rows, PREDICTIVE_DRAWS, seed)
        check_list: list[CheckResult] = []
        placebos = permutations = None
        pre_check, pretrend = self._pretrend_check(main)  # no refit: its numbers are reported even with checks=False
        if level in ("full", "fast"):
            check_list += [pre_check, convergence(main.fit), predictive_check(main.fit, seed, y_rep, pred_rows),
                           serial_correlation_check(main.fit)]
        if level == "full":
            c_frame, c_cohort, c_main = self._check_sample(frame, cohort, main, seed)
            placebo_check, placebos = self._placebo_check(c_frame, c_cohort, c_main)
            ri_check, permutations = self._randomization_check(c_frame, c_cohort, c_main, seed + 2)
            if c_frame is not frame:
                where = f" (on a seeded random {c_frame.n_units:,} of the {frame.n_units:,} units)"
                placebo_check, ri_check = (dataclasses.replace(c, message=c.message + where)
                                           for c in (placebo_check, ri_check))
            check_list += [placebo_check, ri_check]
        predictive = (observed_outcome(main.fit, pred_rows), y_rep)
        return self._result(frame, main, twfe, tuple(check_list), pretrend, placebos, permutations, predictive,
                            sampler, seed)

    def _build(self, frame, cohort: np.ndarray, rows: np.ndarray, lags: int, what: str) -> _Fitted:
        """The event design on ``rows`` of the frame with these cohorts, and its panel design (units and periods
        recoded densely over the kept rows). DataError when the design is not identified."""
        rows = np.flatnonzero(rows)
        try:
            design = _event.build_design(frame.unit[rows], frame.time[rows], cohort, self.leads, lags, self.control)
        except ValueError as err:
            raise DataError(f"the event study of {frame.treatment_name!r} cannot be identified ({what}): {err}. "
                            f"Check the {frame.unit_name!r} and {frame.time_name!r} columns, or use fewer "
                            "leads/lags.") from err
        everything = rows.size == frame.y.size and bool(design.keep.all())  # no copies of the rows then
        keep = slice(None) if everything else rows[design.keep]
        unit_codes, _ = _dense_codes(frame.unit[keep], frame.n_units)
        time_codes, periods = _dense_codes(frame.time[keep], frame.n_times)
        names = tuple(f"cohort {frame.time_labels[g]}, event time {e}" for g, e in zip(design.col_cohort,
                                                                                     design.col_event, strict=True))
        panel = PanelDesign(y=frame.y[keep], unit=unit_codes, time=time_codes, n_units=int(unit_codes.max()) + 1,
                            n_times=periods.size, effects=design.indicators(), controls=frame.X[keep],
                            effect_names=names, control_names=frame.covariates,
                            time_labels=frame.time_labels[periods])
        return _Fitted(design=design, panel=panel, fit=None)

    # -- checks ----------------------------------------------------------------------------------------
    def _check_sample(self, frame, cohort: np.ndarray, main: _Fitted, seed: int):
        """The frame, cohorts and main design the refitting checks run on: the fit's own, or on more than
        ``MAX_CHECK_UNITS`` units a seeded random subset of units (all their rows; see the module docstring).
        The subset's main design gets the fit's scales and its own exact conditional effects."""
        if frame.n_units <= MAX_CHECK_UNITS:
            return frame, cohort, main
        rng = np.random.default_rng(seed + 101)
        units = np.sort(rng.choice(frame.n_units, MAX_CHECK_UNITS, replace=False))
        code = np.full(frame.n_units, -1, dtype=np.int64)
        code[units] = np.arange(units.size)
        rows = np.flatnonzero(code[frame.unit] >= 0)
        sub = dataclasses.replace(
            frame, y=frame.y[rows], unit=code[frame.unit[rows]], time=frame.time[rows], X=frame.X[rows],
            treatment=None if frame.treatment is None else frame.treatment[rows], adoption=frame.adoption[units],
            order=frame.order[rows], unit_labels=frame.unit_labels[units])
        sub_cohort = cohort[units]
        try:
            sub_main = self._build(sub, sub_cohort, np.ones(rows.size, bool), self.lags, "checks")
            prep = prepare(sub_main.panel, self._spec)
        except DataError:  # the subset is not identified (e.g. a cohort left without comparisons): all units
            return frame, cohort, main
        phi = _scales(main.fit, prep)
        mean, _ = conditional_effects([prep], phi)
        sub_main.fit = _CheckFit(prep=prep, effects_mean=mean[0], phi_std=phi)
        return sub, sub_cohort, sub_main

    def _pretrend_check(self, main: _Fitted) -> tuple[CheckResult, dict]:
        name = "pre-trends (leads jointly zero)"
        events = main.design.event_times
        leads = events < -1
        if not leads.any():
            return skipped(name, "no leads were estimated (use leads >= 2)"), {}
        dyn = main.dynamic
        draws = dyn.reshape(-1, dyn.shape[-1])[:, leads]
        att = main.att.ravel()
        tol = self.pretrend_tolerance or max(0.2 * abs(float(att.mean())), float(att.std(ddof=1)))
        d2, df = lead_distance(draws)
        threshold = float(stats.chi2.ppf(PRETREND_LEVEL, df))
        p_value = float(stats.chi2.sf(d2, df))
        p_within = float(np.mean(np.all(np.abs(draws) <= tol, axis=1)))
        info = {"statistic": d2, "threshold": threshold, "df": df, "p_value": p_value, "tolerance": tol,
                "p_within": p_within}
        passed = bool(d2 <= threshold)
        message = (f"zero lies {'inside' if passed else 'OUTSIDE'} the {PRETREND_LEVEL:.0%} joint credible region of "
                   f"the {df} lead{'s' if df > 1 else ''} (squared Mahalanobis distance {d2:.2f} against the "
                   f"chi-square({df}) quantile {threshold:.2f}, p = {p_value:.3f}); posterior probability that every "
                   f"lead is within +-{tol:.3g}: {p_within:.1%}.")
        if not passed:
            message += (" The treated units were already drifting away from the comparison units before adoption "
                        "(or anticipated it), so parallel trends fail and the post-adoption effects are biased: add "
                        "covariates that explain the drift, choose a comparison group that shares it, or model "
                        "unit-specific trends.")
        return CheckResult(name, passed, round(d2, 4), f"<= chi2_{df}({PRETREND_LEVEL}) = {threshold:.2f}",
                           message), info

    def _placebo_check(self, frame, cohort: np.ndarray, main: _Fitted):
        name = "placebo adoption dates"
        ever = cohort[frame.unit] != _event.NEVER
        before = ~ever | (frame.time < cohort[frame.unit])  # only rows before the real adoption
        rows = []
        for s in self.placebo_shifts:
            try:
                item = self._build(frame, _event.placebo_cohorts(cohort, s), before, self.lags, "placebo")
                if not np.any(item.design.col_event >= 0):
                    continue
                prep = prepare(item.panel, self._spec)
            except DataError:
                continue
            m, sd = conditional_effects([prep], _scales(main.fit, prep), contrasts=item.design.att_weights()[None, :])
            rows.append({"shift": s, "mean": float(m[0, 0]), "sd": float(sd[0, 0]),
                         "lower": float(m[0, 0] - Z95 * sd[0, 0]), "upper": float(m[0, 0] + Z95 * sd[0, 0]),
                         "treated_rows": int(item.design.n_obs[item.design.col_event >= 0].sum())})
        if not rows:
            return skipped(name, "the pre-period is too short to move the adoption dates into it"), None
        table = pd.DataFrame(rows).set_index("shift")
        check = placebo_rate_check(table["lower"], table["upper"], [f"{s} periods early" for s in table.index], name,
                                   "placebo adoption dates moved into the pre-period")
        return check, table

    def _randomization_check(self, frame, cohort: np.ndarray, main: _Fitted, seed: int):
        """Adoption dates permuted across units, each permutation's average effect from its exact conditional
        posterior at the main fit's scales. The p-value compares the real estimate with the permutation
        distribution on the observed outcome (the sharp null of no effect, Fisher 1935); the interval rule is
        applied with the fitted cell effects removed from the outcome, where every permutation's effect is 0."""
        name = "randomization inference"
        w = main.design.att_weights()
        observed = float(conditional_effects([main.fit.prep], _scales(main.fit, main.fit.prep),
                                             contrasts=w[None, :])[0][0, 0])
        base_design = dataclasses.replace(main.panel, offset=main.panel.effects @ main.fit.effects_mean)
        base = prepare(base_design, self._spec)
        rows_main = np.flatnonzero(main.design.keep)  # the main design was built on every row of the frame
        rng = np.random.default_rng(seed)
        null, lower, upper = [], [], []
        for _ in range(self.permutations):
            perm = cohort[rng.permutation(cohort.size)]
            try:
                des = _event.build_design(frame.unit[rows_main], frame.time[rows_main], perm, self.leads, self.lags,
                                          self.control)
                if not np.any(des.col_event >= 0):
                    continue
                names = tuple(f"cell {k}" for k in range(des.n_columns))  # the cells can differ from the fit's
                if des.keep.all():  # the same rows: only the effect columns' statistics are new
                    prep = prepare(base_design.with_effects(des.indicators(), names), self._spec, base)
                else:
                    sub = np.flatnonzero(des.keep)
                    prep = prepare(dataclasses.replace(base_design.subset(sub), effects=des.indicators(),
                                                       effect_names=names), self._spec)
            except (ValueError, DataError):  # not identified under this permutation
                continue
            c = des.att_weights()[None, :]
            phi = _scales(main.fit, prep)  # a permutation that drops rows standardises by its own outcome sd
            m_plain, _ = conditional_effects([prep], phi, plain=True, contrasts=c)
            m_cal, sd_cal = conditional_effects([prep], phi, contrasts=c)
            null.append(m_plain[0, 0])
            lower.append(m_cal[0, 0] - Z95 * sd_cal[0, 0])
            upper.append(m_cal[0, 0] + Z95 * sd_cal[0, 0])
        if not null:
            return skipped(name, "no permutation of the treated units gave an identified design"), None
        table = pd.DataFrame({"estimate": null, "lower_effect_removed": lower, "upper_effect_removed": upper},
                             index=pd.RangeIndex(1, len(null) + 1, name="permutation"))
        check = randomization_check(observed, table["estimate"], table["lower_effect_removed"],
                                    table["upper_effect_removed"], name, "fits with the treated units permuted")
        return check, table

    # -- the result ---------------------------------------------------------------------------------------
    def _result(self, frame, main: _Fitted, twfe, check_list, pretrend, placebos, permutations, predictive, sampler,
                seed):
        des, fit = main.design, main.fit
        effects = np.asarray(fit.effects)
        n_chain, n_draw = effects.shape[:2]
        chain_draw = {"chain": np.arange(n_chain), "draw": np.arange(n_draw)}
        events = des.event_times.astype(int)
        cohorts = des.cohorts
        cohort_labels = list(frame.time_labels[cohorts])
        att = xr.DataArray(main.att, dims=("chain", "draw"), coords=chain_draw, name="effect")
        dynamic = xr.DataArray(main.dynamic, dims=("chain", "draw", "event_time"),
                               coords={**chain_draw, "event_time": events}, name="dynamic")
        cell_events = np.unique(des.col_event).astype(int)
        cells = np.full((n_chain, n_draw, cohorts.size, cell_events.size), np.nan)
        gi = np.searchsorted(cohorts, des.col_cohort)
        ei = np.searchsorted(cell_events, des.col_event)
        cells[:, :, gi, ei] = effects
        cohort_effects = xr.DataArray(cells, dims=("chain", "draw", "cohort", "event_time"),
                                      coords={**chain_draw, "cohort": cohort_labels, "event_time": cell_events},
                                      name="cohort_effects")
        weights = pd.DataFrame({"cohort": list(frame.time_labels[des.col_cohort]), "event_time": des.col_event,
                                "reported_event_time": des.col_group, "n_obs": des.n_obs,
                                "weight_dynamic": des.dynamic_weights().sum(axis=0),
                                "weight_att": des.att_weights()}).sort_values(["event_time", "cohort"],
                                                                                ignore_index=True)
        beta = np.asarray(fit.beta).reshape(n_chain, n_draw, -1)
        coefficients = xr.DataArray(beta, dims=("chain", "draw", "covariate"),
                                    coords={**chain_draw, "covariate": list(frame.covariates)}, name="coefficients")
        posterior = {"effect": att.values, "dynamic": dynamic.values, "cell_effects": effects,
                     "sigma": np.asarray(fit.sigma)}
        for key, value in (fit.hyper or {}).items():
            if key not in posterior:
                posterior[key] = np.asarray(value)
        coords = {"event_time": events, "cell": list(main.panel.effect_names)}
        dims = {"dynamic": ["event_time"], "cell_effects": ["cell"], "y": ["row"]}
        if beta.shape[-1]:
            posterior["beta"] = beta
            coords["covariate"] = list(frame.covariates)
            dims["beta"] = ["covariate"]
        observed, y_rep = predictive  # a random subset of rows, as the predictive check used them
        idata = to_inference_data(
            posterior, posterior_predictive={"y": y_rep[None]}, observed_data={"y": observed},
            sample_stats={"diverging": np.asarray(fit.diverging)} if fit.diverging is not None else None,
            coords=coords, dims=dims,
            attrs={"method": "EventStudy", "outcome": frame.outcome, "unit": frame.unit_name,
                   "time": frame.time_name, "treatment": frame.treatment_name})
        dropped_units = tuple(frame.unit_labels[des.dropped_units].tolist())
        dropped_periods = tuple(frame.time_labels[des.dropped_periods].tolist())
        info = {"sampler": "NUTS on the variances, coefficients drawn exactly (collapsed Gaussian)",
                "chains": sampler.chains, "draws": sampler.draws, "seed": seed, "leads": self.leads,
                "lags": self.lags, "control": self.control, "unit_effects": self.unit_effects,
                "time_effects": str(self.time_effects), "errors": self.errors, "cells": des.n_columns,
                "rows": int(main.panel.y.size), "units": int(main.panel.n_units),
                "periods": int(main.panel.n_times), "twfe": twfe}
        if frame.singletons:
            info["singleton_units_dropped"] = len(frame.singletons)
        if des.comparison_cohort != _event.NEVER:
            info["comparison_cohort"] = str(frame.time_labels[des.comparison_cohort])
        info.update({k: v for k, v in (fit.info or {}).items() if k in ("seconds", "kernel")})
        return EventStudyResult(
            estimand=f"average effect of {frame.treatment_name} on {frame.outcome} over the treated unit-periods",
            effect=att, idata=idata, checks=check_list, method="EventStudy (Sun-Abraham cells, Bayesian panel)",
            info=info, dynamic=dynamic, cohort_effects=cohort_effects, weights=weights, twfe=twfe,
            coefficients=coefficients, pretrend=pretrend, placebos=placebos, permutations=permutations,
            unit=frame.unit_name, time=frame.time_name, outcome=frame.outcome, treatment=frame.treatment_name,
            covariates=tuple(frame.covariates), leads=self.leads, lags=self.lags, control=self.control,
            dropped_units=dropped_units, dropped_periods=dropped_periods)


def conditional_effects(preps, phi: dict, plain: bool = False, contrasts: np.ndarray | None = None):
    """Mean and sd ``(B, m)`` of ``contrasts @ effects`` (``contrasts`` (m, K); default the effects themselves)
    under each prepared design's exact Gaussian posterior given the scale parameters ``phi`` (standardised
    scale, floats); ``plain``: for a design with an offset, the outcome without it.

    ``core.conditional_effects`` gives each effect's sd; the event study's estimands are weighted sums of the
    cells, whose sd needs the cells' covariance: ``var(c'theta) = |L^-1 c|^2`` with ``L`` the Cholesky factor of
    the conditional precision. (Kept here until the core offers contrasts.)
    """
    from scipy.linalg import solve_triangular

    lay = preps[0].layout
    K = lay["effects"].stop - lay["effects"].start
    C = np.eye(K) if contrasts is None else np.atleast_2d(np.asarray(contrasts, float))
    mean, sd = np.empty((len(preps), C.shape[0])), np.empty((len(preps), C.shape[0]))
    for b, prep in enumerate(preps):
        m, L = conditional_numpy(phi, _numpy_inputs(prep, plain), _config(prep))
        full = np.zeros((C.shape[0], L.shape[0]))
        full[:, prep.layout["effects"]] = C
        V = solve_triangular(L, full.T, lower=True)
        mean[b] = C @ m[prep.layout["effects"]] * prep.y_sd
        sd[b] = np.sqrt(np.sum(V**2, axis=0)) * prep.y_sd
    return mean, sd


def _dense_codes(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0..n-1`` renumbered densely over those present (order kept), and the original codes present: one
    pass, no sort (``np.unique`` sorted 20M rows twice per design). Returns ``codes`` itself when all are present."""
    present = np.bincount(codes, minlength=n) > 0
    if present.all():
        return codes, np.arange(n)
    return (np.cumsum(present) - 1)[codes], np.flatnonzero(present)


@dataclass
class _CheckFit:
    """What the refitting checks read of a main fit, for a subset of its units: the subset's prepared design,
    its exact conditional cell effects (original scale) and the fit's scales on the subset's standardised scale
    (floats where a fit has draws; :func:`_scales` reads both alike)."""

    prep: object
    effects_mean: np.ndarray
    phi_std: dict


def _scales(fit, prep) -> dict:
    """The posterior means of the fit's sampled scale parameters, where the check refits hold them, on the
    standardised scale of ``prep`` (each design standardises by its own outcome sd: the scales in outcome units,
    sigma and the effect sds, are converted; an AR(1) coefficient is unitless)."""
    ratio = fit.prep.y_sd / prep.y_sd
    return {k: float(np.mean(v)) * (1.0 if k == "rho" else ratio) for k, v in fit.phi_std.items()}


def lead_distance(draws: np.ndarray) -> tuple[float, int]:
    """Squared Mahalanobis distance of 0 from draws ``(S, m)``: ``m' C^+ m`` with the draws' mean ``m`` and
    covariance ``C`` (pseudo-inverse, so a degenerate direction adds nothing), and its degrees of freedom
    (the covariance's rank)."""
    draws = np.asarray(draws, float)
    mean = draws.mean(axis=0)
    cov = np.atleast_2d(np.cov(draws, rowvar=False))
    rank = int(np.linalg.matrix_rank(cov))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d2 = float(mean @ np.linalg.pinv(cov, hermitian=True) @ mean)
    return d2, max(rank, 1)
