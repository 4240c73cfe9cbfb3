"""The effect-heterogeneity check of ``PanelFE``: the pooled coefficient against the cohort-by-event-time average.

With staggered adoption the pooled two-way fixed-effects coefficient ``tau`` of one treatment dummy is the average
effect on the treated unit-periods (ATT) only when the effect is the same in every adoption cohort and at every
time since adoption. Otherwise it is a weighted average of the cell effects with weights that can be negative
(already-treated units serve as controls for later adopters; Goodman-Bacon 2021, J. Econometrics 225(2);
de Chaisemartin & D'Haultfoeuille 2020, AER 110(9); Sun & Abraham 2021, J. Econometrics 225(2)), and its
interval can sit far from the ATT while every fit-based check passes: the residuals barely change.

The data can reveal it. The pooled model is nested in the saturated one that gives every (cohort, event time)
cell of the treated rows its own effect, with the same unit effects, period effects, covariates and error model
and every untreated row as a comparison row (the "extended" two-way fixed-effects regression of Wooldridge 2021,
whose cell average equals the imputation estimator of Borusyak, Jaravel & Spiess 2024, ReStud 91(6)). Averaging
its cells with weights equal to their shares of the treated rows gives an ATT that stays right when effects vary
by cohort or with time since adoption. Under a constant effect both are right and the pooled one is the
efficient one, so the variance of their difference is the difference of their variances (Hausman 1978,
Econometrica 46(6)); under heterogeneity the difference is the pooled coefficient's bias for the ATT.

Statistic: ``z = (ATT_cells - tau) / sqrt(var(ATT_cells) - var(tau))``, both from the exact Gaussian posterior
of the effects given the main fit's scale parameters (error sd, AR(1) coefficient: their posterior means), so
no MCMC is needed. The check fails when ``|z| > Z_THRESHOLD`` = 2.576, i.e. when the difference's 99% interval
excludes zero (a two-sided level of 0.01 under a constant effect). On 130 pilot panels with a constant effect
(``benchmarks/check_power_panel.py``'s design, seeds 1000+) the z-scores had sd 0.95 to 1.15 and 2 exceeded it.
The variances assume the fitted error model: with serially correlated errors fitted as independent ones both
are too small and ``z`` is too large (the serial-correlation check fails then too: refit with ``errors="ar1"``,
under which ``z`` is calibrated again).

The pure computation (:func:`hausman`) is separated from the designs (:func:`heterogeneity_check`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..checks.base import CheckResult
from ..errors import DataError
from . import _event

Z_THRESHOLD = 2.576  # the 99.5% normal quantile: the difference's 99% interval excludes 0
NAME = "specification (effect heterogeneity)"


def hausman(robust_mean: float, robust_sd: float, pooled_mean: float, pooled_sd: float) -> tuple[float, float, float]:
    """Difference ``robust - pooled``, its sd ``sqrt(robust_sd^2 - pooled_sd^2)`` (Hausman 1978: the pooled
    estimate is efficient under the null) and the z-score. A variance difference that is not positive (the two
    designs coincide up to rounding) gives sd 0 and z 0."""
    diff = float(robust_mean - pooled_mean)
    var = float(robust_sd) ** 2 - float(pooled_sd) ** 2
    if not np.isfinite(var) or var <= 1e-12 * max(float(robust_sd) ** 2, 1e-300):
        return diff, 0.0, 0.0
    sd = float(np.sqrt(var))
    return diff, sd, diff / sd


def heterogeneity_check(frame, design, fit, spec) -> tuple[CheckResult, dict | None]:
    """The check on a fitted ``PanelFE``: ``frame`` the :class:`~bayescausal.panel._data.PanelFrame`, ``design``
    the fitted :class:`~bayescausal.panel.core.PanelDesign` (its rows are the frame's), ``fit`` its
    :class:`~bayescausal.panel.core.PanelFit`, ``spec`` its ``PanelSpec``. Returns the CheckResult and the
    numbers (None when it did not run)."""
    from .core import conditional_effects, prepare
    from .event_study import _scales
    from .event_study import conditional_effects as contrast_effects

    if frame.treatment is None or frame.adoption is None:
        return CheckResult(NAME, None, None, None, "not run: needs a 0/1 treatment column."), None
    try:
        cells = _event.build_design(frame.unit, frame.time, np.asarray(frame.adoption, np.int64), 1, 0, "notyet")
    except ValueError as err:
        return CheckResult(NAME, None, None, None, f"not run: the cohort-by-event-time design is not identified "
                                                   f"({err})."), None
    if cells.n_columns == 0:
        return CheckResult(NAME, None, None, None, "not run: no treated unit-period has a comparison row."), None
    if cells.n_columns == 1:
        return CheckResult(NAME, True, 0.0, f"|z| <= {Z_THRESHOLD}", (
            "one cohort observed at one event time: the pooled coefficient is already the average effect on the "
            "treated unit-periods, nothing to compare.")), None
    try:
        if cells.keep.all():
            pooled = fit.prep
            base = design
        else:  # units treated throughout or periods without comparison rows: both models on the same rows
            base = design.subset(np.flatnonzero(cells.keep))
            pooled = prepare(base, spec)
        names = tuple(f"cell {j}" for j in range(cells.n_columns))
        saturated = prepare(dataclasses.replace(base, effects=cells.indicators(), effect_names=names), spec,
                            pooled if cells.keep.all() else None)
    except DataError as err:
        return CheckResult(NAME, None, None, None, f"not run: the cohort-by-event-time design is not identified "
                                                   f"({err})."), None
    w = cells.att_weights()
    m_p, sd_p = conditional_effects([pooled], _scales(fit, pooled))
    m_r, sd_r = contrast_effects([saturated], _scales(fit, saturated), contrasts=w[None, :])
    diff, sd, z = hausman(m_r[0, 0], sd_r[0, 0], m_p[0, 0], sd_p[0, 0])
    numbers = {"pooled": float(m_p[0, 0]), "pooled_sd": float(sd_p[0, 0]), "cell_average": float(m_r[0, 0]),
               "cell_average_sd": float(sd_r[0, 0]), "difference": diff, "difference_sd": sd, "z": z,
               "cells": cells.n_columns, "cohorts": int(cells.cohorts.size)}
    passed = bool(abs(z) <= Z_THRESHOLD)
    lo, hi = m_r[0, 0] - 1.96 * sd_r[0, 0], m_r[0, 0] + 1.96 * sd_r[0, 0]
    message = (f"the pooled coefficient {m_p[0, 0]:.4g} against the average of {cells.n_columns} cohort-by-event-time "
               f"effects ({int(cells.cohorts.size)} cohorts) over the treated unit-periods, {m_r[0, 0]:.4g} (95% "
               f"interval {lo:.4g} to {hi:.4g}): difference {diff:.4g} (sd {sd:.3g}), z = {z:.2f} (Hausman test "
               f"of a constant effect, fails beyond +-{Z_THRESHOLD}).")
    if not passed:
        message += (" The effect differs across adoption cohorts or changes with time since adoption, so the single "
                    "pooled coefficient is not the average effect on the treated: with staggered adoption it weights "
                    "the cells unevenly, some negatively (Goodman-Bacon 2021). Do not report it; fit "
                    "bc.EventStudy on the same data, which estimates each cohort's effect at each event time and "
                    "averages them with the right weights. (If the serial-correlation check fails too, refit with "
                    "errors='ar1' first: serially correlated errors make this test too eager.)")
    return CheckResult(NAME, passed, round(z, 4), f"|z| <= {Z_THRESHOLD}", message), numbers
