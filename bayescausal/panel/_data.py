"""Validation of a long panel frame (one row per unit and period) for the panel estimators: the pandas side.

Every failure is a ``DataError`` naming the column and the offending rows, units or values and saying what to do.
The validated panel is returned sorted by (unit, period) with integer codes: ``unit`` in ``0..n_units-1`` and
``time`` in ``0..n_times-1`` over the distinct periods in time order, so ``time + 1`` is the next period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._columns import column_names
from ..errors import DataError, SpecError

SHOW = 5  # rows, units or values quoted in an error message


@dataclass
class PanelFrame:
    """A validated panel, sorted by (unit, period).

    ``y`` (N,), ``unit``/``time`` (N,) integer codes, ``X`` (N, p) covariates, ``treatment`` (N,) 0/1 floats or
    None, ``adoption`` (n_units,) the time code of each unit's first treated period (-1: never treated; None
    without a treatment), ``order`` (N,) the positions of these rows in the caller's frame, ``unit_labels`` and
    ``time_labels`` the original values of the codes."""

    y: np.ndarray
    unit: np.ndarray
    time: np.ndarray
    X: np.ndarray
    treatment: np.ndarray | None
    adoption: np.ndarray | None
    order: np.ndarray
    unit_labels: pd.Index
    time_labels: pd.Index
    outcome: str
    unit_name: str
    time_name: str
    treatment_name: str | None
    covariates: tuple
    singletons: tuple = ()  # labels of units with a single row, dropped (fixed unit effects only)

    @property
    def n_units(self) -> int:
        return len(self.unit_labels)

    @property
    def n_times(self) -> int:
        return len(self.time_labels)

    @property
    def balanced(self) -> bool:
        return len(self.y) == self.n_units * self.n_times

    def design(self, effects: np.ndarray | None = None, names=None):
        """A :class:`~bayescausal.panel.core.PanelDesign` with these rows and the given effect columns (default:
        the treatment, named after its column)."""
        from .core import PanelDesign

        if effects is None:
            if self.treatment is None:
                effects, names = np.zeros((len(self.y), 0)), ()
            else:
                effects, names = self.treatment[:, None], (self.treatment_name,)
        return PanelDesign(y=self.y, unit=self.unit, time=self.time, n_units=self.n_units, n_times=self.n_times,
                           effects=np.asarray(effects, float).reshape(len(self.y), -1), controls=self.X,
                           effect_names=tuple(names or ()), control_names=self.covariates)


def _rows(index: pd.Index, mask: np.ndarray) -> str:
    where = np.flatnonzero(mask)
    shown = ", ".join(repr(index[i]) for i in where[:SHOW])
    more = f" and {len(where) - SHOW} more" if len(where) > SHOW else ""
    return f"row{'s' if len(where) > 1 else ''} {shown}{more}"


def _require(df: pd.DataFrame, name: str, role: str) -> pd.Series:
    if name not in df.columns:
        raise DataError(f"{role} column {name!r} not found in the data; available columns: {list(df.columns)}.")
    return df[name]


def _numeric(df: pd.DataFrame, name: str, role: str) -> np.ndarray:
    s = _require(df, name, role)
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    if not pd.api.types.is_numeric_dtype(s):
        raise DataError(f"{role} column {name!r} is not numeric (dtype {s.dtype}); convert it, e.g. "
                        f"df[{name!r}] = pd.to_numeric(df[{name!r}], errors='coerce'), and drop or fill the rows "
                        "that fail.")
    values = s.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{role} column {name!r} is NaN or infinite at {_rows(df.index, bad)}; drop or fill those "
                        "rows.")
    return values


def parse_time(s: pd.Series, name: str, index: pd.Index) -> pd.Series:
    """The time column as numbers or datetimes: numeric and datetime-like columns are used as they are; strings
    are parsed with pandas (numbers first, then dates). DataError naming example values that do not parse."""
    if s.isna().any():
        raise DataError(f"time column {name!r} is missing at {_rows(index, s.isna().to_numpy())}; every row needs "
                        "its period.")
    if pd.api.types.is_bool_dtype(s):
        raise DataError(f"time column {name!r} is boolean; give period numbers or dates.")
    if (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)
            or isinstance(s.dtype, pd.PeriodDtype)):
        if pd.api.types.is_numeric_dtype(s) and not np.all(np.isfinite(s.to_numpy(dtype=float))):
            bad = ~np.isfinite(s.to_numpy(dtype=float))
            raise DataError(f"time column {name!r} is infinite at {_rows(index, bad)}.")
        return s
    text = s.astype(str)
    as_number = pd.to_numeric(text, errors="coerce")
    if as_number.notna().all():
        return as_number
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it has to guess the format of every element
        as_date = pd.to_datetime(text, errors="coerce", format="mixed")
    if as_date.notna().all():
        return as_date
    bad = as_date.isna().to_numpy() & as_number.isna().to_numpy()
    examples = list(dict.fromkeys(text[bad].tolist()))[:SHOW]
    raise DataError(f"time column {name!r} does not parse as numbers or dates: values such as {examples} "
                    f"({_rows(index, bad)}). Give period numbers (1, 2, ...) or dates ('2024-01-31').")


def prepare_panel(df: pd.DataFrame, unit: str, time: str, outcome: str, treatment: str | None = None,
                  covariates=None, absorbing: bool = True, fixed_units: bool = True,
                  min_periods: int = 2) -> PanelFrame:
    """Validate a long panel and return it sorted by (unit, period), with integer codes.

    Checks, each a ``DataError`` naming rows, units or values: missing columns; NaN in the unit, time, outcome,
    treatment or covariate columns; a time column that does not parse; duplicate (unit, period) rows; a
    treatment that is not 0/1, has no variation, or (``absorbing=True``) switches off after it switched on;
    fewer than ``min_periods`` periods; a covariate that is constant overall, or (``fixed_units=True``) constant
    within every unit (the unit fixed effects absorb it).

    Units with a single row (``fixed_units=True``): such a row is absorbed by its own unit effect, so it adds
    nothing to the within estimator (nor to the error variance: one row and one unit effect). Keeping it would
    change no estimate but would let the posterior predictive check count rows that predict themselves, so these
    units are dropped with a ``UserWarning`` naming how many (pyfixest drops them by default too) and listed in
    ``PanelFrame.singletons``; the estimators state it in ``info`` and the report. Under hierarchical unit effects
    they inform the between-unit part and are kept.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}.")
    for role, name in (("unit", unit), ("time", time), ("outcome", outcome)):
        if not isinstance(name, str):
            raise SpecError(f"{role}={name!r}: give a column name as a string.")
    if treatment is not None and not isinstance(treatment, str):
        raise SpecError(f"treatment={treatment!r}: give one column name (a 0/1 column) or None.")
    covs = column_names(covariates, "covariates", allow_empty=True)
    roles = [unit, time, outcome] + ([treatment] if treatment else []) + list(covs)
    dup = [c for c in roles if roles.count(c) > 1]
    if dup:
        raise SpecError(f"column {dup[0]!r} is given two roles; the unit, time, outcome, treatment and covariate "
                        "columns must be different columns.")
    if len(df) == 0:
        raise DataError("the data has no rows.")
    index = df.index
    u = _require(df, unit, "unit")
    if u.isna().any():
        raise DataError(f"unit column {unit!r} is missing (NaN) at {_rows(index, u.isna().to_numpy())}; drop those "
                        "rows or give them a unit id.")
    t = parse_time(_require(df, time, "time"), time, index)
    y = _numeric(df, outcome, "outcome")
    X = np.column_stack([_numeric(df, c, "covariate") for c in covs]) if covs else np.zeros((len(df), 0))
    d = None
    if treatment is not None:
        d = _numeric(df, treatment, "treatment")
        not01 = (d != 0) & (d != 1)
        if not01.any():
            examples = list(dict.fromkeys(d[not01].tolist()))[:SHOW]
            raise DataError(f"treatment column {treatment!r} must be 0/1 (treated in that period or not); it has "
                            f"values {examples} at {_rows(index, not01)}.")
    unit_code, unit_labels, time_code, time_labels, order = _codes(u, t, index, unit, time)
    frame_order = order
    singletons = ()
    if fixed_units:
        single = np.bincount(unit_code, minlength=len(unit_labels)) == 1
        if single.any() and not single.all():
            singletons = tuple(unit_labels[single].tolist())
            _warn_singletons(singletons, unit)
            kept = np.flatnonzero(~single[unit_code])
            u, t, index = u.iloc[kept], t.iloc[kept], index[kept]
            y, X = y[kept], X[kept]
            d = None if d is None else d[kept]
            unit_code, unit_labels, time_code, time_labels, order = _codes(u, t, index, unit, time)
            frame_order = kept[order]  # positions in the caller's frame
    n_times = len(time_labels)
    if n_times < min_periods:
        raise DataError(f"time column {time!r} has {n_times} distinct period{'s' if n_times != 1 else ''}; a panel "
                        f"needs at least {min_periods}.")
    unit_s, time_s, y_s = unit_code[order], time_code[order], y[order]
    X_s = X[order]
    starts = np.flatnonzero(np.r_[True, unit_s[1:] != unit_s[:-1]])
    if fixed_units and np.all(np.diff(np.r_[starts, len(y_s)]) < 2):
        raise DataError(f"every unit has a single period: with unit fixed effects a panel needs units observed in at "
                        f"least two periods (check the {unit!r} and {time!r} columns).")
    _check_covariates(X_s, covs, starts, fixed_units)
    d_s = adoption = None
    if d is not None:
        d_s = d[order]
        if np.all(d_s == d_s[0]):
            raise DataError(f"treatment column {treatment!r} is {int(d_s[0])} in every row; the effect needs treated "
                            "and untreated unit-periods.")
        adoption = _adoption(d_s, unit_s, time_s, starts, len(unit_labels))
        if absorbing:
            switch = np.flatnonzero((d_s[1:] < d_s[:-1]) & (unit_s[1:] == unit_s[:-1]))
            if switch.size:
                units = list(dict.fromkeys(unit_labels[unit_s[switch]].tolist()))
                off = np.zeros(len(index), bool)
                off[order[switch + 1]] = True  # the first untreated row after a treated one, in the caller's rows
                raise DataError(f"treatment column {treatment!r} switches off (1 then 0) in unit"
                                f"{'s' if len(units) > 1 else ''} {units[:SHOW]}"
                                f"{f' and {len(units) - SHOW} more' if len(units) > SHOW else ''} (at "
                                f"{_rows(index, off)}): this design assumes treatment stays on once adopted "
                                "(staggered adoption). Fix the column, or allow it with absorbing=False.")
    return PanelFrame(y=y_s, unit=unit_s, time=time_s, X=X_s, treatment=d_s, adoption=adoption, order=frame_order,
                      unit_labels=pd.Index(unit_labels), time_labels=pd.Index(time_labels), outcome=outcome,
                      unit_name=unit, time_name=time, treatment_name=treatment, covariates=covs,
                      singletons=singletons)


def _codes(u: pd.Series, t: pd.Series, index: pd.Index, unit: str, time: str):
    """Integer unit and period codes (sorted labels), and the positions that sort the rows by (unit, period);
    DataError naming the rows of duplicate (unit, period) pairs."""
    unit_code, unit_labels = pd.factorize(u, sort=True)
    time_code, time_labels = pd.factorize(t, sort=True)
    unit_code = unit_code.astype(np.int64)
    time_code = time_code.astype(np.int64)
    key = unit_code * len(time_labels) + time_code
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    repeated = np.flatnonzero(key_sorted[1:] == key_sorted[:-1])
    if repeated.size:
        dup_rows = np.zeros(len(u), bool)
        dup_rows[order[repeated]] = True
        dup_rows[order[repeated + 1]] = True
        pairs = [(unit_labels[unit_code[order[i]]], time_labels[time_code[order[i]]]) for i in repeated[:SHOW]]
        raise DataError(f"{repeated.size} duplicate (unit, time) row{'s' if repeated.size > 1 else ''}: "
                        f"({unit!r}, {time!r}) = {pairs} appear more than once ({_rows(index, dup_rows)}). Keep one "
                        "row per unit and period (aggregate or drop the duplicates).")
    return unit_code, unit_labels, time_code, time_labels, order


def _warn_singletons(labels: tuple, unit: str) -> None:
    """UserWarning: units with a single row are dropped (fixed unit effects only; see ``prepare_panel``)."""
    import warnings

    shown = list(labels[:SHOW])
    more = f" and {len(labels) - SHOW} more" if len(labels) > SHOW else ""
    warnings.warn(f"{len(labels)} unit{'s' if len(labels) > 1 else ''} of {unit!r} "
                  f"{'have' if len(labels) > 1 else 'has'} a single row ({shown}{more}): with fixed unit effects "
                  "such a row only fixes its own unit effect and carries no information about the effect, the "
                  "covariates or the periods, so it is dropped (as pyfixest does); the estimates are those with it.",
                  UserWarning, stacklevel=4)


def _adoption(d: np.ndarray, unit: np.ndarray, time: np.ndarray, starts: np.ndarray, n_units: int) -> np.ndarray:
    """Time code of each unit's first treated period, -1 for units never treated (rows sorted by unit, time)."""
    adoption = np.full(n_units, -1, np.int64)
    treated = np.flatnonzero(d == 1)
    if treated.size:
        first = treated[np.r_[True, unit[treated][1:] != unit[treated][:-1]]]
        adoption[unit[first]] = time[first]
    return adoption


def _check_covariates(X: np.ndarray, names: tuple, starts: np.ndarray, fixed_units: bool) -> None:
    """DataError for a covariate constant overall, or constant within every unit when unit effects are fixed."""
    if not names:
        return
    spread = X.max(axis=0) - X.min(axis=0)
    for j in np.flatnonzero(spread == 0):
        raise DataError(f"covariate {names[j]!r} has the same value in every row; it carries no information "
                        "(drop it).")
    if fixed_units:
        hi = np.maximum.reduceat(X, starts, axis=0)
        lo = np.minimum.reduceat(X, starts, axis=0)
        within = np.any(hi > lo, axis=0)
        for j in np.flatnonzero(~within):
            raise DataError(f"covariate {names[j]!r} is constant within every unit: the unit fixed effects absorb "
                            "it, so its coefficient is not identified. Drop it, or use unit_effects='hierarchical' "
                            "(which estimates it from differences between units).")
