"""CEM fits on simulated customers with known effects: recovery (Gaussian and Bernoulli outcomes), the checks on a
null effect, and the Result contract (summary, report, plot, HTML, InferenceData, tables)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import bayescausal as bc
from bayescausal.crosssection.cem import CEM
from bayescausal.crosssection.cem_result import CEMResult
from bayescausal.datasets.crosssection import simulate_confounded_units

# Compiling a NUTS program (about 12 s here) costs more than sampling a 3,000-unit fit once compiled (about 3 s), so
# the two Gaussian fixtures share their programs: the same sampler, strata padded to the same size, and refit
# batches of the same size (4 placebos + 10 permutations + 1 negative control; 5 + 10). 2,000 draws keep tau_sd's
# bulk ESS above 1,000, so the R-hat < 1.01 of the convergence check is not decided by chance (1,000 draws after
# 500 warm-up left it at 1.007-1.010).
SAMPLER = bc.Sampler(chains=2, draws=2000, warmup=1000, progress=False)
BERNOULLI_SAMPLER = bc.Sampler(chains=2, draws=1000, warmup=500, progress=False)


@pytest.fixture(scope="module")
def effect_fit():
    """Confounded offer with a heterogeneous effect (ATT 5.64); every check, with the negative control."""
    study = simulate_confounded_units(n=3000, seed=1)
    res = CEM(permutations=10, placebo_splits=4).fit(
        study.data, study.treatment, study.outcome, list(study.covariates), negative_control="spend_last_year",
        sampler=SAMPLER, seed=0)
    return study, res


@pytest.fixture(scope="module")
def null_fit():
    """No effect and no confounding (a randomised offer): every check must pass."""
    study = simulate_confounded_units(n=2000, seed=3, effect=0.0, confounding=0.0)
    res = CEM(permutations=10, placebo_splits=5).fit(study.data, study.treatment, study.outcome,
                                                     list(study.covariates), sampler=SAMPLER, seed=0)
    return study, res


def _check(res, name):
    return next(c for c in res.checks if c.name == name)


def test_recovers_the_att(effect_fit):
    study, res = effect_fit
    row = res.summary().loc["effect"]
    assert row["lower"] < study.true_att < row["upper"]
    assert abs(row["mean"] - study.true_att) < 3.5 * row["sd"]
    naive = (study.data.groupby("offer")["spend"].mean().diff().iloc[-1])
    assert naive > row["upper"]  # matching removed most of the confounding the naive difference carries
    assert res.imbalance["L1"].iloc[1] < res.imbalance["L1"].iloc[0]
    assert (res.balance["smd_weighted"].abs() < res.balance["smd_raw"].abs() + 1e-12).all()


def test_checks_of_the_effect_fit(effect_fit):
    _, res = effect_fit
    names = [c.name for c in res.checks]
    assert names == ["convergence", "posterior predictive", "overlap", "balance", "within-stratum confounding",
                     "placebo (A/A)", "randomization inference", "negative-control outcome"]
    assert all(c.passed for c in res.checks), res.checks_table()[["verdict", "message"]].to_string()
    assert res.trustworthy
    # a real effect of about 5 against permutations centred on 0: the smallest p-value 10 permutations allow
    assert res.randomization_p == pytest.approx(1 / 11)
    assert len(res.placebos) == 4 and len(res.permutations) == 10
    nc = res.negative_control.iloc[0]
    assert nc["lower"] < 0 < nc["upper"]


def test_null_effect_passes_the_a_a_checks(null_fit):
    study, res = null_fit
    row = res.summary().loc["effect"]
    assert row["lower"] < 0 < row["upper"]
    assert abs(study.true_att) < 1e-12
    assert res.trustworthy, res.checks_table()[["verdict", "message"]].to_string()
    assert res.randomization_p > 0.05
    assert "Randomization p-value" in _check(res, "randomization inference").message


def test_bernoulli_outcome_recovers_the_difference_in_probability():
    study = simulate_confounded_units(n=3000, seed=2, effect=1.0, binary_outcome=True)
    res = CEM().fit(study.data, study.treatment, study.outcome, list(study.covariates), sampler=BERNOULLI_SAMPLER,
                    seed=0, checks="fast")
    assert res.family == "bernoulli"
    row = res.summary().loc["effect"]
    assert row["lower"] < study.true_att < row["upper"]
    assert 0 < row["lower"]
    assert [c.name for c in res.checks] == ["convergence", "posterior predictive", "overlap", "balance",
                                            "within-stratum confounding"]
    assert _check(res, "convergence").passed
    assert "probability" in res.estimand
    kept = res.strata[res.strata["kept"]]
    assert kept["effect_mean"].between(-1, 1).all()


# -- contract ------------------------------------------------------------------------------------------------------
def test_summary_and_tables(effect_fit):
    study, res = effect_fit
    assert isinstance(res, CEMResult)
    table = res.summary()
    assert {"mean", "sd", "lower", "upper", "p_positive"} <= set(table.columns)
    assert table.index[0] == "effect" and res.effect.dims == ("chain", "draw")
    m = res.matching
    assert m.loc["total", "units"] == len(study.data)
    assert m.loc[["kept", "no controls", "no treated"], "units"].sum() == len(study.data)
    assert m.loc["kept", "strata"] == res.strata["kept"].sum()
    assert set(res.strata["reason"]) <= {"kept", "no controls", "no treated"}
    assert res.weights.index.equals(study.data.index)
    dropped = ~res.strata["kept"].to_numpy()[res.stratum.to_numpy()]
    assert (res.weights[dropped] == 0).all() and (res.weights[~dropped] > 0).all()
    treated = study.data["offer"].to_numpy() == 1
    assert np.isclose(res.weights[treated & ~dropped].sum(), treated[~dropped].sum())  # ATT: treated weigh 1
    assert np.isclose(res.weights[~treated].sum(), (~treated & ~dropped).sum())
    assert list(res.coarsening.index) == list(study.covariates)
    assert res.coarsening.loc["region", "rule"] == "exact"
    assert np.isclose(res.strata["estimand_weight"].sum(), 1.0)
    eff = res.stratum_effects()
    assert (eff["lower"] < eff["upper"]).all()


def test_idata_groups(effect_fit):
    _, res = effect_fit
    idata = res.idata
    for group in ("posterior", "posterior_predictive", "observed_data", "sample_stats", "constant_data"):
        assert hasattr(idata, group)
    n_kept = int(res.strata["kept"].sum())
    assert idata.observed_data["treated_mean"].shape == (n_kept,)
    assert idata.posterior_predictive["control_mean"].shape[-1] == n_kept
    assert {"effect", "tau", "tau_sd", "sigma", "gamma"} <= set(idata.posterior.data_vars)


def test_report_plot_html(effect_fit, tmp_path):
    _, res = effect_fit
    text = res.report()
    for phrase in ("Coarsening 4 covariates", "matched treated", "L1 imbalance", "Randomization p-value",
                   "spend_last_year", "can be called causal", "Checks passed", "E-value"):
        assert phrase in text, phrase
    fig = res.plot()
    assert len(fig.axes) == 5  # four panels and the sensitivity contours
    plt.close(fig)
    page = open(res.to_html(tmp_path / "cem.html"), encoding="utf-8").read()
    for title in ("Matching: strata and units kept and dropped", "Covariate balance", "Multivariate L1 imbalance",
                  "Placebo fits", "Randomization inference", "Negative-control outcome", "data:image/png;base64"):
        assert title in page, title
    assert "Coarsened exact matching" in res._repr_html_()


def test_failed_check_is_said_first(null_fit):
    import dataclasses

    _, res = null_fit
    bad = bc.CheckResult("balance", False, 0.3, "|weighted SMD| < 0.1", "age is not balanced.")
    worse = dataclasses.replace(res, checks=(bad,) + res.checks[1:])
    text = worse.report()
    assert text.startswith("Warning: the balance check failed")
    assert "cannot be called causal" in text and not worse.trustworthy
