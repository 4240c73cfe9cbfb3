"""The budget optimiser on response curves with a known optimum (no MCMC)."""

import numpy as np
import pytest
from scipy.optimize import brentq

from bayescausal.errors import SpecError
from bayescausal.mmm.optimize import optimize, weekly_response


def _response(beta, lam, S=1, jitter=0.0, seed=0):
    """Two channels, one geo, logistic curves ``beta_c tanh(lam_c b / 2)`` (spend unit 1)."""
    rng = np.random.default_rng(seed)
    beta = np.asarray(beta, float)[None, None, :] * np.exp(jitter * rng.standard_normal((S, 1, len(beta))))
    lam = np.broadcast_to(np.asarray(lam, float), (S, len(lam))).copy()
    return {"beta": beta, "sat": {"lam": lam}, "saturation": "logistic", "spend_unit": np.ones((1, len(lam[0]))),
            "share": np.ones((1, len(lam[0])))}


def test_two_channels_match_the_first_order_condition():
    beta, lam, W, H = np.array([100.0, 60.0]), np.array([0.8, 2.0]), 3.0, 4
    resp = _response(beta, lam)
    # reference: equal marginal returns beta_c lam_c / 2 sech^2(lam_c b_c / 2), b_1 + b_2 = W (interior)
    def gap(b1):
        m = beta * lam / 2 / np.cosh(lam * np.array([b1, W - b1]) / 2) ** 2
        return m[0] - m[1]

    b1 = brentq(gap, 1e-9, W - 1e-9)
    current = np.array([1.5, 1.5])
    bounds = {"c0": (0.0, W * H), "c1": (0.0, W * H)}
    out = optimize(resp, current, current, ("c0", "c1"), W * H, H, bounds, "mean", 0.1)
    np.testing.assert_allclose(out.table["optimal_weekly"].to_numpy(), [b1, W - b1], rtol=1e-5, atol=1e-6)
    assert out.table["optimal_weekly"].sum() == pytest.approx(W, rel=1e-9)
    # one draw: no uncertainty, no regret; the optimum beats the current mix
    assert out.expected_regret == pytest.approx(0.0, abs=1e-6)
    best = H * np.asarray(weekly_response(np.array([b1, W - b1]), resp)).sum()
    assert out.outcome[0] == pytest.approx(best, rel=1e-9)
    assert out.outcome[0] >= out.outcome_current_mix[0]


def test_bounds_bind_and_regret_is_positive_under_uncertainty():
    resp = _response([100.0, 60.0], [0.8, 2.0], S=400, jitter=0.4)
    current = np.array([1.5, 1.5])
    out = optimize(resp, current, current, ("c0", "c1"), 12.0, 4, None, "mean", 0.1)
    t = out.table
    assert np.all(t["optimal_weekly"] >= t["low_weekly"] - 1e-9)
    assert np.all(t["optimal_weekly"] <= t["high_weekly"] + 1e-9)
    assert t["optimal_weekly"].sum() == pytest.approx(3.0, rel=1e-8)
    assert out.expected_regret > 0 and np.all(out.regret_draws >= 0)
    assert out.outcome.mean() >= out.outcome_current_mix.mean() - 1e-9
    # a risk-averse objective: its lower quantile is at least the mean-optimal allocation's
    q = optimize(resp, current, current, ("c0", "c1"), 12.0, 4, None, "quantile", 0.1)
    assert np.quantile(q.outcome, 0.1) >= np.quantile(out.outcome, 0.1) - 1e-6 * abs(np.quantile(out.outcome, 0.1))
    cv = optimize(resp, current, current, ("c0", "c1"), 12.0, 4, None, "cvar", 0.2)
    assert np.isfinite(cv.expected_regret)
    assert "Expected regret" in out.report() and set(out.summary().columns) >= {"mean", "lower", "upper"}


def test_infeasible_total_and_bad_risk():
    resp = _response([100.0, 60.0], [0.8, 2.0])
    current = np.array([1.5, 1.5])
    with pytest.raises(SpecError, match="outside what the bounds allow"):
        optimize(resp, current, current, ("c0", "c1"), 100.0, 4, None, "mean", 0.1)
    with pytest.raises(SpecError, match="risk="):
        optimize(resp, current, current, ("c0", "c1"), 12.0, 4, None, "worst", 0.1)
