"""The pure event-study design (``panel/_event.py``) against brute-force constructions, row by row."""

import numpy as np
import pytest

from bayescausal.panel import _event as ev


def _panel(cohorts_by_unit, n_periods, drop=()):
    """Rows (unit, time, treated) of a panel; ``cohorts_by_unit``: first treated time code or -1."""
    rows = [(i, t, int(g >= 0 and t >= g)) for i, g in enumerate(cohorts_by_unit) for t in range(n_periods)
            if (i, t) not in set(drop)]
    u, t, d = (np.array(c) for c in zip(*rows, strict=True))
    return u, t, d


def _brute_columns(u, t, cohort, leads, control):
    """Dict (cohort, event time) -> set of row indices, and the set of comparison rows, by definition."""
    cols, comparison = {}, set()
    for r in range(len(u)):
        g = cohort[u[r]]
        if g < 0:
            comparison.add(r)
            continue
        e = t[r] - g
        if e == -1 or ((control == "notyet" or leads == 1) and e < -leads):
            comparison.add(r)
        else:
            cols.setdefault((g, e), set()).add(r)
    return cols, comparison


def test_first_treated_switched_off_and_event_time():
    u, t, d = _panel([-1, 3, 5, 3], 8)
    d = d.copy()
    d[(u == 2) & (t == 6)] = 0  # unit 2 switches off
    cohort = ev.first_treated(u, t, d, 4)
    assert cohort.tolist() == [-1, 3, 5, 3]
    assert ev.switched_off(u, t, d, cohort).tolist() == [2]
    e, ever = ev.event_time(u, t, cohort)
    for r in range(len(u)):
        assert ever[r] == (cohort[u[r]] >= 0)
        assert e[r] == (t[r] - cohort[u[r]] if ever[r] else 0)


@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("leads,lags", [(3, 2), (1, 0), (4, 6)])
def test_columns_match_hand_built_dummies(control, leads, lags):
    rng = np.random.default_rng(1)
    cohorts = rng.choice([-1, 3, 5, 8], size=30)
    cohorts[:2] = -1
    drop = [(i, s) for i in range(30) for s in range(12) if rng.uniform() < 0.1 and s not in (0, cohorts[i] - 1,
                                                                                               cohorts[i])]
    u, t, d = _panel(cohorts, 12, drop)
    cohort = ev.first_treated(u, t, d, 30)
    des = ev.build_design(u, t, cohort, leads, lags, control)
    cols, comparison = _brute_columns(u, t, cohort, leads, control)
    assert des.keep.all() and des.dropped_periods.size == 0
    got = {(int(des.col_cohort[k]), int(des.col_event[k])): set(np.flatnonzero(des.column == k).tolist())
           for k in range(des.n_columns)}
    assert got == cols
    assert set(np.flatnonzero(des.column < 0).tolist()) == comparison
    assert des.n_obs.tolist() == [len(got[(int(g), int(e))]) for g, e in zip(des.col_cohort, des.col_event,
                                                                            strict=True)]
    X = des.dense()
    assert X.shape == (len(u), len(cols)) and np.all(X.sum(axis=1) <= 1)
    assert np.array_equal(des.col_group, np.clip(des.col_event, -leads, lags))
    assert des.event_times.tolist() == sorted(set(np.clip(des.col_event, -leads, lags).tolist()))


def test_end_points_are_pooled_in_the_aggregation_not_in_the_cells():
    u, t, d = _panel([-1, -1, 2, 4], 12)
    cohort = ev.first_treated(u, t, d, 4)
    des = ev.build_design(u, t, cohort, leads=2, lags=3, control="never")
    e = t - cohort[u]
    for k in range(des.n_columns):  # every cell is one cohort at one event time
        rows = des.column == k
        assert np.array_equal(rows, (cohort[u] == des.col_cohort[k]) & (e == des.col_event[k]))
    # unit 3 (cohort 4) has event times -4..7: every one but -1 is its own cell
    assert np.sum((des.column >= 0) & (u == 3)) == 12 - 1
    assert des.event_times.tolist() == [-2, 0, 1, 2, 3]
    W = des.dynamic_weights()
    pooled = des.event_times.tolist().index(3)  # "3 or more periods after": cells 3..9 (cohort 2), 3..7 (cohort 4)
    late = des.col_event >= 3
    assert np.allclose(W[pooled, late], des.n_obs[late] / des.n_obs[late].sum()) and np.all(W[pooled, ~late] == 0)
    early = des.col_event <= -2  # "2 or more before": cohort 2 at -2, cohort 4 at -4, -3 and -2
    assert np.allclose(W[0, early], des.n_obs[early] / des.n_obs[early].sum())


def test_weights_are_row_shares_and_sum_to_one():
    rng = np.random.default_rng(3)
    cohorts = rng.choice([-1, 2, 4, 7], size=40)
    u, t, d = _panel(cohorts, 10, [(i, s) for i in range(40) for s in range(10)
                                   if rng.uniform() < 0.15 and s not in (cohorts[i] - 1, cohorts[i])])
    cohort = ev.first_treated(u, t, d, 40)
    des = ev.build_design(u, t, cohort, leads=3, lags=2, control="never")
    W, w = des.dynamic_weights(), des.att_weights()
    assert np.allclose(W.sum(axis=1), 1.0) and np.isclose(w.sum(), 1.0)
    assert np.all(w[des.col_event < 0] == 0)
    cols, _ = _brute_columns(u, t, cohort, 3, "never")
    group = {key: min(max(key[1], -3), 2) for key in cols}  # the reported event time of each cell
    for j, e in enumerate(des.event_times):
        total = sum(len(r) for key, r in cols.items() if group[key] == e)
        for k in range(des.n_columns):
            key = (des.col_cohort[k], des.col_event[k])
            assert np.isclose(W[j, k], len(cols[key]) / total if group[key] == e else 0.0)
    treated_rows = sum(len(r) for (g, ee), r in cols.items() if ee >= 0)
    assert treated_rows == int(d.sum())
    for k in range(des.n_columns):
        if des.col_event[k] >= 0:
            assert np.isclose(w[k], des.n_obs[k] / treated_rows)


def test_always_treated_units_are_left_out():
    u, t, d = _panel([-1, 0, 3, -1], 6)
    cohort = ev.first_treated(u, t, d, 4)
    des = ev.build_design(u, t, cohort, 2, 1)
    assert des.dropped_units.tolist() == [1]
    assert not des.keep[u == 1].any() and des.keep[u != 1].all()


def test_notyet_without_never_treated_drops_periods_after_last_adoption():
    u, t, d = _panel([2, 2, 5, 5, 8, 8], 10)
    cohort = ev.first_treated(u, t, d, 6)
    with pytest.raises(ValueError, match="not identified|split"):
        ev.build_design(u, t, cohort, 2, 2, "never")
    des = ev.build_design(u, t, cohort, 2, 2, "notyet")
    # the last cohort (8) is the comparison group: from period 8 on every unit is treated
    assert des.comparison_cohort == 8 and des.dropped_periods.tolist() == [8, 9]
    assert set(des.cohorts.tolist()) == {2, 5} and not des.keep[t >= 8].any() and des.keep[t < 8].all()
    assert np.all(des.column[(u >= 4) & des.keep] == -1)
    cols, _ = _brute_columns(u[t < 8], t[t < 8], np.array([2, 2, 5, 5, -1, -1]), 2, "notyet")
    assert {(int(g), int(e)) for g, e in zip(des.col_cohort, des.col_event, strict=True)} == set(cols)


def test_units_without_an_untreated_row_are_left_out_unless_linked():
    # unit 2 (cohort 3) lacks its reference row, its only comparison row: alone in its cohort, its effects float
    u, t, d = _panel([-1, -1, 3, 4], 7, drop=[(2, 2)])
    cohort = ev.first_treated(u, t, d, 4)
    des = ev.build_design(u, t, cohort, 2, 1, "never")
    assert des.dropped_units.tolist() == [2] and not des.keep[u == 2].any()
    # a unit without untreated rows in a cohort with an anchored unit stays: it shares the cohort's cells
    u, t, d = _panel([-1, -1, 3, 3], 7, drop=[(2, 2)])
    des = ev.build_design(u, t, ev.first_treated(u, t, d, 4), 2, 1, "never")
    assert des.dropped_units.size == 0 and des.keep.all()


def _dense_twfe(y, Z, u, t):
    D = np.column_stack([np.eye(u.max() + 1)[u], np.eye(t.max() + 1)[t][:, 1:], Z])
    coef, *_ = np.linalg.lstsq(D, y, rcond=None)
    return coef[-Z.shape[1]:]


def test_two_way_ols_equals_dummy_regression_on_unbalanced_panel():
    rng = np.random.default_rng(5)
    u, t, d = _panel(rng.choice([-1, 3, 6], size=25), 9,
                     [(i, s) for i in range(25) for s in range(9) if rng.uniform() < 0.2])
    Z = np.column_stack([d, rng.normal(size=len(u))])
    y = rng.normal(size=25)[u] + rng.normal(size=9)[t] + Z @ [1.5, -0.7] + rng.normal(size=len(u))
    assert np.allclose(ev.two_way_ols(y, Z, u, t), _dense_twfe(y, Z, u, t), atol=1e-8)


def test_interaction_design_recovers_cells_where_pooled_twfe_is_biased():
    """Noise-free staggered panel with effects growing with event time and larger for early cohorts: the cell
    regression returns every cell effect exactly and its weighted average is the ATT, with a short reporting window
    (pooled end points); the pooled coefficient is not (Goodman-Bacon 2021: already-treated early adopters act as
    controls for later ones), nor is a regression that pools the late event times into one coefficient."""
    rng = np.random.default_rng(0)
    cohorts = np.repeat([-1, 2, 5, 8], 5)
    n_t = 12
    u, t, d = _panel(cohorts, n_t)
    g = cohorts[u]
    e = t - g
    tau = np.where(d == 1, (1.0 + 0.5 * e) * np.where(g == 2, 2.0, 1.0), 0.0)
    y = rng.normal(size=cohorts.size)[u] + rng.normal(size=n_t)[t] + tau
    cohort = ev.first_treated(u, t, d, cohorts.size)
    des = ev.build_design(u, t, cohort, leads=2, lags=2, control="never")
    coef = ev.two_way_ols(y, des.dense(), u, t)
    for k in range(des.n_columns):
        rows = des.column == k
        assert np.isclose(coef[k], tau[rows].mean(), atol=1e-8)
    att = des.att_weights() @ coef
    assert np.isclose(att, tau[d == 1].mean(), atol=1e-8)
    dyn = des.dynamic_weights() @ coef
    for j, e in enumerate(des.event_times):
        rows = (d == 1) & (np.clip(t - g, -2, 2) == e) if e >= 0 else np.zeros(len(u), bool)
        if e >= 0:
            assert np.isclose(dyn[j], tau[rows].mean(), atol=1e-8)
        else:
            assert np.isclose(dyn[j], 0.0, atol=1e-8)
    twfe = ev.two_way_ols(y, d.astype(float), u, t)[0]
    assert abs(twfe - att) > 0.25 * abs(att)
    # one coefficient per cohort for event times >= 2 (pooling inside the regression) is biased
    binned = des.dense()
    late = des.col_event >= 2
    pooled_cols = [binned[:, ~late]] + [binned[:, late & (des.col_cohort == c)].sum(axis=1, keepdims=True)
                                        for c in np.unique(des.col_cohort[late])]
    coef_b = ev.two_way_ols(y, np.column_stack(pooled_cols), u, t)
    n_b = np.r_[des.n_obs[~late], [des.n_obs[late & (des.col_cohort == c)].sum()
                                   for c in np.unique(des.col_cohort[late])]]
    post_b = np.r_[des.col_event[~late] >= 0, np.ones(len(n_b) - (~late).sum(), bool)]
    att_b = (coef_b * n_b * post_b).sum() / (n_b * post_b).sum()
    assert abs(att_b - att) > 0.05 * abs(att)


def test_placebo_cohorts_move_adoption_earlier():
    cohort = np.array([-1, 5, 2, 9])
    assert ev.placebo_cohorts(cohort, 3).tolist() == [-1, 2, 0, 6]
