"""Interventions on a fitted SCM: closed forms (linear-Gaussian), a logistic outcome against the true model,
subgroups, shifts, the placebo and identification checks, and bad arguments."""

import numpy as np
import pytest

import bayescausal as bc

from .conftest import TRUE


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _assert_recovers(result, truth, k=3.5):
    """Truth inside the 99% interval and within k posterior sds of the mean (many such assertions run per session,
    so 95% intervals would fail a correct model about once in every few runs)."""
    row = result.summary(0.99).loc["effect"]
    assert row["lower"] < truth < row["upper"], (row, truth)
    assert abs(row["mean"] - truth) < k * row["sd"], (row, truth)


def test_linear_direct_effect_closed_form(fitted):
    res = fitted.effect("x", "y", treat=1, control=0)
    _assert_recovers(res, TRUE["y_x"])  # E[y | do(x=1)] - E[y | do(x=0)] = the x -> y coefficient
    assert res.effect.dims == ("chain", "draw") and res.effect.sizes["chain"] == 4
    assert {"mean", "sd", "lower", "upper", "p_positive"} <= set(res.summary().columns)
    names = [c.name for c in res.checks]
    assert "identification" in names and any(n.startswith("placebo") for n in names)
    ident = next(c for c in res.checks if c.name == "identification")
    assert "backdoor" in ident.message and "{z}" in ident.message
    assert res.trustworthy, res.checks
    assert "do(x = 1)" in res.estimand and "effect" in res.report()


def test_linear_total_effect_through_mediator_and_shift(fitted):
    truth = TRUE["y_z"] + TRUE["x_z"] * TRUE["y_x"]  # direct plus through x
    _assert_recovers(fitted.effect("z", "y", treat=1.0, control=0.0), truth)
    shifted = fitted.effect("z", "y", shift=2.0)  # linear: a shift by 2 moves y by 2 * total effect
    _assert_recovers(shifted, 2 * truth)
    assert "shifting z by 2" in shifted.estimand


def test_logistic_outcome_against_true_interventional_difference(fitted, scm_data):
    z = scm_data["z"].to_numpy()

    def truth(rows):  # E over the data's z of P(b = 1 | do(x = 1), z) - P(b = 1 | do(x = 0), z): the true model
        base = TRUE["b_0"] + TRUE["b_z"] * z[rows]
        return float(np.mean(_sigmoid(base + TRUE["b_x"]) - _sigmoid(base)))

    all_rows = np.ones(len(z), bool)
    _assert_recovers(fitted.effect("x", "b", treat=1, control=0), truth(all_rows))
    sub = fitted.effect("x", "b", treat=1, control=0, where={"returning": "yes"})
    _assert_recovers(sub, truth(z > 0))
    assert "returning = 'yes'" in sub.estimand and sub.info["rows"] == int((z > 0).sum())
    masked = fitted.effect("x", "b", treat=1, control=0, where=(z > 0))
    np.testing.assert_allclose(masked.effect.values, sub.effect.values)


def test_no_directed_path_gives_zero(fitted):
    res = fitted.effect("y", "x")
    assert np.all(res.effect.values == 0.0)
    ident = next(c for c in res.checks if c.name == "identification")
    assert "no directed path" in ident.message


def test_placebo_runs_through_the_model(fitted):
    res = fitted.effect("x", "y")
    placebo = next(c for c in res.checks if c.name.startswith("placebo"))
    assert placebo.passed is True and "do(w)" in placebo.message and "do(b)" in placebo.message


def test_bad_effect_arguments(fitted):
    with pytest.raises(bc.SpecError, match="same node"):
        fitted.effect("x", "x")
    with pytest.raises(bc.SpecError, match="treatment"):
        fitted.effect("xx", "y")
    with pytest.raises(bc.SpecError, match="binary; use 0 or 1"):
        fitted.effect("b", "y", treat=2)
    with pytest.raises(bc.SpecError, match="shift= applies"):
        fitted.effect("b", "y", shift=1.0)
    with pytest.raises(bc.SpecError, match="not evaluated"):
        fitted.effect("x", "y", where="returning == 'yes'")
    with pytest.raises(bc.DataError, match="selects no rows"):
        fitted.effect("x", "y", where={"returning": "maybe"})
    with pytest.raises(bc.DataError, match="not in the fitted data"):
        fitted.effect("x", "y", where={"country": "fr"})
    with pytest.raises(bc.SpecError, match="boolean mask"):
        fitted.effect("x", "y", where=np.ones(3, bool))


@pytest.mark.filterwarnings("ignore::bayescausal.ConvergenceWarning")  # a short run; only the effect is asserted
def test_custom_numpyro_mechanism_and_student_t():
    """A user-written NumPyro mechanism (here linear-Gaussian in the data's units) gives the closed form too."""
    import numpyro
    import numpyro.distributions as dist
    import pandas as pd

    def my_y(name, parents, obs):
        a = numpyro.sample(f"{name}__a", dist.Normal(0, 10))
        b = numpyro.sample(f"{name}__b", dist.Normal(0, 10))
        s = numpyro.sample(f"{name}__s", dist.HalfNormal(5))
        return numpyro.sample(name, dist.Normal(a + b * parents["x"], s), obs=obs)

    rng = np.random.default_rng(9)
    x = rng.normal(size=400)
    df = pd.DataFrame({"x": x, "y": 1.0 + 2.0 * x + rng.normal(size=400)})
    fitted = bc.SCM("x -> y", mechanisms={"y": my_y, "x": bc.scm.StudentT()}).fit(
        df, sampler=bc.Sampler(chains=2, draws=500, warmup=400), seed=1)
    assert fitted.mechanisms["y"].family == "custom"
    _assert_recovers(fitted.effect("x", "y", treat=1.0, control=0.0), 2.0)
