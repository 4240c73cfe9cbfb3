"""``CEM``: coarsened exact matching with a Bayesian hierarchical outcome model over the strata.

Coarsened exact matching (Iacus, King & Porro 2012, Political Analysis 20(1):1-24) coarsens each covariate into
bins, matches units exactly on the bins (one stratum per combination), drops the strata that lack treated or
control units, and weights the rest so that both groups have the same distribution over strata. The outcome is
then compared within strata by a hierarchical model whose strata effects are partially pooled (``cem_model.py``),
fitted from per-stratum sufficient statistics: after one pass over the rows, its cost grows with the number of
strata, not of rows.

Checks run by ``fit``: convergence; posterior predictive (the strata's treated-minus-control differences inside
their predictive intervals); overlap (enough of the estimand's units matched); balance (weighted |SMD| < 0.1 on
every covariate); within-stratum confounding (the covariates' imbalance left inside the bins, weighed by a model of
how the outcome moves with them there, must not bias the estimate by half a posterior sd beyond chance:
``_cem_checks.py``); and, with ``checks="full"``, three refits batched into one NUTS run per outcome family: A/A
placebos (the matched controls split at random into fake groups), randomization inference (the treatment permuted
within strata) and, when named, a negative-control outcome (a pre-treatment outcome the treatment cannot have
changed).

This module and ``cem_match.py`` (coarsening, strata, weights, L1 and balance from the covariate frame) are the
only layers of CEM that see pandas: the arithmetic is in ``_cem_math.py`` (rows to strata) and ``_cem_strata.py``
(strata data sets and posterior draws), both NumPy, and the models in ``cem_model.py`` (JAX).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import (
    convergence_check,
    interval_coverage_check,
    normalise_level,
    placebo_rate_check,
    randomization_check,
)
from ..checks.base import CheckResult, skipped
from ..errors import DataError, SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc, to_inference_data
from ..sensitivity import outcome_sentence, sensitivity_sentence
from ..sensitivity.figure import regression_benchmarks
from . import _cem_checks as cc
from . import _cem_math as cm
from ._balance import SMD_THRESHOLD
from ._cem_strata import data_from_stats, effect_draws, predictive, stack, strata_data
from ._data import UnitTable, negative_control_column, prepare_units
from .cem_match import Matching, _normalise_coarsening, balance_table, match
from .cem_model import CEMPriors, bernoulli_model, gaussian_model
from .cem_result import CEMResult, refit_table
from .cem_strata_table import prepare_strata, standardised_stats

NUTS_WARMUP = 1000
REFIT_DRAWS = 500  # draws (and at most this many warm-up steps) per chain for the batched refits
PREDICTIVE_DRAWS = 200  # posterior draws replicated for the predictive check (fewer with very many strata)
PREDICTIVE_ELEMENTS = 2_000_000  # cap on draws x strata replicated, which bounds the predictive's memory
MIN_MATCHED_SHARE = 0.5
PLACEBO_SHARE = 0.5  # chance that a matched control becomes "treated" in an A/A split
FAMILIES = ("auto", "gaussian", "bernoulli")
# The Bernoulli strata model's step-size target: its strata log-odds and effects are partially pooled through
# scales (sigma_a, sigma_tau) that strata of a few units barely inform, a funnel where NUTS at the usual 0.8 left
# 1 and 13 divergent transitions in 2 x 1000 draws (3,000 units, seeds 0 and 1; tests/crosssection) and 0.9 none.
BERNOULLI_TARGET_ACCEPT = 0.9


@dataclass
class _Outcome:
    """One outcome on the model's scale: ``y`` (standardised for a Gaussian outcome), its family, and the scale
    that maps model effects back to the outcome's units."""

    name: str
    y: np.ndarray
    family: str
    mean: float
    scale: float


def _outcome(name: str, y: np.ndarray, family: str) -> _Outcome:
    if family == "bernoulli":
        return _Outcome(name, y, family, 0.0, 1.0)
    sd = float(y.std())
    if not sd > 0:
        raise DataError(f"outcome column {name!r} is constant ({y[0]!r} in every row): there is nothing to compare.")
    mean = float(y.mean())
    return _Outcome(name, (y - mean) / sd, family, mean, sd)


@dataclass
class _Names:
    """What a result says about its data: the outcome's, treatment's and covariates' names and the number of rows."""

    outcome: str
    treatment: str
    covariates: tuple
    rows: int


# -- the estimator ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CEM:
    """Coarsened exact matching with a Bayesian hierarchical outcome model over strata.

    Parameters
    ----------
    coarsening : ``"auto"`` or a dict ``{column: rule}``; columns left out follow ``"auto"``. A rule is
        ``"auto"`` (numeric: equal-frequency bins, as many as keep about ten units per cell, at most Sturges'
        number; categorical: exact), ``"exact"``, a number of equal-frequency bins, a list of increasing
        cutpoints (bins closed on the right: ``x <= c1``, ``c1 < x <= c2``, ...), or, for a categorical column,
        a list of groups of categories matched as one.
    priors : :class:`CEMPriors` or a dict of overrides by name.
    family : ``"auto"`` (Bernoulli when the outcome is 0/1, else Gaussian), ``"gaussian"`` or ``"bernoulli"``.
    placebo_splits : A/A placebo fits (the matched controls split at random into two groups).
    permutations : fits with the treatment permuted within strata, for randomization inference.
    min_matched_share : the overlap check fails when fewer of the estimand's units than this share are matched
        (0.5: an estimate on fewer than half of the treated describes a subgroup picked by the data, not them).
    """

    coarsening: object = "auto"
    priors: object = None
    family: str = "auto"
    placebo_splits: int = 5
    permutations: int = 20
    min_matched_share: float = MIN_MATCHED_SHARE

    def __post_init__(self):
        object.__setattr__(self, "coarsening", _normalise_coarsening(self.coarsening))
        object.__setattr__(self, "priors", CEMPriors.from_overrides(self.priors))
        if self.family not in FAMILIES:
            raise SpecError(f"family={self.family!r}: use 'auto', 'gaussian' or 'bernoulli'.")
        for name in ("placebo_splits", "permutations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"{name}={v!r}: give a positive integer.")
        s = self.min_matched_share
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 1.0:
            raise SpecError(f"min_matched_share={s!r}: give a share between 0 and 1.")

    # -- fit --------------------------------------------------------------------------------------------------
    def fit(self, df, treatment: str, outcome: str, covariates, estimand: str = "ATT", negative_control=None,
            sampler: Sampler | None = None, seed: int = 0, checks="full") -> CEMResult:
        """Match on the coarsened ``covariates`` and estimate the effect of ``treatment`` (0/1) on ``outcome``.

        ``estimand``: ``"ATT"`` (effect on the treated; default), ``"ATC"`` (on the controls) or ``"ATE"`` (on all
        matched units). ``negative_control``: a pre-treatment outcome column (e.g. last year's spend), analysed
        the same way; its interval must contain zero. ``checks="full"`` runs every check, including the batched
        refits; ``"fast"`` skips the refits; ``False`` skips all. The data frame is not modified.
        """
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "CEM")
        if estimand not in cm.ESTIMANDS:
            raise SpecError(f"estimand={estimand!r}: use 'ATT' (effect on the treated), 'ATC' (on the controls) or "
                            "'ATE' (on all matched units).")
        units = prepare_units(df, treatment, outcome, covariates)
        family = self._family(units)
        out = _outcome(outcome, units.y, family)
        nc = self._negative_control(df, negative_control, units) if level == "full" else None
        m = match(units, self.coarsening, estimand)

        start = time.perf_counter()
        main = strata_data(m.stratum, units.t, out.y, m.n_strata, estimand, family)
        aggregation_seconds = time.perf_counter() - start
        start = time.perf_counter()
        inputs, post = stack([main], family)
        draws = self._sample(family, inputs, sampler, seed)
        rng = np.random.default_rng(seed + 1)
        eff_std, s_mean, s_sd = effect_draws(family, inputs, post, draws.samples, rng)
        effect_values = eff_std[..., 0] * out.scale
        fit_seconds = time.perf_counter() - start

        start = time.perf_counter()
        check_list: list[CheckResult] = []
        n_pp = int(min(PREDICTIVE_DRAWS, max(20, PREDICTIVE_ELEMENTS // len(main["weight"]))))
        rep_c, rep_t = predictive(family, main, draws.samples, np.random.default_rng(seed + 2), n_pp)
        balance = balance_table(units.covariates, units.t, m.unit_w)
        if level in ("full", "fast"):
            check_list.append(convergence_check(self._convergence_draws(draws.samples, effect_values),
                                                draws.sample_stats.get("diverging")))
            check_list.append(_predictive_check(main, rep_c, rep_t))
            check_list.append(self._overlap_check(m, units, estimand))
            check_list.append(_balance_check(balance))
            check_list.append(_within_confounding_check(m, units, estimand, effect_values, seed))
        refits = {}
        if level == "full":
            refits = self._refits(m, units, out, nc, estimand, sampler, seed)
            pl = refits["placebos"]
            if pl is None:
                check_list.append(CheckResult("placebo (A/A)", None, None, None,
                                              "not run: no split of the controls held both fake groups"))
            else:
                check_list.append(placebo_rate_check(
                    pl["lower"], pl["upper"], list(pl.index), "placebo (A/A)",
                    "A/A fits (matched controls split at random into fake treated and control groups)",
                    note=refits["note"].strip()))
            perm = refits["permutations"]
            ri = randomization_check(float(effect_values.mean()), perm["effect_mean"], perm["lower"], perm["upper"],
                                     what="fits with the treatment permuted within strata")
            check_list.append(dataclasses.replace(ri, message=ri.message + refits["note"]))
            if nc is not None:
                check_list.append(_negative_control_check(refits["negative_control"]))
        check_seconds = time.perf_counter() - start

        return self._result(units, out, m, main, draws, effect_values, eff_std[..., 0], s_mean[0], s_sd[0],
                            rep_c, rep_t, balance, check_list, refits, estimand, family, sampler, seed,
                            {"seconds_matching": round(m.seconds, 2),
                             "seconds_aggregation": round(aggregation_seconds, 2), "seconds": round(fit_seconds, 2),
                             "seconds_checks": round(check_seconds, 2)})

    def fit_strata(self, strata, keys, outcome: str = "outcome", treatment: str = "treatment",
                   estimand: str = "ATT", sampler: Sampler | None = None, seed: int = 0, checks="full",
                   covariates=None) -> CEMResult:
        """The same analysis as :meth:`fit` from stratum statistics instead of unit rows.

        ``strata``: one row per stratum (every cell of the coarsened covariates that holds units, kept or not), with
        the ``keys`` columns naming its bin on each covariate and the columns of
        :mod:`~bayescausal.crosssection.cem_strata_table`: ``n_treated``, ``n_control``, ``sum_treated``,
        ``sum_control`` and, for a numeric outcome, ``sumsq_*`` or ``ss_*``. The strata are taken as given, so
        ``coarsening`` does not apply (coarsen where the statistics are computed). ``outcome``, ``treatment``,
        ``covariates`` (default: the keys): names for the report. The outcome model, the estimand, the strata's
        weights and the posterior are those of :meth:`fit` on rows with the same strata (the model sees the same
        sufficient statistics).

        Checks: convergence, posterior predictive (on the strata's differences in means) and overlap run as in
        :meth:`fit`. Balance, within-stratum confounding, the A/A placebos and randomization inference need unit
        rows (covariate values, and outcomes to split or permute within strata) and are reported as not run
        (``passed=None``), so
        ``trustworthy`` is False; fit the rows with :meth:`fit` for a verdict."""
        level = normalise_level(checks)
        sampler = nuts_sampler(sampler, "CEM")
        if estimand not in cm.ESTIMANDS:
            raise SpecError(f"estimand={estimand!r}: use 'ATT' (effect on the treated), 'ATC' (on the controls) or "
                            "'ATE' (on all matched units).")
        start = time.perf_counter()
        st = prepare_strata(strata, keys)
        binary = st.binary_outcome
        if self.family == "bernoulli" and not binary:
            raise DataError("family='bernoulli' needs a 0/1 outcome, but the strata's sums (and squares) are not "
                            "those of 0/1 values; use family='gaussian'.")
        family = self.family if self.family != "auto" else ("bernoulli" if binary else "gaussian")
        stats, mean, sd = standardised_stats(st, family, outcome)
        out = _Outcome(outcome, np.empty(0), family, mean, sd)
        kept = cm.kept_strata(st.n_t, st.n_c)
        if not kept.any():
            raise DataError(f"no overlap at all: none of the {st.n_strata:,} strata holds both treated and control "
                            "units, so no unit can be matched. Coarsen more (fewer bins) or drop covariates.")
        w_t, w_c = cm.cem_weights(st.n_t, st.n_c, kept, estimand)
        m = Matching(st.columns, st.codes, np.arange(st.n_strata), np.arange(st.n_strata),
                     st.n_t.astype(np.int64), st.n_c.astype(np.int64), kept, w_t, w_c, np.empty(0), float("nan"),
                     float("nan"), time.perf_counter() - start)
        main = data_from_stats(stats, estimand)
        start = time.perf_counter()
        inputs, post = stack([main], family)
        draws = self._sample(family, inputs, sampler, seed)
        eff_std, s_mean, s_sd = effect_draws(family, inputs, post, draws.samples, np.random.default_rng(seed + 1))
        effect_values = eff_std[..., 0] * out.scale
        fit_seconds = time.perf_counter() - start

        start = time.perf_counter()
        n_pp = int(min(PREDICTIVE_DRAWS, max(20, PREDICTIVE_ELEMENTS // len(main["weight"]))))
        rep_c, rep_t = predictive(family, main, draws.samples, np.random.default_rng(seed + 2), n_pp)
        why = "fitted from stratum statistics (fit_strata), and this check needs unit rows"
        check_list: list[CheckResult] = []
        if level in ("full", "fast"):
            check_list += [convergence_check(self._convergence_draws(draws.samples, effect_values),
                                             draws.sample_stats.get("diverging")),
                           _predictive_check(main, rep_c, rep_t),
                           self._overlap_check(m, None, estimand),
                           skipped("balance", f"{why} (each covariate's values, to weigh them with the CEM weights)"),
                           skipped("within-stratum confounding",
                                   f"{why} (the covariates' values and outcomes within strata, to fit a model of the "
                                   "outcome within the bins)")]
        if level == "full":
            check_list += [skipped("placebo (A/A)",
                                   f"{why} (the matched controls' outcomes, to split them into fake groups)"),
                           skipped("randomization inference",
                                   f"{why} (the outcomes, to permute the treatment within strata)")]
        check_seconds = time.perf_counter() - start
        names = _Names(outcome, treatment, tuple(covariates) if covariates is not None else tuple(
            c.name for c in st.columns), st.rows)
        if family == "bernoulli":
            base = float(st.sum_c.sum() / st.n_c.sum())
            text = sensitivity_sentence(effect_values, "difference", baseline=base) if 0.0 < base < 1.0 else ""
        else:
            text = sensitivity_sentence(effect_values, "difference", sd=sd * np.sqrt(st.rows / max(st.rows - 1, 1)))
        return self._assemble(names, out, m, main, draws, effect_values, eff_std[..., 0], s_mean[0], s_sd[0],
                              rep_c, rep_t, None, check_list, {}, estimand, family, sampler, seed,
                              {"input": "stratum statistics (fit_strata)", "seconds_matching": round(m.seconds, 2),
                               "seconds": round(fit_seconds, 2), "seconds_checks": round(check_seconds, 2)},
                              imbalance=None,
                              unit_fields={"weights": None, "stratum": None, "sensitivity_text": text,
                                           "confounding_benchmarks": None})

    # -- pieces of fit ------------------------------------------------------------------------------------------
    def _family(self, units: UnitTable) -> str:
        binary = units.binary_outcome
        if self.family == "bernoulli" and not binary:
            raise DataError(f"family='bernoulli' needs a 0/1 outcome, but {units.outcome!r} takes other values "
                            f"(e.g. {units.y[~np.isin(units.y, (0.0, 1.0))][0]!r}); use family='gaussian'.")
        if self.family == "auto":
            return "bernoulli" if binary else "gaussian"
        return self.family

    def _negative_control(self, df, name, units: UnitTable) -> _Outcome | None:
        if name is None:
            return None
        y = negative_control_column(df, units, name)
        family = "bernoulli" if np.all(np.isin(y, (0.0, 1.0))) else "gaussian"
        return _outcome(name, y, family)

    def _sample(self, family: str, inputs, sampler: Sampler, seed: int):
        """NUTS on the strata data (parallel chains by default).

        ``jit_model_args`` only pays with sequential or vectorised chains: NumPyro's parallel chains bind the data
        into the compiled program as constants, so each data set compiles its own (about 12 s here). Sequential
        chains reuse one program for new data of the same shape in a session (two 3,000-unit fits: 24 s + 4.5 s,
        against 22 s + 20 s in parallel), but run NUTS's set-up op by op, about 190 small compilations that the
        on-disk cache does not keep, so a single fit in a fresh session is no faster; parallel stays the default.

        The Bernoulli model runs at a target acceptance of at least ``BERNOULLI_TARGET_ACCEPT`` (smaller steps
        through its pooling funnel); a higher one set in the sampler is kept."""
        if family != "gaussian" and sampler.target_accept < BERNOULLI_TARGET_ACCEPT:
            sampler = dataclasses.replace(sampler, target_accept=BERNOULLI_TARGET_ACCEPT)
        model = functools.partial(gaussian_model if family == "gaussian" else bernoulli_model, priors=self.priors)
        return run_mcmc(model, sampler, seed, (inputs,), kernel_name="NUTS", jit_model_args=True)

    @staticmethod
    def _convergence_draws(samples: dict, effect_values: np.ndarray) -> dict:
        names = ("tau", "gamma", "tau_sd", "sigma", "baseline", "baseline_sd", "baseline_slope")
        out = {k: np.asarray(samples[k])[:, :, 0] for k in names if k in samples}
        out["effect"] = effect_values
        return out

    def _overlap_check(self, m: Matching, units: UnitTable | None, estimand: str) -> CheckResult:
        group = {"ATT": "treated units", "ATC": "controls", "ATE": "units"}[estimand]
        n_t, n_c, kept = m.n_t, m.n_c, m.kept
        total = {"ATT": n_t.sum(), "ATC": n_c.sum(), "ATE": n_t.sum() + n_c.sum()}[estimand]
        matched = {"ATT": n_t[kept].sum(), "ATC": n_c[kept].sum(), "ATE": (n_t + n_c)[kept].sum()}[estimand]
        share = float(matched / total)
        passed = share >= self.min_matched_share
        msg = (f"{int(matched):,} of {int(total):,} {group} ({share:.1%}) fall in the {int(kept.sum()):,} strata "
               f"with both groups; {int(n_t[~kept].sum()):,} treated and {int(n_c[~kept].sum()):,} control units "
               f"in {int((~kept).sum()):,} strata without the other group were dropped.")
        if not passed:
            msg += (f" Fewer than {self.min_matched_share:.0%} of the {group} could be matched, so the estimate "
                    "describes a subgroup chosen by where the groups overlap, not all of them. Coarsen more (fewer "
                    "bins, e.g. coarsening={'age': 3}), drop covariates that do not confound, or report the "
                    "estimate as the effect on the matched units only.")
        return CheckResult("overlap", passed, round(share, 4), f"matched share >= {self.min_matched_share:g}", msg)

    def _refits(self, m: Matching, units: UnitTable, out: _Outcome, nc: _Outcome | None, estimand: str,
                sampler: Sampler, seed: int) -> dict:
        """A/A placebos, permutations within strata and the negative control, one batched NUTS run per family."""
        import jax

        matched = m.kept[m.stratum]
        s_m, t_m, y_m = m.stratum[matched], units.t[matched].astype(bool), out.y[matched]
        jobs: list[tuple[str, str, dict, float]] = []  # (kind, label, data set, scale)
        rng = np.random.default_rng(seed + 11)
        ctrl = ~t_m
        for j in range(self.placebo_splits):
            fake = cm.split_controls(int(ctrl.sum()), rng, PLACEBO_SHARE)
            d = strata_data(s_m[ctrl], fake, y_m[ctrl], m.n_strata, estimand, out.family)
            if d is not None:
                jobs.append(("placebo", f"split {j + 1}", d, out.scale))
        rng = np.random.default_rng(seed + 13)
        for j in range(self.permutations):
            t_perm = cm.permute_within_strata(s_m, t_m, rng)
            jobs.append(("permutation", f"permutation {j + 1}", strata_data(s_m, t_perm, y_m, m.n_strata, estimand,
                                                                               out.family), out.scale))
        if nc is not None:
            d = strata_data(m.stratum, units.t, nc.y, m.n_strata, estimand, nc.family)
            jobs.append(("negative_control", nc.name, d, nc.scale))
        rsampler = dataclasses.replace(sampler, draws=min(sampler.draws, REFIT_DRAWS),
                                       warmup=min(sampler.warmup_or(NUTS_WARMUP), REFIT_DRAWS),
                                       chains=max(1, min(sampler.chains, jax.local_device_count())))
        results: dict[str, dict[str, np.ndarray]] = {"placebo": {}, "permutation": {}, "negative_control": {}}
        divergent = 0
        families = {"placebo": out.family, "permutation": out.family,
                    "negative_control": nc.family if nc is not None else out.family}
        for fam in ("gaussian", "bernoulli"):
            batch = [job for job in jobs if families[job[0]] == fam]
            if not batch:
                continue
            inputs, post = stack([job[2] for job in batch], fam)
            draws = self._sample(fam, inputs, rsampler, seed + (12 if fam == "gaussian" else 14))
            divergent += int(np.sum(draws.sample_stats.get("diverging", 0)))
            eff, _, _ = effect_draws(fam, inputs, post, draws.samples, np.random.default_rng(seed + 15))
            for j, (kind, label, _, scale) in enumerate(batch):
                results[kind][label] = eff[..., j] * scale
        note = (f" The batched refits had {divergent} divergent transitions, so their intervals are approximate."
                if divergent else "")

        def table(kind, name):
            if not results[kind]:
                return None
            labels = list(results[kind])
            t = refit_table(np.stack([results[kind][k] for k in labels], -1), labels, "eti", name)
            t.attrs["note"] = note
            return t

        return {"placebos": table("placebo", "placebo"), "permutations": table("permutation", "permutation"),
                "negative_control": table("negative_control", "negative control"), "note": note}

    # -- the result ---------------------------------------------------------------------------------------------
    def _result(self, units, out, m: Matching, main, draws, effect_values, eff_std, s_mean, s_sd, rep_c, rep_t,
                balance, check_list, refits, estimand, family, sampler, seed, timing) -> CEMResult:
        return self._assemble(
            _Names(units.outcome, units.treatment, units.covariate_names, units.n), out, m, main, draws,
            effect_values, eff_std, s_mean, s_sd, rep_c, rep_t, balance, check_list, refits, estimand, family,
            sampler, seed, timing,
            imbalance=pd.DataFrame({"L1": [m.l1_before, m.l1_after]},
                                   index=pd.Index(["before matching", "after matching (CEM weights)"], name="sample")),
            unit_fields={"weights": pd.Series(m.unit_w, index=units.index, name="cem_weight"),
                         "stratum": pd.Series(m.stratum, index=units.index, name="stratum"),
                         "sensitivity_text": outcome_sentence(effect_values, units.y, control=units.t == 0),
                         "confounding_benchmarks": regression_benchmarks(units.y, units.t, units.covariates,
                                                                         treatment=units.treatment)})

    def _assemble(self, names: _Names, out, m: Matching, main, draws, effect_values, eff_std, s_mean, s_sd, rep_c,
                  rep_t, balance, check_list, refits, estimand, family, sampler, seed, timing, imbalance,
                  unit_fields: dict) -> CEMResult:
        """The CEMResult of a fit from rows (``fit``) or from stratum statistics (``fit_strata``): ``unit_fields``
        holds what only rows give (unit weights and strata, the E-value sentence, the regression benchmarks)."""
        chains, n_draws = effect_values.shape
        base = {"chain": np.arange(chains), "draw": np.arange(n_draws)}
        effect = xr.DataArray(effect_values, dims=("chain", "draw"), coords=base, name="effect")
        strata = self._strata_table(m, main, s_mean * out.scale, s_sd * out.scale)
        matching = _matching_table(m)
        coarsening = pd.DataFrame({"kind": [c.kind for c in m.columns], "rule": [c.rule for c in m.columns],
                                   "bins": [c.cardinality for c in m.columns],
                                   "cutpoints or groups": [c.describe() for c in m.columns]},
                                  index=pd.Index([c.name for c in m.columns], name="covariate"))
        idata = self._idata(draws, effect_values, eff_std, main, rep_c, rep_t, out, family)
        perm = refits.get("permutations")
        p_value = float("nan")
        if perm is not None:
            from ..checks import permutation_p_value

            p_value = permutation_p_value(float(effect_values.mean()), perm["effect_mean"].to_numpy())
        nc_table = refits.get("negative_control")
        group = {"ATT": "treated", "ATC": "controls", "ATE": "matched units"}[estimand]
        scale_words = (f"difference in the probability that {names.outcome} = 1" if family == "bernoulli"
                       else f"in units of {names.outcome}")
        info = {"sampler": f"NUTS ({draws.chain_method} chains)", "chains": sampler.chains, "draws": sampler.draws,
                "warmup": sampler.warmup_or(NUTS_WARMUP), "seed": seed, "rows": names.rows, "strata": m.n_strata,
                "kept strata": int(m.kept.sum()), "estimand": estimand, "family": family, **timing}
        return CEMResult(
            estimand=(f"average effect of {names.treatment} on {names.outcome} on the {group} ({estimand}, "
                      f"{scale_words}), over the matched strata"),
            effect=effect, idata=idata, checks=tuple(check_list), method="Coarsened exact matching", info=info,
            outcome=names.outcome, treatment=names.treatment, covariates=tuple(names.covariates),
            estimand_code=estimand, family=family, coarsening=coarsening, strata=strata, matching=matching,
            balance=balance, imbalance=imbalance, placebos=refits.get("placebos"),
            permutations=perm, randomization_p=p_value, negative_control=nc_table, **unit_fields,
        )

    @staticmethod
    def _strata_table(m: Matching, main: dict, s_mean: np.ndarray, s_sd: np.ndarray) -> pd.DataFrame:
        cols = {}
        for col, code in zip(m.columns, m.codes, strict=True):
            cols[col.name] = pd.Categorical.from_codes(code[m.first].astype(np.int64), categories=list(col.labels))
        table = pd.DataFrame(cols, index=pd.RangeIndex(m.n_strata, name="stratum"))
        table["n_treated"] = m.n_t
        table["n_control"] = m.n_c
        table["kept"] = m.kept
        table["reason"] = np.where(m.kept, "kept", np.where(m.n_c == 0, "no controls", "no treated"))
        table["weight_treated"] = m.w_t
        table["weight_control"] = m.w_c
        ew = np.zeros(m.n_strata)
        ew[main["index"]] = main["weight"]
        table["estimand_weight"] = ew
        em, es = np.full(m.n_strata, np.nan), np.full(m.n_strata, np.nan)
        em[main["index"]], es[main["index"]] = s_mean, s_sd
        table["effect_mean"] = em
        table["effect_sd"] = es
        return table

    def _idata(self, draws, effect_values, eff_std, main, rep_c, rep_t, out: _Outcome, family: str):
        smp = {k: np.asarray(v)[:, :, 0] for k, v in draws.samples.items()}
        posterior = {"effect": effect_values, "effect_std": eff_std, **smp}
        coords = {"group": ["control", "treated"], "stratum": main["index"]}
        dims = {"sigma": ["group"], "z_baseline": ["stratum"], "z_effect": ["stratum"], "control_mean": ["stratum"],
                "treated_mean": ["stratum"], "n_control": ["stratum"], "n_treated": ["stratum"],
                "estimand_weight": ["stratum"], "propensity_score": ["stratum"]}
        if family == "gaussian":
            obs_c, obs_t = main["mean_c"], main["mean_t"]
        else:
            obs_c, obs_t = main["k_c"] / main["n_c"], main["k_t"] / main["n_t"]

        def scale(a):
            return out.mean + out.scale * a

        return to_inference_data(
            posterior,
            posterior_predictive={"control_mean": scale(rep_c), "treated_mean": scale(rep_t)},
            observed_data={"control_mean": scale(obs_c), "treated_mean": scale(obs_t)},
            constant_data={"n_control": main["n_c"], "n_treated": main["n_t"], "estimand_weight": main["weight"],
                           "propensity_score": main["score"]},
            sample_stats={"diverging": draws.sample_stats["diverging"]},
            coords=coords, dims=dims,
            attrs={"method": "CEM", "outcome": out.name, "family": family,
                   "sampling_seconds": round(draws.wall_seconds, 2)},
        )


def _matching_table(m: Matching) -> pd.DataFrame:
    """Strata and units kept and dropped, by reason, with totals."""
    reasons = np.where(m.kept, "kept", np.where(m.n_c == 0, "no controls", "no treated"))
    rows = {}
    for r in ("kept", "no controls", "no treated"):
        sel = reasons == r
        rows[r] = {"strata": int(sel.sum()), "treated": int(m.n_t[sel].sum()), "control": int(m.n_c[sel].sum())}
    rows["total"] = {"strata": m.n_strata, "treated": int(m.n_t.sum()), "control": int(m.n_c.sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["units"] = table["treated"] + table["control"]
    table.index.name = "strata"
    return table


def _predictive_check(main: dict, rep_c: np.ndarray, rep_t: np.ndarray) -> CheckResult:
    """The strata's treated-minus-control differences inside their 95% posterior predictive intervals."""
    if "mean_c" in main:
        observed = main["mean_t"] - main["mean_c"]
    else:
        observed = main["k_t"] / main["n_t"] - main["k_c"] / main["n_c"]
    diff = (rep_t - rep_c).reshape(-1, rep_c.shape[-1])
    lo, hi = np.quantile(diff, [0.025, 0.975], axis=0)
    base = interval_coverage_check(observed, lo, hi, 0.95, "posterior predictive", "strata")
    n = len(observed)
    msg = (f"{base.statistic:.1%} of the {n:,} strata's treated-minus-control differences fall inside their 95% "
           f"posterior predictive intervals (fails below {base.threshold:.1%}).")
    if not base.passed:
        msg += (" The model's strata effects or noise are too narrow for these data (outliers, heavy tails, or "
                "outcome variances that differ a lot between strata): transform the outcome (e.g. log) or coarsen "
                "differently.")
    return dataclasses.replace(base, message=msg)


def _balance_check(balance: pd.DataFrame) -> CheckResult:
    smd = balance["smd_weighted"].abs()
    worst = float(smd.max())
    bad = smd[smd >= SMD_THRESHOLD]
    passed = bad.empty
    msg = (f"largest |weighted SMD| {worst:.3f} ({smd.idxmax()}); before matching the largest was "
           f"{float(balance['smd_raw'].abs().max()):.3f}.")
    if not passed:
        signed = balance["smd_weighted"]
        first = str(bad.index[0])
        fix = (f"split the groups of {first.split('[')[0]!r} further" if "[" in first
               else f"give it more bins or cutpoints (e.g. coarsening={{{first!r}: 8}})")
        msg += (" Not balanced after matching: " + ", ".join(f"{k} ({signed[k]:.3f})" for k in bad.index)
                + f". The bins are too wide for these covariates: {fix}.")
    return CheckResult("balance", passed, round(worst, 4), f"|weighted SMD| < {SMD_THRESHOLD} on every covariate",
                       msg)


def _within_confounding_check(m: Matching, units: UnitTable, estimand: str, effect_values: np.ndarray,
                              seed: int) -> CheckResult:
    """Confounding left within the strata, weighed by the outcome: see ``_cem_checks.py`` (the statistic is the
    prognostic bias ``B`` in posterior sds of the effect)."""
    cols = [(name, units.covariates[name].to_numpy(dtype=float), codes, col.cardinality)
            for name, col, codes in ((c.name, c, k) for c, k in zip(m.columns, m.codes, strict=True))
            if col.kind == "numeric" and col.rule != "exact" and col.cardinality > 0]
    threshold = (f"fails when |bias| >= {cc.MATERIAL_SDS:g} posterior sd of the effect and >= {cc.CHANCE_Z:g} sd "
                 "of its randomization distribution")
    if not cols:
        return CheckResult("within-stratum confounding", True, 0.0, threshold,
                           "every covariate is matched exactly (categories or exact values), so none varies within "
                           "a stratum and none can confound within one.")
    bias, sd_random, parts = cc.prognostic_bias([c[1:] for c in cols], units.y, units.t, m.stratum, m.n_t, m.n_c,
                                                m.kept, estimand, np.random.default_rng(seed + 17))
    sd_post = float(effect_values.std())
    passed = cc.verdict(bias, sd_random, sd_post)
    ratio = bias / sd_post if sd_post > 0 else 0.0
    worst = int(np.argmax(np.abs(parts)))
    msg = (f"the covariates' imbalance left within the strata, weighed by how the outcome moves with each within its "
           f"bins (a model fitted on the matched controls), accounts for {bias:+.4g} of the estimate: "
           f"{ratio:+.2f} posterior sds of the effect, {bias / sd_random if sd_random > 0 else 0.0:+.1f} sds of "
           f"what chance imbalance within strata would give; largest part from {cols[worst][0]!r} "
           f"({parts[worst]:+.4g}).")
    if not passed:
        name = cols[worst][0]
        msg += (f" The bins are too wide for the confounding: within them the treated still differ from the "
                f"controls on covariates that move the outcome, so the estimate is biased by about {bias:+.4g} "
                f"(corrected, about {float(effect_values.mean()) - bias:.4g}). Give the covariates that matter more "
                f"bins (e.g. coarsening={{{name!r}: {2 * cols[worst][3]}}}), match on fewer covariates, or use a "
                "doubly robust estimator (AIPW) that models the outcome within the covariates' range.")
    return CheckResult("within-stratum confounding", passed, round(ratio, 4), threshold, msg)


def _negative_control_check(table: pd.DataFrame) -> CheckResult:
    r = table.iloc[0]
    lo, hi = float(r["lower"]), float(r["upper"])
    passed = lo <= 0.0 <= hi
    name = table.index[0]
    msg = (f"effect on the pre-treatment outcome {name!r}: {r['effect_mean']:.4g} (95% interval {lo:.4g} to "
           f"{hi:.4g}).")
    if not passed:
        msg += (" The treatment 'affects' an outcome measured before it, so the matched groups still differ in "
                "something that drives the outcome: confounding remains (an unmeasured confounder, or bins too wide).")
    msg += table.attrs.get("note", "")
    return CheckResult("negative-control outcome", passed, round(float(r["effect_mean"]), 6),
                       "95% interval contains 0", msg)

