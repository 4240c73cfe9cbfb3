"""The Laplace warm start: Newton's mode and curvature against closed forms, and its use by run_mcmc."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayescausal as bc
from bayescausal.inference import run_mcmc
from bayescausal.inference.laplace import laplace_start, newton_mode


def test_newton_mode_finds_minimum_and_hessian_of_a_quadratic():
    A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    b = jnp.array([1.0, -2.0])
    x, H, _ = newton_mode(lambda v: 0.5 * v @ A @ v - b @ v, np.array([10.0, 10.0]))
    np.testing.assert_allclose(x, np.linalg.solve(A, b), atol=1e-10)
    np.testing.assert_allclose(H, A, atol=1e-10)


def test_newton_mode_on_a_nonconvex_start_still_reaches_the_mode():
    # Rosenbrock: indefinite Hessian away from the valley; damping must keep steps descending
    def f(v):
        return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2

    x, _, _ = newton_mode(f, np.array([-1.2, 1.0]), max_iter=200)
    # the stop rule leaves f - f* below ~1e-9; with the smallest Hessian eigenvalue ~0.4 at the mode that bounds
    # the distance to it by sqrt(2e-9 / 0.4) ~ 7e-5
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-4)


def _normal_mean_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def test_laplace_start_of_a_conjugate_normal_mean_is_exact():
    y = jnp.asarray(np.random.default_rng(0).normal(3.0, 1.0, 400))
    start = laplace_start(_normal_mean_model, (y,), None, seed=0, chains=3)
    post_var = 1.0 / (1.0 / 100.0 + len(y))
    np.testing.assert_allclose(start.inverse_mass_matrix, [[post_var]], rtol=1e-8)
    assert start.init_params["mu"].shape == (3,)
    # starts are draws from the Laplace approximation: within a few posterior sd of the exact mean
    post_mean = post_var * float(y.sum())
    assert np.all(np.abs(np.asarray(start.init_params["mu"]) - post_mean) < 5 * np.sqrt(post_var))


def test_run_mcmc_with_laplace_start_samples_the_same_posterior():
    y = jnp.asarray(np.random.default_rng(1).normal(-2.0, 1.0, 200))
    sampler = bc.Sampler(chains=2, draws=1000, warmup=300, progress=False)
    d = run_mcmc(_normal_mean_model, sampler, 0, model_args=(y,), laplace=True)
    assert d.kernel.endswith("(Laplace start)")
    post_var = 1.0 / (1.0 / 100.0 + len(y))
    post_mean = post_var * float(y.sum())
    draws = d.samples["mu"].ravel()
    # 2000 draws, ESS well above 500: the mean is within 4 Monte Carlo s.e. (sd / sqrt(500)) of the exact one
    assert abs(draws.mean() - post_mean) < 4 * np.sqrt(post_var / 500)
    assert abs(draws.std() / np.sqrt(post_var) - 1) < 0.15
    assert jax.numpy.all(jnp.isfinite(draws))
