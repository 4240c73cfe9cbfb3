"""Latent root nodes as correlated errors of their linear-Gaussian children, fitted only where identified.

Math against independent references (row-wise multivariate normal densities, the precision-matrix form of a
Gaussian conditional), identification on known graphs, recovery on simulated linear-Gaussian data with a
latent confounder, and the SpecErrors of unsupported or unidentified latent nodes.
"""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro import handlers
from scipy import stats

import bayescausal as bc
from bayescausal.scm._data import fit_inputs, prepare
from bayescausal.scm._latent_math import block_loglik, block_suffstats, gaussian_conditional
from bayescausal.scm.checks import identification_check
from bayescausal.scm.latent import latent_blocks, sem_identification
from bayescausal.scm.model import generative_model

SAMPLER = bc.Sampler(chains=2, draws=500, warmup=300)
FRONTDOOR = "u -> x; u -> y; x -> m -> y"
INSTRUMENT = "z -> x -> y; u -> x; u -> y"
# frontdoor truth: x -> m 0.8, m -> y 0.7, so E[y | do(x = 1)] - E[y | do(x = 0)] = 0.56
FD_EFFECT = 0.8 * 0.7
IV_EFFECT = 0.5


def frontdoor_data(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    x = 0.9 * u + rng.normal(size=n)
    m = 0.8 * x + rng.normal(size=n)
    y = 1.0 + 0.7 * m + 0.9 * u + rng.normal(size=n)
    return pd.DataFrame({"x": x, "m": m, "y": y})


def instrument_data(n=3000, seed=2):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    z = rng.normal(size=n)
    x = 1.0 * z + 0.9 * u + rng.normal(size=n)
    y = 2.0 + IV_EFFECT * x - 1.0 * u + rng.normal(size=n)
    return pd.DataFrame({"z": z, "x": x, "y": y})


# -- identification -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, latent, identified, n_params, n_moments", [
    ("u -> x; u -> y; x -> y", "u", False, 4, 3),  # the bow
    (FRONTDOOR, "u", True, 6, 6),
    (INSTRUMENT, "u", True, 6, 6),
    ("z -> x -> y; z -> y; u -> x; u -> y", "u", False, 7, 6),  # the instrument also acts directly
    ("u -> x; u -> m; u -> y; x -> m -> y", "u", False, 8, 6),  # the latent confounds the mediator too
    ("u -> a; u -> b", "u", True, 3, 3),  # a latent common cause without a directed edge between its children
    ("u1 -> a; u1 -> b; u2 -> b; u2 -> c", ["u1", "u2"], True, 6, 6),  # merged into one block
    ("z1 -> x; z2 -> x; x -> y; u -> x; u -> y", "u", True, 8, 10),  # over-identified: two instruments
])
def test_linear_sem_identification(spec, latent, identified, n_params, n_moments):
    res = sem_identification(bc.CausalGraph(spec, latent=latent))
    assert (res.identified, res.n_params, res.n_moments) == (identified, n_params, n_moments)
    assert (res.deficit == 0) == identified
    assert bool(res.unidentified) != identified


def test_identification_check_names_the_kind_of_identification():
    frontdoor = identification_check(bc.CausalGraph(FRONTDOOR, latent="u"), "x", "y")
    assert frontdoor.passed and "identified by the graph itself" in frontdoor.message
    instrument = identification_check(bc.CausalGraph(INSTRUMENT, latent="u"), "x", "y")
    assert instrument.passed and "only under the linear-Gaussian assumption" in instrument.message
    bow = identification_check(bc.CausalGraph("u -> x; u -> y; x -> y", latent="u"), "x", "y")
    assert bow.passed is False and "rank 3 of 4" in bow.message


def test_blocks_merge_overlapping_children_and_skip_single_child_latents():
    g = bc.CausalGraph("u1 -> a; u1 -> b; u2 -> b; u2 -> c; v -> d; a -> d", latent=["u1", "u2", "v"])
    (block,) = latent_blocks(g)
    assert block.name == "u1+u2" and block.latents == ("u1", "u2") and block.nodes == ("a", "b", "c")


# -- math --------------------------------------------------------------------------------------------------------
def test_block_loglik_matches_rowwise_multivariate_normal():
    rng = np.random.default_rng(0)
    n = 200
    designs = [np.zeros((n, 0)), rng.normal(size=(n, 1)), rng.normal(size=(n, 2))]  # widths 0, 1, 2
    thetas = [rng.normal(size=1 + d.shape[1]) for d in designs]
    zs = [rng.normal(size=n) + 0.3 * c for c in range(3)]
    sigmas = np.array([0.7, 1.3, 0.9])
    a = rng.normal(size=(3, 3))
    corr = a @ a.T + np.eye(3)
    corr /= np.sqrt(np.outer(np.diag(corr), np.diag(corr)))
    chol = np.linalg.cholesky(corr)
    stats_ = block_suffstats(designs, zs)
    got = float(block_loglik([jnp.asarray(t) for t in thetas], jnp.asarray(sigmas), jnp.asarray(chol),
                             jnp.asarray(stats_["cross"]), stats_["n"]))
    resid = np.column_stack([z - t[0] - X @ t[1:] for X, z, t in zip(designs, zs, thetas, strict=True)])
    want = stats.multivariate_normal(np.zeros(3), np.outer(sigmas, sigmas) * corr).logpdf(resid).sum()
    assert got == pytest.approx(want, rel=1e-12, abs=1e-8)


def test_gaussian_conditional_matches_precision_form():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4))
    omega = a @ a.T + np.eye(4)
    r = rng.normal(size=(5, 3))
    mean, sd = gaussian_conditional(jnp.asarray(omega), 3, (0, 1, 2), jnp.asarray(r))
    prec = np.linalg.inv(omega)  # the conditional of the last given the others: -P_3j / P_33 r_j, var 1 / P_33
    np.testing.assert_allclose(np.asarray(mean), -r @ prec[3, :3] / prec[3, 3], rtol=1e-10)
    assert float(sd) == pytest.approx(1 / np.sqrt(prec[3, 3]), rel=1e-10)


def test_data_model_is_the_chain_rule_of_the_block_density():
    """generative_model's sequential conditionals, with every node observed, multiply to the block factor of
    scm_model (in the data's units: minus n log sd per node)."""
    df = frontdoor_data(n=300)
    data = prepare(bc.CausalGraph(FRONTDOOR, latent="u"), {}, df)
    inputs = fit_inputs(data)
    chol = np.linalg.cholesky(np.array([[1.0, 0.6], [0.6, 1.0]]))
    p = {"x__intercept": 0.1, "x__sigma": 0.8, "m__intercept": -0.2, "m__coef": jnp.array([0.5]), "m__sigma": 0.9,
         "y__intercept": 0.3, "y__coef": jnp.array([0.4]), "y__sigma": 1.1, "u__corr_chol": jnp.asarray(chol)}
    observed = {k: jnp.asarray(v) for k, v in data.values.items()}
    model = handlers.substitute(handlers.seed(generative_model, 0), data=p)
    tr = handlers.trace(model).get_trace(data.layouts, observed, data.n)
    got = sum(float(jnp.sum(tr[c]["fn"].log_prob(tr[c]["value"]))) for c in ("x", "y"))
    want = float(block_loglik([jnp.array([0.1]), jnp.array([0.3, 0.4])], jnp.array([0.8, 1.1]), jnp.asarray(chol),
                              inputs["u"]["cross"], inputs["u"]["n"]))
    want -= data.n * (np.log(data.layout("x").sd) + np.log(data.layout("y").sd))
    assert got == pytest.approx(want, rel=1e-10)


# -- bad specifications ----------------------------------------------------------------------------------------
def test_unsupported_latent_nodes_raise():
    df = frontdoor_data(n=200)
    with pytest.raises(bc.SpecError, match=r"latent node 'u'.*unidentified.*4 free parameters.*3 distinct "
                                           r"moments.*rank deficit 1.*instrument for x"):
        bc.SCM(bc.CausalGraph("u -> x; u -> y; x -> y", latent="u")).fit(df, checks=False)
    binary = df.assign(y=(df["y"] > 1).astype(int))
    with pytest.raises(bc.SpecError, match=r"node 'y' is a child of the latent node 'u' and has a logistic"):
        bc.SCM(bc.CausalGraph(FRONTDOOR, latent="u")).fit(binary, checks=False)
    with pytest.raises(bc.SpecError, match=r"latent node 'u' has parent\(s\) \['m'\]"):
        bc.SCM(bc.CausalGraph("m -> u; u -> x; u -> y; x -> y", latent="u")).fit(df, checks=False)
    with pytest.raises(bc.SpecError, match=r"mechanism\(s\) given for the latent node\(s\) \['u'\]"):
        bc.SCM(bc.CausalGraph(FRONTDOOR, latent="u"), mechanisms={"u": "linear_gaussian"}).fit(df, checks=False)
    with pytest.raises(bc.SpecError, match=r"priors\['u'\]: 'u' is latent"):
        bc.SCM(bc.CausalGraph(FRONTDOOR, latent="u"), priors={"u": {"coef": None}})


# -- recovery ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frontdoor_fit():
    return bc.SCM(bc.CausalGraph(FRONTDOOR, latent="u")).fit(frontdoor_data(), sampler=SAMPLER, seed=0,
                                                             checks="fast")


def _mean_difference(fit, x, y, draws=400):
    n = fit.data.n
    eff, *_ = fit._intervene(x, y, np.ones(n), np.zeros(n), np.ones(n, bool), None, draws, 0)
    return eff


def test_frontdoor_recovers_the_effect_and_the_naive_fit_is_biased(frontdoor_fit):
    fit = frontdoor_fit
    assert "u__corr_chol" in fit.posterior
    assert not np.any(fit.idata.sample_stats["diverging"].values)
    ppc = [c for c in fit.checks if c.name.startswith("posterior predictive")]
    assert len(ppc) == 3 and all(c.passed for c in ppc), [c.message for c in ppc]  # block nodes y and x included
    res = fit.effect("x", "y", treat=1, control=0, draws=400)
    draws = res.effect.values.ravel()
    lo, hi = np.quantile(draws, [0.005, 0.995])
    assert lo < FD_EFFECT < hi
    assert abs(draws.mean() - FD_EFFECT) < 3.5 * draws.std()
    ident = next(c for c in res.checks if c.name == "identification")
    assert ident.passed and "frontdoor" in ident.message
    # dropping the latent confounder from the graph leaves the backdoor path m <- x <- u -> y open
    naive = bc.SCM("x -> m -> y").fit(frontdoor_data(), sampler=SAMPLER, seed=0, checks=False)
    naive_draws = _mean_difference(naive, "x", "y")
    assert naive_draws.mean() - FD_EFFECT > 10 * naive_draws.std()  # about 0.80 against 0.56


def test_counterfactual_through_a_latent_block_is_the_closed_form(frontdoor_fit):
    """y's residual carries the latent u, exactly known from the unit's row: under do(x = x') the unit's m moves
    by b_mx (x' - x) and its y by b_ym times that, draw by draw."""
    fit, units = frontdoor_fit, [0, 5, 99]
    df = frontdoor_data()
    res = fit.counterfactual(units, do={"x": 2.0}, outcome="y", draws=400)
    params, _ = fit._param_draws(400)

    def data_coef(node):
        lay = fit.data.layout(node)
        return params[f"{node}__coef"][:, 0] * lay.sd / lay.parent_encodings[0].sd

    x, y = df["x"].to_numpy()[units], df["y"].to_numpy()[units]
    plugged = y + (data_coef("m") * data_coef("y"))[:, None] * (2.0 - x)
    np.testing.assert_allclose(res.counterfactual.values.reshape(-1, len(units)), plugged, rtol=0, atol=1e-9)
    draws = res.counterfactual.values.reshape(-1, len(units))
    truth = y + FD_EFFECT * (2.0 - x)
    for j in range(len(units)):
        lo, hi = np.quantile(draws[:, j], [0.005, 0.995])
        assert lo < truth[j] < hi


def test_latent_node_cannot_be_treatment_or_outcome(frontdoor_fit):
    with pytest.raises(bc.SpecError, match="'u' has no data \\(it is latent\\)"):
        frontdoor_fit.effect("u", "y")
    with pytest.raises(bc.SpecError, match="'u' has no data \\(it is latent\\)"):
        frontdoor_fit.effect("x", "u")


@pytest.mark.slow  # default-suite time budget (CI): run by make bench
def test_instrument_graph_recovers_the_coefficient_in_one_block_run():
    g = bc.CausalGraph(INSTRUMENT, latent="u")
    fit = bc.SCM(g).fit(instrument_data(), sampler=SAMPLER, seed=0, blocks="node", checks="fast")
    assert set(fit.info["node_seconds"]) == {"z", "u"}  # the block {x, y} is one NUTS run
    # y's error is correlated with its parent x's: simulated from y's law given x alone, var(y) would be about
    # 2.7 against 1.8 observed; the check conditions on x's residual and must pass
    ppc = [c for c in fit.checks if c.name.startswith("posterior predictive")]
    assert len(ppc) == 3 and all(c.passed for c in ppc), [c.message for c in ppc]
    # the structural coefficient in data units: y's standardised coefficient per sd of x, times sd(y) / sd(x)
    scale = fit.data.layout("y").sd / fit.data.layout("x").sd
    coef = np.asarray(fit.posterior["y__coef"])[..., 0].ravel() * scale
    lo, hi = np.quantile(coef, [0.005, 0.995])
    assert lo < IV_EFFECT < hi and abs(coef.mean() - IV_EFFECT) < 3.5 * coef.std()
    rho = np.asarray(fit.posterior["u__corr_chol"])[..., 1, 0].ravel()
    assert np.quantile(rho, 0.995) < 0  # u raises x and lowers y: negatively correlated errors
    row = fit.summary().loc["u: corr[x, y]"]  # the summary lists it (L[1, 0] is the correlation of a 2x2 block)
    assert row["family"] == "latent" and np.isclose(row["mean"], rho.mean())
    # the interventional mean difference, do(x = 1) against do(x = 0), through the block's joint errors
    eff = _mean_difference(fit, "x", "y")
    assert abs(eff.mean() - IV_EFFECT) < 3.5 * eff.std()
