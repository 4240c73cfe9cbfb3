"""Validation of user data and periods for the time-series estimators (the pandas side).

Every failure is a ``DataError`` that names the column, row or period and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, SpecError

MIN_PRE_POINTS = 10
MIN_PRE_CYCLES = 3


@dataclass
class SeriesData:
    """A validated analysis window: rows from the pre-period start to the post-period end."""

    index: pd.Index
    y: np.ndarray  # (n,) outcome, NaN allowed in the pre-period
    X: np.ndarray  # (n, p) controls, finite
    controls: tuple[str, ...]
    outcome: str
    pre: np.ndarray  # (n,) bool
    post: np.ndarray  # (n,) bool


def check_period_arg(name: str, period) -> tuple:
    if not isinstance(period, (tuple, list)) or len(period) != 2:
        raise SpecError(f"{name}={period!r}: give a (start, end) pair of dates or positions, e.g. "
                        f"('2024-01-01', '2024-06-30') or (0, 99).")
    return tuple(period)


def _check_frame(df, columns: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"fit() needs a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"column(s) {missing} not found in the data; available columns: {list(df.columns)}.")
    for c in columns:
        if not (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])):
            raise DataError(f"column {c!r} is not numeric (dtype {df[c].dtype}); convert it, e.g. "
                            f"df[{c!r}] = pd.to_numeric(df[{c!r}], errors='coerce').")


def _check_index(index: pd.Index) -> None:
    if not (isinstance(index, pd.DatetimeIndex) or pd.api.types.is_integer_dtype(index)):
        raise DataError(
            f"the time index must be a DatetimeIndex or integers (got {index.dtype}); set it with "
            "df = df.set_index(pd.to_datetime(df['date'])) or df.reset_index(drop=True)."
        )
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise DataError(f"the time index has duplicated entries (first: {dup}); aggregate or drop duplicates.")
    if not index.is_monotonic_increasing:
        pos = int(np.argmax(np.diff(np.asarray(index.asi8 if isinstance(index, pd.DatetimeIndex) else index)) < 0))
        raise DataError(f"the time index is not sorted (row {pos + 1}, {index[pos + 1]}, comes before "
                        f"{index[pos]}); sort it with df = df.sort_index().")


def _position(index: pd.Index, value, name: str, side: str) -> int:
    """Position of a period endpoint: a date label on a DatetimeIndex (ints are positions there),
    an index label on an integer index."""
    n = len(index)
    if isinstance(index, pd.DatetimeIndex):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if not 0 <= value < n:
                raise DataError(f"{name} position {value} is outside the data (0 to {n - 1}).")
            return int(value)
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{name} endpoint {value!r} is not a date or a position.") from exc
        if index.tz is not None and ts.tz is None:
            ts = ts.tz_localize(index.tz)
        if ts < index[0] or ts > index[-1]:
            raise DataError(f"{name} endpoint {ts.date()} is outside the data ({index[0].date()} to "
                            f"{index[-1].date()}).")
        # start: first row on or after; end: last row on or before
        return int(index.searchsorted(ts, side="left")) if side == "start" else int(
            index.searchsorted(ts, side="right") - 1)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise DataError(f"{name} endpoint {value!r}: the index holds integers, so give integer labels.")
    if value < index[0] or value > index[-1]:
        raise DataError(f"{name} endpoint {value} is outside the data ({index[0]} to {index[-1]}).")
    return int(index.searchsorted(value, side="left")) if side == "start" else int(
        index.searchsorted(value, side="right") - 1)


def resolve_periods(index: pd.Index, pre_period, post_period) -> tuple[int, int, int, int]:
    """Positions (inclusive) of the pre- and post-period endpoints; checks order and overlap."""
    p0 = _position(index, pre_period[0], "pre_period", "start")
    p1 = _position(index, pre_period[1], "pre_period", "end")
    q0 = _position(index, post_period[0], "post_period", "start")
    q1 = _position(index, post_period[1], "post_period", "end")
    if p1 < p0:
        raise DataError(f"pre_period {pre_period} is reversed or empty: its end comes before its start.")
    if q1 < q0:
        raise DataError(f"post_period {post_period} is reversed or empty: its end comes before its start.")
    if q0 <= p1:
        raise DataError(f"pre_period {pre_period} and post_period {post_period} overlap or are out of order: "
                        "the post-period must start after the pre-period ends.")
    return p0, p1, q0, q1


def check_complete_columns(X: np.ndarray, names, index: pd.Index, role: str, fix: str) -> None:
    """DataError naming the first column of ``X`` (one per name) with a NaN or inf, its row and ``fix``."""
    for j, name in enumerate(names):
        bad = ~np.isfinite(X[:, j])
        if bad.any():
            raise DataError(f"{role} {name!r} is NaN or infinite at {index[np.argmax(bad)]}: {fix}")


def check_varying_columns(X: np.ndarray, names, pre: np.ndarray, role: str, fix: str) -> None:
    """DataError naming the first column of ``X`` that is constant over the pre-period rows ``pre``."""
    for j, name in enumerate(names):
        if np.ptp(X[pre, j]) == 0:
            raise DataError(f"{role} {name!r} is constant in the pre-period, {fix}")


def prepare_series(df: pd.DataFrame, outcome: str, controls, pre_period, post_period,
                   min_cycle: float) -> SeriesData:
    """Validate and cut the analysis window; see the module docstring for what is checked."""
    if not isinstance(outcome, str):
        raise SpecError(f"outcome={outcome!r}: give the outcome column's name.")
    controls = tuple(controls or ())
    if isinstance(controls, str):
        controls = (controls,)
    if outcome in controls:
        raise DataError(f"the outcome {outcome!r} is also listed as a control; remove it from controls.")
    if len(set(controls)) != len(controls):
        raise DataError(f"controls list a column twice: {list(controls)}.")
    _check_frame(df, [outcome, *controls])
    _check_index(df.index)
    p0, p1, q0, q1 = resolve_periods(df.index, pre_period, post_period)
    window = df.iloc[p0 : q1 + 1]
    n = len(window)
    pos = np.arange(n)
    pre = pos <= (p1 - p0)
    post = pos >= (q0 - p0)
    y = window[outcome].to_numpy(dtype=float)
    X = window[list(controls)].to_numpy(dtype=float) if controls else np.zeros((n, 0))
    if np.isinf(y).any():
        row = window.index[np.argmax(np.isinf(y))]
        raise DataError(f"outcome {outcome!r} is infinite at {row}; fix or drop that row.")
    if np.isnan(y[post]).any():
        row = window.index[post][np.argmax(np.isnan(y[post]))]
        raise DataError(f"outcome {outcome!r} is missing in the post-period at {row}: the effect there is "
                        "undefined; fill it, or end the post-period before it.")
    check_complete_columns(X, controls, window.index, "control", "controls must be complete in both periods "
                           "(they predict the counterfactual); fill the gap or drop the control.")
    n_pre_obs = int(np.isfinite(y[pre]).sum())
    need = max(MIN_PRE_POINTS, int(np.ceil(MIN_PRE_CYCLES * min_cycle)))
    if n_pre_obs < need:
        why = f"{MIN_PRE_CYCLES} seasonal cycles of {min_cycle:g}" if need > MIN_PRE_POINTS else "the minimum"
        raise DataError(f"the pre-period has {n_pre_obs} observed points; the model needs at least {need} "
                        f"({why}). Start the pre-period earlier or use shorter seasonality.")
    y_pre = y[pre][np.isfinite(y[pre])]
    if np.ptp(y_pre) == 0:
        raise DataError(f"outcome {outcome!r} is constant in the pre-period: there is nothing to model.")
    check_varying_columns(X, controls, pre, "control", "so it cannot predict the outcome; drop it from controls.")
    return SeriesData(window.index, y, X, controls, outcome, pre, post)
