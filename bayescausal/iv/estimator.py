"""``BayesianIV``: the effect of an endogenous treatment, identified by instruments, as one generative model.

The first stage (treatment on instruments and covariates) and the second stage (outcome on treatment and
covariates) are fitted jointly with correlated errors, so the posterior of the effect carries the
first-stage uncertainty (see ``model.py`` for the equations and for why the priors sit on the reduced
form). Weak instruments are measured three ways and reported side by side: the first-stage F and partial
R-squared, the posterior of the concentration parameter, and the Anderson-Rubin confidence set, whose
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
import xarray as xr

from ..checks import convergence_check, interval_coverage_check, normalise_level, placebo_rate_check
from ..checks.base import CheckResult
from ..errors import SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc, to_inference_data
from ..result import interval
from . import _math
from ._data import IVData, prepare
from ._predict import normal_predictive, probit_predictive, student_t_predictive
from .model import IVRows, IVStats, normal_model, probit_model, student_t_model
from .priors import IVPriors
from .result import IVResult

NUTS_WARMUP = 1000
PLACEBO_DRAWS = 500  # draws (and at most this many warm-up steps) per chain for the batched refits
PREDICTIVE_DRAWS = 200  # posterior draws used for the predictive check and stored predictive
OVERID_ALPHA = 0.05


@dataclass
class _Standardised:
    """The data on the model's scale and what maps it back: ``x_scale`` is 1 for a 0/1 treatment."""

    A: np.ndarray  # (n, q) [1, W standardised]
    Z: np.ndarray  # (n, k)
    x: np.ndarray
    y: np.ndarray
    x_mean: float
    x_scale: float
    y_mean: float
    y_scale: float
    zz: np.ndarray  # (k, k) Z'M1 Z on the standardised scale


def _standardise(data: IVData, binary: bool) -> _Standardised:
    y, y_mean, y_sd = _math.standardise(data.y)
    if binary:
        x, x_mean, x_sd = data.x.copy(), 0.0, 1.0
    else:
        x, x_mean, x_sd = _math.standardise(data.x)
    Z = _math.standardise(data.Z)[0]
    W = _math.standardise(data.W)[0] if data.W.shape[1] else data.W
    A = _math.with_intercept(W, len(y))
    Zp = _math.partial_out(Z, A)
    return _Standardised(A, Z, x, y, float(x_mean), float(x_sd), float(y_mean), float(y_sd), Zp.T @ Zp)


@dataclass(frozen=True)
class BayesianIV:
    """Bayesian instrumental-variable regression for one endogenous treatment.

    Parameters
    ----------
    priors : :class:`IVPriors` or a dict of overrides by name (standardised scale).
    exclusion_prior_sd : prior sd of a direct effect of each instrument on the outcome, in outcome sds
        per instrument sd (Conley, Hansen & Rossi 2012). 0 (default) imposes the exclusion restriction
        exactly; larger values let the instruments be "plausibly exogenous" and widen the posterior.
    errors : ``"normal"`` (default; fitted on sufficient statistics, fast for any number of rows) or
        ``"student_t"`` (bivariate Student-t errors, robust to outliers; uses every row).
    treatment_model : ``"linear"`` (default) or ``"probit"``: a 0/1 treatment from a latent normal index
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

    def _model(self, exclusion: bool):
        fn = {"normal": normal_model, "student_t": student_t_model, "probit": probit_model}[self._kind]
        return functools.partial(fn, priors=self.priors, exclusion=exclusion)

    def _inputs(self, std: _Standardised, Zs: np.ndarray, excl_sd: np.ndarray):
        """Model inputs for a batch of instrument matrices ``Zs`` (B, n, k) and prior sds (B,)."""
        import jax.numpy as jnp

        if self._kind == "normal":
            S = np.stack([np.asarray(_math.cross_products(Z, std.x, std.y, std.A[:, 1:])[0]) for Z in Zs])
            n_eff = len(std.y) - std.A.shape[1]
            return IVStats(jnp.asarray(S), jnp.asarray(float(n_eff)), jnp.asarray(excl_sd, float))
        return IVRows(jnp.asarray(std.A), jnp.asarray(Zs), jnp.asarray(std.x), jnp.asarray(std.y),
                      jnp.asarray(excl_sd, float))

    def _sample(self, std, Zs, excl_sd, sampler, seed, exclusion):
        init = self._init_params(std, Zs, exclusion, sampler.chains, seed)
        return run_mcmc(self._model(exclusion), sampler, seed, (self._inputs(std, Zs, excl_sd),), kernel_name="NUTS",
                        jit_model_args=True, init_params=init)

    def _init_params(self, std: _Standardised, Zs: np.ndarray, exclusion: bool, chains: int, seed: int) -> dict:
        """Starting points (unconstrained, shaped (chain, B, ...)) at least-squares values with a little jitter.

        The posterior of the effect has a ridge along ``beta pi = const`` that narrows as ``pi`` nears zero;
        a chain started from prior draws (with vague priors: far out on that ridge) can stay stuck there.
        Starting every chain near the least-squares reduced form (first stage, outcome on instruments, the
        indirect least-squares ratio for the effect, clipped to the prior's bulk) avoids that; the jitter
        keeps the chains' starts distinct so that R-hat still compares them.
        """
        rng = np.random.default_rng(seed + 101)
        A = std.A
        effect_sd = _prior_sd(self.priors.effect)
        cap = 2.0 * effect_sd if np.isfinite(effect_sd) else 10.0
        out: dict[str, list] = {}
        for Z in Zs:
            AZ = np.column_stack([A, Z])
            cx = _math.ols(std.x, AZ)
            cy = _math.ols(std.y, AZ)
            q = A.shape[1]
            pi, g = cx[q:], cy[q:]
            beta = float(np.clip(pi @ g / max(float(pi @ pi), 1e-12), -cap, cap))
            v, w = std.x - AZ @ cx, std.y - AZ @ cy
            vals = {"pi": pi, "beta": beta}
            if self._kind == "probit":
                u = std.y - beta * std.x - A @ _math.ols(std.y - beta * std.x, A)
                vals.update(sigma_u=np.log(u.std()), corr_beta=0.0, coef_x=np.zeros(q), coef_y=_math.ols(
                    std.y - beta * std.x, A))
                vals["pi"] = 2.5 * pi  # probit coefficients are about 2.5 times the linear probability ones
            else:
                rho = float(np.clip(np.corrcoef(v, w)[0, 1], -0.95, 0.95))
                vals.update(sigma=np.log([v.std(), w.std()]), corr_beta=np.log((1 + rho) / (1 - rho)))
                if self._kind == "student_t":
                    vals.update(coef_x=cx[:q], coef_y=cy[:q], nu=np.log(10.0))
            if exclusion:
                vals["phi_raw"] = np.zeros(Z.shape[1])
            for name, value in vals.items():
                out.setdefault(name, []).append(np.asarray(value, float))
        init = {}
        for name, per_batch in out.items():
            base = np.stack(per_batch)  # (B, ...)
            jitter = 0.02 if name in ("pi", "beta", "coef_x", "coef_y") else 0.1
            init[name] = base[None] + jitter * rng.standard_normal((chains,) + base.shape)
        return init

    def _effect_scale(self, std: _Standardised) -> float:
        return std.y_scale / std.x_scale

    # -- fit -----------------------------------------------------------------------------------------
    def fit(self, df, outcome: str, treatment, instruments, covariates=None, sampler: Sampler | None = None,
            seed: int = 0, checks="full") -> IVResult:
        """Estimate the effect of ``treatment`` on ``outcome`` with ``instruments``; runs the checks.

        ``covariates``: exogenous columns entered in both stages. ``checks="full"`` runs every check
        including the permutation placebo (one extra batched NUTS run); ``"fast"`` skips the placebo;
        ``False`` skips all. The data frame is not modified.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "BayesianIV")
        binary = self.treatment_model == "probit"
        data = prepare(df, outcome, treatment, instruments, covariates, binary)
        W = data.W if data.W.shape[1] else None
        diag = {
            "tsls": _math.tsls(data.y, data.x, W, data.Z),
            "ols": float(_math.ols(data.y, np.column_stack([_math.with_intercept(W, len(data.y)), data.x]))[-1]),
            "first_stage": _math.first_stage(data.x, W, data.Z),
            "ar": _math.anderson_rubin_set(data.y, data.x, W, data.Z),
            "sargan": _math.sargan(data.y, data.x, W, data.Z) if data.Z.shape[1] > 1 else None,
        }
        std = _standardise(data, binary)
        exclusion = self.exclusion_prior_sd > 0
        draws = self._sample(std, std.Z[None], np.array([self.exclusion_prior_sd]), sampler, seed, exclusion)
        smp = {k: v[:, :, 0] for k, v in draws.samples.items()}  # drop the batch axis (B = 1)
        posterior, derived = self._posterior(smp, std, data)

        check_list: list[CheckResult] = []
        pp = self._predictive(smp, std, seed + 1)
        if level in ("full", "fast"):
            conv = {k: smp[k] for k in ("beta", "pi", "sigma", "sigma_u", "corr_beta", "phi_raw", "nu", "coef_x",
                                         "coef_y") if k in smp}
            check_list.append(convergence_check(conv, draws.sample_stats.get("diverging")))
            check_list += self._predictive_checks(pp, std, data)
            check_list.append(self._strength_check(diag))
        placebo_table = None
        if level == "full":
            check, placebo_table = self._placebo(data, std, sampler, seed)
            check_list.append(check)
        if level in ("full", "fast") and diag["sargan"] is not None:
            check_list.append(self._overid_check(diag["sargan"]))

        chains, n_draws = smp["beta"].shape
        base = {"chain": np.arange(chains), "draw": np.arange(n_draws)}
        effect = xr.DataArray(posterior["effect"], dims=("chain", "draw"), coords=base, name="effect")
        idata = self._idata(posterior, pp, std, data, draws)
        info = {"sampler": f"NUTS ({draws.chain_method} chains)", "chains": sampler.chains, "draws": sampler.draws,
                "warmup": sampler.warmup_or(NUTS_WARMUP), "seed": seed, "seconds": round(draws.wall_seconds, 2),
                "errors": self.errors, "treatment_model": self.treatment_model,
                "instruments": ", ".join(data.instruments), "covariates": ", ".join(data.covariates) or "none",
                "rows": len(data.y)}
        context = _RefitContext(self, std, sampler, seed)
        return IVResult(
            estimand=(f"effect of {data.treatment} on {data.outcome} per "
                      + ("switch from 0 to 1" if binary else "unit") + f" of {data.treatment}"),
            effect=effect, idata=idata, checks=tuple(check_list), method="Bayesian instrumental variables",
            info=info, outcome=data.outcome, treatment=data.treatment, instruments=data.instruments,
            covariates=data.covariates, tsls=diag["tsls"], ols=diag["ols"], first_stage=diag["first_stage"],
            ar_set=diag["ar"], sargan=diag["sargan"],
            concentration=xr.DataArray(derived["concentration"], dims=("chain", "draw"), coords=base),
            endogeneity=xr.DataArray(derived["endogeneity"], dims=("chain", "draw"), coords=base),
            exclusion_prior_sd=self.exclusion_prior_sd, placebos=placebo_table, refit=context,
            effect_prior_sd=float(_prior_sd(self.priors.effect)) * self._effect_scale(std),
        )

    # -- derived quantities ----------------------------------------------------------------------------
    def _posterior(self, smp, std: _Standardised, data: IVData):
        """Posterior arrays for InferenceData (original units where named so) and derived quantities."""
        beta = smp["beta"]
        pi = smp["pi"]
        post = {"effect": beta * self._effect_scale(std), "effect_std": beta, "pi": pi, "corr_beta": smp["corr_beta"]}
        rho = 2.0 * smp["corr_beta"] - 1.0
        if self._kind == "probit":
            post["sigma_u"] = smp["sigma_u"]
            conc = _math.concentration(pi, np.ones_like(beta), std.zz)
            endog = rho
        else:
            s_v, s_w = smp["sigma"][..., 0], smp["sigma"][..., 1]
            post["sigma"] = smp["sigma"]
            if self._kind == "student_t":
                post["nu"] = smp["nu"]
            conc = _math.concentration(pi, s_v, std.zz)
            # structural error u = w - beta v: its covariance with v and its sd, from Omega and beta
            cov_vw = rho * s_v * s_w
            var_u = s_w**2 - 2 * beta * cov_vw + beta**2 * s_v**2
            endog = (cov_vw - beta * s_v**2) / np.sqrt(var_u * s_v**2)
        if "phi" in smp:
            post["direct_effect_std"] = smp["phi"]
        post["concentration"] = conc
        post["endogeneity"] = endog
        return post, {"concentration": conc, "endogeneity": endog}

    def _flat_draws(self, smp, count: int, seed: int):
        chains, n_draws = smp["beta"].shape
        total = chains * n_draws
        idx = np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)
        idx.sort()
        return {k: v.reshape((total,) + v.shape[2:])[idx] for k, v in smp.items()}, idx

    def _predictive(self, smp, std: _Standardised, seed: int):
        """Replicated (treatment, outcome) for up to ``PREDICTIVE_DRAWS`` posterior draws, standardised scale."""
        d, idx = self._flat_draws(smp, PREDICTIVE_DRAWS, seed)
        rng = np.random.default_rng(seed)
        phi = d.get("phi", np.zeros_like(d["pi"]))
        rho = 2.0 * d["corr_beta"] - 1.0
        if self._kind == "probit":
            x_rep, y_rep = probit_predictive(rng, std.A, std.Z, d["pi"], d["beta"], phi, d["coef_x"], d["coef_y"],
                                             d["sigma_u"], rho)
        else:
            g = d["beta"][:, None] * d["pi"] + phi
            if self._kind == "normal":
                x_rep, y_rep = normal_predictive(rng, std.A, std.Z, std.x, std.y, d["pi"], g, d["sigma"][:, 0],
                                                 d["sigma"][:, 1], rho)
            else:
                x_rep, y_rep = student_t_predictive(rng, std.A, std.Z, d["pi"], g, d["coef_x"], d["coef_y"],
                                                    d["sigma"][:, 0], d["sigma"][:, 1], rho, d["nu"])
        return {"x": x_rep, "y": y_rep}

    def _predictive_checks(self, pp, std: _Standardised, data: IVData) -> list[CheckResult]:
        out = []
        lo, hi = np.quantile(pp["y"], [0.025, 0.975], axis=0)
        out.append(_coverage(std.y, lo, hi, "posterior predictive (outcome)", f"rows of {data.outcome}"))
        if self._kind == "probit":
            share = pp["x"].mean(axis=1)
            observed = float(std.x.mean())
            tail = float(min(np.mean(share >= observed), np.mean(share <= observed)))
            ok = tail >= 0.005
            out.append(CheckResult(
                "posterior predictive (first stage)", ok, round(tail, 4), "one-sided predictive p >= 0.005",
                f"observed share treated {observed:.3f}; replicated shares {np.quantile(share, 0.025):.3f} to "
                f"{np.quantile(share, 0.975):.3f} (95%)." + ("" if ok else " The first stage does not reproduce "
                                                             "how many units are treated: check its covariates.")))
        else:
            lo, hi = np.quantile(pp["x"], [0.025, 0.975], axis=0)
            out.append(_coverage(std.x, lo, hi, "posterior predictive (first stage)", f"rows of {data.treatment}"))
        return out

    def _strength_check(self, diag) -> CheckResult:
        fs, ar = diag["first_stage"], diag["ar"]
        weak = fs.weak or not ar.bounded
        msg = (f"first-stage F = {fs.f_stat:.1f} on {fs.df_num} instrument(s), partial R-squared {fs.partial_r2:.3f}; "
               f"{ar.describe()}.")
        if weak:
            msg += (" The instruments are weak (F below 10 or an unbounded Anderson-Rubin set, Staiger & Stock 1997): "
                    "the data barely identify the effect, so its posterior is wide and shaped by the prior on the "
                    "effect, and the 2SLS Wald interval cannot be trusted. Find stronger instruments, or read the "
                    "Anderson-Rubin set.")
        return CheckResult("instrument strength", not weak, round(fs.f_stat, 3),
                           "first-stage F >= 10 and a bounded Anderson-Rubin set", msg)

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
        flagged weak (F < 10 or an unbounded AR set) and its effect interval should contain zero (binomial rule)."""
        import jax
        import pandas as pd

        rng = np.random.default_rng(seed + 11)
        P = self.placebo_permutations
        perms = [rng.permutation(len(data.y)) for _ in range(P)]
        W = data.W if data.W.shape[1] else None
        stats = [(_math.first_stage(data.x, W, data.Z[p]), _math.anderson_rubin_set(data.y, data.x, W, data.Z[p]))
                 for p in perms]
        Zs = np.stack([std.Z[p] for p in perms])
        psampler = dataclasses.replace(sampler, draws=min(sampler.draws, PLACEBO_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), PLACEBO_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        excl = np.full(P, self.exclusion_prior_sd)
        draws = self._sample(std, Zs, excl, psampler, seed + 12, self.exclusion_prior_sd > 0)
        eff = draws.samples["beta"] * self._effect_scale(std)  # (chain, draw, P)
        bounds = np.array([interval(eff[..., j], 0.95, "eti") for j in range(P)])
        labels = [f"permutation {j + 1}" for j in range(P)]
        weak = np.array([fs.weak or not ar.bounded for fs, ar in stats])
        check = placebo_rate_check(bounds[:, 0], bounds[:, 1], labels, "placebo (permuted instruments)",
                                   "fits with randomly permuted instruments")
        strong = [lab for lab, w in zip(labels, weak, strict=True) if not w]
        if strong:
            check = CheckResult(check.name, False, check.statistic, check.threshold,
                                check.message + " Not flagged weak although irrelevant by construction: "
                                + ", ".join(strong) + ". The weak-instrument diagnostics cannot be relied on here.")
        else:
            check = dataclasses.replace(check, message=check.message + f" All {P} were flagged weak "
                                        f"(largest first-stage F {max(fs.f_stat for fs, _ in stats):.2f}).")
        table = pd.DataFrame({"effect_mean": eff.mean(axis=(0, 1)), "lower": bounds[:, 0], "upper": bounds[:, 1],
                              "first_stage_F": [fs.f_stat for fs, _ in stats],
                              "ar_set": [ar.kind for _, ar in stats], "flagged_weak": weak},
                             index=pd.Index(labels, name="placebo"))
        return check, table

    def _idata(self, posterior, pp, std: _Standardised, data: IVData, draws):
        chains = posterior["effect"].shape[0]
        per_chain = pp["x"].shape[0] // chains
        keep = per_chain * chains

        def to_original(rep, mean, scale):
            return (mean + scale * rep[:keep]).reshape(chains, per_chain, -1)

        coords = {"instrument": list(data.instruments), "error": ["treatment", "outcome"],
                  "obs": np.arange(len(data.y))}
        dims = {"pi": ["instrument"], "direct_effect_std": ["instrument"], "sigma": ["error"],
                "treatment": ["obs"], "outcome": ["obs"]}
        return to_inference_data(
            posterior,
            posterior_predictive={"treatment": to_original(pp["x"], std.x_mean, std.x_scale),
                                  "outcome": to_original(pp["y"], std.y_mean, std.y_scale)},
            observed_data={"treatment": data.x, "outcome": data.y},
            constant_data={"instruments": data.Z},
            sample_stats={"diverging": draws.sample_stats["diverging"]},
            coords=coords, dims={**dims, "instruments": ["obs", "instrument"]},
            attrs={"method": "BayesianIV", "treatment": data.treatment, "outcome": data.outcome,
                   "sampling_seconds": round(draws.wall_seconds, 2)},
        )


def _coverage(observed, lower, upper, name: str, what: str) -> CheckResult:
    """Share of rows inside their 95% posterior predictive intervals (the shared coverage rule), worded for rows."""
    base = interval_coverage_check(observed, lower, upper, 0.95, name, what)
    n = int(np.isfinite(observed).sum())
    msg = (f"{base.statistic:.1%} of {n} {what} fall inside their 95% posterior predictive intervals (fails below "
           f"{base.threshold:.1%}).")
    if not base.passed:
        msg += (" The model's errors are too narrow for these rows (outliers or heavy tails): try errors='student_t', "
                "or check the covariates.")
    return dataclasses.replace(base, message=msg)


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
        """Effect draws (chain, draw, len(widths)) in original units, all widths in one batched NUTS run."""
        import jax

        base = sampler or dataclasses.replace(self.sampler, chains=max(1, min(self.sampler.chains,
                                                                              jax.local_device_count())))
        B = len(widths)
        Zs = np.broadcast_to(self.std.Z[None], (B,) + self.std.Z.shape)
        draws = self.spec._sample(self.std, Zs, np.asarray(widths, float), base,
                                  self.seed + 21 if seed is None else seed, True)
        return draws.samples["beta"] * self.spec._effect_scale(self.std)
