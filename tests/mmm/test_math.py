"""mmm/_math.py against independent references: NumPy loops for adstock, closed forms for saturation."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayescausal.mmm import _math


def _adstock_loop(x, w):
    """Reference: a_t = sum_l w_l x_{t-l}, one Python loop per week and lag."""
    T, C = x.shape
    out = np.zeros((T, C))
    for c in range(C):
        for t in range(T):
            for lag in range(w.shape[0]):
                if t - lag >= 0:
                    out[t, c] += w[lag, c] * x[t - lag, c]
    return out


def test_geometric_adstock_matches_loop():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 1.0, size=(30, 3))
    alpha = np.array([0.2, 0.5, 0.9])
    L = 6
    w = np.array([[a**lag for a in alpha] for lag in range(L)])
    ref = _adstock_loop(x, w / w.sum(axis=0))
    np.testing.assert_allclose(np.asarray(_math.geometric_adstock(x, alpha, L)), ref, rtol=1e-12, atol=1e-14)
    raw = _adstock_loop(x, w)
    np.testing.assert_allclose(np.asarray(_math.geometric_adstock(x, alpha, L, normalize=False)), raw, rtol=1e-12)


def test_adstock_batches_and_keeps_constant_level():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 1.0, size=(2, 3, 20, 2))  # (batch, geo, T, C)
    alpha = rng.uniform(0.1, 0.8, size=(2, 1, 2))
    got = np.asarray(_math.geometric_adstock(x, alpha, 5))
    for b in range(2):
        for g in range(3):
            w = np.array([[a**lag for a in alpha[b, 0]] for lag in range(5)])
            np.testing.assert_allclose(got[b, g], _adstock_loop(x[b, g], w / w.sum(axis=0)), rtol=1e-12)
    const = np.full((12, 1), 3.0)
    out = np.asarray(_math.geometric_adstock(const, np.array([0.7]), 4))
    np.testing.assert_allclose(out[3:], 3.0, rtol=1e-12)  # normalised weights: constant spend stays constant


@pytest.mark.parametrize("kind", ["cdf", "pdf"])
def test_weibull_weights_match_scipy(kind):
    k, lam, L = np.array([0.8, 2.0]), np.array([1.5, 3.0]), 8
    lags = np.arange(L)
    if kind == "cdf":
        ref = np.column_stack([stats.weibull_min.sf(lags, k[c], scale=lam[c]) for c in range(2)])
    else:
        ref = np.column_stack([stats.weibull_min.pdf(lags + 1, k[c], scale=lam[c]) for c in range(2)])
    got = np.asarray(_math.weibull_weights(k, lam, L, kind, normalize=False))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    x = np.random.default_rng(2).gamma(2.0, 1.0, size=(25, 2))
    np.testing.assert_allclose(np.asarray(_math.weibull_adstock(x, k, lam, L, kind)),
                               _adstock_loop(x, ref / ref.sum(axis=0)), rtol=1e-12)


@pytest.mark.parametrize("kind", ["cdf", "pdf"])
def test_weibull_weights_have_finite_gradients_equal_to_finite_differences(kind):
    """The lag-0 weight of the survival form is 1 whatever the shape, but ``(0 / scale) ** shape`` has NaN gradients
    for a shape below 1; they made every NUTS transition of a Weibull model diverge. They must be finite and right."""
    import jax

    def total(v):
        w = _math.weibull_weights(v[:1], v[1:], 8, kind)
        return jnp.sum(w * jnp.arange(8.0)[:, None])  # the mean lag

    v = jnp.array([0.8, 2.0])  # shape below 1: d(0 ** k)/d scale is 0 * inf
    g = np.asarray(jax.grad(total)(v))
    assert np.all(np.isfinite(g))
    eps = 1e-6
    fd = [(total(v.at[i].add(eps)) - total(v.at[i].add(-eps))) / (2 * eps) for i in range(2)]
    np.testing.assert_allclose(g, np.asarray(fd), rtol=1e-6)


def test_hill_closed_form_and_gradient_at_zero():
    import jax

    x = np.array([0.0, 0.1, 0.5, 1.0, 2.0, 10.0])
    K, S = 0.8, 2.5
    ref = np.where(x > 0, x**S / (x**S + K**S), 0.0)
    np.testing.assert_allclose(np.asarray(_math.hill(x, K, S)), ref, rtol=1e-12, atol=1e-15)
    assert float(_math.hill(np.array(K), K, S)) == pytest.approx(0.5, rel=1e-14)
    g = jax.grad(lambda k: _math.hill(np.array([0.0, 1.0]), k, S).sum())(K)
    assert np.isfinite(g)


def test_logistic_closed_form():
    x = np.linspace(0.0, 5.0, 11)
    lam = 1.7
    ref = (1 - np.exp(-lam * x)) / (1 + np.exp(-lam * x))
    np.testing.assert_allclose(np.asarray(_math.logistic(x, lam)), ref, rtol=1e-12, atol=1e-15)


def test_fourier_terms():
    t = np.arange(10.0)
    got = np.asarray(_math.fourier(t, 2, period=52.0))
    ref = np.column_stack([np.sin(2 * np.pi * t / 52), np.sin(4 * np.pi * t / 52),
                           np.cos(2 * np.pi * t / 52), np.cos(4 * np.pi * t / 52)])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)


def test_lift_means_against_a_direct_counterfactual():
    """The model's lift of two tests (two channels, two geos) equals the contribution difference computed by
    rerunning the components with the changed spend."""
    import jax.numpy as jnp

    from bayescausal.mmm.model import MMMInputs, ModelSpec, components, lift_means
    from bayescausal.mmm.priors import MMMPriors

    rng = np.random.default_rng(5)
    S, G, T, C, L = 3, 2, 30, 2, 2
    x = rng.gamma(2.0, 0.5, size=(1, G, T, C))
    delta = np.zeros((L, T))
    delta[0, 10:14], delta[1, 20:25] = 0.7, -0.3
    window = (delta != 0).astype(float)
    inp = MMMInputs(x=jnp.asarray(x), y=jnp.zeros((1, G, T)), mask=jnp.ones((1, G, T)), trend=jnp.zeros((T, 0)),
                    season=jnp.zeros((T, 0)), controls=jnp.zeros((1, G, T, 0)), spend_unit=jnp.ones((1, G, C)),
                    outcome_unit=jnp.ones((1, G)), lift_channel=jnp.array([1, 0]), lift_geo=jnp.array([0, 1]),
                    lift_delta=jnp.asarray(delta), lift_window=jnp.asarray(window), lift_obs=jnp.zeros(L),
                    lift_se=jnp.ones(L))
    spec = ModelSpec(geo=True, n_lift=L, priors=MMMPriors())
    params = {"level": jnp.ones((S, G)), "alpha": jnp.asarray(rng.uniform(0.1, 0.8, (S, C))),
              "lam": jnp.asarray(rng.uniform(0.5, 2.0, (S, C))), "coef": jnp.asarray(rng.uniform(0.1, 1.0, (S, C))),
              "geo_sd": jnp.full((S, C), 0.3), "geo_z": jnp.asarray(rng.normal(size=(S, G, C))),
              "sigma": jnp.ones(S)}
    got = np.asarray(lift_means(params, components(params, inp, spec), inp, spec))
    base = np.asarray(components(params, inp, spec)["contrib"])
    for j, (c, g) in enumerate([(1, 0), (0, 1)]):
        x2 = x.copy()
        x2[0, g, :, c] += delta[j]
        new = np.asarray(components(params, inp._replace(x=jnp.asarray(x2)), spec)["contrib"])
        ref = ((new - base)[:, g, :, c] * window[j]).sum(axis=1)
        np.testing.assert_allclose(got[:, j], ref, rtol=1e-10)
