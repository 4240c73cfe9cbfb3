"""The stall guard (inference/stall.py): a NUTS chain stuck where its log density is rounding noise is stopped,
and the convergence check fails with advice; a healthy chain, or one merely long at maximum depth, is not."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayescausal as bc
from bayescausal.checks import convergence_check
from bayescausal.inference import run_mcmc, stall


def concentration_form_negbin(y):
    """The negative binomial in its concentration ``phi = 1/alpha`` (the form the SCM used before issue 21): at
    ``alpha`` of 1e-31 its terms of size ``phi log phi`` cancel to rounding noise, and NUTS stalls there."""
    a = numpyro.sample("a", dist.Normal(0, 1.5))
    alpha = numpyro.sample("alpha", dist.HalfNormal(1.0))
    phi = 1.0 / alpha
    numpyro.factor("counts", jnp.sum(y * a - (phi + y) * jnp.log(phi + jnp.exp(a)) + phi * jnp.log(phi)
                                     + jax.scipy.special.gammaln(y + phi) - jax.scipy.special.gammaln(phi)))


def test_update_needs_both_a_collapsed_step_size_and_maximum_depth():
    g = stall.start(jnp.asarray(0.5))
    for _ in range(200):  # long trajectories at a healthy step size: a correlated posterior, not a stall
        g = stall.update(g, 1023, 0.3, 1023)
    assert not bool(g.stopped) and float(g.hits) > 0.9
    g = stall.start(jnp.asarray(0.5))
    for _ in range(200):  # a tiny step size whose trajectories still end early
        g = stall.update(g, 7, 1e-12, 1023)
    assert not bool(g.stopped)
    g = stall.start(jnp.asarray(0.5))
    steps = 0
    while not bool(g.stopped):
        g = stall.update(g, 1023, 1e-12, 1023)
        steps += 1
    assert 30 <= steps <= 40  # about WINDOW * log(2) transitions in a row


def test_stalled_chains_are_stopped_and_fail_the_convergence_check():
    y = jnp.asarray(np.random.default_rng(0).poisson(2.0, 200).astype(float))
    init = {"a": jnp.full((2,), np.log(2.0)), "alpha": jnp.full((2,), np.log(1e-31))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = run_mcmc(concentration_form_negbin, bc.Sampler(chains=2, warmup=300, draws=200, progress=False), 0,
                     model_args=(y,), init_params=init)
    stopped = d.sample_stats["stopped"]
    assert stopped.shape == (2, 200) and stopped.all()  # stopped during warm-up, for every draw
    assert any(isinstance(w.message, bc.ConvergenceWarning) and "stalled" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check = convergence_check(d.samples, d.sample_stats["diverging"], stopped=stopped)
    assert check.passed is False and "2 of 2 chains stalled" in check.message and "tighter prior" in check.message


def test_healthy_chains_are_not_stopped():
    def normal_mean(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    y = jnp.asarray(np.random.default_rng(1).normal(0.7, 1.0, 300))
    d = run_mcmc(normal_mean, bc.Sampler(chains=2, warmup=200, draws=200, progress=False, max_tree_depth=1), 0,
                 model_args=(y,))
    assert not d.sample_stats["stopped"].any()  # at maximum depth (1) every time, yet moving: not a stall
    assert (d.sample_stats["n_steps"] == 1).all()
    with warnings.catch_warnings():  # one leapfrog step per draw mixes slowly: R-hat may fail, but not as a stall
        warnings.simplefilter("ignore")
        check = convergence_check(d.samples, d.sample_stats["diverging"], stopped=d.sample_stats["stopped"])
    assert "stalled" not in check.message
