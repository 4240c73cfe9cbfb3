"""Unit-level counterfactuals (abduction, action, prediction): linear-Gaussian closed forms on the shared fit, the
monotone coupling of binary, count and categorical nodes against independent scipy computations (with known
parameters, no MCMC), graph rules, bad input and the result contract."""

import jax
import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayescausal as bc
from bayescausal.scm._cf_math import count_interval, count_quantile
from bayescausal.scm._data import prepare
from bayescausal.scm.counterfactual import CounterfactualResult
from bayescausal.scm.fitted import FittedSCM

from .conftest import TRUE

UNITS = [0, 7, 21, 300]


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _flat(da):
    return da.values.reshape(-1, da.sizes["unit"])


def _data_coef(fitted, node, parent, draws):
    """Draws of ``node``'s coefficient on a continuous ``parent`` in data units (the same thinning as the query)."""
    params, _ = fitted._param_draws(draws)
    lay = fitted.data.layout(node)
    j = list(lay.parents).index(parent)
    return params[f"{node}__coef"][:, j] * lay.sd / lay.parent_encodings[j].sd


def _assert_truth(draws, truth, k=3.5):
    """Truth inside the central 99% interval and within k posterior sds of the mean (several units per test)."""
    lo, hi = np.quantile(draws, [0.005, 0.995])
    assert lo < truth < hi, (lo, hi, truth)
    assert abs(draws.mean() - truth) < k * draws.std(), (draws.mean(), draws.std(), truth)


# -- linear-Gaussian closed forms on the shared fit -----------------------------------------------------------------
def test_do_x_moves_y_by_its_coefficient(fitted, scm_data):
    res = fitted.counterfactual(UNITS, do={"x": 1.0}, outcome="y")
    assert isinstance(res, CounterfactualResult)
    assert res.effect.dims == ("chain", "draw", "unit") and res.effect.sizes["chain"] == 4
    assert res.info["noise_draws"] == 1  # every recomputed node is continuous: the noise is exact
    b_yx = _data_coef(fitted, "y", "x", 1000)
    x, y = scm_data["x"].to_numpy()[UNITS], scm_data["y"].to_numpy()[UNITS]
    # the noise is unchanged: y_cf = y + b_yx (x' - x), draw by draw (an exact identity)
    np.testing.assert_allclose(_flat(res.counterfactual), y + b_yx[:, None] * (1.0 - x), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.factual.to_numpy(), y)
    for j in range(len(UNITS)):
        _assert_truth(_flat(res.counterfactual)[:, j], y[j] + TRUE["y_x"] * (1.0 - x[j]))


def test_do_z_propagates_through_the_recomputed_mediator(fitted, scm_data):
    z_new = 1.5
    res = fitted.counterfactual(UNITS, do={"z": z_new}, outcome="y")
    b_yx, b_yz, b_xz = (_data_coef(fitted, n, p, 1000) for n, p in (("y", "x"), ("y", "z"), ("x", "z")))
    z, y = scm_data["z"].to_numpy()[UNITS], scm_data["y"].to_numpy()[UNITS]
    plugged = y + ((b_yz + b_xz * b_yx)[:, None]) * (z_new - z)  # x recomputed as x + b_xz (z' - z)
    np.testing.assert_allclose(_flat(res.counterfactual), plugged, rtol=0, atol=1e-9)
    total = TRUE["y_z"] + TRUE["x_z"] * TRUE["y_x"]
    for j in range(len(UNITS)):
        _assert_truth(_flat(res.counterfactual)[:, j], y[j] + total * (z_new - z[j]))
    assert res.info["recomputed"] == "x, y"


def test_several_do_nodes_and_a_shift(fitted, scm_data):
    res = fitted.counterfactual(UNITS, do={"x": 1.0, "z": 0.5}, outcome="y")
    b_yx, b_yz = _data_coef(fitted, "y", "x", 1000), _data_coef(fitted, "y", "z", 1000)
    x, z, y = (scm_data[c].to_numpy()[UNITS] for c in ("x", "z", "y"))
    # x is held at 1, so z acts on y directly only
    np.testing.assert_allclose(_flat(res.counterfactual),
                               y + b_yx[:, None] * (1.0 - x) + b_yz[:, None] * (0.5 - z), atol=1e-9)
    shifted = fitted.counterfactual(UNITS, do={"x": ("shift", 2.0)}, outcome="y")
    np.testing.assert_allclose(_flat(shifted.effect), np.repeat(2.0 * b_yx[:, None], len(UNITS), 1), atol=1e-9)
    assert "x been shifted by 2" in shifted.do_words


def test_non_descendants_and_do_on_the_outcome(fitted, scm_data):
    for outcome in ("w", "z"):  # no directed path from x: the counterfactual is the observed value
        res = fitted.counterfactual(UNITS, do={"x": 3.0}, outcome=outcome)
        assert np.all(res.effect.values == 0.0)
        np.testing.assert_array_equal(_flat(res.counterfactual)[0], scm_data[outcome].to_numpy()[UNITS])
    res = fitted.counterfactual(UNITS, do={"y": 3.0}, outcome="y")
    assert np.all(res.counterfactual.values == 3.0)
    np.testing.assert_allclose(res.effect.values[0, 0], 3.0 - scm_data["y"].to_numpy()[UNITS])


def test_new_units_and_a_mask_agree_with_labels(fitted, scm_data):
    by_label = fitted.counterfactual([3, 4], do={"x": 0.0}, outcome="y")
    new = scm_data.loc[[3, 4], ["z", "x", "y"]].set_axis(["ann", "bob"])  # only the needed columns
    by_frame = fitted.counterfactual(new, do={"x": 0.0}, outcome="y")
    np.testing.assert_allclose(by_frame.counterfactual.values, by_label.counterfactual.values)
    assert list(by_frame.summary().index) == ["average effect", "ann", "bob"]
    mask = np.zeros(len(scm_data), bool)
    mask[[3, 4]] = True
    by_mask = fitted.counterfactual(mask, do={"x": 0.0}, outcome="y")
    np.testing.assert_allclose(by_mask.counterfactual.values, by_label.counterfactual.values)


def test_result_contract(fitted, tmp_path):
    res = fitted.counterfactual(UNITS, do={"x": 1.0}, outcome="b", noise_draws=2)
    s = res.summary()
    assert {"mean", "sd", "lower", "upper", "p_positive"} <= set(s.columns)
    assert list(s.index) == ["average effect"] + UNITS
    u = res.units()
    assert list(u.columns) == ["factual", "counterfactual", "sd", "lower", "upper", "effect"]
    assert set(np.unique(res.counterfactual.values)) <= {0.0, 1.0}  # 0/1 per noise draw; means are probabilities
    assert res.effect.sizes["draw"] == 2 * 250  # parameter draws per chain times noise draws
    text = res.report()
    assert "Had x been 1.0" in text and "P(b = 1)" in text and "monotonicity" in text
    assert res.checks == fitted.checks and res.trustworthy == fitted.trustworthy
    assert {"posterior", "observed_data"} <= set(res.idata.groups())
    assert res.idata.posterior["counterfactual"].dims == ("chain", "draw", "unit")
    assert isinstance(res.plot(), matplotlib.figure.Figure)
    path = res.to_html(tmp_path / "cf.html")
    assert "Units: factual and counterfactual" in open(path, encoding="utf-8").read()
    assert "monotonicity" not in fitted.counterfactual(UNITS, do={"x": 1.0}, outcome="y").report()


# -- discrete nodes against the monotone coupling, with known parameters (no MCMC) -----------------------------------
def _known(df, graph, mechanisms, params, chains=2, draws=100):
    """A FittedSCM whose 'posterior' holds the same known parameters in every draw."""
    spec = bc.SCM(graph, mechanisms=mechanisms)
    data = prepare(spec.graph, dict(spec.mechanisms), df, spec.priors)
    posterior = {k: np.broadcast_to(np.asarray(v, float), (chains, draws) + np.shape(v)).copy()
                 for k, v in params.items()}
    return FittedSCM(spec, data, posterior, idata=None, checks=())


@pytest.fixture(scope="module")
def discrete():
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    b = (rng.uniform(size=n) < _sigmoid(0.3 + x)).astype(int)
    y = 1.0 + 2.0 * b + rng.normal(size=n)
    c = rng.poisson(np.exp(0.8 + 0.5 * x))
    d = stats.nbinom.rvs(1.5, 1.5 / (1.5 + np.exp(1.0 + 0.6 * x)), random_state=rng)
    k = np.array(["lo", "mid", "hi"])[np.clip(np.round(x + rng.normal(size=n)).astype(int) + 1, 0, 2)]
    df = pd.DataFrame({"x": x, "b": b, "y": y, "c": c, "d": d, "k": k})
    params = {"b__intercept": 0.2, "b__coef": [1.1], "y__intercept": 0.1, "y__coef": [1.3], "y__sigma": 0.5,
              "c__intercept": 0.1, "c__coef": [0.5], "d__intercept": -0.2, "d__coef": [0.6], "d__dispersion": 0.7,
              "k__intercept": [0.3, -0.2], "k__coef": [[0.8, -0.5]]}
    mechs = {"b": "logistic", "y": "linear_gaussian", "c": "poisson", "d": "negative_binomial",
             "k": "categorical"}
    return _known(df, "x -> b -> y; x -> c; x -> d; x -> k", mechs, params), df


def _eta(fitted, node, x):
    """The known linear predictor of ``node`` at parent value ``x`` (the model's centring and scaling)."""
    lay = fitted.data.layout(node)
    enc = lay.parent_encodings[0]
    a = fitted.posterior[f"{node}__intercept"][0, 0]
    b = fitted.posterior[f"{node}__coef"][0, 0][0]
    return lay.center[0] + a + b * (x - enc.mean) / enc.sd


def _mc_close(freq, prob, n, k=4.5):
    assert abs(freq - prob) <= k * np.sqrt(max(prob * (1 - prob), 1e-4) / n) + 1e-12, (freq, prob)


def test_binary_node_follows_the_monotone_coupling(discrete):
    fitted, df = discrete
    x, b = df["x"].to_numpy(), df["b"].to_numpy()
    one, zero = int(np.flatnonzero(b == 1)[0]), int(np.flatnonzero(b == 0)[0])
    units = [one, zero]
    n_samples = 200 * 20
    for delta in (2.0, -2.0):
        res = fitted.counterfactual(units, do={"x": ("shift", delta)}, outcome="b", noise_draws=20, draws=200)
        freq = _flat(res.counterfactual).mean(axis=0)
        p, p_new = _sigmoid(_eta(fitted, "b", x[units])), _sigmoid(_eta(fitted, "b", x[units] + delta))
        if delta > 0:  # p rises: a 1 stays 1; a 0 becomes 1 with probability (p' - p) / (1 - p)
            assert freq[0] == 1.0
            _mc_close(freq[1], (p_new[1] - p[1]) / (1 - p[1]), n_samples)
        else:  # p falls: a 1 stays 1 with probability p' / p; a 0 stays 0
            _mc_close(freq[0], p_new[0] / p[0], n_samples)
            assert freq[1] == 0.0
    # through the binary mediator: y_cf = y + sd_y * coef * (b_cf - b), with the noise of y unchanged
    res = fitted.counterfactual(units, do={"x": ("shift", -2.0)}, outcome="y", noise_draws=20, draws=200)
    lay = fitted.data.layout("y")
    step = lay.sd * 1.3
    y = df["y"].to_numpy()[units]
    cf = _flat(res.counterfactual)
    assert np.allclose(cf[:, 1], y[1])  # b stays 0, so y keeps its value
    assert set(np.round(cf[:, 0] - y[0], 9)) <= {0.0, round(-step, 9)}
    p, p_new = _sigmoid(_eta(fitted, "b", x[one])), _sigmoid(_eta(fitted, "b", x[one] - 2.0))
    _mc_close(np.mean(cf[:, 0] == y[0]), p_new / p, n_samples)
    assert "b" in res.discrete_nodes and "monotonicity" in res.report()


def _coupled_pmf(lo, hi, cdf_new, top):
    """P(cf = k) for k = 0..top: the overlap of each counterfactual CDF interval with the abducted one."""
    cuts = cdf_new(np.arange(top + 1))
    lower = np.concatenate([[0.0], cuts[:-1]])
    return np.clip(np.minimum(cuts, hi) - np.maximum(lower, lo), 0, None) / (hi - lo)


@pytest.mark.parametrize("node", ["c", "d"])
def test_count_node_against_scipy(discrete, node):
    fitted, df = discrete
    x, v = df["x"].to_numpy(), df[node].to_numpy()
    unit = int(np.flatnonzero(v >= 2)[0])
    res = fitted.counterfactual([unit], do={"x": x[unit] + 1.5}, outcome=node, noise_draws=40, draws=200)
    mu, mu_new = np.exp(_eta(fitted, node, x[unit])), np.exp(_eta(fitted, node, x[unit] + 1.5))
    if node == "c":
        def dist(m):
            return stats.poisson(m)
    else:
        conc = 1.0 / 0.7

        def dist(m):
            return stats.nbinom(conc, conc / (conc + m))
    lo, hi = dist(mu).cdf(v[unit] - 1), dist(mu).cdf(v[unit])
    top = int(dist(mu_new).ppf(hi)) + 1
    pmf = _coupled_pmf(lo, hi, dist(mu_new).cdf, top)
    draws = _flat(res.counterfactual)[:, 0]
    n_samples = draws.size
    assert draws.min() >= 0 and draws.max() <= top
    for k in range(top + 1):
        _mc_close(np.mean(draws == k), pmf[k], n_samples)
    assert pmf.sum() == pytest.approx(1.0)


def test_count_quantile_and_interval_are_scipy_ppf_and_cdf():
    rng = np.random.default_rng(0)
    u = rng.uniform(size=3000)
    mu = rng.gamma(1.5, 6.0, size=3000)
    v = rng.poisson(mu).astype(float)
    conc = 0.6

    @jax.jit
    def both(u, mu, v):  # one compile for both families
        return (count_quantile(u, mu), count_quantile(u, mu, conc), count_interval(v, mu), count_interval(v, mu, conc))

    q_pois, q_nb, (lo_pois, hi_pois), (lo_nb, hi_nb) = both(u, mu, v)
    np.testing.assert_array_equal(np.asarray(q_pois), stats.poisson.ppf(u, mu))
    nb = stats.nbinom(conc, conc / (conc + mu))
    np.testing.assert_array_equal(np.asarray(q_nb), nb.ppf(u))
    np.testing.assert_allclose(np.asarray(hi_pois), stats.poisson.cdf(v, mu), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(lo_pois), stats.poisson.cdf(v - 1, mu), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(hi_nb), nb.cdf(v), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(lo_nb), nb.cdf(v - 1), rtol=0, atol=1e-12)


def test_categorical_node_uses_the_level_order(discrete):
    fitted, df = discrete
    levels = fitted.data.levels["k"]
    assert levels == ("hi", "lo", "mid")  # sorted: the coupling's order
    x, k = df["x"].to_numpy(), df["k"].to_numpy()
    unit = int(np.flatnonzero(k == "lo")[0])
    res = fitted.counterfactual([unit], do={"x": x[unit] - 1.0}, outcome="k", level="hi", noise_draws=40, draws=200)

    def probs(xv):
        lay = fitted.data.layout("k")
        enc = lay.parent_encodings[0]
        eta = np.asarray(lay.center) + fitted.posterior["k__intercept"][0, 0] + \
            fitted.posterior["k__coef"][0, 0][0] * (xv - enc.mean) / enc.sd
        e = np.exp(np.concatenate([[0.0], eta]))
        return e / e.sum()

    cum, cum_new = np.cumsum(probs(x[unit])), np.cumsum(probs(x[unit] - 1.0))
    code = levels.index("lo")
    pmf = _coupled_pmf(cum[code - 1], cum[code], lambda ks: cum_new[ks], 2)
    freq = _flat(res.counterfactual)[:, 0].mean()
    _mc_close(freq, pmf[levels.index("hi")], 200 * 40)
    assert res.factual.iloc[0] == 0.0 and "k" in res.categorical_nodes and "order of the levels" in res.report()


# -- bad input -----------------------------------------------------------------------------------------------------
def test_bad_queries(fitted, scm_data, discrete):
    with pytest.raises(bc.SpecError, match="node in do"):
        fitted.counterfactual(UNITS, do={"xx": 1.0}, outcome="y")
    with pytest.raises(bc.SpecError, match="outcome"):
        fitted.counterfactual(UNITS, do={"x": 1.0}, outcome="nope")
    with pytest.raises(bc.SpecError, match=r"'b' is binary; use 0 or 1"):
        fitted.counterfactual(UNITS, do={"b": 2}, outcome="y")
    with pytest.raises(bc.SpecError, match="not a number"):
        fitted.counterfactual(UNITS, do={"x": "high"}, outcome="y")
    with pytest.raises(bc.SpecError, match="continuous or count"):
        fitted.counterfactual(UNITS, do={"b": ("shift", 1)}, outcome="y")
    with pytest.raises(bc.SpecError, match="at least one node"):
        fitted.counterfactual(UNITS, do={}, outcome="y")
    with pytest.raises(bc.SpecError, match="draws"):
        fitted.counterfactual(UNITS, do={"x": 1.0}, outcome="y", draws=1)
    with pytest.raises(bc.DataError, match=r"label\(s\) \[99999\]"):
        fitted.counterfactual([0, 99999], do={"x": 1.0}, outcome="y")
    with pytest.raises(bc.SpecError, match="boolean mask"):
        fitted.counterfactual(np.ones(5, bool), do={"x": 1.0}, outcome="y")
    new = scm_data.loc[[1, 2], ["z", "x", "y"]]
    with pytest.raises(bc.DataError, match=r"lacks column\(s\) \['z'\]"):
        fitted.counterfactual(new.drop(columns="z"), do={"x": 1.0}, outcome="y")
    with pytest.raises(bc.DataError, match="column 'x' is missing"):
        fitted.counterfactual(new.assign(x=[np.nan, 1.0]), do={"x": 1.0}, outcome="y")
    cat_fit, df = discrete
    units = df.loc[[0, 1], ["x", "k"]].assign(k=["lo", "huge"])
    with pytest.raises(bc.DataError, match=r"column 'k' has level\(s\) \['huge'\] not seen"):
        cat_fit.counterfactual(units, do={"x": 0.0}, outcome="k", level="hi")
    with pytest.raises(bc.SpecError, match="not a level"):
        cat_fit.counterfactual([0], do={"k": "huge"}, outcome="k", level="hi")
    with pytest.raises(bc.SpecError, match="level="):
        cat_fit.counterfactual([0], do={"x": 0.0}, outcome="k")
    with pytest.raises(bc.SpecError, match="count; use a non-negative integer"):
        cat_fit.counterfactual([0], do={"c": 1.5}, outcome="c")


def test_custom_nodes_are_refused(discrete):
    _, df = discrete

    def custom(name, parents, obs):  # a user mechanism: its noise cannot be abducted
        import numpyro
        import numpyro.distributions as dist
        return numpyro.sample(name, dist.Normal(parents["x"], 1.0), obs=obs)

    fit = _known(df, "x -> y", {"y": custom}, {"x__intercept": 0.0})
    with pytest.raises(bc.SpecError, match="custom .* mechanism"):
        fit.counterfactual([0], do={"x": 1.0}, outcome="y")
