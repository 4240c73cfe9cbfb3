"""Programs compiled ahead on background threads (inference/ahead.py), the abstract model trace of the batched
NUTS (nuts_batch._generators) and per-draw maps over devices (inference/draw_map.py): same answers as the
plain paths, and the plain paths whenever the fast one cannot apply."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayescausal as bc
from bayescausal.inference import ahead, compile_mcmc_ahead, nuts_batch, run_mcmc
from bayescausal.inference.draw_map import over_devices


def normal_mean(y, prior_sd):
    mu = numpyro.sample("mu", dist.Normal(0.0, prior_sd))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def bounded_mean(y):
    """A prior whose support depends on the data (an upper bound, which NumPyro does not flag as a dynamic
    support): its transform cannot come from an abstract trace."""
    mu = numpyro.sample("mu", dist.TruncatedNormal(0.0, 10.0, high=jnp.max(y) + 1.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def test_call_uses_the_program_compiled_ahead_and_falls_back_for_other_shapes():
    ahead.forget()
    f = jax.jit(lambda x: jnp.sin(x) * 2.0)
    x = jnp.linspace(0.0, 1.0, 7)
    assert ahead.compile_ahead(f, x) is True
    assert ahead.compile_ahead(f, x) is False  # already queued
    np.testing.assert_allclose(ahead.call(f, x), np.sin(np.asarray(x)) * 2.0)
    assert f._cache_size() == 0  # jit's own path never compiled: the ahead program ran
    np.testing.assert_allclose(ahead.call(f, jnp.ones(3)), np.sin(1.0) * 2.0 * np.ones(3))
    assert f._cache_size() == 1  # another shape: compiled the usual way
    ahead.forget()
    assert not ahead._AHEAD


def test_a_function_that_cannot_be_lowered_is_not_queued():
    def concrete(x):
        return x * float(x[0])  # needs a concrete value

    f = jax.jit(concrete)
    assert ahead.compile_ahead(f, jnp.ones(2)) is False
    with pytest.raises(jax.errors.ConcretizationTypeError):
        ahead.call(f, jnp.ones(2))  # the error comes from the usual path, as without compiling ahead


def test_signature_separates_shapes_dtypes_weak_types_and_structure():
    a = jnp.ones(3)
    assert ahead.signature((a,)) == ahead.signature((jax.ShapeDtypeStruct((3,), a.dtype),))
    assert ahead.signature((a,)) != ahead.signature((jnp.ones(4),))
    assert ahead.signature((a,)) != ahead.signature((jnp.ones(3, dtype=jnp.int32),))
    assert ahead.signature((a, None)) != ahead.signature((a,))


@pytest.mark.parametrize("progress", [False, True])
def test_nuts_compiled_ahead_gives_the_same_draws(progress):
    y = np.random.default_rng(0).normal(0.4, 1.0, 60)
    key, arrays = nuts_batch.split_args((y, 2.0), {})
    args = (normal_mean, key, arrays, 3, 2, 120, 80, 1, 0.8, 10, jax.local_device_count())
    nuts_batch._programs.cache_clear()
    ahead.forget()
    plain, _ = nuts_batch.run_nuts(*args, progress=progress, chunk=50)
    nuts_batch._programs.cache_clear()
    ahead.forget()
    assert nuts_batch.compile_nuts_ahead(*args, progress=progress, chunk=50) is True
    early, _ = nuts_batch.run_nuts(*args, progress=progress, chunk=50)
    np.testing.assert_array_equal(plain["mu"], early["mu"])
    ahead.forget()


def test_compile_mcmc_ahead_then_run_mcmc_matches_run_mcmc_alone():
    y = np.random.default_rng(1).normal(-1.0, 1.0, 50)
    sampler = bc.Sampler(chains=2, draws=100, warmup=100, progress=False)
    alone = run_mcmc(normal_mean, sampler, 7, (y, 3.0))
    assert compile_mcmc_ahead(normal_mean, sampler, 7, (y, 5.0)) is True  # a new static value: a new program
    early = run_mcmc(normal_mean, sampler, 7, (y, 5.0))
    again = run_mcmc(normal_mean, sampler, 7, (y, 5.0))
    np.testing.assert_array_equal(early.samples["mu"], again.samples["mu"])
    assert abs(early.samples["mu"].mean() - alone.samples["mu"].mean()) < 0.2
    ahead.forget()


def test_compile_mcmc_ahead_declines_what_run_mcmc_cannot_trace(monkeypatch):
    y = np.ones(5)
    sampler = bc.Sampler(chains=2, draws=50, warmup=50, progress=False)
    assert compile_mcmc_ahead(normal_mean, sampler, 0, (y, {1, 2})) is False  # unhashable static argument
    monkeypatch.setenv("BAYESCAUSAL_TRACED_NUTS", "0")
    assert compile_mcmc_ahead(normal_mean, sampler, 0, (y, 3.0)) is False


def test_abstract_trace_gives_the_eager_potential():
    y = np.random.default_rng(2).normal(0.0, 1.0, 40)
    potential_gen, _ = nuts_batch._generators(normal_mean, (jnp.asarray(y), 3.0), {})
    value = potential_gen(jnp.asarray(y), 3.0)({"mu": jnp.asarray(0.3)})
    exact = -(dist.Normal(0.0, 3.0).log_prob(0.3) + dist.Normal(0.3, 1.0).log_prob(y).sum())
    np.testing.assert_allclose(value, exact, rtol=1e-12)


def test_a_data_dependent_support_uses_the_eager_trace():
    y = np.random.default_rng(3).normal(5.0, 1.0, 30)
    _, post_gen = nuts_batch._generators(bounded_mean, (jnp.asarray(y),), {})
    # the unconstrained u maps to max(y) + 1 - exp(u): the transform holds the data's values
    np.testing.assert_allclose(post_gen(jnp.asarray(y))({"mu": jnp.asarray(0.0)})["mu"], y.max(), rtol=1e-12)
    d = run_mcmc(bounded_mean, bc.Sampler(chains=2, draws=200, warmup=200, progress=False), 0, (y,))
    assert abs(d.samples["mu"].mean() - y.mean()) < 0.5


def test_holds_tracer_finds_tracers_inside_transforms():
    from numpyro.distributions import constraints
    from numpyro.distributions.transforms import biject_to

    seen = []
    jax.eval_shape(lambda x: seen.append(nuts_batch._holds_tracer({"t": biject_to(constraints.less_than(x))})) or x,
                   jnp.ones(()))
    assert seen == [True]
    assert nuts_batch._holds_tracer({"t": biject_to(constraints.less_than(jnp.ones(())))}) is False


@pytest.mark.skipif(jax.local_device_count() < 2, reason="needs two host devices")
@pytest.mark.parametrize("n", [1, 7, 8])
def test_over_devices_matches_one_device(n):
    draws = {"a": jnp.arange(n * 3.0).reshape(n, 3), "k": jax.random.split(jax.random.PRNGKey(0), n)}
    data = jnp.linspace(0.0, 1.0, 5)

    def fn(per_draw, shared):
        return jax.lax.map(lambda d: jnp.sum(d["a"]) * shared + jax.random.normal(d["k"]), per_draw, batch_size=2)

    one = over_devices(fn, 1)(draws, data)
    two = over_devices(fn, 2)(draws, data)
    assert two.shape == (n, 5)
    np.testing.assert_allclose(two, one, rtol=1e-14)
