"""``PanelFE``: the effect of a 0/1 treatment in a panel, with unit and time effects fixed or partially pooled.

Model: ``y_it = a_i + g_t + x_it' beta + tau D_it + e_it``. The rows are reduced once to cross-products and the
sampler never sees them (``core.py``, ``_math.py``; the checks make a few more vectorised passes); the unit
effects, coefficients and time effects are integrated out or drawn exactly, and only the scales are sampled by
NUTS (``model.py``), so a million units cost the sampler no more than a thousand. With ``unit_effects="fixed"``
and flat priors the posterior mean of ``tau`` is the within (two-way fixed-effects) estimator. ``tau`` is one
coefficient for every treated unit-period: when effects differ across adoption cohorts or grow with time since
adoption this pooled coefficient is biased (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020), and
:class:`~bayescausal.panel.EventStudy` is the estimator to use.

Checks run by ``fit``: convergence; posterior predictive coverage of random rows; serial correlation of the
residuals (iid-error intervals are too narrow when errors are autocorrelated: use ``errors="ar1"``); a
specification check of the pooled coefficient against the average of a cohort-by-event-time model's cells (a
Hausman test, ``_heterogeneity.py``: it fails when effects that vary by cohort or with time since adoption make
the pooled coefficient miss the average effect on the treated unit-periods); placebo
adoption dates moved into the pre-period (every treated unit's post-adoption rows dropped, its adoption moved
back 1, 2, ... periods; all shifts in one batched NUTS run), whose intervals must contain zero; and randomization
inference over which units were treated (the units' adoption dates permuted; the effect's conditional posterior
at the fitted scales recomputed from the few statistics that involve the treatment).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import normalise_level, placebo_rate_check, randomization_check, skipped
from ..checks.base import CheckResult
from ..errors import DataError, SpecError
from ..inference import Sampler, nuts_sampler, to_inference_data
from ..result import interval
from . import _math
from ._data import PanelFrame, prepare_panel
from ._heterogeneity import heterogeneity_check
from .core import (
    PanelSpec,
    conditional_effects,
    convergence,
    fit_panel_batch,
    fit_panel_design,
    observed_outcome,
    posterior_predictive,
    predictive_check,
    predictive_rows,
    prepare,
    serial_correlation_check,
)
from .result import PanelResult

PLACEBO_DRAWS = 500
STORED_PREDICTIVE_ROWS = 2000
PREDICTIVE_DRAWS = 400


@dataclass(frozen=True)
class PanelFE:
    """Bayesian panel regression of an outcome on a 0/1 treatment with unit and time effects.

    Parameters
    ----------
    unit_effects : ``"fixed"`` (default; flat prior, integrated out: the within estimator) or ``"hierarchical"``
        (``a_i ~ N(mu, sd_unit^2)``: partial pooling; uses differences between units too, so it assumes the unit
        effects are unrelated to the treatment and covariates unless ``mundlak=True``).
    time_effects : ``"fixed"`` (default; one per period), ``"hierarchical"`` (``g_t ~ N(0, sd_time^2)``) or None.
    errors : ``"iid"`` (default) or ``"ar1"`` (stationary AR(1) errors within unit; exact likelihood).
    mundlak : hierarchical unit effects only: add the unit means of the treatment and covariates as regressors
        (correlated random effects; Mundlak 1978), which makes the coefficients equal the within ones in a
        balanced panel while keeping partial pooling of the unit effects.
    priors : :class:`~bayescausal.panel.PanelPriors` or a dict of overrides by name.
    sampler : :class:`~bayescausal.Sampler` (default: 4 chains, 1000 draws); ``fit`` can override it.
    absorbing : the treatment stays on once adopted (staggered adoption; default). A unit whose treatment
        switches off is then a DataError; with False it is allowed, and the placebo dates and randomization
        inference (which move and permute adoption dates) do not run.
    placebo_shifts : placebo adoption dates, 1 to this many periods before each treated unit's real one.
    permutations : permutations of the randomization inference.

    Units with a single row are dropped under fixed unit effects, with a UserWarning naming how many, and the
    count is in ``info["singleton_units_dropped"]`` and the report: their one row only fixes their own unit effect
    and adds nothing to the within estimator (see :func:`~bayescausal.panel._data.prepare_panel`).
    """

    unit_effects: str = "fixed"
    time_effects: str | None = "fixed"
    errors: str = "iid"
    mundlak: bool = False
    priors: object = None
    sampler: Sampler | None = None
    absorbing: bool = True
    placebo_shifts: int = 3
    permutations: int = 100

    def __post_init__(self):
        spec = PanelSpec(self.unit_effects, self.time_effects, self.errors, self.mundlak, self.priors)
        object.__setattr__(self, "priors", spec.priors)
        for name in ("placebo_shifts", "permutations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"{name}={v!r}: give a positive integer.")
        if not isinstance(self.absorbing, bool):
            raise SpecError(f"absorbing={self.absorbing!r}: give True or False.")
        if self.sampler is not None:
            nuts_sampler(self.sampler, "PanelFE")

    @property
    def spec(self) -> PanelSpec:
        return PanelSpec(self.unit_effects, self.time_effects, self.errors, self.mundlak, self.priors)

    def _describe(self) -> str:
        units = "fixed unit effects" if self.unit_effects == "fixed" else "hierarchical unit effects"
        if self.mundlak:
            units += " with Mundlak unit means"
        times = {"fixed": "fixed time effects", "hierarchical": "hierarchical time effects", None: "no time effects"}
        errors = "independent errors" if self.errors == "iid" else "AR(1) errors within unit"
        return f"{units}, {times[self.time_effects]}, {errors}"

    # -- fit --------------------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, unit: str, time: str, outcome: str, treatment: str | None = None,
            covariates=None, seed: int = 0, checks="full", sampler: Sampler | None = None) -> PanelResult:
        """Estimate the effect of ``treatment`` (a 0/1 column) on ``outcome`` from a long panel (one row per
        ``unit`` and ``time``). Without a treatment, ``effect`` is the coefficient of the first covariate. The
        data frame is not modified; ``checks``: ``"full"``, ``"fast"`` (no refits) or False."""
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler or self.sampler, "PanelFE")
        if treatment is None and not covariates:
            raise SpecError("give a treatment column (a 0/1 column) or at least one covariate whose coefficient is "
                            "the effect.")
        frame = prepare_panel(df, unit, time, outcome, treatment, covariates, absorbing=self.absorbing,
                              fixed_units=self.unit_effects == "fixed")
        design = _design(frame)
        spec = self.spec
        fit = fit_panel_design(design, spec, sampler, seed)
        check_list: list[CheckResult] = []
        rows = predictive_rows(fit, seed + 1)
        y_rep = posterior_predictive(fit, rows, PREDICTIVE_DRAWS, seed + 2)
        if level in ("full", "fast"):
            check_list += [convergence(fit), predictive_check(fit, seed + 1, y_rep, rows),
                           serial_correlation_check(fit)]
        placebo_table = randomization = heterogeneity = None
        if level == "full":
            check, heterogeneity = heterogeneity_check(frame, design, fit, spec)
            check_list.append(check)
            for runner in (self._placebo, self._randomization):
                check, extra = runner(frame, design, fit, spec, sampler, seed)
                check_list.append(check)
                if runner == self._placebo:
                    placebo_table = extra
                else:
                    randomization = extra
        return self._result(frame, fit, tuple(check_list), y_rep, rows, placebo_table, randomization, sampler, seed,
                            heterogeneity)

    # -- checks that refit --------------------------------------------------------------------------------------
    def _placebo(self, frame: PanelFrame, design, fit, spec, sampler, seed):
        """Placebo adoption dates: post-adoption rows dropped, adoption moved back ``k`` periods, refitted."""
        name = "placebo dates"
        if frame.treatment is None or not self.absorbing:
            return skipped(name, "needs a treatment that stays on once adopted (absorbing=True)"), None
        adoption = frame.adoption
        first = np.full(frame.n_units, np.iinfo(np.int64).max)
        np.minimum.at(first, frame.unit, frame.time)
        keep = (adoption[frame.unit] < 0) | (frame.time < adoption[frame.unit])
        treated = np.flatnonzero((adoption >= 0) & (adoption > first))
        if treated.size == 0:
            return skipped(name, "no treated unit is observed before its adoption"), None
        base = design.subset(np.flatnonzero(keep))
        # each placebo design is reduced to its sufficient statistics before the next is built, so at most one
        # extra effect column of the rows is held at a time (at 20M rows each is 160 MB)
        preps, shifts = [], []
        for k in range(1, self.placebo_shifts + 1):
            fake = np.where(adoption >= 0, adoption - k, -1)
            D = _math.adoption_column(base.unit, base.time, np.where(adoption > first, fake, -1))
            if D.min() == D.max():
                continue
            try:
                preps.append(prepare(base.with_effects(D[:, None]), spec, preps[0] if preps else None))
            except DataError:
                break
            shifts.append(k)
            del D
        if not preps:
            return skipped(name, "no placebo date leaves treated and untreated pre-adoption rows that identify "
                                 "an effect"), None
        import jax

        # as the IV and AIPW placebos: fewer draws, and one round of parallel chains (one per core)
        psampler = dataclasses.replace(sampler, draws=min(sampler.draws, PLACEBO_DRAWS),
                                       warmup=min(sampler.warmup_or(PLACEBO_DRAWS), PLACEBO_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        fits = fit_panel_batch([], spec, psampler, seed + 11, prepared=preps)
        rows, lows, highs, labels = [], [], [], []
        for k, f in zip(shifts, fits, strict=True):
            draws = f.effects[..., 0].ravel()
            lo, hi = interval(draws, 0.95, "eti")
            rows.append({"shift (periods before adoption)": k, "mean": float(draws.mean()), "lower": lo, "upper": hi})
            lows.append(lo)
            highs.append(hi)
            labels.append(f"{k} period{'s' if k > 1 else ''} early")
        table = pd.DataFrame(rows).set_index("shift (periods before adoption)")
        check = placebo_rate_check(np.array(lows), np.array(highs), labels, name,
                                   "placebo adoption dates in the pre-period")
        if check.passed is False:
            check = dataclasses.replace(check, message=check.message + (
                " Before their adoption the treated units already move differently from the others (pre-trends, "
                "anticipation) or the intervals are too narrow (serially correlated errors: try errors='ar1')."))
        return check, table

    def _randomization(self, frame: PanelFrame, design, fit, spec, sampler, seed):
        """Adoption dates permuted across units; the effect's conditional posterior at the fitted scales."""
        name = "randomization inference"
        if frame.treatment is None or not self.absorbing:
            return skipped(name, "needs a treatment that stays on once adopted (absorbing=True)"), None
        phi = {k: float(np.mean(v)) for k, v in fit.phi_std.items()}
        main = fit.prep
        obs_mean, _ = conditional_effects([main], phi)
        observed = float(obs_mean[0, 0])
        # the fitted effect removed: permuted data have none (the offset is a fixed column, reduced once)
        with_offset = dataclasses.replace(design, offset=observed * design.effects[:, 0])
        base = prepare(with_offset, spec)
        rng = np.random.default_rng(seed + 23)
        null, cal_mean, cal_sd = [], [], []
        for _ in range(self.permutations):  # one permutation at a time: memory stays at one extra column
            perm = rng.permutation(frame.adoption)
            D = _math.adoption_column(frame.unit, frame.time, perm)
            try:
                prep = prepare(with_offset.with_effects(D[:, None]), spec, base)
            except DataError:
                continue
            m, _ = conditional_effects([prep], phi, plain=True)
            c, s = conditional_effects([prep], phi)
            null.append(m[0, 0])
            cal_mean.append(c[0, 0])
            cal_sd.append(s[0, 0])
        if not null:
            return skipped(name, "no permutation of the adoption dates gave an identified effect"), None
        null, cal_mean, cal_sd = np.array(null), np.array(cal_mean), np.array(cal_sd)
        check = randomization_check(observed, null, cal_mean - 1.96 * cal_sd, cal_mean + 1.96 * cal_sd, name,
                                    "permuted-adoption fits")
        message = check.message.replace(
            " The method finds effects where none exists on these units, so its estimate for the treated unit is not "
            "reliable: look for shocks shared by some units, or a donor pool that cannot reproduce the units' paths.",
            " The intervals are too narrow for this panel (serially correlated errors: try errors='ar1'; or "
            "shocks shared by groups of units).")
        check = dataclasses.replace(check, message=message + (
            " Each permutation gives the units' adoption dates to other units at random (Fisher 1935); the p-value "
            "compares the effect's posterior mean at the fitted scales with its permutation distribution (the sharp "
            "null of no effect), and the interval rule is applied to the outcome with the fitted effect removed, "
            "where every permutation's true effect is zero."))
        p = float((1 + np.sum(np.abs(null) >= abs(observed))) / (1 + null.size))
        return check, {"statistic": observed, "p_value": p, "null": null, "permutations": int(null.size)}

    # -- result ------------------------------------------------------------------------------------------------
    def _result(self, frame: PanelFrame, fit, checks, y_rep, rows, placebo_table, randomization, sampler,
                seed, heterogeneity=None) -> PanelResult:
        chains, n = fit.effects.shape[:2]
        base = {"chain": np.arange(chains), "draw": np.arange(n)}
        has_t = frame.treatment is not None
        effect_name = frame.treatment_name if has_t else frame.covariates[0]
        covs = list(fit.control_names)
        effect = xr.DataArray(fit.effects[..., 0], dims=("chain", "draw"), coords=base, name="effect")
        coefs = xr.DataArray(fit.beta, dims=("chain", "draw", "covariate"),
                             coords={**base, "covariate": covs}, name="coefficients") if covs else None
        time_fx = None
        if fit.time_effects is not None:
            time_fx = xr.DataArray(fit.time_effects, dims=("chain", "draw", "time"),
                                   coords={**base, "time": [str(v) for v in frame.time_labels]}, name="time_effects")
        posterior = {"effect": fit.effects[..., 0], **{k: v for k, v in fit.hyper.items()}}
        dims, coords = {}, {}
        if covs:
            posterior["coefficients"] = fit.beta
            dims["coefficients"] = ["covariate"]
            coords["covariate"] = covs
        if time_fx is not None:
            posterior["time_effects"] = fit.time_effects
            dims["time_effects"] = ["time"]
            coords["time"] = [str(v) for v in frame.time_labels]
        if fit.intercept is not None:
            posterior["intercept"] = fit.intercept
        keep = slice(0, min(STORED_PREDICTIVE_ROWS, len(rows)))
        obs_rows = frame.order[rows[keep]]
        dims["outcome"] = ["pp_row"]
        coords["pp_row"] = obs_rows
        idata = to_inference_data(
            posterior, posterior_predictive={"outcome": y_rep[None, :, keep]},
            observed_data={"outcome": observed_outcome(fit, rows[keep])}, sample_stats={"diverging": fit.diverging},
            coords=coords, dims=dims,
            attrs={"method": "PanelFE", "outcome": frame.outcome, "treatment": effect_name, "model": self._describe()})
        info = {"sampler": f"NUTS on the scales ({fit.info['chain_method']} chains), coefficients drawn exactly",
                "chains": sampler.chains, "draws": sampler.draws, "warmup": fit.info["warmup"], "seed": seed,
                "seconds": fit.info["seconds"], "rows": len(frame.y), "units": frame.n_units,
                "periods": frame.n_times}
        if frame.singletons:
            info["singleton_units_dropped"] = len(frame.singletons)
        if heterogeneity is not None:  # the effect-heterogeneity check's numbers (_heterogeneity.py)
            info["heterogeneity"] = heterogeneity
        estimand = (f"effect of {effect_name} on {frame.outcome} (one coefficient for every treated unit-period, "
                    f"unit and time effects removed)" if has_t else
                    f"effect of a unit of {effect_name} on {frame.outcome} (unit and time effects removed)")
        return PanelResult(
            estimand=estimand, effect=effect, idata=idata, checks=checks, method="Bayesian panel (PanelFE)", info=info,
            coefficients=coefs, time_effects=time_fx, scales=dict(fit.hyper), effect_mean=float(fit.effects_mean[0]),
            outcome=frame.outcome, unit=frame.unit_name, time=frame.time_name, treatment=effect_name,
            covariates=tuple(covs), spec=self._describe(), n_rows=len(frame.y), n_units=frame.n_units,
            n_times=frame.n_times, balanced=frame.balanced, placebos=placebo_table, randomization=randomization)


def _design(frame: PanelFrame):
    """The treatment as the effect column, or without one the first covariate."""
    if frame.treatment is not None:
        design = frame.design()
    else:
        design = frame.design(frame.X[:, :1], frame.covariates[:1])
        design = dataclasses.replace(design, controls=frame.X[:, 1:], control_names=frame.covariates[1:])
    return dataclasses.replace(design, time_labels=list(frame.time_labels))
