"""Every bad input fails early with a DataError or SpecError that names the column."""

import numpy as np
import pytest

import bayescausal as bc

from .conftest import FAST, simulate_iv


@pytest.fixture
def df():
    return simulate_iv(n=200, k=2, seed=21)


def _fit(df, **kw):
    args = {"outcome": "y", "treatment": "x", "instruments": ["z0", "z1"], "covariates": ["w0", "w1"]}
    args.update(kw)
    return bc.BayesianIV().fit(df, sampler=FAST, checks=False, **args)


def test_instrument_identical_to_treatment(df):
    df["xcopy"] = df["x"]
    with pytest.raises(bc.DataError, match="'xcopy'.*treatment"):
        _fit(df, instruments=["z0", "xcopy"])


def test_instrument_identical_to_covariate(df):
    df["wcopy"] = df["w1"]
    with pytest.raises(bc.DataError, match="'wcopy'.*covariate 'w1'"):
        _fit(df, instruments=["wcopy"])


def test_instrument_collinear_with_covariates(df):
    df["combo"] = df["w0"] + 2 * df["w1"]
    with pytest.raises(bc.DataError, match="'combo'.*linear combination"):
        _fit(df, instruments=["z0", "combo"])


def test_same_column_in_two_roles(df):
    with pytest.raises(bc.DataError, match="'w0'.*instrument.*covariate"):
        _fit(df, instruments=["z0", "w0"])


def test_fewer_instruments_than_endogenous_variables(df):
    with pytest.raises(bc.SpecError, match="1 instrument.*2 endogenous"):
        _fit(df, treatment=["x", "w0"], instruments=["z0"], covariates=["w1"])
    with pytest.raises(bc.SpecError, match="at least as many"):
        _fit(df, instruments=[])


def test_several_treatments_bad_input(df):
    """Several treatments work with the linear model (tests/iv/test_fit.py); the probit model takes one, an
    instrument equal to any treatment is refused, and so are treatments that are collinear."""
    with pytest.raises(bc.SpecError, match="probit.*one binary treatment"):
        bc.BayesianIV(treatment_model="probit").fit(df, "y", ["x", "w0"], ["z0", "z1"], "w1", sampler=FAST,
                                                    checks=False)
    df["w0copy"] = df["w0"]
    with pytest.raises(bc.DataError, match="'w0copy'.*treatment 'w0'"):
        _fit(df, treatment=["x", "w0"], instruments=["z0", "w0copy"], covariates=["w1"])
    df["x2"] = 2 * df["x"] - df["w1"]
    with pytest.raises(bc.DataError, match="treatment 'x2'.*linear combination"):
        _fit(df, treatment=["x", "x2"], covariates=["w1"])


def test_constant_instrument(df):
    df["const"] = 3.0
    with pytest.raises(bc.DataError, match="'const' is constant"):
        _fit(df, instruments=["z0", "const"])


@pytest.mark.parametrize("column, role", [("y", "outcome"), ("x", "treatment"), ("z1", "instrument"),
                                          ("w0", "covariate")])
def test_nan_names_the_column(df, column, role):
    df.loc[df.index[5], column] = np.nan
    with pytest.raises(bc.DataError, match=f"{role} column '{column}' is NaN.*row 5"):
        _fit(df)


def test_missing_and_non_numeric_columns(df):
    with pytest.raises(bc.DataError, match="'nope' not found"):
        _fit(df, instruments=["nope"])
    df["label"] = "a"
    with pytest.raises(bc.DataError, match="'label' is not numeric"):
        _fit(df, covariates=["label"])


def test_probit_needs_binary_treatment(df):
    with pytest.raises(bc.DataError, match="coded 0/1"):
        bc.BayesianIV(treatment_model="probit").fit(df, "y", "x", "z0", sampler=FAST, checks=False)


def test_too_few_rows():
    small = simulate_iv(n=20, k=2, seed=22)
    with pytest.raises(bc.DataError, match="rows"):
        _fit(small)


def test_bad_specs():
    with pytest.raises(bc.SpecError, match="exclusion_prior_sd"):
        bc.BayesianIV(exclusion_prior_sd=-1.0)
    with pytest.raises(bc.SpecError, match="errors"):
        bc.BayesianIV(errors="cauchy")
    with pytest.raises(bc.SpecError, match="treatment_model"):
        bc.BayesianIV(treatment_model="logit")
    with pytest.raises(bc.SpecError, match="probit"):
        bc.BayesianIV(treatment_model="probit", errors="student_t")
    with pytest.raises(bc.SpecError, match="unknown prior name"):
        bc.BayesianIV(priors={"efect": None})
    with pytest.raises(bc.SpecError, match="IVPriors.sigma"):
        bc.IVPriors(sigma=__import__("numpyro").distributions.Normal(0, 1))
    with pytest.raises(bc.SpecError, match="correlation_concentration"):
        bc.IVPriors(correlation_concentration=0)


def test_fit_does_not_change_the_data(df):
    before = df.copy()
    _fit(df)
    assert df.equals(before)
