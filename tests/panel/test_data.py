"""Validation of long panel frames (``panel._data.prepare_panel``): codes, sorting, adoption, and every bad input."""

import numpy as np
import pandas as pd
import pytest

from bayescausal.errors import DataError, SpecError
from bayescausal.panel._data import prepare_panel


def frame(n=4, T=5, seed=0):
    rng = np.random.default_rng(seed)
    unit = np.repeat([f"u{i}" for i in range(n)], T)
    time = np.tile(np.arange(2000, 2000 + T), n)
    adopt = {"u0": 2002, "u1": 2003}
    d = np.array([float(u in adopt and t >= adopt[u]) for u, t in zip(unit, time, strict=True)])
    df = pd.DataFrame({"unit": unit, "year": time, "y": rng.normal(size=n * T), "d": d,
                       "x": rng.normal(size=n * T), "size": np.repeat(rng.normal(size=n), T)})
    return df.sample(frac=1.0, random_state=seed)  # shuffled rows


def test_codes_sorting_and_adoption():
    df = frame()
    p = prepare_panel(df, "unit", "year", "y", "d", ["x"])
    assert list(p.unit_labels) == ["u0", "u1", "u2", "u3"] and list(p.time_labels) == list(range(2000, 2005))
    key = p.unit * p.n_times + p.time
    assert np.all(np.diff(key) > 0)
    np.testing.assert_array_equal(df["y"].to_numpy()[p.order], p.y)
    assert p.adoption.tolist() == [2, 3, -1, -1]
    assert p.balanced and p.X.shape == (20, 1) and p.treatment_name == "d"


def test_time_strings_and_datetimes_parse():
    df = frame()
    df["week"] = pd.to_datetime(df["year"].astype(str) + "-01-01")
    p = prepare_panel(df, "unit", "week", "y", "d")
    assert p.n_times == 5 and p.time_labels[0] == pd.Timestamp("2000-01-01")
    df["label"] = df["week"].dt.strftime("%Y-%m-%d")
    assert prepare_panel(df, "unit", "label", "y", "d").time_labels[-1] == pd.Timestamp("2004-01-01")
    df["num"] = df["year"].astype(str)
    assert prepare_panel(df, "unit", "num", "y", "d").time_labels[0] == 2000


def test_duplicate_rows_are_shown():
    df = frame()
    df = pd.concat([df, df.iloc[:2]])
    with pytest.raises(DataError, match=r"2 duplicate \(unit, time\) rows: \('unit', 'year'\) = \[\('u"):
        prepare_panel(df, "unit", "year", "y", "d")


def test_treatment_switching_off_names_the_units():
    df = frame()
    df.loc[(df.unit == "u1") & (df.year == 2004), "d"] = 0.0
    with pytest.raises(DataError, match=r"switches off \(1 then 0\) in unit \['u1'\]"):
        prepare_panel(df, "unit", "year", "y", "d")
    assert prepare_panel(df, "unit", "year", "y", "d", absorbing=False).adoption[1] == 3


@pytest.mark.parametrize("column,message", [("unit", "unit column 'unit' is missing"),
                                            ("year", "time column 'year' is missing"),
                                            ("y", "outcome column 'y' is NaN or infinite"),
                                            ("x", "covariate column 'x' is NaN or infinite"),
                                            ("d", "treatment column 'd' is NaN or infinite")])
def test_nan_names_the_column_and_rows(column, message):
    df = frame()
    df.loc[df.index[3], column] = np.nan
    with pytest.raises(DataError, match=message) as err:
        prepare_panel(df, "unit", "year", "y", "d", ["x"])
    assert repr(df.index[3]) in str(err.value)


def test_unparseable_time_names_example_values():
    df = frame()
    df["when"] = df["year"].astype(str)
    df.loc[df.index[:2], "when"] = "week 7"
    with pytest.raises(DataError, match=r"does not parse as numbers or dates: values such as \['week 7'\]"):
        prepare_panel(df, "unit", "when", "y", "d")


def test_treatment_not_binary_or_constant():
    df = frame()
    df.loc[df.index[0], "d"] = 2.0
    with pytest.raises(DataError, match=r"must be 0/1 .* values \[2.0\]"):
        prepare_panel(df, "unit", "year", "y", "d")
    df["d"] = 1.0
    with pytest.raises(DataError, match="is 1 in every row"):
        prepare_panel(df, "unit", "year", "y", "d")


def test_covariate_absorbed_by_fixed_unit_effects():
    df = frame()
    with pytest.raises(DataError, match="covariate 'size' is constant within every unit: the unit fixed effects "
                                        "absorb it"):
        prepare_panel(df, "unit", "year", "y", "d", ["x", "size"])
    assert prepare_panel(df, "unit", "year", "y", "d", ["x", "size"], fixed_units=False).X.shape[1] == 2
    df["flat"] = 1.0
    with pytest.raises(DataError, match="covariate 'flat' has the same value in every row"):
        prepare_panel(df, "unit", "year", "y", "d", ["flat"], fixed_units=False)


def test_too_few_periods_and_missing_columns():
    df = frame(T=1)
    with pytest.raises(DataError, match="has 1 distinct period; a panel needs at least 2"):
        prepare_panel(df, "unit", "year", "y")
    with pytest.raises(DataError, match="outcome column 'sales' not found"):
        prepare_panel(frame(), "unit", "year", "sales")
    with pytest.raises(SpecError, match="given two roles"):
        prepare_panel(frame(), "unit", "year", "y", "d", ["y"])


def test_single_row_units_are_dropped_under_fixed_effects_only():
    import warnings

    df = frame(n=6)
    df = pd.concat([df[df.unit != "u4"], df[df.unit == "u4"].iloc[[0]]])
    with pytest.warns(UserWarning, match=r"1 unit of 'unit' has a single row \(\['u4'\]\)"):
        p = prepare_panel(df, "unit", "year", "y", "d", ["x"])
    assert p.singletons == ("u4",) and list(p.unit_labels) == ["u0", "u1", "u2", "u3", "u5"]
    assert len(p.y) == len(df) - 1 and p.adoption.tolist() == [2, 3, -1, -1, -1]
    np.testing.assert_array_equal(df["y"].to_numpy()[p.order], p.y)  # order: positions in the caller's frame
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hierarchical unit effects use the unit's row: kept, no warning
        q = prepare_panel(df, "unit", "year", "y", "d", ["x"], fixed_units=False)
    assert q.singletons == () and "u4" in list(q.unit_labels) and len(q.y) == len(df)
