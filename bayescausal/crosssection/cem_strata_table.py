"""Stratum statistics as the input of ``CEM.fit_strata``: one row per stratum (the cells of coarsened covariates),
with both groups' unit counts, outcome sums and sums of squares, computed wherever the rows are (a database, Spark;
``bayescausal.study`` builds them in its engine). Only O(strata) rows reach Python.

Columns (``STAT_COLUMNS``): ``n_treated``, ``n_control`` (units), ``sum_treated``, ``sum_control`` (outcome sums)
and, for a numeric outcome, either ``sumsq_treated``, ``sumsq_control`` (sums of squared outcomes) or
``ss_treated``, ``ss_control`` (sums of squared deviations from the group's mean, e.g. ``var_pop * n``: no
cancellation). A 0/1 outcome needs only the counts and sums (the successes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, SpecError
from .cem_match import ColumnCoarsening

COUNTS = ("n_treated", "n_control")
SUMS = ("sum_treated", "sum_control")
RAW_SQUARES = ("sumsq_treated", "sumsq_control")
DEVIATIONS = ("ss_treated", "ss_control")
STAT_COLUMNS = COUNTS + SUMS + RAW_SQUARES + DEVIATIONS


@dataclass
class StrataTable:
    """Validated stratum statistics: per stratum (S,) float arrays ``n_t, n_c, sum_t, sum_c`` and the within
    groups' sums of squared deviations ``ss_t, ss_c`` (None when the frame gives no squares), the key columns'
    coarsenings (``columns``, their labels the distinct key values) and codes (one (S,) array per key)."""

    n_t: np.ndarray
    n_c: np.ndarray
    sum_t: np.ndarray
    sum_c: np.ndarray
    ss_t: np.ndarray | None
    ss_c: np.ndarray | None
    columns: list[ColumnCoarsening]
    codes: list[np.ndarray]

    @property
    def n_strata(self) -> int:
        return len(self.n_t)

    @property
    def rows(self) -> int:
        return int(self.n_t.sum() + self.n_c.sum())

    @property
    def binary_outcome(self) -> bool:
        """Whether the statistics are those of a 0/1 outcome: integer sums between 0 and the count, and (when squares
        are given) each group's sum of squared deviations ``k (n - k) / n``, as only 0/1 values give."""
        for n, k, ss in ((self.n_t, self.sum_t, self.ss_t), (self.n_c, self.sum_c, self.ss_c)):
            if not (np.all(k == np.round(k)) and np.all((k >= 0) & (k <= n))):
                return False
            if ss is not None:
                want = np.divide(k * (n - k), n, out=np.zeros_like(n), where=n > 0)
                if not np.allclose(ss, want, rtol=1e-9, atol=1e-9):
                    return False
        return True


def _number_column(df: pd.DataFrame, name: str) -> np.ndarray:
    s = df[name]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise DataError(f"strata column {name!r} has dtype {s.dtype}: give numbers.")
    x = s.to_numpy(dtype=float, na_value=np.nan)
    return x


def prepare_strata(df, keys) -> StrataTable:
    """Check a frame of stratum statistics (see the module docstring) and read it into a :class:`StrataTable`.

    ``keys``: the columns naming each stratum's bin on every coarsened covariate (one row per distinct key; the
    labels are kept as they are, ordered as a pandas Categorical orders them or else sorted). Missing sums of an
    empty group (NaN, as an outer join leaves them) count as 0; anything else is a DataError naming the column."""
    if not isinstance(df, pd.DataFrame):
        raise SpecError(f"strata: give a pandas DataFrame with one row per stratum, not {type(df).__name__}.")
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys or ())
    if not keys:
        raise SpecError("keys: name the column(s) that identify a stratum (each coarsened covariate's bin).")
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise SpecError(f"keys: {missing} not in the strata frame; it has {list(df.columns)}.")
    need = [c for c in COUNTS + SUMS if c not in df.columns]
    if need:
        raise SpecError(f"strata: the frame lacks {need}; give per stratum the units of each group (n_treated, "
                        "n_control) and the outcome's sums (sum_treated, sum_control), plus sumsq_* or ss_* for a "
                        "numeric outcome.")
    if len(df) == 0:
        raise DataError("strata: the frame has no rows (no stratum).")
    if df.duplicated(keys).any():
        dup = df.loc[df.duplicated(keys, keep=False), keys].head(3).to_dict("records")
        raise DataError(f"strata: keys {keys} repeat (e.g. {dup}); give one row per stratum (sum the groups' rows).")
    n_t, n_c = (_number_column(df, c) for c in COUNTS)
    for name, n in zip(COUNTS, (n_t, n_c), strict=True):
        if np.isnan(n).any() or (n < 0).any() or np.any(n != np.round(n)):
            raise DataError(f"strata column {name!r} must hold non-negative whole counts (missing or negative or "
                            "fractional values found).")
    if (n_t + n_c == 0).any():
        raise DataError("strata: some rows have no units in either group (n_treated = n_control = 0); drop them.")
    if n_t.sum() == 0 or n_c.sum() == 0:
        raise DataError(f"strata: {'no treated' if n_t.sum() == 0 else 'no control'} units at all; CEM compares the "
                        "two groups.")

    def group_values(name: str, n: np.ndarray) -> np.ndarray:
        x = _number_column(df, name)
        bad = np.isnan(x) & (n > 0)
        if bad.any():
            raise DataError(f"strata column {name!r} is missing in {int(bad.sum())} stratum/strata whose group has "
                            "units; compute it for every non-empty group.")
        return np.where(n > 0, x, 0.0)

    sum_t, sum_c = group_values("sum_treated", n_t), group_values("sum_control", n_c)
    ss_t = ss_c = None
    if all(c in df.columns for c in DEVIATIONS):
        ss_t, ss_c = group_values("ss_treated", n_t), group_values("ss_control", n_c)
    elif all(c in df.columns for c in RAW_SQUARES):
        q_t, q_c = group_values("sumsq_treated", n_t), group_values("sumsq_control", n_c)
        ss_t = np.maximum(q_t - np.divide(sum_t**2, n_t, out=np.zeros_like(n_t), where=n_t > 0), 0.0)
        ss_c = np.maximum(q_c - np.divide(sum_c**2, n_c, out=np.zeros_like(n_c), where=n_c > 0), 0.0)
    if ss_t is not None and ((ss_t < 0).any() or (ss_c < 0).any()):
        raise DataError("strata columns ss_treated/ss_control are sums of squared deviations: they cannot be "
                        "negative.")
    columns, codes = [], []
    for k in keys:
        s = df[k]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.cat.remove_unused_categories()
            labels, code = [str(c) for c in s.cat.categories], s.cat.codes.to_numpy()
        else:
            uniq, code = np.unique(s.astype(str).to_numpy() if s.dtype == object else s.to_numpy(),
                                   return_inverse=True)
            labels = [str(u) for u in uniq]
        if (np.asarray(code) < 0).any():
            raise DataError(f"strata key column {k!r} has missing values; give every stratum a label.")
        columns.append(ColumnCoarsening(k, "given", "strata", tuple(labels)))
        codes.append(np.asarray(code).reshape(-1).astype(np.int64))
    return StrataTable(n_t, n_c, sum_t, sum_c, ss_t, ss_c, columns, codes)


def standardised_stats(st: StrataTable, family: str, outcome: str) -> tuple[dict, float, float]:
    """The model's per-stratum statistics ``(stats, mean, sd)``: a Gaussian outcome standardised by the mean and sd
    (ddof 0) over all units, as ``CEM.fit`` standardises the rows (the overall variance from the groups' within sums
    of squares and means, without cancellation); a Bernoulli outcome as counts and successes."""
    if family == "bernoulli":
        return {"n_t": st.n_t, "k_t": st.sum_t, "n_c": st.n_c, "k_c": st.sum_c}, 0.0, 1.0
    if st.ss_t is None:
        raise SpecError("strata: a numeric outcome needs sums of squares per group (sumsq_treated and "
                        "sumsq_control, or ss_treated and ss_control); only a 0/1 outcome fits from counts and sums.")
    n = st.rows
    mean_t = np.divide(st.sum_t, st.n_t, out=np.zeros_like(st.n_t), where=st.n_t > 0)
    mean_c = np.divide(st.sum_c, st.n_c, out=np.zeros_like(st.n_c), where=st.n_c > 0)
    mean = float((st.sum_t.sum() + st.sum_c.sum()) / n)
    var = float((st.ss_t.sum() + st.ss_c.sum() + (st.n_t * (mean_t - mean) ** 2).sum()
                 + (st.n_c * (mean_c - mean) ** 2).sum()) / n)
    sd = float(np.sqrt(max(var, 0.0)))
    if not sd > 0:
        raise DataError(f"outcome {outcome!r} is constant over all {n:,} units: there is nothing to compare.")
    stats = {"n_t": st.n_t, "mean_t": np.where(st.n_t > 0, (mean_t - mean) / sd, 0.0), "ss_t": st.ss_t / sd**2,
             "n_c": st.n_c, "mean_c": np.where(st.n_c > 0, (mean_c - mean) / sd, 0.0), "ss_c": st.ss_c / sd**2}
    return stats, mean, sd
