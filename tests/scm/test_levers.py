"""Lever ranking: the pure P(best) and per-cost arithmetic against hand-computed arrays, the result's contract
without MCMC, paired draws across levers on a fitted SCM (checked against the parameter draws themselves),
recovery of the known effects, and bad input."""

import numpy as np
import pytest
import xarray as xr

import bayescausal as bc
from bayescausal.checks import CheckResult
from bayescausal.inference import to_inference_data
from bayescausal.scm.levers import LeverRanking, goal_sign, per_unit_cost, prob_best

from .conftest import TRUE


# -- pure arithmetic ---------------------------------------------------------------------------------------------
def test_prob_best_hand_computed_with_ties():
    draws = np.array([[1.0, 2.0, 3.0, 0.0],
                      [2.0, 1.0, 3.0, 5.0],
                      [0.0, 0.0, 1.0, 1.0]])
    # increase: draw 0 -> lever 1, draw 1 -> lever 0, draw 2 -> tie of levers 0 and 1 (half each), draw 3 -> lever 1
    np.testing.assert_allclose(prob_best(draws, "increase"), [1.5 / 4, 2.5 / 4, 0.0])
    # decrease: lever 2 is smallest in draws 0-2, lever 0 in draw 3
    np.testing.assert_allclose(prob_best(draws, "decrease"), [0.25, 0.0, 0.75])
    assert prob_best(np.zeros((3, 5))).tolist() == pytest.approx([1 / 3] * 3)  # all tied: equal shares, sum 1


def test_per_unit_cost_and_goal_sign():
    draws = np.array([[2.0, 4.0], [-3.0, 6.0]])
    np.testing.assert_allclose(per_unit_cost(draws, [2.0, 3.0]), [[1.0, 2.0], [-1.0, 2.0]])
    with pytest.raises(ValueError, match="positive"):
        per_unit_cost(draws, [1.0, 0.0])
    assert goal_sign("increase") == 1.0 and goal_sign("decrease") == -1.0
    with pytest.raises(bc.SpecError, match="goal='up'"):
        goal_sign("up")


# -- the result's contract, without MCMC ---------------------------------------------------------------------------
def _ranking(draws: dict, goal="increase", costs=None, checks=None, no_path=()):
    """A LeverRanking from synthetic draws (2 chains), as rank_levers would build it."""
    names = list(draws)
    stacked = np.stack([np.asarray(draws[n], float).reshape(2, -1) for n in names], axis=-1)
    effect = xr.DataArray(stacked, dims=("chain", "draw", "lever"), name="effect",
                          coords={"chain": [0, 1], "draw": np.arange(stacked.shape[1]), "lever": names})
    idata = to_inference_data({"effect": stacked}, coords={"lever": names}, dims={"effect": ["lever"]})
    if checks is None:
        checks = (CheckResult("convergence", True, 1.0, 1.01, "ok"),)
    return LeverRanking("effects on the mean of y of candidate levers", effect, idata, tuple(checks),
                        method="SCM lever ranking", outcome="y", outcome_words="the mean of y", goal=goal,
                        descriptions={n: f"set {n} from 0 to 1" for n in names}, costs=costs, no_path=no_path,
                        info={"draws": stacked.shape[0] * stacked.shape[1]})


def test_contract_table_best_report_plot_html(tmp_path):
    rng = np.random.default_rng(0)
    draws = {"c": np.zeros(400), "a": rng.normal(1.0, 0.1, 400), "b": rng.normal(0.5, 0.1, 400)}
    r = _ranking(draws, costs={"a": 10.0, "b": 1.0, "c": 1.0}, no_path=("c",))
    t = r.table()
    assert list(t.index) == ["a", "b", "c"] and r.best == "a"
    assert {"intervention", "mean", "sd", "lower", "upper", "p_positive", "p_best", "cost", "per_cost_mean",
            "per_cost_lower", "per_cost_upper", "p_best_per_cost"} <= set(t.columns)
    assert t.loc["a", "p_best"] == 1.0 and t["p_best"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(t["per_cost_mean"], t["mean"] / np.array([10.0, 1.0, 1.0]))
    assert r.best_per_cost == "b" and t.loc["b", "p_best_per_cost"] == 1.0
    text = r.report()
    assert "the most impactful of the 3 levers is a" in text and "P(best) = 1.00" in text
    assert "c has no directed path to y" in text and "exactly 0" in text and "Per unit cost the best lever is b" in text
    assert r.trustworthy and r.effect.dims == ("chain", "draw", "lever")
    fig = r.plot()
    assert len(fig.axes) == 2 and [tk.get_text() for tk in fig.axes[0].get_yticklabels()] == ["c", "b", "a"]
    path = r.to_html(tmp_path / "levers.html")
    page = open(path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and "P(best)" in page and "data:image/png;base64" in page
    assert "<table>" in r._repr_html_() and "best a" in repr(r)
    # decreasing: the order reverses; the zero lever is now the best
    down = _ranking(draws, goal="decrease", no_path=("c",))
    assert list(down.table().index) == ["c", "b", "a"] and down.best_per_cost is None
    assert "To lower the mean of y" in down.report()
    with pytest.raises(bc.SpecError, match="no costs"):
        down.p_best(per_cost=True)


def test_report_says_when_no_lever_is_clearly_best_and_failed_checks_first():
    rng = np.random.default_rng(1)
    draws = {"a": rng.normal(1.0, 0.1, 400), "b": rng.normal(0.99, 0.1, 400)}
    failed = CheckResult("convergence", False, 1.2, 1.01, "MCMC did not converge.")
    r = _ranking(draws, checks=(failed,))
    text = r.report()
    assert text.startswith("Warning: the convergence check failed") and not r.trustworthy
    assert "No lever is clearly best" in text and max(r.p_best()) < 0.8


# -- on a fitted SCM (the shared fit of conftest: z -> x -> y, z -> y, x -> b, z -> b, w isolated) ------------------
def _data_units_coef(fitted, node, parent, params):
    """The linear-Gaussian coefficient node <- parent in the data's units, per posterior draw."""
    lay = fitted.data.layout(node)
    j = list(lay.parents).index(parent)
    sd_parent = fitted.data.layout(parent).sd
    return np.asarray(params[f"{node}__coef"])[:, j] * lay.sd / sd_parent


def test_paired_draws_recovery_and_no_path_lever(fitted):
    ranking = fitted.rank_levers("y", {"x": (0, 1), "z": (0, 1), "w": {"shift": 1.0}}, draws=400, seed=3)
    # the same draws as effect() with the same draws and seed ...
    alone = fitted.effect("x", "y", treat=1, control=0, draws=400, seed=3)
    np.testing.assert_array_equal(ranking.results["x"].effect.values, alone.effect.values)
    np.testing.assert_array_equal(ranking.effect.sel(lever="x").values, alone.effect.values)
    # ... and draw i of every lever comes from posterior draw i: linear-Gaussian, so the effects are exact functions
    params, _ = fitted._param_draws(400)
    b_yx, b_yz = _data_units_coef(fitted, "y", "x", params), _data_units_coef(fitted, "y", "z", params)
    b_xz = _data_units_coef(fitted, "x", "z", params)
    ex = ranking.effect.sel(lever="x").values.ravel()
    ez = ranking.effect.sel(lever="z").values.ravel()
    np.testing.assert_allclose(ex, b_yx, rtol=1e-8)
    np.testing.assert_allclose(ez, b_yz + b_xz * b_yx, rtol=1e-8)
    # P(best) is computed from the paired draws
    stacked = np.stack([ex, ez, np.zeros_like(ex)])
    np.testing.assert_allclose(ranking.p_best().to_numpy(), prob_best(stacked, "increase"))
    # a lever without a directed path has an effect of exactly 0, and the report says so
    assert np.all(ranking.effect.sel(lever="w").values == 0.0) and ranking.no_path == ("w",)
    assert "w has no directed path to y" in ranking.report()
    # recovery: x -> y is 1.5, z's total effect 0.7 + 0.8 * 1.5 = 1.9, so z is the best lever
    t = ranking.table(0.99)
    for lever, truth in (("x", TRUE["y_x"]), ("z", TRUE["y_z"] + TRUE["x_z"] * TRUE["y_x"])):
        row = t.loc[lever]
        assert row["lower"] < truth < row["upper"] and abs(row["mean"] - truth) < 3.5 * row["sd"], (lever, row)
    assert ranking.best == "z" and t.loc["z", "p_best"] > 0.99
    names = [c.name for c in ranking.checks]
    assert "identification [x]" in names and any(n.startswith("placebo") and n.endswith("[z]") for n in names)


def test_where_cost_and_decrease_on_a_binary_outcome(fitted):
    where = {"returning": "yes"}
    ranking = fitted.rank_levers("b", {"x": (0, 1), "z": 1.0}, cost={"x": 2.0, "z": 0.5}, goal="decrease",
                                 where=where, draws=200)
    alone = fitted.effect("z", "b", shift=1.0, where=where, draws=200)
    np.testing.assert_array_equal(ranking.results["z"].effect.values, alone.effect.values)
    t = ranking.table()
    np.testing.assert_allclose(t["per_cost_mean"], t["mean"] / t["cost"])
    assert t["mean"].is_monotonic_increasing  # decrease: the most negative effect first
    assert "returning = 'yes'" in ranking.estimand and "shift z by +1" in t.loc["z", "intervention"]


def test_bad_lever_arguments(fitted):
    with pytest.raises(bc.SpecError, match="Unknown lever 'xx'"):
        fitted.rank_levers("y", {"xx": (0, 1)})
    with pytest.raises(bc.SpecError, match="Unknown outcome"):
        fitted.rank_levers("yy", {"x": (0, 1)})
    with pytest.raises(bc.SpecError, match="outcome 'y' is also a lever"):
        fitted.rank_levers("y", {"x": (0, 1), "y": (0, 1)})
    with pytest.raises(bc.SpecError, match="bare number means a shift.*'b' is binary"):
        fitted.rank_levers("y", {"b": 1.0})
    with pytest.raises(bc.SpecError, match="lever 'b'.*binary"):
        fitted.rank_levers("y", {"b": (0, 2)})
    with pytest.raises(bc.SpecError, match="lever 'b': a shift applies"):
        fitted.rank_levers("y", {"b": {"shift": 1}})
    with pytest.raises(bc.SpecError, match="must be \\{'shift': number\\}"):
        fitted.rank_levers("y", {"x": {"to": 1}})
    with pytest.raises(bc.SpecError, match="two values"):
        fitted.rank_levers("y", {"x": (0, 1, 2)})
    with pytest.raises(bc.SpecError, match="lever 'x'"):
        fitted.rank_levers("y", {"x": "up"})
    with pytest.raises(bc.SpecError, match="non-empty"):
        fitted.rank_levers("y", {})
    with pytest.raises(bc.SpecError, match="goal="):
        fitted.rank_levers("y", {"x": (0, 1)}, goal="more")
    with pytest.raises(bc.SpecError, match="missing lever"):
        fitted.rank_levers("y", {"x": (0, 1), "z": (0, 1)}, cost={"x": 1.0})
    with pytest.raises(bc.SpecError, match="not levers"):
        fitted.rank_levers("y", {"x": (0, 1)}, cost={"x": 1.0, "q": 2.0})
    with pytest.raises(bc.SpecError, match="positive finite"):
        fitted.rank_levers("y", {"x": (0, 1)}, cost={"x": -1.0})
