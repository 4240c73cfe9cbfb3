"""CEM: every bad input fails early with a DataError or SpecError that names the problem (no MCMC runs), and the
overlap and balance checks fail with their numbers."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.crosssection._data import prepare_units
from bayescausal.crosssection.cem import CEM, _balance_check
from bayescausal.crosssection.cem_match import coarsen, match
from bayescausal.errors import DataError, SpecError


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"t": rng.integers(0, 2, n), "y": rng.normal(size=n), "age": rng.normal(40, 10, n),
                         "region": rng.choice(["a", "b", "c"], n), "pre": rng.normal(size=n)})


def _fit(df, est=None, **kw):
    args = {"treatment": "t", "outcome": "y", "covariates": ["age", "region"], **kw}
    return (est or CEM()).fit(df, **args)


@pytest.mark.parametrize("mutate, error, match_text", [
    (lambda d: d.assign(t=d["t"] * 2 + 1), DataError, "must be binary"),
    (lambda d: d.assign(age=np.nan), DataError, "missing in every row"),
    (lambda d: d.assign(age=3.0), DataError, "constant"),
    (lambda d: d.assign(y=d["y"].where(d.index != 5)), DataError, "NaN or infinite"),
    (lambda d: d.assign(y=1.5), DataError, "constant"),
])
def test_bad_columns(mutate, error, match_text):
    with pytest.raises(error, match=match_text):
        _fit(mutate(_frame()))


def test_no_overlap_at_all_is_a_data_error_with_numbers():
    df = _frame()
    df["region"] = np.where(df["t"] == 1, "treated_only", "control_only")
    with pytest.raises(DataError, match=r"no overlap at all.*treated.*controls"):
        _fit(df)


@pytest.mark.parametrize("coarsening, match_text", [
    ({"income": 4}, "not among the covariates"),
    ({"age": [50, 30]}, "strictly increasing"),
    ({"age": [30, float("inf")]}, "finite"),
    ({"age": 0}, "at least 1"),
    ({"age": "fine"}, "give 'auto', 'exact'"),
    ({"region": [30, 50]}, "categorical"),
    ({"region": [["a", "b"]]}, "leaves categories"),
    ({"region": [["a", "b"], ["b", "c"]]}, "two groups"),
    ({"region": [["a", "z"], ["b", "c"]]}, "not in the data"),
    ({"age": [["a"], ["b"]]}, "numeric"),
])
def test_bad_coarsening(coarsening, match_text):
    with pytest.raises(SpecError, match=match_text):
        _fit(_frame(), CEM(coarsening=coarsening))


def test_bad_spec_arguments():
    with pytest.raises(SpecError, match="coarsening="):
        CEM(coarsening="sturges")
    with pytest.raises(SpecError, match="family"):
        CEM(family="poisson")
    with pytest.raises(SpecError, match="placebo_splits"):
        CEM(placebo_splits=0)
    with pytest.raises(SpecError, match="min_matched_share"):
        CEM(min_matched_share=1.5)
    with pytest.raises(SpecError, match="unknown prior name"):
        CEM(priors={"slope": 1.0})
    with pytest.raises(SpecError, match="estimand"):
        _fit(_frame(), estimand="ATX")
    with pytest.raises(SpecError, match="checks"):
        _fit(_frame(), checks="some")
    with pytest.raises(SpecError, match="Sampler"):
        _fit(_frame(), sampler="nuts")


def test_bad_family_and_negative_control():
    with pytest.raises(DataError, match="0/1 outcome"):
        _fit(_frame(), CEM(family="bernoulli"))
    with pytest.raises(DataError, match="not found"):
        _fit(_frame(), negative_control="last_year")
    with pytest.raises(SpecError, match="already the treatment"):
        _fit(_frame(), negative_control="age")
    df = _frame().assign(pre=lambda d: d["pre"].where(d.index != 3))
    with pytest.raises(DataError, match="negative_control column 'pre' is NaN"):
        _fit(df, negative_control="pre")


def test_user_coarsening_is_applied():
    df = _frame(500)
    units = prepare_units(df, "t", "y", ["age", "region"])
    cols, codes = coarsen(units.covariates, CEM(coarsening={"age": [35, 45], "region": [["a", "b"], ["c"]]})
                          .coarsening)
    assert cols[0].labels == ("<= 35", "(35, 45]", "> 45") and cols[0].rule == "cutpoints"
    np.testing.assert_array_equal(codes[0], np.searchsorted([35, 45], df["age"].to_numpy(), side="left"))
    assert cols[1].labels == ("a|b", "c")
    np.testing.assert_array_equal(codes[1], (df["region"] == "c").to_numpy().astype(int))
    exact_cols, exact_codes = coarsen(units.covariates, CEM(coarsening={"age": "exact"}).coarsening)
    assert exact_cols[0].cardinality == df["age"].nunique()


def test_poor_overlap_fails_the_overlap_check_with_numbers():
    rng = np.random.default_rng(1)
    region = np.array(["x"] * 80 + ["y"] * 20 + ["y"] * 100)
    df = pd.DataFrame({"t": [1] * 100 + [0] * 100, "y": rng.normal(size=200), "region": region})
    units = prepare_units(df, "t", "y", ["region"])
    m = match(units, (), "ATT")
    check = CEM()._overlap_check(m, units, "ATT")
    assert check.passed is False and check.statistic == pytest.approx(0.2)
    assert "20 of 100 treated units (20.0%)" in check.message and "80 treated" in check.message
    assert CEM()._overlap_check(m, units, "ATC").passed  # every control has treated units beside it


def test_imbalance_fails_the_balance_check_with_the_columns():
    table = pd.DataFrame({"smd_raw": [0.5, 0.3], "smd_weighted": [0.02, -0.25]}, index=["age", "income"])
    check = _balance_check(table)
    assert check.passed is False and check.statistic == pytest.approx(0.25)
    assert "income (-0.250)" in check.message and "coarsening={'income'" in check.message
    assert bc.CheckResult is type(check)
