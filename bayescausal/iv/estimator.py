"""``BayesianIV``: the effects of endogenous treatments, identified by instruments, as one generative model.

The first stage (treatments on instruments and covariates) and the second stage (outcome on treatments and
covariates) are fitted jointly with correlated errors, so the posterior of the effects carries the
first-stage uncertainty (see ``model.py`` for the equations, for why the priors sit on the reduced
form, and for the coordinates NUTS samples in). Weak instruments are measured three ways and reported side
by side: the first-stage F and partial R-squared (with several treatments, Sanderson & Windmeijer's
conditional F of each and Cragg & Donald's statistic), the posterior of the concentration parameter, and
the Anderson-Rubin confidence set (with several treatments, its projection onto each coefficient), whose
coverage does not depend on instrument strength. Conley, Hansen & Rossi's (2012) plausibly exogenous
instruments enter through ``exclusion_prior_sd``; ``IVResult.exclusion_sensitivity`` refits across widths.

Checks run by ``fit``: convergence; posterior predictive coverage of both stages; instrument strength;
a placebo in which the instruments' rows are permuted (so they cannot be relevant; all permutations in
one batched NUTS run), which must be flagged weak with intervals covering zero; and, with more
instruments than treatments, Sargan's over-identification test.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import convergence_check, interval_coverage_check, normalise_level, placebo_rate_check
from ..checks.base import CheckResult
from ..errors import SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc, to_inference_data
from ..result import interval
from ..sensitivity import outcome_sentence
from ..sensitivity.figure import regression_benchmarks
from . import _math
from ._data import IVData, prepare
from ._predict import normal_predictive, probit_predictive, student_t_predictive
from .model import (
    IVRows,
    IVStats,
    normal_model,
    probit_model,
    sampled_from_structural,
    student_t_model,
)
from .priors import IVPriors
from .result import IVResult

NUTS_WARMUP = 1000
PLACEBO_DRAWS = 500  # draws (and at most this many warm-up steps) per chain for the batched refits
PREDICTIVE_DRAWS = 200  # posterior draws used for the predictive check and stored predictive
OVERID_ALPHA = 0.05
ROTATE_BELOW_F = 20.0  # first-stage F below which NUTS samples in rotated coordinates (model.py; measured)


@dataclass
class _Standardised:
    """The data on the model's scale and what maps it back: ``x_scale`` is 1 for a 0/1 treatment."""

    A: np.ndarray  # (n, q) [1, W standardised]
    Z: np.ndarray  # (n, k)
    X: np.ndarray  # (n, m)
    y: np.ndarray
    x_mean: np.ndarray  # (m,)
    x_scale: np.ndarray  # (m,)
    y_mean: float
    y_scale: float
    zz: np.ndarray  # (k, k) Z'M1 Z on the standardised scale


def _standardise(data: IVData, binary: bool) -> _Standardised:
    y, y_mean, y_sd = _math.standardise(data.y)
    if binary:
        X, x_mean, x_sd = data.X.copy(), np.zeros(1), np.ones(1)
    else:
        X, x_mean, x_sd = _math.standardise(data.X)
    Z = _math.standardise(data.Z)[0]
    W = _math.standardise(data.W)[0] if data.W.shape[1] else data.W
    A = _math.with_intercept(W, len(y))
    Zp = _math.partial_out(Z, A)
    return _Standardised(A, Z, X, y, np.asarray(x_mean, float), np.asarray(x_sd, float), float(y_mean),
                         float(y_sd), Zp.T @ Zp)


@dataclass(frozen=True)
class BayesianIV:
    """Bayesian instrumental-variable regression for one or several endogenous treatments.

    Parameters
    ----------
    priors : :class:`IVPriors` or a dict of overrides by name (standardised scale).
    exclusion_prior_sd : prior sd of a direct effect of each instrument on the outcome, in outcome sds
        per instrument sd (Conley, Hansen & Rossi 2012). 0 (default) imposes the exclusion restriction
        exactly; larger values let the instruments be "plausibly exogenous" and widen the posterior.
    errors : ``"normal"`` (default; fitted on sufficient statistics, fast for any number of rows) or
        ``"student_t"`` (multivariate Student-t errors, robust to outliers; uses every row).
    treatment_model : ``"linear"`` (default) or ``"probit"``: one 0/1 treatment from a latent normal index
        correlated with the outcome's error (normal errors only). The effect is then per unit of treatment.
    placebo_permutations : random permutations of the instruments' rows fitted by the placebo check.
    """

    priors: object = None
    exclusion_prior_sd: float = 0.0
    errors: str = "normal"
    treatment_model: str = "linear"
    placebo_permutations: int = 4

    def __post_init__(self):
        s = self.exclusion_prior_sd
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not np.isfinite(s) or s < 0:
            raise SpecError(f"exclusion_prior_sd={s!r}: give a non-negative number (0 imposes the exclusion "
                            "restriction exactly; 0.1 allows direct effects of about 0.1 outcome sds per "
                            "instrument sd).")
        object.__setattr__(self, "exclusion_prior_sd", float(s))
        if self.errors not in ("normal", "student_t"):
            raise SpecError(f"errors={self.errors!r}: use 'normal' or 'student_t'.")
        if self.treatment_model not in ("linear", "probit"):
            raise SpecError(f"treatment_model={self.treatment_model!r}: use 'linear' (continuous treatment) or "
                            "'probit' (0/1 treatment from a latent index).")
        if self.treatment_model == "probit" and self.errors != "normal":
            raise SpecError("treatment_model='probit' has normal latent errors; use errors='normal' with it.")
        p = self.placebo_permutations
        if isinstance(p, bool) or not isinstance(p, int) or p < 1:
            raise SpecError(f"placebo_permutations={p!r}: give a positive integer.")
        object.__setattr__(self, "priors", IVPriors.from_overrides(self.priors))

    # -- model plumbing --------------------------------------------------------------------------
    @property
    def _kind(self) -> str:
        return "probit" if self.treatment_model == "probit" else self.errors

    def _model(self, exclusion: bool, treatments: int = 1):
        fn = {"normal": normal_model, "student_t": student_t_model, "probit": probit_model}[self._kind]
        return functools.partial(fn, priors=self.priors, exclusion=exclusion, treatments=treatments)

    def _inputs(self, std: _Standardised, Zs: np.ndarray, excl_sd: np.ndarray):
        """Model inputs for a batch of instrument matrices ``Zs`` (B, n, k) and prior sds (B,)."""
        import jax.numpy as jnp

        rotate = jnp.asarray(_rotate(std, Zs))
        if self._kind == "normal":
            S = np.stack([np.asarray(_math.cross_products(Z, std.X, std.y, std.A[:, 1:])[0]) for Z in Zs])
            n_eff = len(std.y) - std.A.shape[1]
            return IVStats(jnp.asarray(S), jnp.asarray(float(n_eff)), jnp.asarray(excl_sd, float), rotate)
        return IVRows(jnp.asarray(std.A), jnp.asarray(Zs), jnp.asarray(std.X), jnp.asarray(std.y),
                      jnp.asarray(excl_sd, float), rotate)

    def _sample(self, std, Zs, excl_sd, sampler, seed, exclusion):
        init = self._init_params(std, Zs, exclusion, sampler.chains, seed)
        return run_mcmc(self._model(exclusion, std.X.shape[1]), sampler, seed, (self._inputs(std, Zs, excl_sd),),
                        kernel_name="NUTS", jit_model_args=True, init_params=init)

    def _init_params(self, std: _Standardised, Zs: np.ndarray, exclusion: bool, chains: int, seed: int) -> dict:
        """Starting points (unconstrained, shaped (chain, B, ...)) at least-squares values with a little jitter.

        The posterior of the effect has a ridge along ``Pi beta = const`` that narrows as ``Pi`` nears zero;
        a chain started from prior draws (with vague priors: far out on that ridge) can stay stuck there.
        Starting every chain near the least-squares reduced form (first stage, outcome on instruments, the
        minimum-distance solution of ``Pi beta = g`` for the effects, clipped to the prior's bulk) avoids that;
        the jitter keeps the chains' starts distinct so that R-hat still compares them.
        """
        from numpyro.distributions import biject_to, constraints

        rng = np.random.default_rng(seed + 101)
        A = std.A
        q = A.shape[1]
        effect_sd = _prior_sd(self.priors.effect)
        cap = 2.0 * effect_sd if np.isfinite(effect_sd) else 10.0

        def unconstrained(support, value):
            value = np.asarray(value, float)
            # the common supports in NumPy: eager JAX calls cost about 0.4 s of dispatch on the first fit
            if support is constraints.real:
                return value
            if support is constraints.positive:
                return np.log(value)
            if support is constraints.unit_interval:
                return np.log(value) - np.log1p(-value)
            return np.asarray(biject_to(support).inv(value))

        out: dict[str, list] = {}
        for Z, rotate in zip(Zs, _rotate(std, Zs), strict=True):
            AZ = np.column_stack([A, Z])
            CX = _math.ols(std.X, AZ)  # (q + k, m)
            cy = _math.ols(std.y, AZ)
            Pi, g = CX[q:], cy[q:]
            beta = np.clip(np.linalg.lstsq(Pi, g, rcond=None)[0], -cap, cap)
            V, w = std.X - AZ @ CX, std.y - AZ @ cy
            if self._kind == "probit":
                pi, b = Pi[:, 0], float(beta[0])
                coef_y = _math.ols(std.y - b * std.X[:, 0], A)
                u = std.y - b * std.X[:, 0] - A @ coef_y
                vals = {"pi": 2.5 * pi,  # probit coefficients are about 2.5 times the linear probability ones
                        "beta": b, "sigma_u": unconstrained(self.priors.sigma.support, u.std()), "corr_beta": 0.0,
                        "coef_x": np.zeros(q), "coef_y": coef_y}
            else:
                E = np.column_stack([V, w])
                R = 0.9 * np.corrcoef(E, rowvar=False) + 0.1 * np.eye(E.shape[1])
                L0 = E.std(axis=0)[:, None] * np.linalg.cholesky(R)
                vals = {"beta": unconstrained(self.priors.effect.support, _inside(self.priors.effect.support, beta)),
                        "pi_rotated": sampled_from_structural(Pi, beta, L0, rotate),
                        "sigma": unconstrained(self.priors.sigma.support, E.std(axis=0))}
                if E.shape[1] == 2:
                    vals["corr_beta"] = unconstrained(constraints.unit_interval, (1.0 + R[0, 1]) / 2.0)
                else:
                    vals["corr_chol"] = unconstrained(constraints.corr_cholesky, np.linalg.cholesky(R))
                if self._kind == "student_t":
                    vals.update(coef=np.column_stack([CX[:q], cy[:q]]),
                                nu=unconstrained(self.priors.nu.support, 10.0))
            if exclusion:
                vals["phi_raw"] = np.zeros(Z.shape[1])
            for name, value in vals.items():
                out.setdefault(name, []).append(np.asarray(value, float))
        init = {}
        for name, per_batch in out.items():
            base = np.stack(per_batch)  # (B, ...)
            jitter = 0.02 if name in ("pi", "beta", "pi_rotated", "coef", "coef_x", "coef_y") else 0.1
            init[name] = base[None] + jitter * rng.standard_normal((chains,) + base.shape)
        return init

    def _effect_scale(self, std: _Standardised) -> np.ndarray:
        """Per-treatment factor from standardised to original units, (m,)."""
        return std.y_scale / std.x_scale

    # -- fit -----------------------------------------------------------------------------------------
    def fit(self, df, outcome: str, treatment, instruments, covariates=None, sampler: Sampler | None = None,
            seed: int = 0, checks="full") -> IVResult:
        """Estimate the effect of ``treatment`` on ``outcome`` with ``instruments``; runs the checks.

        ``treatment``: one column, or a list of ``m`` endogenous columns (then at least ``m`` instruments;
        the effects are partial: each treatment's, the others held fixed). ``covariates``: exogenous columns
        entered in both stages. ``checks="full"`` runs every check including the permutation placebo (one
        extra batched NUTS run); ``"fast"`` skips the placebo; ``False`` skips all. The data frame is not
        modified.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "BayesianIV")
        binary = self.treatment_model == "probit"
        data = prepare(df, outcome, treatment, instruments, covariates, binary)
        m = data.X.shape[1]
        W = data.W if data.W.shape[1] else None
        diag = {
            "tsls": _math.tsls(data.y, data.x, W, data.Z),
            "ols": _math.ols(data.y, np.column_stack([_math.with_intercept(W, len(data.y)), data.X]))[-m:],
            "first_stage": _math.first_stage(data.x, W, data.Z),
            "ar": _math.anderson_rubin_sets(data.y, data.x, W, data.Z),
            "sargan": _math.sargan(data.y, data.x, W, data.Z) if data.Z.shape[1] > m else None,
        }
        std = _standardise(data, binary)
        exclusion = self.exclusion_prior_sd > 0
        draws = self._sample(std, std.Z[None], np.array([self.exclusion_prior_sd]), sampler, seed, exclusion)
        smp = self._batch_member(draws.samples, 0)
        posterior, derived = self._posterior(smp, std, data)
        diag["ar_tests"] = (_math.anderson_rubin_test(data.y, data.x, W, data.Z, np.zeros(m)),
                            _math.anderson_rubin_test(data.y, data.x, W, data.Z,
                                                      derived["effect"].reshape(-1, m).mean(axis=0)))

        check_list: list[CheckResult] = []
        pp = self._predictive(smp, std, seed + 1)
        if level in ("full", "fast"):
            conv = {k: smp[k] for k in ("beta", "pi", "sigma", "sigma_u", "corr_beta", "phi_raw", "nu", "coef",
                                         "coef_x", "coef_y") if k in smp}
            if "error_corr" in derived:
                conv["error_corr"] = derived["error_corr"][..., np.tril_indices(m + 1, -1)[0],
                                                           np.tril_indices(m + 1, -1)[1]]
            check_list.append(convergence_check(conv, draws.sample_stats.get("diverging"),
                                                stopped=draws.sample_stats.get("stopped")))
            check_list += self._predictive_checks(pp, std, data)
            check_list.append(self._strength_check(diag, data))
        placebo_table = None
        if level == "full":
            check, placebo_table = self._placebo(data, std, sampler, seed)
            check_list.append(check)
        if level in ("full", "fast") and diag["sargan"] is not None:
            check_list.append(self._overid_check(diag["sargan"]))

        chains, n_draws = smp["beta"].shape[:2]
        base = {"chain": np.arange(chains), "draw": np.arange(n_draws)}
        per_t = {**base, "treatment": list(data.treatments)}
        effect = _labelled(derived["effect"], base, per_t, "effect")
        idata = self._idata(posterior, pp, std, data, draws)
        info = {"sampler": f"NUTS ({draws.chain_method} chains)", "chains": sampler.chains, "draws": sampler.draws,
                "warmup": sampler.warmup_or(NUTS_WARMUP), "seed": seed, "seconds": round(draws.wall_seconds, 2),
                "errors": self.errors, "treatment_model": self.treatment_model,
                "treatments": ", ".join(data.treatments),
                "instruments": ", ".join(data.instruments), "covariates": ", ".join(data.covariates) or "none",
                "rows": len(data.y)}
        context = _RefitContext(self, std, sampler, seed)
        if m == 1:
            estimand = (f"effect of {data.treatment} on {data.outcome} per "
                        + ("switch from 0 to 1" if binary else "unit") + f" of {data.treatment}")
        else:
            estimand = (f"effects of {', '.join(data.treatments)} on {data.outcome}, each per unit of that "
                        "treatment with the others held fixed")
        ols = diag["ols"]
        return IVResult(
            estimand=estimand, effect=effect, idata=idata, checks=tuple(check_list),
            method="Bayesian instrumental variables", info=info, outcome=data.outcome, treatment=data.treatment,
            instruments=data.instruments, covariates=data.covariates, tsls=diag["tsls"],
            ols=float(ols[0]) if m == 1 else ols, first_stage=diag["first_stage"],
            ar_set=diag["ar"][0] if m == 1 else None, sargan=diag["sargan"],
            concentration=xr.DataArray(derived["concentration"], dims=("chain", "draw"), coords=base),
            endogeneity=_labelled(derived["endogeneity"], base, per_t, "endogeneity"),
            exclusion_prior_sd=self.exclusion_prior_sd, placebos=placebo_table, refit=context,
            effect_prior_sd=_squeeze(float(_prior_sd(self.priors.effect)) * self._effect_scale(std)),
            treatments=data.treatments, ar_sets=diag["ar"], ar_tests=diag["ar_tests"],
            sensitivity_text=_sensitivity_text(effect, data),
            confounding_benchmarks=_reduced_form(data),
        )

    # -- derived quantities ----------------------------------------------------------------------------
    def _batch_member(self, samples: dict, b: int) -> dict:
        """One batch member's draws with a treatment axis everywhere: ``beta`` (chain, draw, m), ``pi``
        (chain, draw, k, m) (the probit model samples them without one)."""
        smp = {k: v[:, :, b] for k, v in samples.items()}
        if self._kind == "probit":
            smp["beta"] = smp["beta"][..., None]
            smp["pi"] = smp["pi"][..., None]
        return smp

    def _errors(self, smp, m: int):
        """Per draw: the error correlation matrix (..., m+1, m+1) and the Cholesky factor of ``Omega``."""
        if "corr_chol" in smp:
            Lc = smp["corr_chol"]
        else:  # one treatment: the correlation as 2 B - 1
            rho = 2.0 * smp["corr_beta"] - 1.0
            Lc = np.zeros(rho.shape + (2, 2))
            Lc[..., 0, 0], Lc[..., 1, 0], Lc[..., 1, 1] = 1.0, rho, np.sqrt(1.0 - rho**2)
        corr = Lc @ np.swapaxes(Lc, -1, -2)
        L = smp["sigma"][..., :, None] * Lc
        return corr, L

    def _posterior(self, smp, std: _Standardised, data: IVData):
        """Posterior arrays for InferenceData (original units where named so) and derived quantities
        (with a treatment axis: ``effect`` and ``endogeneity`` (chain, draw, m))."""
        beta, Pi = smp["beta"], smp["pi"]
        m = beta.shape[-1]
        effect = beta * self._effect_scale(std)
        post = {"effect": _squeeze(effect), "effect_std": _squeeze(beta), "pi": _squeeze(Pi)}
        derived = {"effect": effect}
        if self._kind == "probit":
            rho = 2.0 * smp["corr_beta"] - 1.0
            post.update(sigma_u=smp["sigma_u"], corr_beta=smp["corr_beta"])
            conc = _math.concentration(Pi[..., 0], np.ones_like(rho), std.zz)
            endog = rho[..., None]
        else:
            corr, L = self._errors(smp, m)
            omega = L @ np.swapaxes(L, -1, -2)
            post.update(sigma=smp["sigma"], error_corr=corr)
            derived["error_corr"] = corr
            if self._kind == "student_t":
                post["nu"] = smp["nu"]
            o_vv, o_vw, o_ww = omega[..., :m, :m], omega[..., :m, m], omega[..., m, m]
            conc = _math.min_concentration(Pi, o_vv, std.zz)
            # structural error u = w - V beta: its covariance with each v_j and its sd, from Omega and beta
            cov_vu = o_vw - np.einsum("...ij,...j->...i", o_vv, beta)
            var_u = o_ww - 2 * np.sum(beta * o_vw, -1) + np.einsum("...i,...ij,...j->...", beta, o_vv, beta)
            endog = cov_vu / np.sqrt(var_u[..., None] * np.diagonal(o_vv, axis1=-2, axis2=-1))
        if "phi" in smp:
            post["direct_effect_std"] = smp["phi"]
        post["concentration"] = conc
        post["endogeneity"] = _squeeze(endog)
        derived.update(concentration=conc, endogeneity=endog)
        return post, derived

    def _flat_draws(self, smp, count: int, seed: int):
        chains, n_draws = smp["beta"].shape[:2]
        total = chains * n_draws
        idx = np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)
        idx.sort()
        return {k: v.reshape((total,) + v.shape[2:])[idx] for k, v in smp.items()}, idx

    def _predictive(self, smp, std: _Standardised, seed: int):
        """Replicated (treatments (s, n, m), outcome (s, n)) for up to ``PREDICTIVE_DRAWS`` posterior draws,
        standardised scale."""
        d, idx = self._flat_draws(smp, PREDICTIVE_DRAWS, seed)
        rng = np.random.default_rng(seed)
        phi = d.get("phi", np.zeros(d["pi"].shape[:2]))
        if self._kind == "probit":
            rho = 2.0 * d["corr_beta"] - 1.0
            x_rep, y_rep = probit_predictive(rng, std.A, std.Z, d["pi"][..., 0], d["beta"][..., 0], phi,
                                             d["coef_x"], d["coef_y"], d["sigma_u"], rho)
            return {"x": x_rep[..., None], "y": y_rep}
        g = np.einsum("skm,sm->sk", d["pi"], d["beta"]) + phi
        theta = np.concatenate([d["pi"], g[..., None]], -1)
        _, L = self._errors(d, d["beta"].shape[-1])
        if self._kind == "normal":
            X_rep, y_rep = normal_predictive(rng, std.A, std.Z, std.X, std.y, theta, L)
        else:
            X_rep, y_rep = student_t_predictive(rng, std.A, std.Z, theta, d["coef"], L, d["nu"])
        return {"x": X_rep, "y": y_rep}

    def _predictive_checks(self, pp, std: _Standardised, data: IVData) -> list[CheckResult]:
        out = []
        lo, hi = np.quantile(pp["y"], [0.025, 0.975], axis=0)
        out.append(_coverage(std.y, lo, hi, "posterior predictive (outcome)", f"rows of {data.outcome}"))
        if self._kind == "probit":
            share = pp["x"][..., 0].mean(axis=1)
            observed = float(std.X[:, 0].mean())
            tail = float(min(np.mean(share >= observed), np.mean(share <= observed)))
            ok = tail >= 0.005
            out.append(CheckResult(
                "posterior predictive (first stage)", ok, round(tail, 4), "one-sided predictive p >= 0.005",
                f"observed share treated {observed:.3f}; replicated shares {np.quantile(share, 0.025):.3f} to "
                f"{np.quantile(share, 0.975):.3f} (95%)." + ("" if ok else " The first stage does not reproduce "
                                                             "how many units are treated: check its covariates.")))
            return out
        m = std.X.shape[1]
        for j, name in enumerate(data.treatments):
            lo, hi = np.quantile(pp["x"][..., j], [0.025, 0.975], axis=0)
            label = "posterior predictive (first stage)" + (f": {name}" if m > 1 else "")
            out.append(_coverage(std.X[:, j], lo, hi, label, f"rows of {name}"))
        return out

    def _strength_check(self, diag, data: IVData) -> CheckResult:
        fs, ars = diag["first_stage"], diag["ar"]
        m = len(ars)
        unbounded = [t for t, ar in zip(data.treatments, ars, strict=True) if not ar.bounded]
        weak = fs.weak or bool(unbounded)
        if m == 1:
            msg = (f"first-stage F = {fs.f_stat:.1f} on {fs.df_num} instrument(s), partial R-squared "
                   f"{fs.partial_r2:.3f}; {ars[0].describe()}.")
        else:
            fs_text = "; ".join(f"{t}: {f:.1f}" for t, f in zip(data.treatments, fs.f_stat, strict=True))
            msg = (f"Sanderson-Windmeijer conditional first-stage F (each treatment given the others, {fs.df_num} "
                   f"degree(s) of freedom): {fs_text}; Cragg-Donald minimum eigenvalue statistic "
                   f"{fs.cragg_donald:.1f}. Anderson-Rubin 95% set, projected onto each effect: "
                   + "; ".join(f"{t}: {ar.describe()}" for t, ar in zip(data.treatments, ars, strict=True)) + ".")
        if weak:
            msg += (" The instruments are weak (F below 10 or an unbounded Anderson-Rubin set, Staiger & Stock 1997"
                    + ("; Sanderson & Windmeijer 2016 for several treatments" if m > 1 else "")
                    + "): the data barely identify the effect, so its posterior is wide and shaped by the prior on "
                    "the effect, and the 2SLS Wald interval cannot be trusted. Find stronger instruments, or read "
                    "the Anderson-Rubin set.")
        return CheckResult("instrument strength", not weak, round(float(np.min(fs.f_stat)), 3),
                           "first-stage F >= 10 and a bounded Anderson-Rubin set"
                           + (" (conditional F of every treatment)" if m > 1 else ""), msg)

    def _overid_check(self, s: _math.Sargan) -> CheckResult:
        ok = s.p_value >= OVERID_ALPHA
        msg = (f"Sargan's test (frequentist, on the 2SLS residuals, homoskedastic errors): statistic {s.statistic:.2f} "
               f"on {s.df} degree(s) of freedom, p = {s.p_value:.3f}.")
        if not ok:
            msg += (" The instruments disagree about the effect, so at least one of them probably violates the "
                    "exclusion restriction (or effects differ between the groups each instrument moves); try "
                    "exclusion_prior_sd > 0 or drop the suspect instrument.")
        return CheckResult("over-identification", ok, round(s.p_value, 4), f"p >= {OVERID_ALPHA}", msg)

    def _placebo(self, data: IVData, std: _Standardised, sampler: Sampler, seed: int):
        """Instruments with their rows permuted at random: irrelevant by construction. Every permutation must be
        flagged weak (F < 10 or an unbounded AR set, for some treatment when there are several) and its effect
        intervals should contain zero (binomial rule over all permutations and treatments)."""
        import jax
        import pandas as pd

        rng = np.random.default_rng(seed + 11)
        P = self.placebo_permutations
        m = data.X.shape[1]
        perms = [rng.permutation(len(data.y)) for _ in range(P)]
        W = data.W if data.W.shape[1] else None
        stats = [(_math.first_stage(data.x, W, data.Z[p]), _math.anderson_rubin_sets(data.y, data.x, W, data.Z[p]))
                 for p in perms]
        Zs = np.stack([std.Z[p] for p in perms])
        psampler = dataclasses.replace(sampler, draws=min(sampler.draws, PLACEBO_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), PLACEBO_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        excl = np.full(P, self.exclusion_prior_sd)
        draws = self._sample(std, Zs, excl, psampler, seed + 12, self.exclusion_prior_sd > 0)
        beta = draws.samples["beta"]
        beta = beta[..., None] if beta.ndim == 3 else beta  # (chain, draw, P, m)
        eff = beta * self._effect_scale(std)
        bounds = np.array([[interval(eff[..., j, t], 0.95, "eti") for t in range(m)] for j in range(P)])  # (P, m, 2)
        labels = [f"permutation {j + 1}" for j in range(P)]
        cells = [lab + (f" ({t})" if m > 1 else "") for lab in labels for t in data.treatments]
        weak = np.array([fs.weak or not all(ar.bounded for ar in ars) for fs, ars in stats])
        check = placebo_rate_check(bounds[..., 0].ravel(), bounds[..., 1].ravel(), cells,
                                   "placebo (permuted instruments)", "fits with randomly permuted instruments")
        strong = [lab for lab, w in zip(labels, weak, strict=True) if not w]
        if strong:
            check = CheckResult(check.name, False, check.statistic, check.threshold,
                                check.message + " Not flagged weak although irrelevant by construction: "
                                + ", ".join(strong) + ". The weak-instrument diagnostics cannot be relied on here.")
        else:
            check = dataclasses.replace(check, message=check.message + f" All {P} were flagged weak "
                                        f"(largest first-stage F {max(np.max(fs.f_stat) for fs, _ in stats):.2f}).")
        rows = []
        for j, lab in enumerate(labels):
            fs, ars = stats[j]
            for t, name in enumerate(data.treatments):
                rows.append({"placebo": lab, "treatment": name, "effect_mean": float(eff[..., j, t].mean()),
                             "lower": bounds[j, t, 0], "upper": bounds[j, t, 1],
                             "first_stage_F": float(np.atleast_1d(fs.f_stat)[t]), "ar_set": ars[t].kind,
                             "flagged_weak": bool(weak[j])})
        table = pd.DataFrame(rows).set_index("placebo")
        if m == 1:
            table = table.drop(columns="treatment")
        return check, table

    def _idata(self, posterior, pp, std: _Standardised, data: IVData, draws):
        chains = posterior["effect"].shape[0]
        per_chain = pp["x"].shape[0] // chains
        keep = per_chain * chains
        m = data.X.shape[1]

        def to_original(rep, mean, scale):
            return (mean + scale * rep[:keep]).reshape((chains, per_chain) + rep.shape[1:])

        X_rep = to_original(pp["x"], std.x_mean, std.x_scale)  # (chain, draw, n, m)
        errors = list(data.treatments) + [data.outcome]
        coords = {"instrument": list(data.instruments), "error": errors, "error_": errors,
                  "obs": np.arange(len(data.y)), "treatment": list(data.treatments)}
        t_dim = ["treatment"] if m > 1 else []
        dims = {"effect": t_dim, "effect_std": t_dim, "endogeneity": t_dim, "pi": ["instrument"] + t_dim,
                "direct_effect_std": ["instrument"], "sigma": ["error"], "error_corr": ["error", "error_"],
                "treatment": ["obs"] + t_dim, "outcome": ["obs"], "instruments": ["obs", "instrument"]}
        return to_inference_data(
            posterior,
            posterior_predictive={"treatment": X_rep[..., 0] if m == 1 else X_rep,
                                  "outcome": to_original(pp["y"], std.y_mean, std.y_scale)},
            observed_data={"treatment": data.x, "outcome": data.y},
            constant_data={"instruments": data.Z},
            sample_stats={"diverging": draws.sample_stats["diverging"]},
            coords=coords, dims=dims,
            attrs={"method": "BayesianIV", "treatment": data.treatment, "outcome": data.outcome,
                   "sampling_seconds": round(draws.wall_seconds, 2)},
        )


def _rotate(std: _Standardised, Zs: np.ndarray) -> np.ndarray:
    """Per batch member, 1.0 to sample in the rotated coordinates of ``model.py`` (instruments weaker than
    ``ROTATE_BELOW_F`` for some treatment, where ``(Pi, beta)`` is a funnel), else 0.0. The posterior is the
    same either way; only the sampler's efficiency differs."""
    W = std.A[:, 1:] if std.A.shape[1] > 1 else None
    x = std.X[:, 0] if std.X.shape[1] == 1 else std.X
    return np.array([float(np.min(_math.first_stage(x, W, Z).f_stat) < ROTATE_BELOW_F) for Z in Zs])


def _squeeze(a):
    """Drop a trailing treatment axis of length one (one treatment keeps the shapes of the one-treatment API)."""
    a = np.asarray(a)
    return a[..., 0] if a.shape and a.shape[-1] == 1 else a


def _labelled(values, base: dict, per_treatment: dict, name: str) -> xr.DataArray:
    """(chain, draw, m) draws as a DataArray: dims (chain, draw) for one treatment, else with ``treatment``."""
    if values.shape[-1] == 1:
        return xr.DataArray(values[..., 0], dims=("chain", "draw"), coords=base, name=name)
    return xr.DataArray(values, dims=("chain", "draw", "treatment"), coords=per_treatment, name=name)


def _sensitivity_text(effect: xr.DataArray, data) -> str:
    """The E-value of the effect of one unit of each treatment, standardised by the outcome's sd (how strong a
    confounder of the *instrument* and the outcome would have to be is another question: the exclusion
    sensitivity answers that one; this sentence is the common yardstick every report quotes)."""
    if "treatment" not in effect.dims:
        text = outcome_sentence(effect.values, data.y)
        return f"Per unit of {data.treatments[0]}: {text}" if text else ""
    parts = []
    for name in effect.coords["treatment"].values:
        text = outcome_sentence(effect.sel(treatment=name).values, data.y)
        if text:
            parts.append(f"Per unit of {name}: {text}")
    return " ".join(parts)


def _reduced_form(data):
    """The reduced form (outcome on the one instrument and the covariates) summarised for
    ``IVResult.sensitivity``; None with several instruments or treatments."""
    if data.Z.shape[1] != 1 or data.X.shape[1] != 1:
        return None
    covariates = pd.DataFrame(data.W, columns=list(data.covariates)) if data.W.shape[1] else None
    return regression_benchmarks(data.y, data.Z[:, 0], covariates, treatment=data.instruments[0])


def _coverage(observed, lower, upper, name: str, what: str) -> CheckResult:
    """Share of rows inside their 95% posterior predictive intervals (the shared coverage rule), worded for rows."""
    return interval_coverage_check(observed, lower, upper, 0.95, name, what, interval="posterior predictive",
                                   advice="The model's errors are too narrow for these rows (outliers or heavy "
                                          "tails): try errors='student_t', or check the covariates.")


def _inside(support, value: np.ndarray) -> np.ndarray:
    """``value`` moved just inside an interval-type support (a least-squares start can fall outside a prior's)."""
    lo, hi = getattr(support, "lower_bound", None), getattr(support, "upper_bound", None)
    width = 1.0 if lo is None or hi is None else float(hi) - float(lo)
    if lo is not None:
        value = np.maximum(value, float(lo) + 0.01 * width)
    if hi is not None:
        value = np.minimum(value, float(hi) - 0.01 * width)
    return value


def _prior_sd(d) -> float:
    """Sd of a scalar prior, for the report (NaN when the distribution has no finite variance)."""
    try:
        return float(np.sqrt(d.variance))
    except (NotImplementedError, ValueError, TypeError):
        return float("nan")


@dataclass
class _RefitContext:
    """What :meth:`IVResult.exclusion_sensitivity` needs to refit the model at other prior widths."""

    spec: BayesianIV
    std: _Standardised
    sampler: Sampler
    seed: int

    def exclusion_draws(self, widths: np.ndarray, sampler: Sampler | None, seed: int | None) -> np.ndarray:
        """Effect draws (chain, draw, len(widths), m) in original units, all widths in one batched NUTS run."""
        import jax

        base = sampler or dataclasses.replace(self.sampler, chains=max(1, min(self.sampler.chains,
                                                                              jax.local_device_count())))
        B = len(widths)
        Zs = np.broadcast_to(self.std.Z[None], (B,) + self.std.Z.shape)
        draws = self.spec._sample(self.std, Zs, np.asarray(widths, float), base,
                                  self.seed + 21 if seed is None else seed, True)
        beta = draws.samples["beta"]
        beta = beta[..., None] if beta.ndim == 3 else beta
        return beta * self.spec._effect_scale(self.std)
