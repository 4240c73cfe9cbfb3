"""PanelFE's effect-heterogeneity (specification) check: the Hausman test of the pooled coefficient against the
average of the saturated cohort-by-event-time cells. Its arithmetic, its exactness against least squares, its
variance against the algebra of the difference of two linear estimators, and its verdicts on a panel whose effects
vary by cohort and on one whose effect is constant. Fixed seeds."""

import numpy as np
import pytest

import bayescausal as bc
from bayescausal.datasets.panel import simulate_staggered_panel
from bayescausal.panel import PanelFE, _event
from bayescausal.panel._data import prepare_panel
from bayescausal.panel._heterogeneity import NAME, Z_THRESHOLD, hausman, heterogeneity_check
from bayescausal.panel.core import fit_panel_design
from bayescausal.panel.fe import _design

SAMPLER = bc.Sampler(chains=2, draws=400, warmup=300, progress=False)
FLAT = {"effect": None, "coefficient": None}
SMALL = {"n_units": 60, "n_periods": 7, "cohorts": (3, 5), "never_treated_share": 0.3, "n_covariates": 1}


def _check(study, seed=0, **spec):
    est = PanelFE(**spec)
    frame = prepare_panel(study.data, study.unit, study.time, study.outcome, study.treatment, list(study.covariates))
    design = _design(frame)
    fit = fit_panel_design(design, est.spec, SAMPLER, seed)
    check, numbers = heterogeneity_check(frame, design, fit, est.spec)
    return frame, fit, check, numbers


def test_hausman_arithmetic():
    diff, sd, z = hausman(1.3, 0.5, 1.0, 0.4)
    assert diff == pytest.approx(0.3) and sd == pytest.approx(0.3) and z == pytest.approx(1.0)
    assert hausman(1.0, 0.4, 0.9, 0.4) == (pytest.approx(0.1), 0.0, 0.0)  # the same variance: nothing to test
    assert hausman(1.0, 0.3, 0.9, 0.4)[2] == 0.0  # a negative variance difference (rounding) is not a failure


def _ols_rows(frame, Z, rows=None):
    """The linear map from y to the two-way fixed-effects OLS coefficients of the columns Z (with the covariates):
    one OLS per unit vector of y (small panels only)."""
    N = frame.y.size
    out = np.empty((Z.shape[1], N))
    for j in range(N):
        e = np.zeros(N)
        e[j] = 1.0
        out[:, j] = _event.two_way_ols(e, np.column_stack([Z, frame.X]), frame.unit, frame.time)[: Z.shape[1]]
    return out


def test_flat_priors_give_least_squares_and_the_hausman_variance_of_the_difference():
    """With flat priors the pooled and cell-average means are the two OLS estimators, both linear in y: the
    difference is ``c'y`` with ``c = w'A_cells - a_pooled``, whose variance under iid errors is
    ``sigma^2 |c|^2``; the check's sd (difference of variances, Hausman 1978) must equal it."""
    s = simulate_staggered_panel(effect_growth=0.2, cohort_spread=0.4, seed=7, **SMALL)
    frame, fit, check, n = _check(s, priors=FLAT)
    cells = _event.build_design(frame.unit, frame.time, np.asarray(frame.adoption), 1, 0, "notyet")
    assert cells.keep.all() and n["cells"] == cells.n_columns > 2
    a_pooled = _ols_rows(frame, frame.treatment[:, None])[0]
    a_cells = _ols_rows(frame, cells.dense())
    w = cells.att_weights()
    assert n["pooled"] == pytest.approx(a_pooled @ frame.y, abs=1e-6 * n["pooled_sd"])
    assert n["cell_average"] == pytest.approx(w @ a_cells @ frame.y, abs=1e-6 * n["cell_average_sd"])
    sigma = n["pooled_sd"] / np.linalg.norm(a_pooled)  # the scale the check held fixed
    assert n["cell_average_sd"] == pytest.approx(sigma * np.linalg.norm(w @ a_cells), rel=1e-6)
    assert n["difference_sd"] == pytest.approx(sigma * np.linalg.norm(w @ a_cells - a_pooled), rel=1e-6)
    assert check.statistic == pytest.approx(n["difference"] / n["difference_sd"], abs=1e-4)


def test_effects_that_vary_by_cohort_and_grow_fail_the_check():
    """The recovery benchmark's kind of panel (300 units, effects 1.5/1/0.5 by cohort, growing 0.1 a period): the
    pooled coefficient (1.15) sits about 0.5 below the ATT (1.64), the difference's sd is about 0.03, so z is about
    18 (the threshold 2.576 is far away whatever the seed)."""
    s = simulate_staggered_panel(n_units=300, n_periods=16, cohorts=(5, 8, 11), effect_growth=0.1,
                                 cohort_spread=0.5, seed=3)
    _, fit, check, n = _check(s)
    assert check.name == NAME and check.passed is False
    assert check.statistic > 6  # the cells average above the pooled coefficient
    assert abs(n["cell_average"] - s.true_att) < 3 * n["cell_average_sd"]  # the robust average finds the truth
    assert abs(n["pooled"] - s.true_att) > 5 * n["pooled_sd"]
    assert "bc.EventStudy" in check.message and "Goodman-Bacon" in check.message


def test_a_constant_effect_passes_and_no_never_treated_units_use_the_last_cohort():
    s = simulate_staggered_panel(n_units=200, n_periods=10, cohorts=(4, 6, 8), seed=4)
    _, fit, check, n = _check(s)
    assert check.passed is True and abs(check.statistic) <= Z_THRESHOLD, check.message
    assert n["pooled"] == pytest.approx(float(fit.effects_mean[0]), abs=0.02 * n["pooled_sd"])  # all rows kept
    # every unit treated eventually: the last cohort is the comparison until it adopts, both models on those rows
    s = simulate_staggered_panel(n_units=200, n_periods=10, cohorts=(4, 6, 8), never_treated_share=0.0, seed=5)
    _, fit, check, n = _check(s)
    assert check.passed is True and n["cohorts"] == 2, check.message
    assert abs(n["pooled"] - float(fit.effects_mean[0])) > 0.01 * n["pooled_sd"]  # a subset of the rows


def test_one_cell_has_nothing_to_compare_and_no_treatment_does_not_run():
    s = simulate_staggered_panel(n_units=80, n_periods=6, cohorts=(6,), seed=6)  # one cohort, one treated period
    _, _, check, n = _check(s)
    assert check.passed is True and n is None and "nothing to compare" in check.message
    frame = prepare_panel(s.data, s.unit, s.time, s.outcome, None, list(s.covariates))
    check, n = heterogeneity_check(frame, None, None, PanelFE().spec)
    assert check.passed is None and n is None
