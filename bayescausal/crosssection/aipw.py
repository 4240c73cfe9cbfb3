"""``AIPW``: the doubly robust (augmented inverse-probability weighted) effect of a binary treatment, Bayesian.

A propensity model and an outcome model are fitted with NUTS (two independent runs; ``aipw_model.py``), and the
AIPW estimate is computed for every posterior draw under its own Bayesian-bootstrap (Dirichlet) weights over the
units (``_aipw_math.py``; Saarela, Belzile & Stephens 2016, Biometrika 103(3):667). The estimate is consistent when
either model is right; the flexible models (``"spline"``, the default) make it likely that both are: the linear and
logistic ones, asked for by name, are wrong whenever a surface curves (on the nonlinear simulator their interval
covered the truth 55% of the time against the splines' 92.5%; benchmarks/README.md).

Checks run by ``fit``: convergence of both models; posterior predictive of the outcome model; overlap (share of
units with propensity outside [0.05, 0.95] and the effective sample size of the weights); weighted covariate
balance (|SMD| < 0.1 on every covariate column); calibration of the outcome and of the propensity model within
bins of every covariate and of the propensity score (``aipw_checks.py``: these see a curvature or an interaction a
model lacks, which the overall checks cannot); randomization inference (the treatment permuted within propensity
strata, batched); with ``checks="full"`` also a specification check (the fit repeated with one step more flexible
models; fails when the estimate moves outside its interval), an A/A placebo (the control group split at random
into fake treated and control units, several splits refitted in one batched NUTS run per model) and, when
``negative_control`` names a pre-treatment outcome, the same estimator on it (its interval must include zero).
Only this module and ``aipw_checks.py`` see pandas.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import (
    convergence_check,
    interval_coverage_check,
    normalise_level,
    placebo_interval_check,
    placebo_rate_check,
    randomization_check,
    skipped,
)
from ..checks.base import CheckResult
from ..errors import DataError, SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc, to_inference_data
from ..result import interval
from ..sensitivity import outcome_sentence
from ..sensitivity.figure import regression_benchmarks
from . import _aipw_math as am
from ._balance import SMD_THRESHOLD, kish_effective_size, standardised_mean_differences
from ._data import MIN_PER_GROUP, UnitTable, design_matrix, negative_control_column, prepare_units
from .aipw_checks import binnings, outcome_calibration_check, propensity_calibration_check, specification_check
from .aipw_model import (
    AIPWPriors,
    OutcomeRows,
    PropensityInputs,
    gaussian_outcome_model,
    gaussian_stats,
    logistic_outcome_model,
    propensity_model,
)
from .aipw_result import AIPWResult

NUTS_WARMUP = 1000
PLACEBO_DRAWS = 500  # draws (and at most this many warm-up steps) per chain of the batched placebo refits
PREDICTIVE_DRAWS = 200
PREDICTIVE_ROWS = 2000  # rows kept in the stored posterior predictive (a random subset on large tables)
OVERLAP_BOUNDS = (0.05, 0.95)
OVERLAP_MAX_OUTSIDE = 0.10  # the overlap check fails when more of the estimand's population lies outside the bounds
OVERLAP_MIN_ESS_SHARE = 0.05  # ... or when a group's weights leave fewer effective units than this share of it
STRATA = 10  # propensity strata of the randomization test

_OUTCOME_MODELS = {"linear": ("gaussian", False), "spline": ("gaussian", True), "logistic": ("logistic", False),
                   "logistic_spline": ("logistic", True)}
_PROPENSITY_MODELS = {"logistic": False, "spline": True}


@dataclass
class _Data:
    """The validated table on the model's side: covariate design, its column roles, treatment and outcome."""

    units: UnitTable
    X: np.ndarray
    names: tuple[str, ...]
    sources: np.ndarray
    numeric: np.ndarray
    t: np.ndarray
    y: np.ndarray


@dataclass
class _Nuisance:
    """Posterior draws of one propensity fit and one outcome fit, batched: ``prop`` (chain, draw, B, 1 + pp),
    ``out`` (chain, draw, B, 2, 1 + po); the bases they act on and the outcome's standardisation."""

    prop: np.ndarray | None
    out: np.ndarray | None
    Qp: np.ndarray | None
    Qo: np.ndarray | None
    y_loc: float = 0.0
    y_scale: float = 1.0
    prop_draws: object = None
    out_draws: object = None


def _column_roles(cov: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each design column (as ``design_matrix`` builds them): its covariate's position and whether numeric."""
    sources, numeric = [], []
    for i, c in enumerate(cov.columns):
        s = cov[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            k = len(s.cat.categories) - 1
            sources += [i] * k
            numeric += [False] * k
        else:
            sources.append(i)
            numeric.append(True)
    return np.asarray(sources), np.asarray(numeric, bool)


@dataclass(frozen=True)
class AIPW:
    """Bayesian doubly robust estimate of the effect of a binary treatment from one row per unit.

    Parameters
    ----------
    estimand : ``"ATE"`` (average effect over all units) or ``"ATT"`` (over the treated units).
    outcome_model : ``"spline"`` (default: Gaussian with restricted cubic splines of every numeric covariate and
        all pairwise interactions, a shrinkage prior per block, separate coefficients per arm; fitted on sufficient
        statistics, so fast for any number of rows), ``"linear"`` (the same without the flexible blocks),
        ``"logistic_spline"`` or ``"logistic"`` (0/1 outcome). The Gaussian models also suit a 0/1 outcome (a
        linear probability model: AIPW stays consistent).
    propensity_model : ``"spline"`` (default, flexible as above) or ``"logistic"`` (additive in the covariates).
    priors : :class:`AIPWPriors` or a dict of overrides by name (standardised scale).
    trim : ``None`` (default) or ``(low, high)``: units whose posterior-mean propensity lies outside are removed
        and the estimand becomes the effect in the remaining (overlap) population (Crump, Hotz, Imbens & Mitnik
        2009, Biometrika 96:187); the result says how many of each group were removed.
    placebo_splits : random splits of the control group refitted by the A/A placebo.
    permutations : within-stratum treatment permutations of the randomization test.
    spline_knots : knots (3, 4 or 5) of each restricted cubic spline of the flexible options.
    """

    estimand: str = "ATE"
    outcome_model: str = "spline"
    propensity_model: str = "spline"
    priors: object = None
    trim: tuple | None = None
    placebo_splits: int = 5
    permutations: int = 200
    spline_knots: int = 4

    def __post_init__(self):
        if self.estimand not in ("ATE", "ATT"):
            raise SpecError(f"estimand={self.estimand!r}: use 'ATE' (all units) or 'ATT' (the treated units).")
        if self.outcome_model not in _OUTCOME_MODELS:
            raise SpecError(f"outcome_model={self.outcome_model!r}: use one of {sorted(_OUTCOME_MODELS)}.")
        if self.propensity_model not in _PROPENSITY_MODELS:
            raise SpecError(f"propensity_model={self.propensity_model!r}: use 'logistic' or 'spline'.")
        if self.trim is not None:
            try:
                lo, hi = (float(v) for v in self.trim)
            except (TypeError, ValueError):
                raise SpecError(f"trim={self.trim!r}: give (low, high) propensity bounds, e.g. (0.05, 0.95), "
                                "or None.") from None
            if not 0.0 <= lo < hi <= 1.0:
                raise SpecError(f"trim={self.trim!r}: need 0 <= low < high <= 1.")
            object.__setattr__(self, "trim", (lo, hi))
        for name in ("placebo_splits", "permutations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"{name}={v!r}: give a positive integer.")
        if self.spline_knots not in am.KNOT_QUANTILES:
            raise SpecError(f"spline_knots={self.spline_knots!r}: use 3, 4 or 5.")
        object.__setattr__(self, "priors", AIPWPriors.from_overrides(self.priors))

    # -- model plumbing ----------------------------------------------------------------------------
    @property
    def _link(self) -> str:
        return _OUTCOME_MODELS[self.outcome_model][0]

    def _basis(self, data: _Data, rows: np.ndarray, flexible: bool) -> am.Basis:
        return am.build_basis(data.X[rows], data.sources, data.numeric, data.names, flexible, self.spline_knots)

    def _fit_propensity(self, basis: am.Basis, t_batch: np.ndarray, sampler: Sampler, seed: int):
        import jax.numpy as jnp

        model = functools.partial(propensity_model, priors=self.priors, groups=basis.groups)
        inputs = PropensityInputs(jnp.asarray(basis.Q), jnp.asarray(np.atleast_2d(t_batch), float))
        draws = run_mcmc(model, sampler, seed, (inputs,), kernel_name="NUTS", jit_model_args=True)
        params = np.concatenate([draws.samples["prop_intercept"][..., None], draws.samples["prop_coef"]], -1)
        return params, draws

    def _fit_outcome(self, basis: am.Basis, y: np.ndarray, arms: np.ndarray, link: str, sampler: Sampler,
                     seed: int):
        """Outcome fit for arm assignments ``arms`` (B, n); returns (params, draws, y_loc, y_scale)."""
        import jax.numpy as jnp

        arms = np.atleast_2d(arms)
        if link == "logistic":
            model = functools.partial(logistic_outcome_model, priors=self.priors, groups=basis.groups)
            inputs = OutcomeRows(jnp.asarray(basis.Q), jnp.asarray(y, float), jnp.asarray(arms, float))
            loc, scale = 0.0, 1.0
        else:
            loc, scale = float(np.mean(y)), float(np.std(y))
            scale = scale if scale > 0 else 1.0
            model = functools.partial(gaussian_outcome_model, priors=self.priors, groups=basis.groups)
            inputs = gaussian_stats(basis.Q, (y - loc) / scale, arms)
        draws = run_mcmc(model, sampler, seed, (inputs,), kernel_name="NUTS", jit_model_args=True)
        return draws.samples["out_coef"], draws, loc, scale

    def _aipw(self, nuis: _Nuisance, b: int, y, t, keep, seed: int, estimand: str, link: str) -> np.ndarray:
        """AIPW draws (chain, draw) of batch member ``b``."""
        import jax

        C, D = nuis.prop.shape[:2]
        prop = nuis.prop[:, :, b].reshape(C * D, -1)
        out = nuis.out[:, :, b].reshape(C * D, 2, -1)
        eff = am.aipw_draws(jax.random.PRNGKey(seed), prop, out, nuis.Qp, nuis.Qo, y, t, keep, estimand, link,
                            nuis.y_loc, nuis.y_scale)
        return np.asarray(eff).reshape(C, D)

    # -- fit -------------------------------------------------------------------------------------------
    def fit(self, df, treatment: str, outcome: str, covariates, negative_control: str | None = None,
            sampler: Sampler | None = None, seed: int = 0, checks="full") -> AIPWResult:
        """Estimate the effect of ``treatment`` on ``outcome`` adjusting for ``covariates`` (pre-treatment columns;
        strings/categories are one-hot encoded); runs the checks (see the module docstring).

        ``negative_control``: a pre-treatment outcome column (e.g. last year's spend), which the treatment cannot
        have changed; the same estimator must find no effect on it. ``checks="full"`` runs every check, ``"fast"``
        skips those that refit (placebo, negative control), ``False`` runs none. The data frame is not modified.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "AIPW")
        units = prepare_units(df, treatment, outcome, covariates)
        nc = negative_control_column(df, units, negative_control)
        if self._link == "logistic" and not units.binary_outcome:
            raise DataError(f"outcome_model={self.outcome_model!r} needs a 0/1 outcome, but {outcome!r} takes other "
                            f"values (e.g. {np.unique(units.y)[:3].tolist()}); use outcome_model='linear' or "
                            "'spline'.")
        X, names = design_matrix(units.covariates)
        sources, numeric = _column_roles(units.covariates)
        data = _Data(units, X, names, sources, numeric, units.t, units.y)
        n = units.n
        all_rows = np.ones(n, bool)
        bp = self._basis(data, all_rows, _PROPENSITY_MODELS[self.propensity_model])
        flex_out = _OUTCOME_MODELS[self.outcome_model][1]
        bo = bp if flex_out == _PROPENSITY_MODELS[self.propensity_model] else self._basis(data, all_rows, flex_out)
        prop, pdraws = self._fit_propensity(bp, data.t, sampler, seed)
        out, odraws, loc, scale = self._fit_outcome(bo, data.y, data.t, self._link, sampler, seed + 1)
        nuis = _Nuisance(prop, out, bp.Q, bo.Q, loc, scale, pdraws, odraws)
        C, D = prop.shape[:2]
        thin = max(1, (C * D) // PREDICTIVE_DRAWS)
        e_hat = am.mean_propensity(prop[:, :, 0].reshape(C * D, -1)[::thin], bp.Q)

        keep, trimming = self._trim(e_hat, data)
        effect_draws = self._aipw(nuis, 0, data.y, data.t, keep.astype(float), seed + 2, self.estimand, self._link)
        k_t, k_e = data.t[keep], e_hat[keep]
        weights = am.ipw_weights(k_e, k_t, self.estimand)
        overlap_table, overlap_stats = _overlap_table(k_e, k_t, weights, self.estimand)
        balance_table = _balance_table(X[keep], k_t, weights, names)

        check_list: list[CheckResult] = []
        pp, pp_rows = self._predictive(nuis, data, seed + 3)
        randomization = None
        if level in ("full", "fast"):
            check_list.append(self._convergence(pdraws, odraws))
            check_list.append(self._predictive_check(pp, pp_rows, data))
            check_list.append(_overlap_check(overlap_stats, self.estimand, trimming is not None))
            check_list.append(_balance_check(balance_table))
            calibration = self._calibration(nuis, data, e_hat, keep)
            check_list += [c for c, _ in calibration]
            calibration = {c.name: table for c, table in calibration}
            rc, randomization = self._randomization(data, bo.Q, e_hat, keep, seed + 4)
            check_list.append(rc)
        else:
            calibration = {}
        placebo_table = nc_table = None
        if level == "full":
            sc = self._specification(data, effect_draws, keep, sampler, seed + 7)
            check_list.append(sc[0])
            calibration["specification"] = sc[1]
            pc, placebo_table = self._placebo(data, sampler, seed + 5)
            check_list.append(pc)
            if nc is not None:
                ncc, nc_table = self._negative_control(nuis, bo, data, nc, negative_control, keep, sampler, seed + 6)
                check_list.append(ncc)
        elif level == "fast" and nc is not None:
            check_list.append(skipped("negative control outcome", "checks='fast' skips refits"))

        base = {"chain": np.arange(C), "draw": np.arange(D)}
        effect = xr.DataArray(effect_draws, dims=("chain", "draw"), coords=base, name="effect")
        naive = float(data.y[data.t == 1].mean() - data.y[data.t == 0].mean())
        idata = self._idata(effect_draws, nuis, pp, pp_rows, data, bp, bo)
        trim_text = "" if trimming is None else " in the overlap population (after trimming)"
        what = "average effect over all units" if self.estimand == "ATE" else "average effect on the treated units"
        info = {"sampler": f"NUTS ({pdraws.chain_method} chains)", "chains": sampler.chains, "draws": sampler.draws,
                "warmup": sampler.warmup_or(NUTS_WARMUP), "seed": seed,
                "seconds": round(pdraws.wall_seconds + odraws.wall_seconds, 2), "estimand": self.estimand,
                "outcome_model": self.outcome_model, "propensity_model": self.propensity_model, "rows": n,
                "rows_used": int(keep.sum()), "propensity_columns": bp.p, "outcome_columns": bo.p,
                "covariates": ", ".join(units.covariate_names)}
        if bp.dropped or bo.dropped:
            info["redundant_columns"] = "; ".join(sorted(set(bp.dropped + bo.dropped)))
        return AIPWResult(
            estimand=f"{what} of {treatment} on {outcome}{trim_text}", effect=effect, idata=idata,
            checks=tuple(check_list), method="Bayesian doubly robust (AIPW)", info=info, outcome=outcome,
            treatment=treatment, covariates=units.covariate_names, target=self.estimand, naive=naive,
            propensity=e_hat, treated=data.t.astype(bool), kept=keep, overlap=overlap_table, balance=balance_table,
            trimming=trimming, placebos=placebo_table, randomization=randomization, negative_control=nc_table,
            calibration=calibration,
            outcome_model=self.outcome_model, propensity_model=self.propensity_model,
            sensitivity_text=outcome_sentence(effect.values, data.y, control=data.t == 0),
            confounding_benchmarks=regression_benchmarks(data.y, data.t, units.covariates, treatment=treatment,
                                                         rows=keep))

    # -- inputs ----------------------------------------------------------------------------------------
    def _trim(self, e_hat: np.ndarray, data: _Data):
        t = data.t.astype(bool)
        if self.trim is None:
            return np.ones(len(t), bool), None
        keep = am.trim_mask(e_hat, self.trim)
        table = pd.DataFrame({"units": [int(t.sum()), int((~t).sum())],
                              "removed": [int((t & ~keep).sum()), int((~t & ~keep).sum())],
                              "kept": [int((t & keep).sum()), int((~t & keep).sum())]},
                             index=pd.Index(["treated", "control"], name="group"))
        lo, hi = self.trim
        if table["kept"].min() < MIN_PER_GROUP:
            raise DataError(f"after trimming propensities to [{lo:g}, {hi:g}], {table.loc['treated', 'kept']} treated "
                            f"and {table.loc['control', 'kept']} control units remain (of "
                            f"{table.loc['treated', 'units']} and {table.loc['control', 'units']}): the groups do not "
                            "overlap at all on these covariates, so no comparison is possible. Check whether a "
                            "covariate determines the treatment.")
        return keep, table

    # -- checks ----------------------------------------------------------------------------------------
    @staticmethod
    def _convergence(pdraws, odraws) -> CheckResult:
        conv = {f"{k}": v for k, v in pdraws.samples.items() if k != "prop_coef"}
        conv.update({k: v for k, v in odraws.samples.items() if k != "out_coef"})
        div = np.concatenate([pdraws.sample_stats["diverging"].ravel(), odraws.sample_stats["diverging"].ravel()])
        return convergence_check(conv, div)

    def _predictive(self, nuis: _Nuisance, data: _Data, seed: int):
        """Replicated outcomes for up to ``PREDICTIVE_ROWS`` rows and ``PREDICTIVE_DRAWS`` draws (chain, draw, row)."""
        rng = np.random.default_rng(seed)
        n = len(data.y)
        rows = np.sort(rng.choice(n, PREDICTIVE_ROWS, replace=False)) if n > PREDICTIVE_ROWS else np.arange(n)
        C, D = nuis.out.shape[:2]
        per_chain = max(1, min(D, PREDICTIVE_DRAWS // C))
        idx = np.linspace(0, D - 1, per_chain).astype(int)
        theta = nuis.out[:, idx, 0]  # (C, d, 2, 1 + p)
        Q = nuis.Qo[rows]
        arm = data.t[rows].astype(int)
        eta = theta[..., 0][..., None] + np.einsum("np,cdkp->cdkn", Q, theta[..., 1:])  # (C, d, 2, rows)
        eta = np.where(arm == 1, eta[:, :, 1], eta[:, :, 0])
        if self._link == "logistic":
            y_rep = (rng.uniform(size=eta.shape) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
        else:
            sig = nuis.out_draws.samples["out_sigma"][:, idx, 0]  # (C, d, 2)
            s = np.where(arm == 1, sig[..., 1:2], sig[..., 0:1])
            y_rep = nuis.y_loc + nuis.y_scale * (eta + s * rng.standard_normal(eta.shape))
        return y_rep, rows

    def _predictive_check(self, y_rep, rows, data: _Data) -> CheckResult:
        y = data.y[rows]
        if self._link == "logistic":
            arm = data.t[rows].astype(bool)
            worst, text = 1.0, []
            for label, m in (("treated", arm), ("control", ~arm)):
                share = y_rep[..., m].mean(-1).ravel()
                obs = float(y[m].mean())
                tail = float(min(np.mean(share >= obs), np.mean(share <= obs)))
                worst = min(worst, tail)
                text.append(f"{label}: observed share {obs:.3f}, replicated {np.quantile(share, 0.025):.3f} to "
                            f"{np.quantile(share, 0.975):.3f}")
            ok = worst >= 0.005
            msg = "; ".join(text) + "."
            if not ok:
                msg += " The outcome model does not reproduce the share of positive outcomes in a group."
            return CheckResult("posterior predictive", ok, round(worst, 4), "one-sided predictive p >= 0.005", msg)
        flat = y_rep.reshape(-1, y_rep.shape[-1])
        lo, hi = np.quantile(flat, [0.025, 0.975], axis=0)
        return interval_coverage_check(
            y, lo, hi, 0.95, "posterior predictive", f"rows of {data.units.outcome}", interval="posterior predictive",
            advice="The outcome model's errors are too narrow for these rows (outliers, heavy tails or unequal "
                   "variances): the outcome model is misspecified; try outcome_model='spline'.")

    def _calibration(self, nuis: _Nuisance, data: _Data, e_hat, keep) -> list:
        """The binned calibration checks of the outcome and propensity models (``aipw_checks``), over the
        estimand's units; each as (check, table of bins)."""
        C, D = nuis.out.shape[:2]
        thin = max(1, (C * D) // PREDICTIVE_DRAWS)
        out = nuis.out[:, :, 0].reshape(C * D, 2, -1)[::thin]
        mu0, mu1 = am.mean_outcomes(out, nuis.Qo, self._link, nuis.y_loc, nuis.y_scale)
        if self._link == "logistic":
            var0, var1 = mu0 * (1 - mu0), mu1 * (1 - mu1)
        else:
            s2 = np.mean((nuis.y_scale * nuis.out_draws.samples["out_sigma"][:, :, 0]) ** 2, axis=(0, 1))
            var0, var1 = np.full(len(mu0), s2[0]), np.full(len(mu1), s2[1])
        bins = binnings(data.units.covariates, e_hat, keep)
        k = keep
        oc = outcome_calibration_check(data.y[k], data.t[k], mu0[k], mu1[k], var0[k], var1[k], bins,
                                       data.units.outcome, self._link == "logistic")
        pc = propensity_calibration_check(data.t[k], e_hat[k], bins)
        return [oc, pc]

    def _more_flexible(self) -> AIPW | None:
        """The same estimator one step more flexible: linear/logistic models become splines; splines with fewer
        than 5 knots get 5. None when already at the most flexible setting."""
        out = {"linear": "spline", "logistic": "logistic_spline"}.get(self.outcome_model, self.outcome_model)
        knots = self.spline_knots
        if out == self.outcome_model and self.propensity_model == "spline":
            if knots >= max(am.KNOT_QUANTILES):
                return None
            knots = max(am.KNOT_QUANTILES)
        return dataclasses.replace(self, outcome_model=out, propensity_model="spline", spline_knots=knots)

    def _models_text(self) -> str:
        knots = f", {self.spline_knots} knots" if "spline" in (self.outcome_model + self.propensity_model) else ""
        return f"outcome {self.outcome_model!r}, propensity {self.propensity_model!r}{knots}"

    def _specification(self, data: _Data, effect_draws, keep, sampler: Sampler, seed: int):
        """Refit with :meth:`_more_flexible` models (a shorter run: only its posterior mean and interval are
        compared) over the same units; see ``aipw_checks.specification_check``."""
        flex = self._more_flexible()
        if flex is None:
            return skipped("specification", "the models are already the most flexible offered (splines with 5 "
                                            "knots)"), None
        rsampler = dataclasses.replace(sampler, draws=min(sampler.draws, PLACEBO_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), PLACEBO_DRAWS))
        all_rows = np.ones(len(data.y), bool)
        fp, fo = _PROPENSITY_MODELS[flex.propensity_model], _OUTCOME_MODELS[flex.outcome_model][1]
        bp = flex._basis(data, all_rows, fp)
        bo = bp if fp == fo else flex._basis(data, all_rows, fo)
        prop, _ = flex._fit_propensity(bp, data.t, rsampler, seed)
        out, _, loc, scale = flex._fit_outcome(bo, data.y, data.t, flex._link, rsampler, seed + 1)
        nuis = _Nuisance(prop, out, bp.Q, bo.Q, loc, scale)
        eff = flex._aipw(nuis, 0, data.y, data.t, keep.astype(float), seed + 2, self.estimand, flex._link)
        lo, hi = interval(effect_draws, 0.95, "eti")
        rlo, rhi = interval(eff, 0.95, "eti")
        return specification_check(float(effect_draws.mean()), lo, hi, float(eff.mean()), rlo, rhi,
                                   self._models_text(), flex._models_text())

    def _randomization(self, data: _Data, Qo, e_hat, keep, seed: int):
        """Within-stratum permutation test of the sharp null; see ``_aipw_math.stratified_permutation_null``.

        The statistic is cheap on purpose: the outcome fit it uses ignores the treatment (a ridge regression on the
        outcome basis), and the stratum shares are the permuted labels' exact assignment probabilities, so no
        nuisance model needs refitting per permutation and the p-value is exact given the strata."""
        import jax

        y, t = data.y[keep], data.t[keep]
        resid = y - am.ridge_fit(Qo[keep], y)
        strata = am.propensity_strata(e_hat[keep], STRATA)
        obs, obs_sd, null, null_sd = am.stratified_permutation_null(jax.random.PRNGKey(seed), resid, t, strata,
                                                                    self.estimand, self.permutations)
        check = randomization_check(obs, null, null - 1.96 * null_sd, null + 1.96 * null_sd,
                                    "randomization inference", "within-propensity-stratum permutations of the "
                                    "treatment")
        check = dataclasses.replace(check, message=check.message + (
            f" Test statistic: the covariance-adjusted contrast within {STRATA} propensity strata (observed "
            f"{obs:.4g}, Bayesian-bootstrap sd {obs_sd:.3g}); permuting within strata keeps each stratum's "
            "treated count (Rosenbaum 1984)."))
        p = float((1 + np.sum(np.abs(null) >= abs(obs))) / (1 + null.size))
        return check, {"statistic": obs, "statistic_sd": obs_sd, "p_value": p, "null": null}

    def _placebo(self, data: _Data, sampler: Sampler, seed: int):
        """A/A: the control units split at random into fake treated and control groups; the true effect is zero."""
        import jax

        ctrl = data.t == 0
        n0 = int(ctrl.sum())
        if n0 < 4 * MIN_PER_GROUP + 2:
            return skipped("A/A placebo", f"only {n0} control units to split"), None
        rng = np.random.default_rng(seed)
        share = float(np.clip(data.t.mean(), 0.2, 0.5))
        m = max(MIN_PER_GROUP, int(round(share * n0)))
        fake = np.zeros((self.placebo_splits, n0))
        for b in range(self.placebo_splits):
            fake[b, rng.choice(n0, m, replace=False)] = 1.0
        psampler = dataclasses.replace(sampler, draws=min(sampler.draws, PLACEBO_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), PLACEBO_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        flex_p, flex_o = _PROPENSITY_MODELS[self.propensity_model], _OUTCOME_MODELS[self.outcome_model][1]
        bp = self._basis(data, ctrl, flex_p)
        bo = bp if flex_p == flex_o else self._basis(data, ctrl, flex_o)
        y = data.y[ctrl]
        prop, pdraws = self._fit_propensity(bp, fake, psampler, seed + 1)
        out, odraws, loc, scale = self._fit_outcome(bo, y, fake, self._link, psampler, seed + 2)
        nuis = _Nuisance(prop, out, bp.Q, bo.Q, loc, scale)
        labels = [f"split {b + 1}" for b in range(self.placebo_splits)]
        bounds, means = [], []
        for b in range(self.placebo_splits):
            eff = self._aipw(nuis, b, y, fake[b], np.ones(n0), seed + 10 + b, self.estimand, self._link)
            bounds.append(interval(eff, 0.95, "eti"))
            means.append(float(eff.mean()))
        bounds = np.asarray(bounds)
        check = placebo_rate_check(bounds[:, 0], bounds[:, 1], labels, "A/A placebo",
                                   "random splits of the control group into fake treated and control units")
        n_div = int(pdraws.sample_stats["diverging"].sum() + odraws.sample_stats["diverging"].sum())
        if n_div:
            check = dataclasses.replace(check, message=check.message + f" ({n_div} divergent transitions in the "
                                        "placebo refits.)")
        if not check.passed and check.passed is not None:
            check = dataclasses.replace(check, message=check.message.replace(
                "estimate for the treated unit is not reliable: look for shocks shared by some units, or a donor pool "
                "that cannot reproduce the units' paths.",
                "estimate is not reliable: its intervals are too narrow for these data."))
        table = pd.DataFrame({"effect_mean": means, "lower": bounds[:, 0], "upper": bounds[:, 1],
                              "fake_treated": [m] * self.placebo_splits},
                             index=pd.Index(labels, name="placebo"))
        return check, table

    def _negative_control(self, nuis: _Nuisance, bo: am.Basis, data: _Data, v: np.ndarray, name: str,
                          keep: np.ndarray, sampler: Sampler, seed: int):
        """The same estimator with a pre-treatment outcome in place of the outcome (propensity draws reused)."""
        binary = bool(np.all(np.isin(v, (0.0, 1.0))))
        link = "logistic" if binary and self._link == "logistic" else "gaussian"
        out, _, loc, scale = self._fit_outcome(bo, v, data.t, link, sampler, seed)
        nc = _Nuisance(nuis.prop, out, nuis.Qp, nuis.Qo, loc, scale)
        eff = self._aipw(nc, 0, v, data.t, keep.astype(float), seed + 1, self.estimand, link)
        lo, hi = interval(eff, 0.95, "eti")
        check = placebo_interval_check(np.array([lo]), np.array([hi]), [name], "negative control outcome",
                                       f"estimates on the pre-treatment outcome {name!r}")
        msg = (f"Estimated effect of the treatment on the pre-treatment outcome {name!r}: {eff.mean():.4g} (95% "
               f"interval {lo:.4g} to {hi:.4g}).")
        if not check.passed:
            msg += (" The treatment cannot have changed it, so the adjustment leaves confounding (or the models are "
                    "misspecified): add covariates or use the flexible models.")
        check = dataclasses.replace(check, message=msg)
        table = pd.DataFrame({"mean": [float(eff.mean())], "lower": [lo], "upper": [hi]},
                             index=pd.Index([name], name="negative control"))
        return check, table

    # -- InferenceData ------------------------------------------------------------------------------------
    def _idata(self, effect_draws, nuis: _Nuisance, pp, pp_rows, data: _Data, bp: am.Basis, bo: am.Basis):
        posterior = {"effect": effect_draws, "propensity_coef": nuis.prop[:, :, 0],
                     "outcome_coef": nuis.out[:, :, 0]}
        if self._link == "gaussian":
            posterior["outcome_sigma"] = nuis.out_draws.samples["out_sigma"][:, :, 0] * nuis.y_scale
        div = nuis.prop_draws.sample_stats["diverging"] | nuis.out_draws.sample_stats["diverging"]
        coords = {"propensity_term": ["intercept"] + [f"basis {j}" for j in range(bp.p)],
                  "outcome_term": ["intercept"] + [f"basis {j}" for j in range(bo.p)],
                  "arm": ["control", "treated"], "obs": np.arange(len(data.y)), "pp_obs": pp_rows}
        dims = {"propensity_coef": ["propensity_term"], "outcome_coef": ["arm", "outcome_term"],
                "outcome_sigma": ["arm"], "treatment": ["obs"], "outcome": ["obs"]}
        return _build_idata(posterior, pp, data, div, nuis, coords, dims, self.estimand)


def _build_idata(posterior, pp, data: _Data, div, nuis: _Nuisance, coords, dims, estimand: str):
    """InferenceData with the posterior predictive on its own row coordinate (``pp_obs``: the rows replicated)."""
    import arviz as az

    idata = to_inference_data(
        posterior, observed_data={"treatment": data.t, "outcome": data.y},
        sample_stats={"diverging": div, "diverging_propensity": nuis.prop_draws.sample_stats["diverging"],
                      "diverging_outcome": nuis.out_draws.sample_stats["diverging"]},
        coords={k: v for k, v in coords.items() if k != "pp_obs"}, dims=dims,
        attrs={"method": "AIPW", "treatment": data.units.treatment, "outcome": data.units.outcome,
               "estimand": estimand})
    ppd = az.from_dict(posterior_predictive={"outcome": pp}, coords={"pp_obs": coords["pp_obs"]},
                       dims={"outcome": ["pp_obs"]})
    idata.extend(ppd)
    return idata


# -- tables and checks shared by the fit ------------------------------------------------------------------
def _overlap_table(e: np.ndarray, t: np.ndarray, w: np.ndarray, estimand: str):
    t = t.astype(bool)
    lo, hi = OVERLAP_BOUNDS
    rows = {}
    for label, m in (("treated", t), ("control", ~t)):
        rows[label] = {"units": int(m.sum()), "propensity_mean": float(e[m].mean()),
                       "propensity_min": float(e[m].min()), "propensity_max": float(e[m].max()),
                       f"share_below_{lo:g}": float(np.mean(e[m] < lo)),
                       f"share_above_{hi:g}": float(np.mean(e[m] > hi)),
                       "effective_size": kish_effective_size(w[m]),
                       "effective_share": kish_effective_size(w[m]) / max(int(m.sum()), 1)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "group"
    stats = {"outside": am.outside_share(e, t, OVERLAP_BOUNDS, estimand), "table": table,
             "ess_share": float(table["effective_share"].min()) if estimand == "ATE"
             else float(table.loc["control", "effective_share"])}
    return table, stats


def _overlap_check(stats, estimand: str, trimmed: bool) -> CheckResult:
    tab = stats["table"]
    lo, hi = OVERLAP_BOUNDS
    pop = "units" if estimand == "ATE" else "treated units (above the upper bound)"
    outside, ess = stats["outside"], stats["ess_share"]
    ok = outside <= OVERLAP_MAX_OUTSIDE and ess >= OVERLAP_MIN_ESS_SHARE
    msg = (f"{outside:.1%} of {pop} have a propensity outside [{lo:g}, {hi:g}] (fails above "
           f"{OVERLAP_MAX_OUTSIDE:.0%}); treated propensities range {tab.loc['treated', 'propensity_min']:.3f} to "
           f"{tab.loc['treated', 'propensity_max']:.3f}, control {tab.loc['control', 'propensity_min']:.3f} to "
           f"{tab.loc['control', 'propensity_max']:.3f}; the inverse-probability weights leave "
           f"{tab.loc['treated', 'effective_size']:.0f} effective treated and "
           f"{tab.loc['control', 'effective_size']:.0f} effective control units (smallest share {ess:.1%}, fails "
           f"below {OVERLAP_MIN_ESS_SHARE:.0%}).")
    if not ok:
        msg += (" The groups overlap poorly: some units have almost no comparable units in the other group, so the "
                "estimate leans on extrapolation and a few large weights."
                + ("" if trimmed else " Consider trim=(0.05, 0.95) (the estimand then becomes the overlap "
                   "population), or the ATT if the treated units are the ones well covered."))
    return CheckResult("overlap", ok, round(outside, 4),
                       f"share outside [{lo:g}, {hi:g}] <= {OVERLAP_MAX_OUTSIDE:g} and effective share >= "
                       f"{OVERLAP_MIN_ESS_SHARE:g}", msg)


def _balance_table(X: np.ndarray, t: np.ndarray, w: np.ndarray, names) -> pd.DataFrame:
    raw = standardised_mean_differences(X, t)
    weighted = standardised_mean_differences(X, t, w)
    table = pd.DataFrame({"smd_raw": raw, "smd_weighted": weighted}, index=pd.Index(list(names), name="covariate"))
    table["balanced"] = table["smd_weighted"].abs() < SMD_THRESHOLD
    return table


def _balance_check(table: pd.DataFrame) -> CheckResult:
    worst = float(table["smd_weighted"].abs().max())
    col = str(table["smd_weighted"].abs().idxmax())
    raw = float(table["smd_raw"].abs().max())
    ok = worst < SMD_THRESHOLD
    msg = (f"largest |standardised mean difference| after weighting {worst:.3f} ({col}), before {raw:.3f}; "
           f"threshold {SMD_THRESHOLD:g} on every covariate column (Austin 2009).")
    if not ok:
        bad = table.index[~table["balanced"]].tolist()
        msg += (f" Not balanced: {', '.join(map(str, bad))}. The propensity model does not balance these covariates: "
                "try propensity_model='spline', or trimming.")
    return CheckResult("covariate balance", ok, round(worst, 4), f"|SMD| < {SMD_THRESHOLD:g}", msg)
