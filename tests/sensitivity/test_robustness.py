"""Robustness-value API: Darfur, bounds table, OLS helper, plot, bad input."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayescausal.errors import DataError, SpecError
from bayescausal.sensitivity import ols_robustness, robustness

from .test_math import DARFUR, FEMALE_EST, FEMALE_R2DZ, FEMALE_R2YZ, FEMALE_SE, _pr2, female_inputs


@pytest.fixture
def darfur():
    return robustness(**DARFUR, benchmarks={"female": female_inputs()}, treatment="directlyharmed")


def test_darfur_result(darfur):
    row = darfur.table().loc["directlyharmed"]
    assert row["t"] == pytest.approx(4.18445, abs=1e-5)
    assert (round(100 * darfur.partial_r2, 1), round(100 * darfur.rv_q, 1), round(100 * darfur.rv_qa, 1)) == \
        (2.2, 13.9, 7.6)
    b = darfur.bounds
    assert list(b.index) == ["1x female", "2x female", "3x female"]
    np.testing.assert_allclose(b["r2dz_x"], FEMALE_R2DZ, rtol=1e-10)
    np.testing.assert_allclose(b["r2yz_dx"], FEMALE_R2YZ, rtol=1e-10)
    np.testing.assert_allclose(b["adjusted_estimate"], FEMALE_EST, rtol=1e-7)
    np.testing.assert_allclose(b["adjusted_se"], FEMALE_SE, rtol=1e-7)
    crit = stats.t.ppf(0.975, 782)  # the long regression's residual dof
    np.testing.assert_allclose(b["adjusted_lower"], b["adjusted_estimate"] - crit * b["adjusted_se"], rtol=1e-12)
    # 3x female makes the interval include zero, 1x does not (Cinelli & Hazlett 2020, Section 6)
    assert b.loc["3x female", "adjusted_lower"] < 0 < b.loc["1x female", "adjusted_lower"]
    assert "Robustness value 13.9%" in darfur.text and "1x female would not" in darfur.text


def test_hypothetical_confounders_and_asymmetric_multipliers():
    res = robustness(**DARFUR, r2dz=[0.1, 0.02], r2yz=[0.1, 0.3])
    assert len(res.bounds) == 2 and res.bounds["kd"].isna().all()
    pair = res.adjusted(0.1, 0.1)
    assert pair["adjusted_estimate"].iloc[0] == pytest.approx(res.bounds["adjusted_estimate"].iloc[0])
    asym = robustness(**DARFUR, benchmarks={"female": female_inputs()}, kd=[1, 2], ky=[3, 1])
    assert list(asym.bounds.index) == ["1x/3x female", "2x/1x female"]
    # the bound on the outcome side grows with ky; the treatment side does not depend on it
    one = robustness(**DARFUR, benchmarks={"female": female_inputs()}, kd=1, ky=1).bounds.iloc[0]
    assert asym.bounds.iloc[0]["r2dz_x"] == pytest.approx(one["r2dz_x"])
    assert asym.bounds.iloc[0]["r2yz_dx"] > one["r2yz_dx"]


def test_negative_estimate_is_the_mirror_image():
    pos = robustness(**DARFUR, benchmarks={"female": female_inputs()})
    neg = robustness(-DARFUR["estimate"], DARFUR["se"], DARFUR["dof"], benchmarks={"female": female_inputs()})
    assert neg.rv_q == pos.rv_q and neg.rv_qa == pos.rv_qa
    np.testing.assert_allclose(neg.bounds["adjusted_estimate"], -pos.bounds["adjusted_estimate"], rtol=1e-12)
    np.testing.assert_allclose(neg.bounds["adjusted_upper"], -pos.bounds["adjusted_lower"], rtol=1e-12)


def _simulated(seed=3, n=600):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.normal(size=n), "income": rng.normal(size=n), "urban": rng.binomial(1, 0.4, n)})
    d = 0.5 * X["age"] - 0.3 * X["urban"] + rng.normal(size=n)
    y = 1.0 + 0.4 * d + 0.6 * X["age"] + 0.2 * X["income"] + rng.normal(size=n)
    return y.to_numpy(), d.to_numpy(), X


def test_ols_robustness_matches_direct_regressions():
    y, d, X = _simulated()
    with pytest.warns(UserWarning, match="'age'.*reaches 1 for ky=\\[2.0, 3.0\\]"):  # age is strong
        res = ols_robustness(y, d, X, benchmarks=["age", "income"], treatment="d")
    assert res.bounds.loc["3x age", "r2yz_dx"] == 1.0 and res.bounds.loc["3x age", "adjusted_se"] == 0.0
    n = len(y)
    design = np.column_stack([np.ones(n), d, X.to_numpy(float)])
    beta = np.linalg.solve(design.T @ design, design.T @ y)
    resid = y - design @ beta
    dof = n - design.shape[1]
    cov = resid @ resid / dof * np.linalg.inv(design.T @ design)
    assert res.estimate == pytest.approx(beta[1], rel=1e-10)
    assert res.se == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-10)
    assert res.dof == dof
    covs = X.to_numpy(float)
    for j, name in enumerate(X.columns[:2]):
        others = np.column_stack([np.ones(n), np.delete(covs, j, axis=1)])
        r2d = _pr2(d, covs[:, j], others)
        r2y = _pr2(y, covs[:, j], np.column_stack([others, d]))
        assert res.benchmarks[name] == pytest.approx((r2d, r2y), rel=1e-9)
    assert {"1x age", "3x income"} <= set(res.bounds.index)


@pytest.mark.parametrize("kind", ["estimate", "t"])
def test_contour_plot(darfur, kind):
    fig = darfur.plot(kind=kind)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert any(lbl.startswith("1x female") for lbl in labels) and any("unadjusted" in lbl for lbl in labels)
    assert ax.get_xlim()[1] <= 0.99
    plt.close(fig)


@pytest.mark.parametrize("kwargs,match", [
    ({"se": 0.0}, "se=0.0"),
    ({"se": -1.0}, "se=-1.0"),
    ({"dof": 0.5}, "dof=0.5"),
    ({"alpha": 1.5}, "alpha=1.5"),
    ({"q": 0.0}, "q=0.0"),
    ({"benchmarks": {"female": (0.5, 0.1)}, "kd": 3}, "kd=.*impossible"),
    ({"benchmarks": {"female": (1.2, 0.1)}}, "benchmarks\\['female'\\]"),
    ({"benchmarks": {"female": 0.1}}, "benchmarks\\['female'\\]"),
    ({"benchmarks": {"female": (0.01, 0.1)}, "kd": [1, 2], "ky": [1]}, "equal-length"),
    ({"benchmarks": {"female": (0.01, 0.1)}, "kd": -1}, "positive"),
    ({"r2dz": 1.0, "r2yz": 0.1}, "r2dz=1.0"),
    ({"r2dz": 0.1, "r2yz": -0.1}, "r2yz=-0.1"),
])
def test_bad_input(kwargs, match):
    args = dict(DARFUR)
    args.update(kwargs)
    with pytest.raises(SpecError, match=match):
        robustness(**args)


def test_bad_data_and_plot_kind(darfur):
    y, d, X = _simulated(n=50)
    with pytest.raises(SpecError, match="not among the covariates"):
        ols_robustness(y, d, X, benchmarks=["height"])
    X2 = X.assign(age2=2 * X["age"])
    with pytest.raises(DataError, match="collinear"):
        ols_robustness(y, d, X2)
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(DataError, match="outcome contains NaN"):
        ols_robustness(y_nan, d, X)
    with pytest.raises(SpecError, match="kind='z'"):
        darfur.plot(kind="z")
