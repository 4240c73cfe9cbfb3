"""NUTS with the data as program inputs (inference/nuts_batch.py): right posterior, one compile per shape."""

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayescausal as bc
from bayescausal.inference import nuts_batch, run_mcmc


def normal_mean(y, prior_sd, label):
    """y_i ~ N(mu, 1), mu ~ N(0, prior_sd): the posterior of mu is normal and known exactly."""
    mu = numpyro.sample("mu", dist.Normal(0.0, prior_sd))
    numpyro.deterministic("mu_twice", 2.0 * mu)
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def exact_posterior(y, prior_sd):
    precision = len(y) + 1.0 / prior_sd**2
    return y.sum() / precision, precision**-0.5


def _run(y, seed=0, progress=False, chains=2, warmup=300, draws=400, thinning=1, chunk=100, method="parallel"):
    key, arrays = nuts_batch.split_args((y, 3.0, "static label"), {})
    return nuts_batch.run_nuts(normal_mean, key, arrays, seed, chains, warmup, draws, thinning, 0.8, 10,
                               jax.local_device_count(), progress=progress, chunk=chunk, method=method)


def test_posterior_matches_the_exact_one():
    y = np.random.default_rng(1).normal(0.7, 1.0, 400)
    samples, stats = _run(y)
    mean, sd = exact_posterior(y, 3.0)
    mu = samples["mu"]
    assert mu.shape == (2, 400) and stats["diverging"].shape == (2, 400) and not stats["diverging"].any()
    # ESS is at least ~200 here, so the Monte Carlo sd of the mean is below sd / 14: 4 MC sd is a safe bound.
    assert abs(mu.mean() - mean) < 4 * sd / np.sqrt(200)
    assert abs(mu.std() / sd - 1) < 0.2
    np.testing.assert_allclose(samples["mu_twice"], 2 * mu)


def test_chunked_run_gives_the_same_draws_as_one_program():
    y = np.random.default_rng(2).normal(-0.3, 1.0, 50)
    one, _ = _run(y, seed=5, warmup=150, draws=130, thinning=2)
    chunked, _ = _run(y, seed=5, warmup=150, draws=130, thinning=2, progress=True, chunk=40)
    assert one["mu"].shape == (2, 130)
    np.testing.assert_allclose(one["mu"], chunked["mu"], rtol=0, atol=1e-10)


def test_new_data_of_the_same_shape_reuses_the_compiled_program():
    rng = np.random.default_rng(3)
    nuts_batch._programs.cache_clear()
    first, _ = _run(rng.normal(0.0, 1.0, 80))
    second, _ = _run(rng.normal(5.0, 1.0, 80))
    info = nuts_batch._programs.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert second["mu"].mean() > first["mu"].mean() + 3  # the second data set was really used
    _run(rng.normal(0.0, 1.0, 81))  # another shape: another program
    assert nuts_batch._programs.cache_info().misses == 2


def test_unhashable_static_arguments_fall_back():
    assert nuts_batch.split_args((np.ones(3), {"a": [1, 2]}), {}) is not None  # dicts and lists are containers
    assert nuts_batch.split_args((np.ones(3), {1, 2}), {}) is None  # a set leaf is not hashable


def test_run_mcmc_uses_it_and_agrees_with_numpyros_mcmc(monkeypatch):
    y = np.random.default_rng(4).normal(1.5, 1.0, 200)
    sampler = bc.Sampler(chains=2, draws=400, warmup=300, progress=False)
    traced = run_mcmc(normal_mean, sampler, 0, (y, 3.0, "x"))
    monkeypatch.setenv("BAYESCAUSAL_TRACED_NUTS", "0")
    baked = run_mcmc(normal_mean, sampler, 0, (y, 3.0, "x"))
    mean, sd = exact_posterior(y, 3.0)
    for d in (traced, baked):
        assert d.samples["mu"].shape == (2, 400) and d.sample_stats["n_steps"].shape == (2, 400)
        assert abs(d.samples["mu"].mean() - mean) < 4 * sd / np.sqrt(200)


def test_a_model_that_needs_concrete_data_falls_back():
    def concrete(y):
        scale = float(np.std(np.asarray(y)))  # reads the data as numbers: cannot be traced
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        numpyro.sample("y", dist.Normal(mu, scale), obs=y)

    y = np.random.default_rng(5).normal(2.0, 1.0, 100)
    d = run_mcmc(concrete, bc.Sampler(chains=2, draws=200, warmup=200, progress=False), 0, (y,))
    assert d.samples["mu"].shape == (2, 200)
    assert abs(d.samples["mu"].mean() - y.mean()) < 0.5


@pytest.mark.parametrize("chains,method", [(1, "sequential"), (3, "parallel"), (3, "vectorized"),
                                           (2, "sequential")])
def test_chain_layouts(chains, method):
    y = np.random.default_rng(6).normal(0.0, 1.0, 30)
    samples, stats = _run(y, chains=chains, warmup=100, draws=50, method=method)
    assert samples["mu"].shape == (chains, 50) and stats["n_steps"].shape == (chains, 50)
    assert np.all(np.isfinite(samples["mu"]))
    assert len({round(float(c), 12) for c in samples["mu"][:, -1]}) == chains  # independent chains


def test_layout_rounds_of_parallel_chains():
    assert nuts_batch.layout("parallel", 4, 2) == (2, 1, 2)  # two rounds of two: one compiled program
    assert nuts_batch.layout("parallel", 3, 8) == (3, 1, 1)
    assert nuts_batch.layout("vectorized", 4, 2) == (1, 4, 1)
    assert nuts_batch.layout("sequential", 3, 2) == (1, 1, 3)
