"""The sensitivity analysis of AIPW and CEM results (``res.sensitivity()``, ``plot_sensitivity()``, the panel of
``plot()`` and the HTML): the regression summary a fit keeps against least squares computed here, the robustness
numbers against ``bayescausal.sensitivity.robustness`` called directly, and the benchmark bounds' order on data
with a known strong confounder and a pure-noise covariate. One small fit per estimator, shared by the module."""

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.crosssection.aipw import AIPW
from bayescausal.crosssection.cem import CEM
from bayescausal.datasets.crosssection import simulate_confounded_units
from bayescausal.errors import DataError, SpecError
from bayescausal.sensitivity import figure, ols_robustness, robustness
from bayescausal.sensitivity.figure import posterior_robustness, regression_benchmarks

SMALL = bc.Sampler(chains=1, draws=200, warmup=200, progress=False)
COVS = ["age", "income", "region", "visits", "noise"]
NUMERIC = ["age", "income", "visits", "noise"]


@pytest.fixture(scope="module")
def data():
    """400 customers: income pulls both the offer and spend hard; ``noise`` is independent of everything."""
    df = simulate_confounded_units(400, seed=5).data.copy()
    df["noise"] = np.random.default_rng(9).normal(size=len(df))
    return df


@pytest.fixture(scope="module")
def aipw(data):
    # the additive models: at 400 rows the default splines' interval includes zero, and these tests need an estimate
    # that a confounder has to explain away (the robustness value is 0 otherwise)
    return AIPW(outcome_model="linear", propensity_model="logistic").fit(data, "offer", "spend", COVS, sampler=SMALL,
                                                                         seed=0, checks=False)


@pytest.fixture(scope="module")
def cem(data):
    return CEM().fit(data, "offer", "spend", COVS, sampler=SMALL, seed=0, checks=False)


def _design(df: pd.DataFrame) -> pd.DataFrame:
    """The covariates' least-squares design, built here independently of the package (region's first level out)."""
    return pd.concat([df[NUMERIC], pd.get_dummies(df["region"], prefix="region", drop_first=True, dtype=float)],
                     axis=1)


def _rss(y, X):
    A = np.column_stack([np.ones(len(y)), X])
    r = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    return float(r @ r)


def _reference(df: pd.DataFrame, draws) -> tuple:
    """Inputs of ``robustness`` computed from scratch: posterior mean and sd; dof so that sd sqrt(dof) is the OLS
    residual scale se sqrt(dof_ols); benchmark partial R-squared (numeric covariates from their t statistics via
    ``ols_robustness``, the region dummies as a group from residual sums of squares)."""
    X = _design(df)
    y, d = df["spend"].to_numpy(float), df["offer"].to_numpy(float)
    ols = ols_robustness(y, d, X, benchmarks=NUMERIC, kd=1)
    region = [c for c in X.columns if c.startswith("region")]
    rest = X.drop(columns=region).to_numpy()
    pairs = dict(ols.benchmarks)
    pairs["region"] = (1 - _rss(d, X.to_numpy()) / _rss(d, rest),
                       1 - _rss(y, np.column_stack([d, X.to_numpy()])) / _rss(y, np.column_stack([d, rest])))
    flat = np.asarray(draws).ravel()
    mean, sd = flat.mean(), flat.std(ddof=1)
    dof = (ols.se * np.sqrt(ols.dof) / sd) ** 2
    return mean, sd, dof, pairs, ols


def _same_robustness(got, want):
    for attr in ("estimate", "se", "dof", "partial_r2", "rv_q", "rv_qa"):
        assert getattr(got, attr) == pytest.approx(getattr(want, attr), rel=1e-8), attr
    cols = ["r2dz_x", "r2yz_dx", "adjusted_estimate", "adjusted_lower", "adjusted_upper"]
    pd.testing.assert_frame_equal(got.bounds[cols].sort_index(), want.bounds[cols].sort_index(), rtol=1e-8)


# -- the regression summary, no MCMC -------------------------------------------------------------------------------
def test_regression_summary_matches_least_squares(data):
    X = _design(data)
    y, d = data["spend"].to_numpy(float), data["offer"].to_numpy(float)
    cov = data[COVS].assign(region=data["region"].astype("category"))
    got = regression_benchmarks(y, d, cov, treatment="offer")
    ref = ols_robustness(y, d, X, benchmarks=NUMERIC, kd=1)
    assert got.estimate == pytest.approx(ref.estimate, rel=1e-10)
    assert got.se == pytest.approx(ref.se, rel=1e-10)
    assert got.dof == ref.dof == len(data) - 2 - X.shape[1]
    for name, (r2d, r2y) in ref.benchmarks.items():
        assert got.table.loc[name, "r2_treatment"] == pytest.approx(r2d, rel=1e-8)
        assert got.table.loc[name, "r2_outcome"] == pytest.approx(r2y, rel=1e-8)
    assert got.table.loc["region", "columns"] == 3
    assert not got.problem


def test_rows_mask_and_chunking_give_the_same_summary(data, monkeypatch):
    """A mask equals subsetting first; many small chunks (shifted by the first chunk's means) equal one."""
    rng = np.random.default_rng(1)
    big = pd.concat([data] * 4, ignore_index=True)  # 1,600 rows: two chunks at the smallest chunk size
    big["spend"] += rng.normal(size=len(big))
    cov = big[COVS].assign(region=big["region"].astype("category"))
    y, d = big["spend"].to_numpy(float), big["offer"].to_numpy(float)
    keep = rng.uniform(size=len(big)) < 0.8
    whole = regression_benchmarks(y, d, cov, rows=keep)
    sub = regression_benchmarks(y[keep], d[keep], cov[keep].reset_index(drop=True))
    monkeypatch.setattr(figure, "CHUNK_ELEMENTS", 1)
    chunked = regression_benchmarks(y, d, cov, rows=keep)
    for other in (sub, chunked):
        assert other.rows == whole.rows == int(keep.sum())
        assert other.estimate == pytest.approx(whole.estimate, rel=1e-9)
        assert other.se == pytest.approx(whole.se, rel=1e-9)
        np.testing.assert_allclose(other.table[["r2_treatment", "r2_outcome"]],
                                   whole.table[["r2_treatment", "r2_outcome"]], rtol=1e-8)


def test_degenerate_data_are_reported_not_raised_at_fit():
    """The treatment is a covariate's copy: the summary says so, and only the analysis itself raises."""
    rng = np.random.default_rng(0)
    d = (rng.uniform(size=50) < 0.5).astype(float)
    bench = regression_benchmarks(rng.normal(size=50), d, pd.DataFrame({"copy": d}))
    assert "predict the treatment exactly" in bench.problem
    with pytest.raises(DataError, match="predict the treatment exactly"):
        posterior_robustness(rng.normal(size=100), bench)


@pytest.mark.parametrize("t, dof", [(3.0, 400.0), (300.0, 500.0)])  # RV_{q,alpha}'s diagonal and extreme cases
def test_the_marked_robustness_values_lie_on_their_dashed_contours(t, dof):
    from scipy import stats

    from bayescausal.sensitivity import _math

    rob = robustness(t * 0.5, 0.5, dof)
    x, y, _ = figure._rv_point(rob, "estimate")
    assert _math.adjusted_estimate(rob.estimate, rob.se, dof, x, y) == pytest.approx(0.0, abs=1e-9)
    x, y, _ = figure._rv_point(rob, "t")
    crit = stats.t.ppf(0.975, dof - 1)
    assert _math.adjusted_t(rob.estimate, rob.se, dof, x, y) == pytest.approx(crit, rel=1e-9)
    # and no weaker confounder (both partial R-squared below the RV) reaches it
    gx, gy = np.meshgrid(np.linspace(0, 0.999 * x, 200), np.linspace(0, 0.999 * x, 200))
    assert np.all(_math.adjusted_t(rob.estimate, rob.se, dof, gx, gy) > crit)


# -- AIPW ----------------------------------------------------------------------------------------------------------
def test_aipw_sensitivity_matches_robustness_called_directly(aipw, data):
    mean, sd, dof, pairs, _ = _reference(data, aipw.effect.values)
    want = robustness(mean, sd, dof, benchmarks=pairs, kd=1, treatment="offer")
    got = aipw.sensitivity()
    _same_robustness(got, want)
    assert 0 < got.rv_qa < got.rv_q < 1
    assert aipw.confounding_benchmarks.rows == len(data)


def test_benchmark_bounds_put_the_strong_confounder_above_noise(aipw):
    b = aipw.sensitivity().bounds
    strong, noise = b.loc["1x income"], b.loc["1x noise"]
    assert strong["r2yz_dx"] > noise["r2yz_dx"] and strong["r2dz_x"] > noise["r2dz_x"]
    est = aipw.effect.values.mean()
    assert abs(est - strong["adjusted_estimate"]) > abs(est - noise["adjusted_estimate"])
    # a confounder as weak as pure noise leaves the estimate nearly where it was (within a tenth of its sd)
    assert abs(est - noise["adjusted_estimate"]) < 0.1 * aipw.effect.values.std()


def test_benchmarks_can_be_chosen_or_given(aipw):
    one = aipw.sensitivity(["income"], kd=[0.5, 1])
    assert list(one.bounds.index) == ["0.5x income", "1x income"]
    given = aipw.sensitivity({"as strong as I fear": (0.1, 0.2)})
    assert list(given.bounds.index) == ["1x as strong as I fear"]
    assert given.bounds["r2dz_x"].iloc[0] == pytest.approx(0.1 / 0.9)
    with pytest.raises(SpecError, match="'height'"):
        aipw.sensitivity(["height"])


def test_aipw_plot_has_the_sensitivity_panel_and_html_has_its_tables(aipw, tmp_path):
    fig = aipw.plot()
    assert len(fig.axes) == 4
    panel = fig.axes[3]
    assert "partial R²" in panel.get_xlabel() and "treatment" in panel.get_xlabel()
    assert "outcome" in panel.get_ylabel()
    assert f"RV {aipw.sensitivity().rv_q:.1%}" in panel.get_title()
    plt.close(fig)
    fig = aipw.plot_sensitivity(kind="t")
    assert len(fig.axes) == 1 and fig.axes[0].get_xlim()[0] == 0
    plt.close(fig)
    page = open(aipw.to_html(tmp_path / "aipw.html"), encoding="utf-8").read()
    assert page.count("<img") == 1 and "data:image/png;base64," in page
    assert "Cinelli &amp; Hazlett 2020" in page and "benchmark bounds" in page and "1x income" in page


def test_without_the_summary_there_is_no_panel_and_a_clear_error(aipw):
    bare = dataclasses.replace(aipw, confounding_benchmarks=None)
    with pytest.raises(SpecError, match="confounding_benchmarks"):
        bare.sensitivity()
    fig = bare.plot()
    assert len(fig.axes) == 3
    plt.close(fig)
    assert not bare._sensitivity_tables()


# -- CEM -----------------------------------------------------------------------------------------------------------
def test_cem_sensitivity_uses_all_rows_and_matches_robustness(cem, data):
    mean, sd, dof, pairs, _ = _reference(data, cem.effect.values)
    _same_robustness(cem.sensitivity(), robustness(mean, sd, dof, benchmarks=pairs, kd=1, treatment="offer"))
    assert cem.confounding_benchmarks.rows == len(data)


def test_cem_plot_adds_the_panel_on_the_right(cem, tmp_path):
    fig = cem.plot()
    assert len(fig.axes) == 5
    assert "partial R²" in fig.axes[4].get_xlabel()
    assert fig.axes[4].get_position().x0 > max(a.get_position().x1 for a in fig.axes[:4])
    plt.close(fig)
    page = open(cem.to_html(tmp_path / "cem.html"), encoding="utf-8").read()
    assert page.count("<img") == 1 and "benchmark bounds" in page
