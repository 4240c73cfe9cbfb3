"""Indicator effect columns and their panel statistics without the rows-by-columns matrix (pure NumPy/SciPy).

An event study's effect columns are the one-hot cells ``1{G_i = g} 1{t - g = e}``: every row is in at most one
cell. At a million units over 20 periods with a hundred cells the dense ``rows x cells`` matrix alone is 16 GB,
yet what the Gaussian panel needs from it (``_math.panel_stats``) is only cross-products, and those of indicator
columns are counts and grouped sums. With ``c_r`` the cell of row ``r`` (``-1``: none), ``n_ic`` the rows of unit
``i`` in cell ``c`` and ``T_i`` the unit's rows, the unit means are ``m_ic = n_ic / T_i`` and, for the
unit-demeaned columns ``C~ = C - m_(i(r))``:

- ``C~'C~ = diag(n_c) - N' diag(1/T) N`` with ``N`` the sparse unit-by-cell counts;
- ``C~'R~ = C'R~`` for columns ``R~`` already demeaned within unit (their unit sums are zero): a ``bincount``
  per column over the rows' cells;
- ``C~'e_t`` (the period block) ``= #(cell c, period t) - sum_i m_ic P_it`` with ``P`` the unit-by-period presence;
- the between blocks use the unit means ``m_i``, a sparse ``units x cells`` matrix.

Memory is O(rows) (the cell index and one weight vector at a time) plus the sparse counts (at most one entry per
row), never O(rows x cells); the results equal the dense computation up to rounding (tested to 1e-10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Indicators:
    """0/1 effect columns with at most one 1 per row, stored as each row's column (``column`` (N,), -1: none).

    Behaves like the ``(N, n_columns)`` matrix where the panel core uses one: ``shape``, row selection
    (``ind[rows]``), ``ind @ v`` and :meth:`toarray` (for a few rows, or small data)."""

    column: np.ndarray
    n_columns: int

    def __post_init__(self):
        col = np.asarray(self.column, np.int64).ravel()
        if col.size and (col.min() < -1 or col.max() >= self.n_columns):
            raise ValueError(f"Indicators: column indices must lie in -1..{self.n_columns - 1}")
        object.__setattr__(self, "column", col)
        object.__setattr__(self, "n_columns", int(self.n_columns))

    ndim = 2

    @property
    def shape(self) -> tuple[int, int]:
        return (self.column.size, self.n_columns)

    def __len__(self) -> int:
        return self.column.size

    def __getitem__(self, rows) -> Indicators:
        if isinstance(rows, tuple):
            raise TypeError("Indicators: select rows only (ind[rows]); use toarray() for columns")
        return Indicators(self.column[rows], self.n_columns)

    def __matmul__(self, v):
        """``C @ v`` for ``v`` (K,) or (K, m): each row's entry of ``v`` (0 for rows in no column)."""
        v = np.asarray(v, float)
        on = self.column >= 0
        out = np.zeros((self.column.size,) + v.shape[1:])
        out[on] = v[self.column[on]]
        return out

    def toarray(self) -> np.ndarray:
        """The dense ``(N, n_columns)`` 0/1 matrix (for a few rows, tests and small data only)."""
        out = np.zeros(self.shape)
        rows = np.flatnonzero(self.column >= 0)
        out[rows, self.column[rows]] = 1.0
        return out

    def unit_counts(self, unit: np.ndarray, n_units: int) -> sp.csr_matrix:
        """Sparse ``(n_units, n_columns)``: rows of each unit in each column (``unit`` the compact unit index)."""
        on = self.column >= 0
        return sp.csr_matrix((np.ones(int(on.sum())), (np.asarray(unit)[on], self.column[on])),
                             shape=(n_units, self.n_columns))


def as_dense(C) -> np.ndarray:
    """Effect columns as a dense float array (``Indicators`` expanded; anything else as it is)."""
    return C.toarray() if isinstance(C, Indicators) else np.asarray(C, float)


def indicator_unit_means(C: Indicators, unit: np.ndarray, sizes: np.ndarray) -> sp.csr_matrix:
    """Sparse ``(n_units, K)`` unit means of the indicator columns, ``n_ic / T_i``."""
    return _means_of_counts(C.unit_counts(unit, len(sizes)), sizes)


def _means_of_counts(counts: sp.csr_matrix, sizes: np.ndarray) -> sp.csr_matrix:
    return (sp.diags(1.0 / np.asarray(sizes, float)) @ counts).tocsr()


def indicator_within(C: Indicators, unit: np.ndarray, time: np.ndarray, n_times: int, R_tilde: np.ndarray,
                     presence: sp.csr_matrix, means: sp.csr_matrix | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Within cross-products of the unit-demeaned indicator columns: ``(C~'C~ (K, K), C~'R~ (K, m_r),
    C~' onehot(time) (K, T))`` for rows sorted by unit; ``R_tilde`` already demeaned within unit, ``presence``
    the unit-by-period 0/1 matrix, ``means`` from :func:`indicator_unit_means` (computed here when None and
    needed).

    The unit-level terms ``N' diag(1/T) N`` and ``N' diag(1/T) P`` are sums over units of outer products of
    their cell counts; units with the same (period, cell) pattern contribute the same product, so they are summed
    per pattern (:func:`pattern_groups`: in an event study on a balanced panel, one pattern per cohort) instead of
    by a sparse product over every unit, which took most of a randomization-inference permutation's time."""
    K, T = C.n_columns, n_times
    on = C.column >= 0
    col = C.column[on]
    # C'R~ as (one-hot rows)' @ R~: the CSR matrix with one entry per row needs no sort to build, and the product
    # is one pass over the rows (a bincount per column copied each masked column first: 1 s at 20M rows)
    n = C.column.size
    onehot = sp.csr_matrix((on.astype(float), C.column + 1, np.arange(n + 1)), shape=(n, K + 1))
    CR = np.asarray(onehot.T @ R_tilde)[1:] if R_tilde.shape[1] else np.zeros((K, 0))
    cells_by_time = np.bincount(col * T + np.asarray(time)[on], minlength=K * T).reshape(K, T).astype(float)
    diag = np.diag(np.bincount(col, minlength=K).astype(float))
    groups = pattern_groups(C.column, unit, time, presence.shape[0], T, K)
    if groups is not None:
        weight, cells, present = groups
        CC = diag - (cells.T * weight) @ cells
        Ce = cells_by_time - (cells.T * weight) @ present
        return CC, CR, Ce
    counts = C.unit_counts(unit, presence.shape[0])
    if means is None:
        means = _means_of_counts(counts, np.bincount(unit, minlength=presence.shape[0]))
    CC = diag - np.asarray((counts.T @ means).toarray())
    Ce = cells_by_time - np.asarray((means.T @ presence).toarray())
    return CC, CR, Ce


MAX_PATTERN_SHARE = 0.25  # more distinct patterns than this share of the units: the sparse products are cheaper


def pattern_groups(column: np.ndarray, unit: np.ndarray, time: np.ndarray, n_units: int, n_times: int,
                   n_columns: int, weights: np.ndarray | None = None):
    """Units grouped by their exact set of (period, cell) pairs, for sums over units of functions of that set.

    Returns ``(weight (G,), cells (G, K), present (G, T))``: per pattern, the number of its units divided by
    its rows, its cell counts and its periods; or None when the patterns are too many to gain from grouping.
    Candidates come from a random hash of each unit's pairs (a bincount), then the grouping is verified exactly
    (every row's cell equals its group's cell in that period, and every unit has its group's number of rows;
    periods are unique within a unit), so a hash collision can only cost the fallback, never a wrong sum.
    ``weights`` (n_times, n_columns + 1): the hash's weights (default: seeded uniform draws)."""
    unit = np.asarray(unit, np.int64)
    time = np.asarray(time, np.int64)
    column = np.asarray(column, np.int64)
    K = n_columns
    if weights is None:
        weights = np.random.default_rng(20260).random((n_times, K + 1))
    key = np.bincount(unit, weights=weights[time, column + 1], minlength=n_units)
    keys, first, group = np.unique(key, return_index=True, return_inverse=True)
    n_groups = keys.size
    if n_groups > max(8, MAX_PATTERN_SHARE * n_units):
        return None
    rep = np.zeros(n_units, bool)
    rep[first] = True
    is_rep = rep[unit]
    pattern = np.full((n_groups, n_times), -2, dtype=np.int64)  # -2: period absent, -1: no cell
    pattern[group[unit[is_rep]], time[is_rep]] = column[is_rep]
    present = pattern != -2
    rows_per_unit = present.sum(axis=1)  # per pattern
    if not (np.array_equal(pattern[group[unit], time], column)
            and np.array_equal(np.bincount(unit, minlength=n_units), rows_per_unit[group])):
        return None
    cells = np.zeros((n_groups, K))
    g_idx, t_idx = np.nonzero(pattern >= 0)
    np.add.at(cells, (g_idx, pattern[g_idx, t_idx]), 1.0)
    members = np.bincount(group, minlength=n_groups).astype(float)
    return members / np.maximum(rows_per_unit, 1), cells, present.astype(float)
