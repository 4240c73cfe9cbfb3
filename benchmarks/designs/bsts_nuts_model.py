"""The BSTS model as a NumPyro model function for NUTS: design (a) of the BSTS sampler comparison.

Benchmark code, not part of the package: measured against the Gibbs kernel (design (b), the one
``bc.CausalImpact`` uses) by ``benchmarks/speed_bsts_nuts.py``, it gave about a hundredth of the
effective samples per second (benchmarks/README.md), so it did not earn a place as an option.

The latent states are integrated out exactly: the Kalman filter (``_math.kalman_filter``, a
``lax.scan``) gives the marginal likelihood ``p(y | theta)`` of the pre-period, and NUTS samples only
the static parameters ``theta``:

* the state innovation variances and the observation variance, with the same inverse-gamma priors
  and the same caps (``state_sd_upper``, ``observation_sd_upper``) as the Gibbs kernel of
  ``gibbs.py``; a capped inverse-gamma has bounded support, which NUTS handles through NumPyro's
  interval bijection (on the log scale near zero, where small variances live);
* the static regression coefficients, with a regularised horseshoe prior (Piironen & Vehtari 2017)
  in place of the Gibbs kernel's spike-and-slab, whose discrete inclusion indicators NUTS cannot
  sample.

The latent states (and so the counterfactual) are then drawn after sampling, one simulation-smoother
draw per posterior draw, vectorised over draws (:func:`nuts_posterior_predictive`). Its output has the
keys and shapes that the Gibbs kernel records, so an estimator can consume either design.

References
----------
Piironen, J. & Vehtari, A. (2017). Sparsity information and regularization in the horseshoe and other
shrinkage priors. *Electronic Journal of Statistics* 11(2), 5018-5051.
Carvalho, C. M., Polson, N. G. & Scott, J. G. (2010). The horseshoe estimator for sparse signals.
*Biometrika* 97(2), 465-480.
Durbin, J. & Koopman, S. J. (2002). A simple and efficient simulation smoother for state space time
series analysis. *Biometrika* 89(3), 603-615.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaincc, gammaln
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes

from bayescausal.structural_ts import _math
from bayescausal.structural_ts.gibbs import BSTSInputs, state_innovation_variances
from bayescausal.structural_ts.priors import BSTSPriors

SLAB_SCALE = 1.0  # the horseshoe's slab: a Student-t of SLAB_DF degrees of freedom and this scale
SLAB_DF = 4.0


class CappedInverseGamma(dist.Distribution):
    """``InverseGamma(concentration, rate)`` restricted to ``(0, high]``: a variance with a capped sd.

    R's bsts caps every standard deviation (here at ``state_sd_upper`` and ``observation_sd_upper``
    outcome sds); the Gibbs kernel draws its variances from this truncated conditional, so the NUTS
    model puts the same truncated prior on them. The density is the inverse-gamma density divided by
    its mass below the cap, ``Q(concentration, rate / high)`` (the regularised upper incomplete gamma
    function).
    """

    arg_constraints = {
        "concentration": constraints.positive,
        "rate": constraints.positive,
        "high": constraints.positive,
    }
    reparametrized_params = []
    CANDIDATES = 64

    def __init__(self, concentration, rate, high, *, validate_args=None):
        self.concentration, self.rate, self.high = promote_shapes(concentration, rate, high)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(concentration), jnp.shape(rate), jnp.shape(high))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(0.0, self.high)

    def sample(self, key, sample_shape=()):
        # Precisions 1/v ~ Gamma(concentration, rate), CANDIDATES independent proposals per variate; the
        # first one inside the cap is kept (exact unless all miss: probability (1 - mass)^CANDIDATES,
        # where the variate is set to the cap). Used for initialisation and prior predictive draws.
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        conc = jnp.broadcast_to(self.concentration, shape)
        g = jax.random.gamma(key, conc, (self.CANDIDATES,) + shape) / jnp.broadcast_to(self.rate, shape)
        min_precision = 1.0 / jnp.broadcast_to(self.high, shape)
        ok = g >= min_precision
        first = jnp.take_along_axis(g, jnp.argmax(ok, axis=0)[None], axis=0)[0]
        return 1.0 / jnp.where(jnp.any(ok, axis=0), first, min_precision)

    def log_prob(self, value):
        a, b = self.concentration, self.rate
        safe = jnp.where(value > 0, value, 1.0)
        log_density = a * jnp.log(b) - gammaln(a) - (a + 1.0) * jnp.log(safe) - b / safe
        log_mass_below_cap = jnp.log(gammaincc(a, b / self.high))
        inside = (value > 0) & (value <= self.high)
        return jnp.where(inside, log_density - log_mass_below_cap, -jnp.inf)


def horseshoe_global_scale(expected_model_size: float, n_controls: int, n_obs) -> jnp.ndarray:
    """Prior scale ``tau0`` of the horseshoe's global shrinkage, per unit of observation sd.

    Piironen & Vehtari (2017, eq. 3.12): with ``p0`` of ``D`` coefficients expected to be non-zero and
    ``n`` observations, ``tau0 = p0 / (D - p0) / sqrt(n)`` (times the noise sd) puts the prior mass of
    the effective number of non-zero coefficients around ``p0``. When ``p0 >= D`` (3 expected active
    controls, 2 given) the formula has no finite value; the spike-and-slab then includes every
    control with probability 1, and here ``p0`` is capped at ``D - 1/2`` (nearly no global shrinkage).
    """
    p0 = min(float(expected_model_size), n_controls - 0.5)
    return p0 / (n_controls - p0) / jnp.sqrt(n_obs)


def _fit_length(observed) -> int | None:
    """Time points up to the last observed one, when ``observed`` is concrete (else None).

    Points after the last observation add nothing to the likelihood, so the filter need not run over
    the post-period. Under ``vmap``/``jit`` over datasets ``observed`` is traced, and the filter then
    runs over the whole series (the same likelihood, a little more work).
    """
    try:
        obs = np.asarray(observed)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None
    last = np.flatnonzero(obs)
    return int(last[-1]) + 1 if last.size else None


def bsts_model(inputs: BSTSInputs, priors: BSTSPriors) -> None:
    """NumPyro model of the BSTS impact model with the latent states integrated out (for NUTS).

    Sites (shapes for ``k`` state variances and ``p`` static controls):

    * ``state_var`` (k,), ``obs_var`` (): variances, capped inverse-gamma priors taken from ``inputs``
      (``var_shape``/``var_rate``/``var_upper``, ``obs_*``), which ``make_inputs`` fills from
      ``priors`` exactly as for the Gibbs kernel;
    * ``hs_tau``, ``hs_lambda`` (p,), ``hs_c2``, ``hs_z`` (p,): the regularised horseshoe on the
      coefficients (Piironen & Vehtari 2017), non-centred: ``beta = hs_z * tau * lambda_tilde`` with
      ``tau = tau0 * obs_sd * hs_tau``, ``hs_tau, hs_lambda ~ HalfCauchy(1)``,
      ``hs_c2 ~ InverseGamma(slab_df / 2, slab_df * slab_scale^2 / 2)`` (the slab: a Student-t of
      ``slab_df`` degrees of freedom and scale ``slab_scale`` for coefficients far from zero) and
      ``lambda_tilde^2 = c^2 lambda^2 / (c^2 + tau^2 lambda^2)``; ``tau0`` from
      ``priors.expected_model_size`` (:func:`horseshoe_global_scale`);
    * deterministic ``state_sd`` (k,), ``obs_sd`` (), ``beta`` (p,): the quantities the Gibbs kernel
      records under the same names (all on the standardised scale);
    * factor ``loglik``: the Kalman-filter log-likelihood of the observed (pre-period) outcome given
      the parameters, with ``X beta`` subtracted from ``y``.
    """
    state_var = numpyro.sample(
        "state_var", CappedInverseGamma(inputs.var_shape, inputs.var_rate, inputs.var_upper).to_event(1)
    )
    obs_var = numpyro.sample("obs_var", CappedInverseGamma(inputs.obs_shape, inputs.obs_rate, inputs.obs_upper))
    numpyro.deterministic("state_sd", jnp.sqrt(state_var))
    obs_sd = numpyro.deterministic("obs_sd", jnp.sqrt(obs_var))

    p = inputs.X.shape[1]
    if p:
        tau0 = horseshoe_global_scale(priors.expected_model_size, p, jnp.sum(inputs.observed))
        tau = tau0 * obs_sd * numpyro.sample("hs_tau", dist.HalfCauchy(1.0))
        lam = numpyro.sample("hs_lambda", dist.HalfCauchy(jnp.ones(p)).to_event(1))
        half_df = 0.5 * SLAB_DF
        c2 = numpyro.sample("hs_c2", dist.InverseGamma(half_df, half_df * SLAB_SCALE**2))
        lam_tilde = jnp.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
        z = numpyro.sample("hs_z", dist.Normal(jnp.zeros(p), 1.0).to_event(1))
        beta = numpyro.deterministic("beta", z * tau * lam_tilde)
        offset = inputs.X @ beta
    else:
        numpyro.deterministic("beta", jnp.zeros(0))
        offset = jnp.zeros_like(inputs.y)

    q = state_innovation_variances(state_var, inputs)
    cut = _fit_length(inputs.observed)
    window = slice(None, cut)
    fo = _math.kalman_filter(
        (inputs.y - offset)[window], inputs.observed[window], inputs.Z[window], inputs.T[window], q[window],
        obs_var, inputs.a1, inputs.P1,
    )
    numpyro.factor("loglik", fo.loglik)


def nuts_posterior_predictive(inputs: BSTSInputs, samples: dict, seed: int, batch_size: int = 256) -> dict:
    """Latent states for every posterior draw, by the simulation smoother; the counterfactual follows.

    ``samples`` holds ``state_sd`` (chain, draw, k), ``obs_sd`` (chain, draw) and ``beta``
    (chain, draw, p), as recorded by :func:`bsts_model` (or by the Gibbs kernel). For each draw one
    state path is drawn from ``p(alpha | y, theta)`` (Durbin & Koopman 2002); the post-period outcome is
    missing, so there the path is a forecast. Returns, on the standardised scale and shaped
    (chain, draw, n) like the Gibbs kernel's records:

    * ``mean``: ``Z_t' alpha_t + x_t' beta``, the noise-free expected outcome;
    * ``y_pred``: ``mean`` plus observation noise, the counterfactual outcome CausalImpact reports.

    The draws are processed by ``jax.vmap`` in batches of ``batch_size`` (``lax.map``), which bounds the
    memory of the per-draw filter covariances (n x m x m each) however many draws there are.
    """
    state_sd = jnp.asarray(samples["state_sd"])
    chains, draws = state_sd.shape[:2]
    total = chains * draws

    def flat(a):
        a = jnp.asarray(a)
        return a.reshape((total,) + a.shape[2:])

    n, m = inputs.Z.shape
    keys = jax.random.split(jax.random.PRNGKey(seed), total)

    def one(args):
        key, sd, h_sd, beta = args
        k_init, k_state, k_obs, k_pred = jax.random.split(key, 4)
        offset = inputs.X @ beta if inputs.X.shape[1] else jnp.zeros(n)
        q = state_innovation_variances(sd**2, inputs)
        alpha = _math.simulation_smoother_from_normals(
            jax.random.normal(k_init, (m,)), jax.random.normal(k_state, (n, m)), jax.random.normal(k_obs, (n,)),
            inputs.y - offset, inputs.observed, inputs.Z, inputs.T, q, h_sd**2, inputs.a1, inputs.P1,
        )
        mean = jnp.sum(inputs.Z * alpha, axis=1) + offset
        return mean, mean + h_sd * jax.random.normal(k_pred, (n,))

    run = jax.jit(lambda xs: jax.lax.map(one, xs, batch_size=min(batch_size, total)))
    mean, y_pred = run((keys, flat(samples["state_sd"]), flat(samples["obs_sd"]), flat(samples["beta"])))
    return {"mean": np.asarray(mean).reshape(chains, draws, n), "y_pred": np.asarray(y_pred).reshape(chains, draws, n)}
