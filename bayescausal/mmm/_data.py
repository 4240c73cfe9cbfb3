"""Pandas-side validation of marketing data and its arrays on the model's scale (the only pandas in ``mmm``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError


@dataclass
class MMMData:
    """Validated data as arrays, geos x weeks (one geo when the data are national).

    ``spend`` (G, T, C), ``y`` (G, T) and ``controls`` (G, T, K) in original units; ``rows`` (G, T): the
    positions in the caller's frame of each (geo, week); ``spend_unit`` (G, C) and ``y_unit`` (G,): the means
    the model divides by; ``control_mean``/``control_sd`` (K,): the controls' standardisation.
    """

    dates: pd.DatetimeIndex
    geos: tuple
    channels: tuple
    controls_names: tuple
    spend: np.ndarray
    y: np.ndarray
    controls: np.ndarray
    rows: np.ndarray
    spend_unit: np.ndarray
    y_unit: np.ndarray
    control_mean: np.ndarray
    control_sd: np.ndarray


def _numeric(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
        raise DataError(f"{role} column {col!r} is not numeric (dtype {s.dtype}); convert it to numbers first.")
    v = s.to_numpy(dtype=float)
    bad = ~np.isfinite(v)
    if bad.any():
        rows = list(df.index[bad][:5])
        raise DataError(f"{role} column {col!r} has {int(bad.sum())} NaN or infinite value(s) (first rows: {rows}); "
                        "fill or drop those rows before fitting (spend: 0 where nothing was spent).")
    return v


def prepare(df, date: str, outcome: str, channels: tuple, controls: tuple, geo: str | None,
            min_weeks: int) -> MMMData:
    """Validate ``df`` and return its arrays; DataError naming the column for every problem."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}.")
    needed = {"date": [date], "outcome": [outcome], "channel": list(channels), "control": list(controls)}
    if geo is not None:
        needed["geo"] = [geo]
    for role, cols in needed.items():
        for col in cols:
            if col not in df.columns:
                raise DataError(f"{role} column {col!r} is not in the data; columns are {list(df.columns)}.")
    roles = [outcome, *channels, *controls, date] + ([geo] if geo else [])
    if len(set(roles)) != len(roles):
        raise DataError(f"a column is used twice among date, outcome, channels, controls and geo: {roles}.")
    raw = df[date]
    try:
        when = pd.to_datetime(raw) if not pd.api.types.is_datetime64_any_dtype(raw) else raw
    except (ValueError, TypeError) as exc:
        raise DataError(f"date column {date!r} does not parse as dates ({exc}); give ISO dates such as "
                        "'2024-01-01' or datetime values.") from None
    if when.isna().any():
        raise DataError(f"date column {date!r} has {int(when.isna().sum())} missing date(s); fill or drop those rows.")
    y_all = _numeric(df, outcome, "outcome")
    spend_all = np.column_stack([_numeric(df, c, "channel") for c in channels])
    for j, c in enumerate(channels):
        if (spend_all[:, j] < 0).any():
            rows = list(df.index[spend_all[:, j] < 0][:5])
            raise DataError(f"channel column {c!r} has negative spend (first rows: {rows}); spend must be >= 0 "
                            "(refunds or credits belong in a control column).")
        if not (spend_all[:, j] > 0).any():
            raise DataError(f"channel column {c!r} is all zeros: the data say nothing about its effect; drop it "
                            "from `channels`.")
    ctrl_all = (np.column_stack([_numeric(df, c, "control") for c in controls]) if controls
                else np.zeros((len(df), 0)))
    for j, c in enumerate(controls):
        if np.ptp(ctrl_all[:, j]) == 0:
            raise DataError(f"control column {c!r} is constant; it cannot be told apart from the intercept: drop it.")
    geo_vals = df[geo].to_numpy() if geo else np.zeros(len(df), dtype=int)
    if geo and pd.isna(df[geo]).any():
        raise DataError(f"geo column {geo!r} has missing values; fill or drop those rows.")
    geos = tuple(pd.unique(geo_vals))
    dates = pd.DatetimeIndex(np.sort(pd.unique(when.to_numpy())))
    G, T = len(geos), len(dates)
    if len(dates) >= 2:
        steps = np.diff(dates.asi8)
        if np.any(steps != steps[0]):
            raise DataError(f"date column {date!r} is not evenly spaced (weeks missing or extra dates); give one "
                            "row per period (per geo), without gaps.")
    if T < min_weeks:
        raise DataError(f"date column {date!r} spans {T} periods but this model needs at least {min_weeks} (more "
                        "than its adstock length and parameters); give more weeks, or lower `seasonality`/`l_max`.")
    geo_code = pd.Index(geos).get_indexer(geo_vals)
    t_code = dates.get_indexer(pd.DatetimeIndex(when))
    rows = np.full((G, T), -1, dtype=np.int64)
    flat = geo_code * T + t_code
    if len(np.unique(flat)) != len(flat):
        where = f" within a geo of {geo!r}" if geo else ""
        raise DataError(f"date column {date!r} has duplicated dates{where}; give one row per period"
                        + (" and geo." if geo else "."))
    rows.reshape(-1)[flat] = np.arange(len(df))
    if (rows < 0).any():
        g = int(np.where((rows < 0).any(axis=1))[0][0])
        raise DataError(f"geo column {geo!r}: geo {geos[g]!r} lacks some of the dates the other geos have; "
                        "every geo needs the same weeks.")
    spend = spend_all[rows]  # (G, T, C)
    y = y_all[rows]
    ctrl = ctrl_all[rows]
    y_unit = np.abs(y).mean(axis=1)
    if np.any(y_unit == 0):
        raise DataError(f"outcome column {outcome!r} is zero throughout" + (" in a geo" if geo else "") + ".")
    overall = spend.reshape(-1, len(channels)).mean(axis=0)
    spend_unit = spend.mean(axis=1)
    spend_unit = np.where(spend_unit > 0, spend_unit, overall[None, :])
    mean = ctrl_all.mean(axis=0) if controls else np.zeros(0)
    sd = ctrl_all.std(axis=0) if controls else np.zeros(0)
    return MMMData(dates, geos, tuple(channels), tuple(controls), spend, y, ctrl, rows, spend_unit, y_unit,
                   mean, sd)


def prepare_lift_tests(lift, data: MMMData, geo: str | None) -> dict | None:
    """Lift tests as arrays: columns ``channel, start, end, spend_delta, lift, lift_se`` (+ ``geo`` with geos).

    ``spend_delta`` is the change in spend per week inside ``[start, end]`` (negative for a go-dark test),
    ``lift`` the measured change in the outcome summed over the same weeks, ``lift_se`` its standard error.
    """
    if lift is None:
        return None
    if not isinstance(lift, pd.DataFrame):
        raise DataError(f"lift_tests must be a DataFrame, not {type(lift).__name__}.")
    need = ["channel", "start", "end", "spend_delta", "lift", "lift_se"] + (["geo"] if geo else [])
    for col in need:
        if col not in lift.columns:
            raise DataError(f"lift_tests lacks column {col!r}; it needs {need}.")
    if len(lift) == 0:
        return None
    n, T = len(lift), len(data.dates)
    ch = np.empty(n, dtype=np.int32)
    gi = np.zeros(n, dtype=np.int32)
    delta = np.zeros((n, T))
    window = np.zeros((n, T))
    obs, se = np.empty(n), np.empty(n)
    for i, row in enumerate(lift.itertuples(index=False)):
        r = row._asdict()
        if r["channel"] not in data.channels:
            raise DataError(f"lift_tests row {i}: channel {r['channel']!r} is not one of the model's channels "
                            f"{list(data.channels)}.")
        ch[i] = data.channels.index(r["channel"])
        if geo:
            if r["geo"] not in data.geos:
                raise DataError(f"lift_tests row {i}: geo {r['geo']!r} is not in the data's geo column {geo!r}.")
            gi[i] = data.geos.index(r["geo"])
        try:
            start, end = pd.Timestamp(r["start"]), pd.Timestamp(r["end"])
        except (ValueError, TypeError):
            raise DataError(f"lift_tests row {i}: start/end do not parse as dates.") from None
        inside = (data.dates >= start) & (data.dates <= end)
        if not inside.any():
            raise DataError(f"lift_tests row {i}: the window {start.date()} to {end.date()} holds no week of the data.")
        for name in ("spend_delta", "lift", "lift_se"):
            if not np.isfinite(float(r[name])):
                raise DataError(f"lift_tests row {i}: column {name!r} is not a finite number.")
        if float(r["lift_se"]) <= 0:
            raise DataError(f"lift_tests row {i}: lift_se must be positive (the experiment's standard error).")
        new = data.spend[gi[i], inside, ch[i]] + float(r["spend_delta"])
        if (new < -1e-9).any():
            raise DataError(f"lift_tests row {i}: spend_delta {r['spend_delta']} would make the spend of "
                            f"{r['channel']!r} negative in the window.")
        delta[i, inside] = float(r["spend_delta"]) / data.spend_unit[gi[i], ch[i]]
        window[i, inside] = 1.0
        obs[i] = float(r["lift"]) / data.y_unit[gi[i]]
        se[i] = float(r["lift_se"]) / data.y_unit[gi[i]]
    return {"lift_channel": ch, "lift_geo": gi, "lift_delta": delta, "lift_window": window, "lift_obs": obs,
            "lift_se": se}
