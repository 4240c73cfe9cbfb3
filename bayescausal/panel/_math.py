"""Sufficient statistics of a Gaussian panel (pure NumPy; no JAX, no pandas).

The model ``y_it = a_i + g_t + z_it' theta + e_it`` is Gaussian, so once the unit effects are integrated out its
likelihood depends on the rows only through cross-products (see ``model.py``): the *within* cross-products of
the unit-demeaned columns, and, for hierarchical unit effects, the *between* cross-products of the unit means,
summed separately for every distinct number of rows per unit ``T_i`` (the unit mean's variance
``s_a^2 + sigma^2 / T_i`` depends on it). Time effects enter as a one-hot block that is never materialised:
its cross-products are group sums (``np.bincount``) and co-presence counts (a sparse unit-by-period matrix).

Rows must be sorted by unit (then period). The statistics are laid out over the vector
``u = [1, C, R, W, e]``: a constant, the *changing* columns ``C`` (effect columns, which checks permute or
shift), the *fixed* columns ``R`` (covariates and the outcome), between-only unit constants ``W`` (the Mundlak
unit means) and the period one-hot ``e`` (``n_times`` entries). :func:`row_cache` does the work that does not
depend on ``C`` once; :func:`panel_stats` then costs one pass over the rows per call, so that permuted-treatment
refits do not redo it. The cost is O(rows x columns^2) in memory-light vectorised passes, never a Python loop over
units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._indicator import Indicators, as_dense, indicator_unit_means, indicator_within


@dataclass
class RowCache:
    """The unit structure of a sorted panel and the statistics of its fixed columns.

    ``unit`` (N,) unit index 0..n-1 of each row (units with rows only), ``starts``/``sizes`` (n,) each unit's
    first row and row count, ``time`` (N,) period codes, ``R_tilde`` (N, m_r) the fixed columns minus their unit
    means, ``R_mean`` (n, m_r) the unit means, ``presence`` (n, n_times) sparse 0/1, ``group_sizes`` (M,) the
    distinct row counts, ``group_of`` (n,) each unit's group, ``unit_order`` units sorted by group with
    ``group_bounds`` (M + 1,) the slices, ``within_RR``/``within_Re``/``within_ee`` the fixed within blocks."""

    unit: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    time: np.ndarray
    n_times: int
    R_tilde: np.ndarray
    R_mean: np.ndarray
    presence: sp.csr_matrix
    group_sizes: np.ndarray
    group_of: np.ndarray
    unit_order: np.ndarray
    group_bounds: np.ndarray
    within_RR: np.ndarray
    within_Re: np.ndarray
    within_ee: np.ndarray
    between: bool
    between_fixed: list | None = None  # per group: ([1, R_mean] cross-products, their time block, time x time)
    memo: dict = field(default_factory=dict)  # e.g. the AR(1) statistics' fixed part, computed on first use

    @property
    def n_rows(self) -> int:
        return len(self.unit)

    @property
    def n_units(self) -> int:
        return len(self.sizes)

    @property
    def group_counts(self) -> np.ndarray:
        return np.diff(self.group_bounds)


@dataclass
class RawStats:
    """Cross-products over ``u = [1, C, R, W, e]`` (``dims`` gives the block sizes): ``within`` (d, d);
    ``between`` (M, d, d) summed over the units of each group (None without hierarchical unit effects);
    ``sizes``/``counts`` (M,) rows per unit and units per group; ``n_rows``; ``n_units``; ``log_sizes`` the sum
    over units of ``log T_i``."""

    within: np.ndarray
    between: np.ndarray | None
    sizes: np.ndarray
    counts: np.ndarray
    n_rows: int
    n_units: int
    log_sizes: float
    dims: tuple


def unit_structure(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows sorted by unit code: (compact unit index per row, first row of each unit, rows per unit)."""
    unit = np.asarray(unit)
    if unit.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if np.any(unit[1:] < unit[:-1]):
        raise ValueError("rows must be sorted by unit")
    new = np.r_[True, unit[1:] != unit[:-1]]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, unit.size])
    return np.cumsum(new) - 1, starts, sizes


def unit_means(V: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-unit means of the columns of ``V`` (rows sorted by unit)."""
    V = np.asarray(V, float).reshape(len(V), -1)
    if V.shape[1] == 0 or len(starts) == 0:
        return np.zeros((len(starts), V.shape[1]))
    return np.add.reduceat(V, starts, axis=0) / sizes[:, None]


def _time_sums(V: np.ndarray, time: np.ndarray, n_times: int) -> np.ndarray:
    """(m, n_times): column sums of ``V`` over the rows of each period."""
    return np.stack([np.bincount(time, weights=V[:, j], minlength=n_times) for j in range(V.shape[1])]) \
        if V.shape[1] else np.zeros((0, n_times))


def row_cache(R: np.ndarray, unit: np.ndarray, time: np.ndarray, n_times: int, between: bool,
              stats: bool = True, overwrite: bool = False) -> RowCache:
    """The unit structure and fixed-column statistics of rows sorted by unit; see :class:`RowCache`. With
    ``stats=False`` only the structure, demeaned columns and presence (what the AR(1) statistics start from);
    ``overwrite=True`` demeans ``R`` in place (the caller's array becomes ``R_tilde``), saving a copy of the rows."""
    R = np.asarray(R, float).reshape(len(unit), -1)
    time = np.asarray(time, np.int64)
    idx, starts, sizes = unit_structure(unit)
    R_mean = unit_means(R, starts, sizes)
    R_tilde = R if overwrite else R.copy()
    for j in range(R.shape[1]):  # column by column: one row-sized temporary at a time
        R_tilde[:, j] -= R_mean[idx, j]
    presence = sp.csr_matrix((np.ones(len(idx)), (idx, time)), shape=(len(starts), n_times))
    if stats:
        counts_t = np.bincount(time, minlength=n_times).astype(float)
        weighted = sp.diags(1.0 / sizes) @ presence
        within_ee = np.diag(counts_t) - (presence.T @ weighted).toarray()
        within_RR, within_Re = R_tilde.T @ R_tilde, _time_sums(R_tilde, time, n_times)
    else:
        within_ee = within_RR = within_Re = np.zeros((0, 0))
    group_sizes, group_of = np.unique(sizes, return_inverse=True)
    unit_order = np.argsort(group_of, kind="stable")
    group_bounds = np.searchsorted(group_of[unit_order], np.arange(len(group_sizes) + 1))
    between_fixed = None
    if between and stats:
        between_fixed = []
        for g, size in enumerate(group_sizes):
            units = unit_order[group_bounds[g]:group_bounds[g + 1]]
            U = np.column_stack([np.ones(len(units)), R_mean[units]])
            P = presence[units]
            between_fixed.append((U.T @ U, np.asarray((P.T @ U).T) / size, (P.T @ P).toarray() / size**2))
    return RowCache(unit=idx, starts=starts, sizes=sizes, time=time, n_times=n_times, R_tilde=R_tilde,
                    R_mean=R_mean, presence=presence, group_sizes=group_sizes, group_of=group_of,
                    unit_order=unit_order, group_bounds=group_bounds, within_RR=within_RR, within_Re=within_Re,
                    within_ee=within_ee, between=between, between_fixed=between_fixed)


def panel_stats(cache: RowCache, C: np.ndarray | None = None, W: np.ndarray | None = None) -> RawStats:
    """Within and grouped between cross-products over ``u = [1, C, R, W, e]``.

    ``C`` (N, m_c): the changing columns on the cache's rows, dense or :class:`~._indicator.Indicators` (one-hot
    cells, whose statistics are counts and grouped sums: no ``N x m_c`` matrix is formed); ``W`` (n, k):
    between-only unit constants, one row per unit of the cache (the Mundlak means). One pass over the rows for
    ``C``; everything else comes from the cache or costs O(units)."""
    N, n, T = cache.n_rows, cache.n_units, cache.n_times
    indicator = isinstance(C, Indicators)  # one-hot cells: counts and grouped sums, no rows x cells matrix
    if not indicator:
        C = np.zeros((N, 0)) if C is None else np.asarray(C, float).reshape(N, -1)
    W = np.zeros((n, 0)) if W is None else np.asarray(W, float).reshape(n, -1)
    m_c, m_r, k = C.shape[1], cache.R_tilde.shape[1], W.shape[1]
    d = 1 + m_c + m_r + k + T
    iC = slice(1, 1 + m_c)
    iR = slice(1 + m_c, 1 + m_c + m_r)
    ie = slice(1 + m_c + m_r + k, d)
    within = np.zeros((d, d))
    if indicator:
        C_mean = indicator_unit_means(C, cache.unit, cache.sizes) if cache.between else None
        within[iC, iC], within[iC, iR], within[iC, ie] = indicator_within(C, cache.unit, cache.time, T,
                                                                          cache.R_tilde, cache.presence, C_mean)
    else:
        C_mean = unit_means(C, cache.starts, cache.sizes)
        C_tilde = C - C_mean[cache.unit] if m_c else C
        within[iC, iC] = C_tilde.T @ C_tilde
        within[iC, iR] = C_tilde.T @ cache.R_tilde
        within[iC, ie] = _time_sums(C_tilde, cache.time, T)
        del C_tilde
    within[iR, iC] = within[iC, iR].T
    within[iR, iR] = cache.within_RR
    within[ie, iC] = within[iC, ie].T
    within[iR, ie] = cache.within_Re
    within[ie, iR] = cache.within_Re.T
    within[ie, ie] = cache.within_ee
    between = None
    if cache.between:
        # blocks of the fixed columns come from the cache; only those of C and W are computed here
        fixed = np.r_[0, np.arange(1 + m_c, 1 + m_c + m_r)]  # positions of [1, R]
        varying = np.r_[np.arange(1, 1 + m_c), np.arange(1 + m_c + m_r, 1 + m_c + m_r + k)]  # [C, W]
        between = np.zeros((len(cache.group_sizes), d, d))
        for g, size in enumerate(cache.group_sizes):
            units = cache.unit_order[cache.group_bounds[g]:cache.group_bounds[g + 1]]
            UU, Ue, ee = cache.between_fixed[g]
            F = np.column_stack([np.ones(len(units)), cache.R_mean[units]])
            if indicator:  # sparse unit means of the cells, the Mundlak columns beside them
                V = sp.hstack([C_mean[units], sp.csr_matrix(W[units])]).tocsr() if k else C_mean[units]
            else:
                V = np.column_stack([C_mean[units], W[units]])
            between[g][np.ix_(fixed, fixed)] = UU
            between[g][np.ix_(varying, varying)] = _dense(V.T @ V)
            between[g][np.ix_(varying, fixed)] = _dense(V.T @ F)
            between[g][np.ix_(fixed, varying)] = between[g][np.ix_(varying, fixed)].T
            between[g][np.ix_(fixed, np.arange(d - T, d))] = Ue
            between[g][np.ix_(np.arange(d - T, d), fixed)] = Ue.T
            Ve = _dense((cache.presence[units].T @ V).T) / size if V.shape[1] else np.zeros((0, T))
            between[g][np.ix_(varying, np.arange(d - T, d))] = Ve
            between[g][np.ix_(np.arange(d - T, d), varying)] = Ve.T
            between[g, d - T:, d - T:] = ee
    return RawStats(within=within, between=between, sizes=cache.group_sizes.astype(float),
                    counts=cache.group_counts.astype(float), n_rows=N, n_units=n,
                    log_sizes=float(np.sum(np.log(cache.sizes))), dims=(1, m_c, m_r, k, T))


def _dense(a) -> np.ndarray:
    """A sparse or dense product as a dense array."""
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def pair_rows(unit: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Rows (sorted by unit, period) whose unit was also observed in the previous period: the rows of the AR(1)
    conditional likelihood, each paired with the row before it."""
    unit, time = np.asarray(unit), np.asarray(time)
    ok = (unit[1:] == unit[:-1]) & (time[1:] == time[:-1] + 1)
    return np.flatnonzero(ok) + 1


def shift_matrix(n_times: int) -> np.ndarray:
    """``L`` with ``L @ e_t = e_{t-1}`` (the one-hot of the previous period; period 0 maps to nothing)."""
    return np.eye(n_times, k=1)


def adoption_column(unit: np.ndarray, time: np.ndarray, adoption: np.ndarray) -> np.ndarray:
    """The absorbing treatment ``D_it = 1{t >= A_i}`` from per-unit adoption codes (``A_i < 0``: never)."""
    a = np.asarray(adoption)[unit]
    return ((a >= 0) & (time >= a)).astype(float)


def within_autocorrelation(resid: np.ndarray, unit: np.ndarray, time: np.ndarray) -> tuple[float, float, int]:
    """Lag-1 autocorrelation of residuals after removing each unit's mean, corrected for the demeaning.

    For serially uncorrelated errors the unit-demeaned residuals of a unit with ``T_i`` rows are correlated:
    ``E[e~_t e~_(t-1)] = -sigma^2 / T_i`` and ``E[e~_t^2] = sigma^2 (1 - 1/T_i)`` (the within transformation's own
    correlation, as in Nickell 1981), so the raw ratio sits near ``-1/T`` under no autocorrelation. Returns
    ``(r - r0, se, pairs)``: the ratio ``sum e~_t e~_(t-1) / sum e~_t^2`` over consecutive rows minus its value
    ``r0`` under independence, and ``1/sqrt(pairs)`` as its standard error.
    """
    idx, starts, sizes = unit_structure(unit)
    resid = np.asarray(resid, float)
    e = resid - unit_means(resid, starts, sizes)[:, 0][idx] if resid.size else resid
    lag = pair_rows(unit, time)
    pairs = int(lag.size)
    if pairs == 0:
        return float("nan"), float("nan"), 0
    den = float(e @ e)
    num = float(e[lag] @ e[lag - 1])
    per_unit_pairs = np.bincount(idx[lag], minlength=len(sizes))
    r0 = -float(np.sum(per_unit_pairs / sizes)) / float(np.sum(sizes - 1))
    r = num / den if den > 0 else float("nan")
    return r - r0, 1.0 / np.sqrt(pairs), pairs


# -- AR(1) errors: the exact (Prais-Winsten) likelihood from runs of consecutive periods ---------------------------
@dataclass
class AR1Stats:
    """Statistics of the exact AR(1) likelihood over ``u = [1, C, R, W, e]`` (raw layout, dims ``dims``).

    Each unit's rows split into runs of consecutive periods; a run's first row is a *start*, every other row a
    *pair* with the row before it. ``pooled`` (4, d, d): sums over starts of ``u u'``, over pairs of ``u_r u_r'``,
    ``u_r u_(r-1)'`` and ``u_(r-1) u_(r-1)'``, with the dense columns demeaned within unit. Per unit the vectors
    ``x = [F, S, L, m]`` (sums over starts, over pairs' current rows, over pairs' previous rows, all demeaned, and
    the unit means, which only hierarchical unit effects use) are summed as ``x x'`` over the units of each group
    of equal (starts, pairs) counts: ``groups`` (M, 4, 4, d, d), ``starts``/``pairs``/``counts`` (M,)."""

    pooled: np.ndarray
    groups: np.ndarray
    starts: np.ndarray
    pairs: np.ndarray
    counts: np.ndarray
    n_rows: int
    n_starts: int
    n_units: int
    dims: tuple


def _cross_rows(Ud: np.ndarray, t: np.ndarray, a: np.ndarray, b: np.ndarray, T: int) -> tuple:
    """Blocks of ``sum_k u_(a_k) u_(b_k)'`` for ``u = [Ud, onehot(t)]``: (dense x dense, dense x time,
    time x dense, time x time)."""
    Ua, Ub = Ud[a], Ud[b]
    dd = Ua.T @ Ub
    de = _time_sums(Ua, t[b], T)
    ed = _time_sums(Ub, t[a], T).T
    ee = np.bincount(t[a] * T + t[b], minlength=T * T).reshape(T, T).astype(float)
    return dd, de, ed, ee


@dataclass
class AR1Cache:
    """What the AR(1) statistics of a set of rows need that does not involve the changing columns, computed once.

    ``mp``/``ms`` (N,) 1.0 on pair rows / run starts; ``n_s``/``n_p`` (n,) per unit; ``pooled`` (4, m_f + T,
    m_f + T) the four row sums over ``[1, R~, e]`` (m_f = 1 + m_r); ``unit_dense`` per type (starts, pairs,
    previous rows) the per-unit ``[count, sum R~]`` and ``unit_time`` the per-unit period counts (sparse);
    ``groups``: unit order, bounds and first units of the (starts, pairs) groups; ``group_time`` (M, 3, 3, T, T)
    the period blocks of the per-unit vectors' sums; ``group_fixed_time`` (M, 4, 3, m_f + ..., T) the fixed dense
    parts against the period counts."""

    mp: np.ndarray
    ms: np.ndarray
    n_s: np.ndarray
    n_p: np.ndarray
    pooled: np.ndarray
    unit_dense: list
    unit_time: list
    order: np.ndarray
    bounds: np.ndarray
    group_time: np.ndarray
    group_fixed_time: np.ndarray


def ar1_cache(cache: RowCache, hierarchical: bool) -> AR1Cache:
    """The fixed part of the AR(1) statistics of the cache's rows (see :func:`ar1_stats`)."""
    N, T, n = cache.n_rows, cache.n_times, cache.n_units
    idx, time, Rt = cache.unit, cache.time, cache.R_tilde
    pair = pair_rows(idx, time)
    mp = np.zeros(N)
    mp[pair] = 1.0
    ms = 1.0 - mp
    start = np.flatnonzero(ms)
    Fd = np.column_stack([np.ones(N), Rt])
    m_f = Fd.shape[1]
    pooled = np.zeros((4, m_f + T, m_f + T))
    for k, (a, b) in enumerate(((start, start), (pair, pair), (pair, pair - 1), (pair - 1, pair - 1))):
        dd, de, ed, ee = _cross_rows(Fd, time, a, b, T)
        pooled[k, :m_f, :m_f], pooled[k, :m_f, m_f:], pooled[k, m_f:, :m_f], pooled[k, m_f:, m_f:] = dd, de, ed, ee
    del Fd
    n_s = np.bincount(idx[start], minlength=n)
    n_p = np.bincount(idx[pair], minlength=n)
    unit_dense, unit_time = [], []
    for rows, count in ((start, n_s), (pair, n_p), (pair - 1, n_p)):
        owner = idx[rows]  # a pair's previous row belongs to the same unit
        unit_dense.append(np.column_stack([count.astype(float)]
                                          + [np.bincount(owner, weights=Rt[rows, j], minlength=n)
                                             for j in range(Rt.shape[1])]))
        unit_time.append(sp.csr_matrix((np.ones(len(rows)), (owner, time[rows])), shape=(n, T)))
    key = n_s * (int(n_p.max(initial=0)) + 1) + n_p
    uniq, group_of = np.unique(key, return_inverse=True)
    order = np.argsort(group_of, kind="stable")
    bounds = np.searchsorted(group_of[order], np.arange(len(uniq) + 1))
    M = len(uniq)
    group_time = np.zeros((M, 3, 3, T, T))
    group_fixed_time = np.zeros((M, 4, 3, m_f, T))  # x-type fixed dense [count or 0, sum R~ or R_mean] vs y time
    mean_fixed = np.column_stack([np.zeros(n), cache.R_mean]) if hierarchical else np.zeros((n, m_f))
    for g in range(M):
        units = order[bounds[g]:bounds[g + 1]]
        times = [ut[units] for ut in unit_time]
        dense = [ud[units] for ud in unit_dense] + [mean_fixed[units]]
        for j, Yt in enumerate(times):
            for i, Xt in enumerate(times):
                group_time[g, i, j] = (Xt.T @ Yt).toarray()
            for i, Xd in enumerate(dense):
                group_fixed_time[g, i, j] = np.asarray((Yt.T @ Xd).T)
    return AR1Cache(mp=mp, ms=ms, n_s=n_s, n_p=n_p, pooled=pooled, unit_dense=unit_dense, unit_time=unit_time,
                    order=order, bounds=bounds, group_time=group_time, group_fixed_time=group_fixed_time)


def _varying_pooled(Ct: np.ndarray, Rt: np.ndarray, time: np.ndarray, mp: np.ndarray, ms: np.ndarray, T: int):
    """The blocks of the four pooled row sums that involve the demeaned changing columns ``Ct`` (N, m_c), by
    weighting rows with the start/pair masks and shifting by one row (a pair's previous row is the row before it):
    no row-sized copies of the fixed columns. Returns per sum (CC, CF, FC, Ce, eC) with ``F = [1, R~]``."""
    out = []
    wp = Ct * mp[:, None]
    wl = Ct[:-1] * mp[1:, None]  # previous rows of pairs, as weights on rows s = r - 1
    for wa, Cb, Fb_rows, ta, tb, wb_for_F in (
            (Ct * ms[:, None], Ct, slice(None), time, time, None),
            (wp, Ct, slice(None), time, time, None),
            (wp[1:], Ct[:-1], slice(None, -1), time[1:], time[:-1], wl),
            (wl, Ct[:-1], slice(None, -1), time[:-1], time[:-1], None)):
        CC = wa.T @ Cb
        CF = np.column_stack([wa.sum(axis=0)[:, None], wa.T @ Rt[Fb_rows]])
        Ce = _time_sums(wa, tb, T)
        if wb_for_F is None:  # symmetric index sets: F_a C_b' = (C_a F_b')'
            FC, eC = CF.T, Ce.T
        else:  # sum over pairs of F_r C_(r-1)': the previous rows' C weighting the current rows' F
            FC = np.vstack([wb_for_F.sum(axis=0)[None, :], Rt[1:].T @ wb_for_F])
            eC = _time_sums(wb_for_F, ta, T).T
        out.append((CC, CF, FC, Ce, eC))
    return out


def ar1_stats(cache: RowCache, C: np.ndarray | None = None, W: np.ndarray | None = None,
              hierarchical: bool = False, fixed: AR1Cache | None = None) -> AR1Stats:
    """Statistics of the exact AR(1) likelihood (see :class:`AR1Stats` and ``model.py``) on the cache's rows:
    ``C`` (N, m_c) changing columns, ``W`` (n, k) unit constants (used by hierarchical unit effects only).
    ``fixed``: :func:`ar1_cache` of these rows (computed when None); with it a call costs a few weighted passes
    over the rows for ``C`` only. :class:`~._indicator.Indicators` are expanded to dense columns here (the AR(1)
    statistics of indicator cells are not reduced without them yet: ``N x m_c`` floats)."""
    N, T, n = cache.n_rows, cache.n_times, cache.n_units
    fixed = fixed or ar1_cache(cache, hierarchical)
    idx, time = cache.unit, cache.time
    C = np.zeros((N, 0)) if C is None else as_dense(C).reshape(N, -1)
    W = np.zeros((n, 0)) if W is None else np.asarray(W, float).reshape(n, -1)
    m_c, m_r, k = C.shape[1], cache.R_tilde.shape[1], W.shape[1]
    d = 1 + m_c + m_r + k + T
    f_pos = np.r_[0, np.arange(1 + m_c, 1 + m_c + m_r)]  # [1, R] in the raw layout
    c_pos = np.arange(1, 1 + m_c)
    w_pos = np.arange(1 + m_c + m_r, 1 + m_c + m_r + k)
    e_pos = np.arange(d - T, d)
    fe_pos = np.r_[f_pos, e_pos]
    C_mean = unit_means(C, cache.starts, cache.sizes)
    Ct = C - C_mean[idx] if m_c else C
    pooled = np.zeros((4, d, d))
    pooled[np.ix_(range(4), fe_pos, fe_pos)] = fixed.pooled
    if m_c:
        for j, (CC, CF, FC, Ce, eC) in enumerate(_varying_pooled(Ct, cache.R_tilde, time, fixed.mp, fixed.ms, T)):
            pooled[j][np.ix_(c_pos, c_pos)] = CC
            pooled[j][np.ix_(c_pos, f_pos)] = CF
            pooled[j][np.ix_(f_pos, c_pos)] = FC
            pooled[j][np.ix_(c_pos, e_pos)] = Ce
            pooled[j][np.ix_(e_pos, c_pos)] = eC
    mp = fixed.mp
    c_sums = [np.column_stack([np.bincount(idx, weights=Ct[:, j] * w, minlength=n) for j in range(m_c)])
              if m_c else np.zeros((n, 0)) for w in (fixed.ms, mp)]
    c_sums.append(np.column_stack([np.bincount(idx[1:], weights=Ct[:-1, j] * mp[1:], minlength=n)
                                   for j in range(m_c)]) if m_c else np.zeros((n, 0)))
    c_sums.append(C_mean if hierarchical else np.zeros((n, m_c)))
    w_parts = [np.zeros((n, k))] * 3 + [W if hierarchical else np.zeros((n, k))]
    mean_fixed = np.column_stack([np.zeros(n), cache.R_mean]) if hierarchical else np.zeros((n, 1 + m_r))
    f_dense = fixed.unit_dense + [mean_fixed]
    dense_pos = np.r_[f_pos, c_pos, w_pos]  # order of the assembled dense vectors below
    var_pos = np.r_[c_pos, w_pos]
    M = len(fixed.bounds) - 1
    groups = np.zeros((M, 4, 4, d, d))
    for g in range(M):
        units = fixed.order[fixed.bounds[g]:fixed.bounds[g + 1]]
        dense = [np.column_stack([f_dense[i][units], c_sums[i][units], w_parts[i][units]]) for i in range(4)]
        var = [np.column_stack([c_sums[i][units], w_parts[i][units]]) for i in range(4)]
        times = [ut[units] for ut in fixed.unit_time]
        for i in range(4):
            for j in range(i, 4):
                block = np.zeros((d, d))
                block[np.ix_(dense_pos, dense_pos)] = dense[i].T @ dense[j]
                if j < 3:  # x_i dense against y_j's periods
                    block[np.ix_(f_pos, e_pos)] = fixed.group_fixed_time[g, i, j]
                    if var_pos.size:
                        block[np.ix_(var_pos, e_pos)] = np.asarray((times[j].T @ var[i]).T)
                if i < 3:  # x_i's periods against y_j dense
                    block[np.ix_(e_pos, f_pos)] = fixed.group_fixed_time[g, j, i].T
                    if var_pos.size:
                        block[np.ix_(e_pos, var_pos)] = np.asarray(times[i].T @ var[j])
                if i < 3 and j < 3:
                    block[np.ix_(e_pos, e_pos)] = fixed.group_time[g, i, j]
                groups[g, i, j] = block
                groups[g, j, i] = block.T
    first_units = fixed.order[fixed.bounds[:-1]]
    return AR1Stats(pooled=pooled, groups=groups, starts=fixed.n_s[first_units].astype(float),
                    pairs=fixed.n_p[first_units].astype(float), counts=np.diff(fixed.bounds).astype(float),
                    n_rows=N, n_starts=int(fixed.ms.sum()), n_units=n, dims=(1, m_c, m_r, k, T))
