"""Event-study designs, pure NumPy: cohorts, event time, cohort-by-event-time columns, aggregation weights.

Staggered adoption: unit ``i`` is first treated in period ``G_i`` (its cohort) and stays treated; its event time
in period ``t`` is ``e = t - G_i``. The event study estimates one effect per (cohort, event time) cell, the
interaction-weighted design of Sun & Abraham (2021, "Estimating dynamic treatment effects in event studies with
heterogeneous treatment effects", J. Econometrics 225(2)): a two-way fixed-effects regression on the indicators
``1{G_i = g} 1{t - g = e}`` for every treated cohort ``g`` and event time ``e`` in the window, with ``e = -1``
(the period before adoption) the reference. Those cell effects are then averaged: per event time over cohorts
(weights: each cohort's share of the rows at that event time) for the dynamic effects, and over all treated
cells (weights: each cell's share of the treated rows) for the overall average effect on the treated.

Why not one pooled treatment dummy: with staggered adoption and effects that differ across cohorts or grow with
time since adoption, the pooled two-way fixed-effects coefficient is a weighted average of cell effects with
weights that can be negative, because already-treated units serve as controls for later adopters
(Goodman-Bacon 2021, J. Econometrics 225(2); de Chaisemartin & D'Haultfoeuille 2020, AER 110(9)). The
leads/lags of a pooled event-study regression are contaminated the same way (Sun & Abraham 2021). This module
computes the pooled coefficient (:func:`two_way_ols`) only as a comparison.

Cells are saturated: every treated cohort gets its own effect at EVERY event time it is observed at (from ``-K``
on with ``control="notyet"``), except the reference ``-1``. The window, leads ``-K..-2`` and lags ``0..L``, only
says what is reported: the end points are pooled when the cells are aggregated, ``L`` standing for "``L`` or
more periods after adoption" and, with ``control="never"``, ``-K`` for "``K`` or more before". Pooling in the
regression instead (one coefficient for all event times ``>= L``) assumes the effect is constant inside the
bin; when it grows with time since adoption, the variation inside the bin leaks into the period effects and
biases every estimate (Sun & Abraham 2021, section 3; measured here: an average-effect bias of about 1.4
posterior sds on the recovery benchmark's design, and 80% coverage of 95% intervals). Comparison rows (rows
without an effect column) are:

- ``control="never"``: rows of never-treated units and each treated unit's ``e = -1`` row (with ``K = 1``, no
  leads: every row before adoption);
- ``control="notyet"``: in addition, rows more than ``K`` periods before adoption (not-yet-treated rows,
  assumed free of anticipation); with no never-treated unit, the last cohort is the comparison group and the
  periods from its adoption on are dropped (Sun & Abraham 2021, section 4).

Periods left without any comparison row are dropped (their period effect cannot be told apart from the cells).

Units treated in every observed period have no untreated row to compare with and are left out, as are units
whose cells cannot be identified (no comparison row of their own and no link to a unit with one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ._indicator import Indicators

NEVER = -1  # cohort code of a never-treated unit
CONTROLS = ("never", "notyet")


def first_treated(unit_codes: np.ndarray, time_codes: np.ndarray, treated: np.ndarray, n_units: int) -> np.ndarray:
    """Each unit's cohort: the time code of its first treated row, ``NEVER`` (-1) when never treated."""
    big = np.iinfo(np.int64).max
    first = np.full(n_units, big, dtype=np.int64)
    on = np.asarray(treated) != 0
    np.minimum.at(first, np.asarray(unit_codes)[on], np.asarray(time_codes, dtype=np.int64)[on])
    return np.where(first == big, NEVER, first)


def switched_off(unit_codes: np.ndarray, time_codes: np.ndarray, treated: np.ndarray,
                 cohort: np.ndarray) -> np.ndarray:
    """Unit codes with an untreated row after their first treated row (the treatment did not stay on)."""
    g = cohort[unit_codes]
    bad = (g != NEVER) & (time_codes >= g) & (np.asarray(treated) == 0)
    return np.unique(np.asarray(unit_codes)[bad])


def event_time(unit_codes: np.ndarray, time_codes: np.ndarray, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: event time ``t - G_i`` (0 for never-treated units) and whether the unit is ever treated."""
    g = cohort[unit_codes]
    ever = g != NEVER
    return np.where(ever, time_codes - g, 0).astype(np.int64), ever


@dataclass(frozen=True)
class EventDesign:
    """The cohort-by-event-time design of one data set.

    ``keep``: rows used; ``column``: each row's effect column (-1: a comparison row, or a dropped row);
    ``col_cohort``/``col_event``: each column's cohort (time code) and event time; ``n_obs``: its rows;
    ``event_times``: the reported event times (end points pooled: see :attr:`col_group`), sorted;
    ``dropped_units``: unit codes left out
    (treated in every observed period, or without an untreated row and so without a level to measure their
    effects from); ``dropped_periods``: time codes without comparison rows; ``comparison_cohort``: with
    ``control="notyet"`` and no never-treated unit, the last cohort, used as the comparison group (else -1).
    """

    keep: np.ndarray
    column: np.ndarray
    col_cohort: np.ndarray
    col_event: np.ndarray
    n_obs: np.ndarray
    event_times: np.ndarray
    dropped_units: np.ndarray
    dropped_periods: np.ndarray
    leads: int
    lags: int
    control: str
    comparison_cohort: int = NEVER

    @property
    def n_columns(self) -> int:
        return int(self.col_event.size)

    @property
    def col_group(self) -> np.ndarray:
        """Each column's reported event time: its event time clipped to ``[-leads, lags]`` (the pooled end
        points)."""
        return np.clip(self.col_event, -self.leads, self.lags)

    @property
    def cohorts(self) -> np.ndarray:
        """Treated cohorts with at least one column, sorted (time codes)."""
        return np.unique(self.col_cohort)

    def indicators(self) -> Indicators:
        """The 0/1 cell columns of the kept rows as :class:`Indicators` (each row's cell): what the panel core
        reduces to its statistics by counts and grouped sums, never forming the ``rows x cells`` matrix (16 GB
        at 20M rows and 100 cells)."""
        return Indicators(self.column[self.keep], self.n_columns)

    def dense(self) -> np.ndarray:
        """The 0/1 columns of the kept rows, ``(n_kept_rows, n_columns)`` (for small data and tests only)."""
        return self.indicators().toarray()

    def dynamic_weights(self) -> np.ndarray:
        """``(n_event_times, n_columns)``: row ``j`` averages the cells reported at ``event_times[j]`` over cohorts
        (and, at a pooled end point, over event times), each weighted by its share of the rows there (Sun &
        Abraham 2021, eq. 12)."""
        W = (self.col_group[None, :] == self.event_times[:, None]) * self.n_obs[None, :].astype(float)
        return W / W.sum(axis=1, keepdims=True)

    def att_weights(self) -> np.ndarray:
        """``(n_columns,)``: each post-adoption cell's share of the treated rows (leads get 0): the average
        effect on the treated unit-periods."""
        post = (self.col_event >= 0) * self.n_obs.astype(float)
        total = post.sum()
        return post / total if total > 0 else post


def build_design(unit_codes: np.ndarray, time_codes: np.ndarray, cohort: np.ndarray, leads: int, lags: int,
                 control: str = "never") -> EventDesign:
    """The event-study design (see the module docstring for the cells, the window and the comparison rows).

    ``unit_codes``/``time_codes``: integer codes per row (periods ``0..T-1``, consecutive, in time order);
    ``cohort``: per unit, from :func:`first_treated`. ``leads >= 1`` (1: no lead columns), ``lags >= 0``
    (reported lags ``0..lags``, the last pooling later event times).
    Raises ``ValueError`` when the comparison rows do not tie all units and periods together (period effects
    not identified); the caller turns it into a ``DataError``.
    """
    if control not in CONTROLS:
        raise ValueError(f"control={control!r}: use 'never' or 'notyet'")
    if leads < 1 or lags < 0:
        raise ValueError("leads must be >= 1 and lags >= 0")
    unit_codes = np.asarray(unit_codes, dtype=np.int64)
    time_codes = np.asarray(time_codes, dtype=np.int64)
    n_units, n_periods = cohort.size, int(time_codes.max()) + 1
    e, ever = event_time(unit_codes, time_codes, cohort)

    first_obs = np.full(n_units, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_obs, unit_codes, time_codes)
    always = (cohort != NEVER) & (first_obs >= cohort)
    keep = ~always[unit_codes]
    present = np.bincount(time_codes[keep], minlength=n_periods) > 0
    comparison_cohort = NEVER
    if control == "notyet" and not np.any(cohort[unit_codes[keep]] == NEVER):
        # no never-treated unit: the last cohort is the comparison group until it adopts (Sun & Abraham 2021, s. 4)
        comparison_cohort = int(cohort[unit_codes[keep]].max())
        cohort = np.where(cohort == comparison_cohort, NEVER, cohort)
        keep &= time_codes < comparison_cohort
        e, ever = event_time(unit_codes, time_codes, cohort)

    comparison = ~ever | (e == -1)
    if control == "notyet" or leads == 1:
        comparison |= e < -leads
    per_period = np.bincount(time_codes[keep & comparison], minlength=n_periods)
    dropped_periods = np.flatnonzero(present & (per_period == 0))
    keep &= per_period[time_codes] > 0

    _check_connected(unit_codes, time_codes, keep & comparison, n_units, n_periods)
    floating = _floating_units(unit_codes, cohort, e, keep, comparison, n_units)
    keep &= ~floating[unit_codes]
    column, col_cohort, col_event, n_obs = _columns(unit_codes, cohort, e, keep & ~comparison)
    return EventDesign(keep=keep, column=column, col_cohort=col_cohort, col_event=col_event, n_obs=n_obs,
                       event_times=np.unique(np.clip(col_event, -leads, lags)),
                       dropped_units=np.flatnonzero(always | floating),
                       dropped_periods=dropped_periods, leads=leads, lags=lags, control=control,
                       comparison_cohort=comparison_cohort)


def _columns(unit_codes, cohort, e, dummied):
    """Column index per row (-1 where not ``dummied``), and each column's cohort, event time and row count.

    The (cohort, event time) codes lie in a small range (periods x event times), so the distinct pairs come from a
    ``bincount`` over that range, linear in the rows, rather than from sorting them (``np.unique``): at 20M rows
    the sort was most of a design's cost, and randomization inference builds a design per permutation."""
    if not dummied.any():
        empty = np.zeros(0, np.int64)
        return np.full(unit_codes.size, -1, dtype=np.int64), empty, empty, empty
    rows = np.flatnonzero(dummied)
    e_on = e[rows]
    offset = int(np.abs(e_on).max()) + 1
    span = 2 * offset + 1
    pair = cohort[unit_codes[rows]] * span + (e_on + offset)
    counts = np.bincount(pair)
    pairs = np.flatnonzero(counts)
    lookup = np.full(counts.size, -1, dtype=np.int64)
    lookup[pairs] = np.arange(pairs.size)
    column = np.full(unit_codes.size, -1, dtype=np.int64)
    column[rows] = lookup[pair]
    return column, pairs // span, pairs % span - offset, counts[pairs]


def _check_connected(unit_codes, time_codes, comparison, n_units, n_periods) -> None:
    """Raise ``ValueError`` unless the comparison rows tie all their units and periods into one connected group
    (which identifies the unit and period effects up to the usual single normalisation)."""
    if not comparison.any():
        raise ValueError("no comparison rows: every kept row is treated or in the lead window")
    u, t = unit_codes[comparison], time_codes[comparison]
    periods = np.bincount(t, minlength=n_periods) > 0
    if np.bincount(u, minlength=n_units).max() >= periods.sum():
        # a unit with a comparison row in every such period (rows are unique per unit and period) is a hub that
        # every other unit's comparison rows link to: connected, without building the graph
        return
    graph = coo_matrix((np.ones(u.size), (u, n_units + t)), shape=(n_units + n_periods,) * 2)
    _, labels = connected_components(graph, directed=False)
    groups = np.unique(np.concatenate([labels[np.unique(u)], labels[n_units + np.unique(t)]]))
    if groups.size > 1:
        raise ValueError(f"the untreated comparison rows split into {groups.size} groups of units and periods that "
                         "share no period, so period effects cannot be compared across them")


def _floating_units(unit_codes, cohort, e, keep, comparison, n_units) -> np.ndarray:
    """Units whose cells cannot be identified (mask over units), to be left out.

    With the unit and period effects fixed by the comparison rows, a cell effect is fixed by any of its rows from
    a unit with comparison rows ("anchored"). A unit without comparison rows (e.g. one whose reference row is
    missing) only tells how its own cells differ from each other, so its cells are fixed only when linked,
    through such units, to an anchored cell; the units of cells that are not are left out.
    """
    anchored_unit = np.zeros(n_units, bool)
    anchored_unit[unit_codes[keep & comparison]] = True
    dummied = keep & ~comparison
    rows = np.flatnonzero(dummied)
    units = unit_codes[rows]
    free = ~anchored_unit[units]
    if not free.any():  # every unit with cells has comparison rows: every cell is anchored
        return np.zeros(n_units, bool)
    column, col_cohort, _, _ = _columns(unit_codes, cohort, e, dummied)
    K = col_cohort.size
    cols = column[rows]
    anchored_col = np.zeros(K, bool)
    anchored_col[cols[anchored_unit[units]]] = True
    link = coo_matrix((np.ones(int(free.sum())), (cols[free], K + units[free])), shape=(K + n_units,) * 2)
    _, lab = connected_components(link, directed=False)
    good = np.unique(lab[:K][anchored_col])
    floating = np.zeros(n_units, bool)
    floating[units[free & ~np.isin(lab[cols], good)]] = True
    return floating


def two_way_demean(values: np.ndarray, unit_codes: np.ndarray, time_codes: np.ndarray, tol: float = 1e-11,
                   max_iter: int = 10_000) -> np.ndarray:
    """Residuals of each column of ``values`` on unit and period dummies, by alternating projections (exact in
    one sweep for a balanced panel; Guimaraes & Portugal 2010 for the unbalanced case)."""
    v = np.array(values, dtype=float, copy=True)
    squeeze = v.ndim == 1
    v = v.reshape(v.shape[0], -1)
    n_u = np.bincount(unit_codes).astype(float)
    n_t = np.bincount(time_codes).astype(float)
    for j in range(v.shape[1]):
        x = v[:, j]
        scale = max(np.abs(x).max(), 1.0)
        for _ in range(max_iter):
            x = x - (np.bincount(unit_codes, x, n_u.size) / np.maximum(n_u, 1))[unit_codes]
            step = (np.bincount(time_codes, x, n_t.size) / np.maximum(n_t, 1))[time_codes]
            x = x - step
            if np.abs(step).max() < tol * scale:
                break
        v[:, j] = x
    return v[:, 0] if squeeze else v


def two_way_ols(y: np.ndarray, Z, unit_codes: np.ndarray, time_codes: np.ndarray) -> np.ndarray:
    """OLS coefficients of ``Z``'s columns in ``y ~ unit effects + period effects + Z`` (the within estimator).

    ``Z``: an (N, k) array or a sequence of k columns. With ``M`` the two-way demeaning (a projection), the normal
    equations are ``Z'MZ b = Z'My``; each column is demeaned in turn and met with the raw columns, so only one
    demeaned column is held at a time (at 20M rows a demeaned copy of seven columns would be 1.1 GB)."""
    y = np.asarray(y, float)
    if isinstance(Z, np.ndarray):
        cols = list(np.asarray(Z, float).reshape(len(y), -1).T)
    else:
        cols = [np.asarray(c, float) for c in Z]
    k = len(cols)
    A, b = np.zeros((k, k)), np.zeros(k)
    for j, z in enumerate(cols):
        zt = two_way_demean(z, unit_codes, time_codes)
        A[:, j] = [c @ zt for c in cols]
        b[j] = y @ zt
    coef, *_ = np.linalg.lstsq((A + A.T) / 2, b, rcond=None)
    return coef


def placebo_cohorts(cohort: np.ndarray, shift: int) -> np.ndarray:
    """Cohorts moved ``shift`` periods earlier: a fake adoption inside the real pre-period. A fake adoption
    before the second period becomes period 0 (no untreated row: :func:`build_design` leaves the unit out);
    never-treated units stay never treated."""
    return np.where(cohort != NEVER, np.maximum(cohort - shift, 0), NEVER)
