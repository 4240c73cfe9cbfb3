"""Every listed bad input fails early with a DataError/SpecError that names the problem."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal import DataError, SpecError

PRE = ("2024-01-01", "2024-03-31")
POST = ("2024-04-01", "2024-04-30")


@pytest.fixture
def df():
    rng = np.random.default_rng(0)
    idx = pd.date_range("2024-01-01", "2024-04-30", freq="D", name="date")
    x = rng.normal(10, 1, (len(idx), 2))
    y = 2 * x[:, 0] + rng.normal(0, 1, len(idx))
    return pd.DataFrame({"y": y, "x1": x[:, 0], "x2": x[:, 1]}, index=idx)


def fit(df, est=None, outcome="y", controls=("x1", "x2")):
    est = est or bc.CausalImpact(PRE, POST, seasonality=[7])
    return est.fit(df, outcome, list(controls), sampler=bc.Sampler(draws=10, warmup=5, chains=1), checks=False)


def test_missing_column(df):
    with pytest.raises(DataError, match="'x3'"):
        fit(df, controls=("x1", "x3"))


def test_missing_outcome(df):
    with pytest.raises(DataError, match="'sales'"):
        fit(df, outcome="sales")


def test_non_numeric_column(df):
    df["x2"] = df["x2"].astype(str)
    with pytest.raises(DataError, match="'x2' is not numeric"):
        fit(df)


def test_unsorted_index(df):
    with pytest.raises(DataError, match="not sorted"):
        fit(df.iloc[::-1])


def test_duplicated_index(df):
    bad = pd.concat([df.iloc[:5], df.iloc[4:]])
    with pytest.raises(DataError, match="duplicated"):
        fit(bad)


def test_period_outside_data(df):
    with pytest.raises(DataError, match="outside the data"):
        fit(df, est=bc.CausalImpact(PRE, ("2024-04-01", "2024-06-30")))


def test_overlapping_periods(df):
    with pytest.raises(DataError, match="overlap"):
        fit(df, est=bc.CausalImpact(PRE, ("2024-03-15", "2024-04-30")))


def test_reversed_period(df):
    with pytest.raises(DataError, match="reversed"):
        fit(df, est=bc.CausalImpact(("2024-03-31", "2024-01-01"), POST))


def test_pre_period_too_short_for_seasonality(df):
    with pytest.raises(DataError, match="at least 21"):
        fit(df, est=bc.CausalImpact(("2024-03-15", "2024-03-31"), POST, seasonality=[7]))


def test_pre_period_too_short(df):
    with pytest.raises(DataError, match="at least 10"):
        fit(df, est=bc.CausalImpact(("2024-03-25", "2024-03-31"), POST))


def test_constant_outcome(df):
    df["y"] = 3.0
    with pytest.raises(DataError, match="constant"):
        fit(df)


def test_nan_in_controls(df):
    df.iloc[40, 2] = np.nan
    with pytest.raises(DataError, match="'x2' is NaN"):
        fit(df)


def test_nan_in_post_outcome(df):
    df.iloc[-3, 0] = np.nan
    with pytest.raises(DataError, match="post-period"):
        fit(df)


def test_bad_index_type(df):
    with pytest.raises(DataError, match="DatetimeIndex"):
        fit(df.set_index(df.index.astype(str)))


def test_spec_errors():
    with pytest.raises(SpecError, match="trend"):
        bc.CausalImpact(PRE, POST, trend="quadratic")
    with pytest.raises(SpecError, match="unknown prior"):
        bc.CausalImpact(PRE, POST, priors={"levl": bc.sd_prior(0.1, 32)})
    with pytest.raises(SpecError, match="pre_period"):
        bc.CausalImpact("2024-01-01", POST)
    with pytest.raises(SpecError, match="seasonality"):
        bc.CausalImpact(PRE, POST, seasonality="weekly")
    with pytest.raises(SpecError, match="draws"):
        bc.Sampler(draws=0)
    with pytest.raises(SpecError, match="checks"):
        fit_checks = bc.CausalImpact(PRE, POST)
        fit_checks.fit(pd.DataFrame({"y": [1.0]}), "y", checks="some")


def test_errors_are_value_errors():
    assert issubclass(DataError, ValueError) and issubclass(SpecError, ValueError)
