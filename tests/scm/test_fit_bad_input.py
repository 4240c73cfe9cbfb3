"""Bad input fails early with DataError or SpecError naming the node (no MCMC runs in these tests)."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc

SAMPLER = bc.Sampler(chains=1, draws=5, warmup=5)


@pytest.fixture()
def df():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    return pd.DataFrame({"x": x, "y": x + rng.normal(size=50), "b": (x > 0).astype(int)})


def test_node_missing_from_data(df):
    with pytest.raises(bc.DataError, match=r"\['q'\].*columns are \['x', 'y', 'b'\]"):
        bc.SCM("x -> y; x -> q").fit(df, sampler=SAMPLER)


def test_non_binary_values_for_logistic_node(df):
    df = df.assign(b=df["b"] * 2)
    with pytest.raises(bc.DataError, match="'b' has a logistic.*other than 0 and 1"):
        bc.SCM("x -> b", mechanisms={"b": "logistic"}).fit(df, sampler=SAMPLER)


def test_nan_in_a_node(df):
    df = df.copy()
    df.loc[7, "y"] = np.nan
    with pytest.raises(bc.DataError, match="node 'y' has 1 missing.*row 7"):
        bc.SCM("x -> y").fit(df, sampler=SAMPLER)


def test_infinite_value(df):
    df = df.copy()
    df.loc[3, "x"] = np.inf
    with pytest.raises(bc.DataError, match="'x' is infinite at row 3"):
        bc.SCM("x -> y").fit(df, sampler=SAMPLER)


def test_negative_count(df):
    with pytest.raises(bc.DataError, match="'y' has a count mechanism"):
        bc.SCM("x -> y", mechanisms={"y": "poisson"}).fit(df, sampler=SAMPLER)


def test_constant_node(df):
    with pytest.raises(bc.DataError, match="'y' is constant"):
        bc.SCM("x -> y").fit(df.assign(y=1.5), sampler=SAMPLER)


def test_not_a_dataframe():
    with pytest.raises(bc.DataError, match="DataFrame"):
        bc.SCM("x -> y").fit({"x": [1, 2]}, sampler=SAMPLER)


def test_wrong_mechanism_name():
    with pytest.raises(bc.SpecError, match="unknown mechanism 'gausian' for node 'y'"):
        bc.SCM("x -> y", mechanisms={"y": "gausian"})


def test_mechanism_for_unknown_node():
    with pytest.raises(bc.SpecError, match="yy"):
        bc.SCM("x -> y", mechanisms={"yy": "logistic"})


def test_priors_for_unknown_node_and_bad_prior():
    with pytest.raises(bc.SpecError):
        bc.SCM("x -> y", priors={"q": {}})
    with pytest.raises(bc.SpecError, match="scalar numpyro distribution"):
        bc.scm.LinearGaussian(coef=1.0)


def test_unidentified_latent_node_is_refused(df):
    # the bow (a latent confounder of a direct edge) is not identified even for linear-Gaussian mechanisms
    with pytest.raises(bc.SpecError, match=r"latent node 'u' \(a common cause of x, y\) makes the model "
                                           r"unidentified.*4 free parameters.*3 distinct moments"):
        bc.SCM(bc.CausalGraph("u -> x; u -> y; x -> y", latent="u")).fit(df, sampler=SAMPLER)


def test_bad_graph_and_options(df):
    with pytest.raises(bc.SpecError, match="cycle"):
        bc.SCM("x -> y -> x")
    with pytest.raises(bc.SpecError, match="checks="):
        bc.SCM("x -> y").fit(df, checks="some")
    with pytest.raises(bc.SpecError, match="blocks="):
        bc.SCM("x -> y").fit(df, blocks="each")


def test_single_level_categorical(df):
    with pytest.raises(bc.DataError, match="single value"):
        bc.SCM("x -> c").fit(df.assign(c="a"), sampler=SAMPLER)


def test_gibbs_kernel_is_refused(df):
    with pytest.raises(bc.SpecError, match="SCM samples with NUTS"):
        bc.SCM("x -> y").fit(df, sampler=bc.Sampler(kernel="gibbs"))


def test_sampler_of_the_wrong_type_is_refused(df):
    with pytest.raises(bc.SpecError, match="sampler must be a bc.Sampler"):
        bc.SCM("x -> y").fit(df, sampler={"chains": 2})
