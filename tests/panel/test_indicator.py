"""Indicator effect columns (``panel/_indicator.py``): the statistics from counts and grouped sums equal the
old dense computation (the ``rows x cells`` matrix) to 1e-10, for every panel model the event study can fit."""

import dataclasses

import numpy as np
import pytest

from bayescausal.panel import _event, _math
from bayescausal.panel._indicator import Indicators, pattern_groups
from bayescausal.panel.core import PanelDesign, PanelSpec, prepare


def staggered(n=40, T=9, drop=0.12, seed=0):
    """An unbalanced staggered panel (rows shuffled), its event design, and the design's rows."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n), T)
    time = np.tile(np.arange(T), n)
    cohort_of = rng.choice([-1, 3, 5, 7], size=n)
    cohort_of[:4] = -1
    treated = ((cohort_of[unit] >= 0) & (time >= cohort_of[unit])).astype(int)
    keep = (rng.random(n * T) > drop) | (time == 0) | (time == cohort_of[unit] - 1)
    rows = rng.permutation(np.flatnonzero(keep))
    u, t, d = unit[rows], time[rows], treated[rows]
    cohort = _event.first_treated(u, t, d, n)
    des = _event.build_design(u, t, cohort, leads=3, lags=2, control="notyet")
    X = rng.normal(size=(len(rows), 2)) + rng.normal(size=n)[u][:, None]
    y = rng.normal(size=n)[u] + rng.normal(size=T)[t] + des.dense() @ rng.normal(size=des.n_columns) \
        + X @ [0.4, -0.3] + rng.normal(size=len(rows))
    k = des.keep
    design = PanelDesign(y=y[k], unit=u[k], time=t[k], n_units=n, n_times=T, effects=des.indicators(),
                         controls=X[k])
    return des, design


def test_indicators_behave_like_their_dense_matrix():
    ind = Indicators(np.array([2, -1, 0, 2, 1, -1]), 3)
    D = ind.toarray()
    assert ind.shape == D.shape == (6, 3) and len(ind) == 6
    assert np.array_equal(D.sum(axis=1), [1, 0, 1, 1, 1, 0])
    v = np.array([0.5, -1.0, 2.0])
    assert np.allclose(ind @ v, D @ v)
    assert np.array_equal(ind[np.array([4, 0])].toarray(), D[[4, 0]])
    assert np.array_equal(ind[np.array([True, False] * 3)].toarray(), D[::2])
    with pytest.raises(ValueError, match="column indices"):
        Indicators(np.array([0, 3]), 3)


@pytest.mark.parametrize("drop", [0.0, 0.12], ids=["balanced", "unbalanced"])
@pytest.mark.parametrize("between", [False, True])
def test_panel_stats_of_indicators_equal_the_dense_computation(between, drop):
    des, design = staggered(drop=drop)
    order = np.lexsort((design.time, design.unit))
    R = np.column_stack([design.controls[order], design.y[order]])
    cache = _math.row_cache(R, design.unit[order], design.time[order], design.n_times, between=between)
    C = design.effects[order]
    groups = pattern_groups(C.column, cache.unit, cache.time, cache.n_units, cache.n_times, C.n_columns)
    # balanced: one (period, cell) pattern per cohort, summed per pattern; unbalanced: too many, sparse products
    assert (groups is not None) == (drop == 0.0)
    if groups is not None:
        assert len(groups[0]) == 4
    W = np.random.default_rng(1).normal(size=(cache.n_units, 2))  # between-only unit constants (Mundlak's place)
    for w in (None, W):
        fast = _math.panel_stats(cache, C, w)
        slow = _math.panel_stats(cache, C.toarray(), w)
        scale = np.abs(slow.within).max()
        assert fast.dims == slow.dims and des.n_columns > 10
        np.testing.assert_allclose(fast.within, slow.within, rtol=0, atol=1e-10 * scale)
        if between:
            np.testing.assert_allclose(fast.between, slow.between, rtol=0, atol=1e-10 * np.abs(slow.between).max())
        else:
            assert fast.between is None and slow.between is None


def test_pattern_groups_verify_the_hash_and_fall_back_on_a_collision():
    """Weights of ones hash each unit to its number of rows: units with as many rows but other cells collide,
    the exact verification catches it and the caller gets None (the sparse products); a pattern hash that tells
    them apart groups them."""
    column = np.array([0, -1, 1, -1, -1, 0])
    unit = np.array([0, 0, 1, 1, 2, 2])
    time = np.array([0, 1, 0, 1, 0, 1])
    assert pattern_groups(column, unit, time, 3, 2, 2, weights=np.ones((2, 3))) is None
    weight, cells, present = pattern_groups(column, unit, time, 3, 2, 2)
    assert len(weight) == 3 and np.allclose(weight, 0.5) and cells.sum() == 3 and present.sum() == 6
    same = pattern_groups(np.array([0, -1, 0, -1]), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 2, 2, 1)
    assert np.allclose(same[0], [1.0]) and np.allclose(same[1], [[1.0]])


@pytest.mark.parametrize("spec", [PanelSpec(), PanelSpec("hierarchical", "hierarchical"),
                                  PanelSpec("hierarchical", None), PanelSpec(errors="ar1")],
                         ids=["fixed", "hierarchical", "hierarchical-none", "ar1"])
def test_prepared_model_statistics_equal_those_of_the_dense_design(spec):
    _, design = staggered(seed=2)
    fast = prepare(design, spec)
    slow = prepare(dataclasses.replace(design, effects=design.effects.toarray()), spec)
    for key in ("Q", "G"):
        a, b = np.asarray(fast.inputs[key]), np.asarray(slow.inputs[key])
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * max(np.abs(b).max(), 1.0))
    assert fast.inputs["df"] == slow.inputs["df"]
