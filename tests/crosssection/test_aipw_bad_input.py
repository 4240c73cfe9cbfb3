"""Bad input to AIPW: a clear SpecError/DataError naming the column, or a failed overlap check with the numbers."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.crosssection.aipw import AIPW
from bayescausal.errors import DataError, SpecError

TINY = bc.Sampler(chains=1, draws=100, warmup=100, progress=False)


@pytest.fixture
def df():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    t = (rng.uniform(size=n) < 0.4).astype(int)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "t": t, "y": x + t + rng.normal(size=n),
                         "b": (rng.uniform(size=n) < 0.5).astype(int), "pre": x + rng.normal(size=n)})


@pytest.mark.parametrize("kwargs, match", [
    (dict(estimand="ATC"), "estimand"),
    (dict(outcome_model="probit"), "outcome_model"),
    (dict(propensity_model="forest"), "propensity_model"),
    (dict(trim=(0.9, 0.1)), "trim"),
    (dict(trim="yes"), "trim"),
    (dict(placebo_splits=0), "placebo_splits"),
    (dict(spline_knots=7), "spline_knots"),
    (dict(priors={"slope": 1.0}), "unknown prior"),
])
def test_bad_spec(kwargs, match):
    with pytest.raises(SpecError, match=match):
        AIPW(**kwargs)


def test_non_binary_treatment(df):
    df = df.assign(t=df["t"] * 2 + df["b"])
    with pytest.raises(DataError, match="treatment column 't' must be binary"):
        AIPW().fit(df, "t", "y", ["x"], sampler=TINY)


def test_all_missing_covariate(df):
    with pytest.raises(DataError, match="covariate 'z' is missing in every row"):
        AIPW().fit(df.assign(z=np.nan), "t", "y", ["x", "z"], sampler=TINY)


def test_constant_covariate(df):
    with pytest.raises(DataError, match="covariate 'z' is constant"):
        AIPW().fit(df.assign(z=3.0), "t", "y", ["x", "z"], sampler=TINY)


def test_outcome_nan(df):
    df = df.copy()
    df.loc[5, "y"] = np.nan
    with pytest.raises(DataError, match="outcome column 'y' is NaN"):
        AIPW().fit(df, "t", "y", ["x"], sampler=TINY)


def test_logistic_outcome_needs_binary(df):
    with pytest.raises(DataError, match="needs a 0/1 outcome"):
        AIPW(outcome_model="logistic").fit(df, "t", "y", ["x"], sampler=TINY)


@pytest.mark.parametrize("value, match", [("nope", "not found"), ("x", "another role"), (3, "one pre-treatment")])
def test_bad_negative_control(df, value, match):
    with pytest.raises((DataError, SpecError), match=match):
        AIPW().fit(df, "t", "y", ["x"], negative_control=value, sampler=TINY)


def _separated(n=200, seed=1):
    rng = np.random.default_rng(seed)
    t = (rng.uniform(size=n) < 0.5).astype(int)
    x = np.where(t == 1, rng.uniform(1, 3, n), rng.uniform(-3, -1, n))  # x decides the treatment, with a gap
    return pd.DataFrame({"x": x, "t": t, "y": x + t + rng.normal(size=n)})


def test_no_overlap_fails_the_overlap_check_with_numbers():
    res = AIPW().fit(_separated(), "t", "y", ["x"], sampler=TINY, checks="fast")
    check = {c.name: c for c in res.checks}["overlap"]
    assert check.passed is False
    assert check.statistic > 0.1
    assert "outside [0.05, 0.95]" in check.message and "overlap poorly" in check.message
    assert not res.trustworthy
    assert res.report().startswith("Warning: the") and "overlap" in res.report().split(".")[0]


def test_no_overlap_after_trimming_is_a_data_error():
    with pytest.raises(DataError, match="do not overlap at all"):
        AIPW(trim=(0.3, 0.7)).fit(_separated(), "t", "y", ["x"], sampler=TINY, checks=False)
