"""PanelFE rejects bad specifications and bad data before any sampling, naming what is wrong."""

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

from bayescausal.errors import DataError, SpecError
from bayescausal.panel import PanelFE, PanelPriors

from .test_fe_fit import simulate_panel


@pytest.mark.parametrize("kwargs,match", [
    ({"unit_effects": "random"}, "unit_effects='random'"),
    ({"time_effects": "weekly"}, "time_effects='weekly'"),
    ({"errors": "ar2"}, "errors='ar2'"),
    ({"mundlak": True}, "mundlak=True adds unit means"),
    ({"priors": {"efect": dist.Normal(0, 1)}}, r"unknown prior name\(s\) \['efect'\]"),
    ({"priors": {"effect": dist.Laplace(0, 1)}}, "PanelPriors.effect must be a scalar numpyro Normal"),
    ({"priors": {"rho": dist.Normal(0, 1)}}, "PanelPriors.rho must have support inside"),
    ({"permutations": 0}, "permutations=0"),
])
def test_bad_specification(kwargs, match):
    with pytest.raises(SpecError, match=match):
        PanelFE(**kwargs)


def test_flat_priors_are_allowed():
    assert PanelPriors(effect=None).effect is None


def test_bad_data_is_a_data_error_naming_the_problem():
    df = simulate_panel(n=10, T=4, seed=0)
    est = PanelFE()
    with pytest.raises(DataError, match="duplicate"):
        est.fit(df.iloc[list(range(len(df))) + [0]], "store", "week", "sales", "promo")
    bad = df.copy()
    bad.loc[bad.index[5], "store"] = np.nan
    with pytest.raises(DataError, match="unit column 'store' is missing"):
        est.fit(bad, "store", "week", "sales", "promo")
    bad = df.copy()
    treated = bad.groupby("store")["promo"].max()
    first = treated[treated == 1].index[0]
    bad.loc[(bad.store == first) & (bad.week == 3), "promo"] = 0.0
    bad.loc[(bad.store == first) & (bad.week == 2), "promo"] = 1.0
    if bad.loc[(bad.store == first), "promo"].tolist()[-1] == 0.0:
        with pytest.raises(DataError, match=f"switches off .* unit \\[{first}\\]"):
            est.fit(bad, "store", "week", "sales", "promo")
    bad = df.copy()
    bad["week"] = bad["week"].map(lambda w: f"W{w}")
    with pytest.raises(DataError, match="does not parse"):
        est.fit(bad, "store", "week", "sales", "promo")
    bad = df.copy()
    bad["size"] = bad["store"] * 2.0
    with pytest.raises(DataError, match="absorb"):
        est.fit(bad, "store", "week", "sales", "promo", ["size"])
    with pytest.raises(SpecError, match="give a treatment column"):
        est.fit(df, "store", "week", "sales")


def test_treatment_collinear_with_time_effects_is_not_identified():
    df = simulate_panel(n=10, T=5, seed=1)
    df["launch"] = (df["week"] >= 2).astype(float)
    with pytest.raises(DataError, match="effect column 'launch' is a linear combination of the unit and time effects"):
        PanelFE().fit(df, "store", "week", "sales", "launch")


@pytest.mark.parametrize("role,kwargs", [
    ("unit", {"unit": "shop"}), ("time", {"time": "day"}), ("outcome", {"outcome": "revenue"}),
    ("treatment", {"treatment": "promotion"}), ("covariate", {"covariates": ["price"]}),
])
def test_a_missing_column_is_named_with_its_role_and_the_columns_there_are(role, kwargs):
    df = simulate_panel(n=10, T=4, seed=0)
    args = {"unit": "store", "time": "week", "outcome": "sales", "treatment": "promo", **kwargs}
    missing = kwargs[next(iter(kwargs))]
    missing = missing[0] if isinstance(missing, list) else missing
    with pytest.raises(DataError, match=f"{role} column '{missing}' not found in the data; available columns"):
        PanelFE().fit(df, checks=False, **args)


def test_an_infinite_outcome_is_a_data_error_naming_the_row():
    df = simulate_panel(n=10, T=4, seed=0)
    df.loc[df.index[3], "sales"] = np.inf
    with pytest.raises(DataError, match="outcome column 'sales' is NaN or infinite at row 3"):
        PanelFE().fit(df, "store", "week", "sales", "promo", checks=False)


def _bad(case: str):
    """A small panel with caller row labels 'r0', 'r1', ... and one bad input planted; the labels of the rows the
    error must name."""
    df = simulate_panel(n=12, T=5, seed=0)
    df.index = [f"r{i}" for i in range(len(df))]
    if case == "duplicate (unit, time) rows":
        df = pd.concat([df, df.loc[["r7"]]])
        return df, ["'r7'"], "duplicate"
    if case == "treatment switching off":
        treated = df.groupby("store")["promo"].transform("max") == 1
        unit = df.loc[treated & (df["promo"] == 0), "store"].iloc[0]  # a treated unit, adopting after week 0
        rows = df.index[(df["store"] == unit)]
        df.loc[rows, "promo"] = [0.0, 0.0, 1.0, 0.0, 1.0]  # on in week 2, off in week 3
        return df, [repr(rows[3])], "switches off"
    if case == "NaN unit":
        df["store"] = df["store"].astype(float)
        df.loc[["r3", "r9"], "store"] = np.nan
        return df, ["'r3'", "'r9'"], "unit column 'store' is missing"
    df["week"] = df["week"].map(lambda w: f"week {w}" if w == 4 else f"2024-01-0{w + 1}")
    return df, [repr(r) for r in df.index[df["week"] == "week 4"][:5]], "does not parse"


@pytest.mark.parametrize("case", ["duplicate (unit, time) rows", "treatment switching off", "NaN unit",
                                  "unparseable time"])
@pytest.mark.parametrize("estimator", ["PanelFE", "EventStudy"])
def test_each_bad_input_is_a_data_error_naming_the_rows(case, estimator):
    from bayescausal.panel import EventStudy

    df, rows, match = _bad(case)
    est = PanelFE() if estimator == "PanelFE" else EventStudy(leads=2, lags=1)
    with pytest.raises(DataError, match=match) as err:
        est.fit(df, "store", "week", "sales", "promo", checks=False)
    for row in rows:
        assert f"{row}" in str(err.value), str(err.value)
