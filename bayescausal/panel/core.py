"""The panel core: fit "a Gaussian two-way panel with these K effect columns" from sufficient statistics.

:func:`fit_panel_design` is what :class:`~bayescausal.panel.PanelFE` (K = 1: the treatment) and the event study
(K event-time or cohort-by-event-time columns) both call. The rows are reduced once to cross-products
(``_math.py``), the scale parameters are sampled by NUTS from their exact marginal posterior and the
coefficients drawn exactly from their Gaussian conditional (``model.py``), so the cost after the reduction is
independent of the number of rows and units. :func:`fit_panel_batch` runs several designs (placebo dates,
permuted treatments) in one batched NUTS run; :func:`conditional_effects` gives the effects' conditional posterior
at fixed scale parameters for many designs at once (randomization inference). The checks every panel fit shares
(convergence, posterior predictive, serial correlation of the residuals) are here too.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..checks import convergence_check, interval_coverage_check
from ..checks.base import CheckResult
from ..errors import DataError, SpecError
from ..inference import Sampler, nuts_sampler, run_mcmc
from . import _math
from ._indicator import Indicators, as_dense, indicator_unit_means
from .model import ModelConfig, PanelInputs, Spectrum, conditional_numpy, panel_model, spectral_statistics
from .priors import PanelPriors, gaussian_moments

NUTS_WARMUP = 500  # 1-4 smooth scale parameters started near the posterior (_init_params): 500 steps adapt fully
PREDICTIVE_ROWS = 5000
PREDICTIVE_DRAWS = 400
PREDICTIVE_LEVEL = 0.9
SERIAL_MAX = 0.1  # residual lag-1 autocorrelation above which iid-error intervals are materially too narrow
COLLINEAR_TOL = 1e-9


@dataclass(frozen=True)
class PanelSpec:
    """What panel model to fit.

    unit_effects : ``"fixed"`` (flat prior: integrated out, the within estimator) or ``"hierarchical"``
        (``a_i ~ N(mu, sd_unit^2)``, partially pooled).
    time_effects : ``"fixed"`` (one per period, flat prior, the first period the reference), ``"hierarchical"``
        (``g_t ~ N(0, sd_time^2)``) or None.
    errors : ``"iid"`` or ``"ar1"`` (``e_it = rho e_i,t-1 + u_it`` within unit).
    mundlak : add the unit means of the covariates and effect columns as between regressors (hierarchical unit
        effects only: correlated random effects, Mundlak 1978).
    priors : :class:`PanelPriors` or a dict of overrides by name.
    """

    unit_effects: str = "fixed"
    time_effects: str | None = "fixed"
    errors: str = "iid"
    mundlak: bool = False
    priors: object = None

    def __post_init__(self):
        if self.unit_effects not in ("fixed", "hierarchical"):
            raise SpecError(f"unit_effects={self.unit_effects!r}: use 'fixed' (within estimator) or 'hierarchical' "
                            "(partially pooled unit effects).")
        if self.time_effects not in ("fixed", "hierarchical", None):
            raise SpecError(f"time_effects={self.time_effects!r}: use 'fixed', 'hierarchical' or None.")
        if self.errors not in ("iid", "ar1"):
            raise SpecError(f"errors={self.errors!r}: use 'iid' or 'ar1' (serially correlated within unit).")
        if not isinstance(self.mundlak, bool):
            raise SpecError(f"mundlak={self.mundlak!r}: give True or False.")
        if self.mundlak and self.unit_effects != "hierarchical":
            raise SpecError("mundlak=True adds unit means as between regressors, which only hierarchical unit effects "
                            "use; fixed unit effects already remove everything constant within a unit. Use "
                            "unit_effects='hierarchical' with it, or drop mundlak.")
        object.__setattr__(self, "priors", PanelPriors.from_overrides(self.priors))

    @property
    def hierarchical(self) -> bool:
        return self.unit_effects == "hierarchical"


def _as_float(a, shape: tuple) -> np.ndarray:
    """``a`` as a float array of ``shape``, the same object when it already is one (designs made with
    ``with_effects`` share their row arrays by identity, which is how ``prepare`` knows it may reuse them)."""
    out = np.asarray(a, float)
    if out.ndim != len(shape) or (shape[-1] != -1 and out.shape != shape) or out.shape[0] != shape[0]:
        out = out.reshape(shape)
    return out


@dataclass(frozen=True, eq=False)
class PanelDesign:
    """One panel's rows: outcome ``y`` (N,), integer ``unit`` and ``time`` codes (N,) (``time + 1`` is the next
    period), ``effects`` (N, K) the columns whose coefficients are the effects (a dense array, or
    :class:`~bayescausal.panel._indicator.Indicators` for one-hot cells, reduced without a rows x K matrix),
    ``controls`` (N, p) covariates.
    Rows may come in any order. ``time_labels`` names the periods in messages (default: the codes). ``offset``
    (N,): a known part of the outcome, subtracted from it before fitting (randomization inference fits
    ``y - tau_hat D`` so that permuted data have no effect)."""

    y: np.ndarray
    unit: np.ndarray
    time: np.ndarray
    n_units: int
    n_times: int
    effects: np.ndarray
    controls: np.ndarray
    effect_names: tuple = ()
    control_names: tuple = ()
    time_labels: object = None
    offset: np.ndarray | None = None

    def __post_init__(self):
        N = len(self.y)
        if self.offset is not None:
            object.__setattr__(self, "offset", _as_float(self.offset, (N,)))
        for name in ("unit", "time"):
            if len(getattr(self, name)) != N:
                raise DataError(f"PanelDesign.{name} has {len(getattr(self, name))} rows, y has {N}.")
        E = self.effects if isinstance(self.effects, Indicators) else _as_float(self.effects, (N, -1))
        if len(E) != N:
            raise DataError(f"PanelDesign.effects has {len(E)} rows, y has {N}.")
        X = _as_float(self.controls, (N, -1))
        object.__setattr__(self, "effects", E)
        object.__setattr__(self, "controls", X)
        if not self.effect_names:
            object.__setattr__(self, "effect_names", tuple(f"effect {j}" for j in range(E.shape[1])))
        if not self.control_names:
            object.__setattr__(self, "control_names", tuple(f"x{j}" for j in range(X.shape[1])))
        if len(self.effect_names) != E.shape[1] or len(self.control_names) != X.shape[1]:
            raise SpecError("PanelDesign: give one name per effect column and per control column.")

    def with_effects(self, effects: np.ndarray, names=None) -> PanelDesign:
        """The same rows with other effect columns (shares the row arrays, so the statistics that do not involve
        the effects are computed once for both)."""
        return dataclasses.replace(self, effects=effects, effect_names=tuple(names or self.effect_names))

    def subset(self, rows: np.ndarray) -> PanelDesign:
        """The design restricted to ``rows`` (positions or a boolean mask)."""
        return dataclasses.replace(self, y=self.y[rows], unit=self.unit[rows], time=self.time[rows],
                                   effects=self.effects[rows], controls=self.controls[rows],
                                   offset=None if self.offset is None else self.offset[rows])


@dataclass
class PanelFit:
    """Posterior of one design, on the data's original scale.

    ``effects`` (chain, draw, K); ``beta`` (chain, draw, p); ``time_effects`` (chain, draw, n_times) or None (the
    first period is 0 under fixed time effects); ``intercept`` (chain, draw) or None (hierarchical units: ``mu``
    at zero covariates and effects); ``mundlak`` (chain, draw, k) or None; ``hyper``: the sampled scales
    ``sigma``, ``sd_unit``, ``sd_time``, ``rho`` (chain, draw) as present; ``effects_mean`` (K,) the
    Rao-Blackwellised posterior mean (mean over draws of the conditional means: no Monte Carlo noise from the
    coefficient draws); ``diverging`` (chain, draw); ``info``."""

    effects: np.ndarray
    beta: np.ndarray
    time_effects: np.ndarray | None
    intercept: np.ndarray | None
    mundlak: np.ndarray | None
    hyper: dict
    effects_mean: np.ndarray
    diverging: np.ndarray
    info: dict
    effect_names: tuple
    control_names: tuple
    sigma: np.ndarray = field(init=False)
    prep: object = field(default=None, repr=False)
    theta_std: np.ndarray | None = field(default=None, repr=False)  # (chain, draw, q) standardised scale
    phi_std: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.sigma = self.hyper["sigma"]


# -- preparation: rows -> statistics in model space -------------------------------------------------------------
@dataclass
class _Prepared:
    """One design reduced to statistics, with what the checks and back-transformation need."""

    spec: PanelSpec
    design: PanelDesign
    sorted_rows: np.ndarray | None
    cache: _math.RowCache
    y_mean: float
    y_sd: float
    x_mean: np.ndarray
    x_sd: np.ndarray
    C: np.ndarray  # changing columns (the effects) on the sorted rows (dense, or Indicators)
    W: np.ndarray  # (n_units, k) Mundlak unit means, standardised
    sel: np.ndarray  # (q + 1, d) raw layout [1, C, R, W, e] -> model space [theta, y]
    time_sel: np.ndarray  # time codes with an effect in theta
    names: tuple  # theta's names
    layout: dict  # slices of theta: effects, beta, mundlak, intercept, time
    prior_mean: np.ndarray
    prior_prec: np.ndarray
    time_mask: np.ndarray
    inputs: dict | None = None
    inputs_plain: dict | None = None  # with an offset: the statistics of the outcome without it


def _standardise(v: np.ndarray) -> tuple[float, float]:
    m = float(np.mean(v))
    s = float(np.std(v))
    return m, (s if s > 0 else 1.0)


def _sorted(design: PanelDesign) -> np.ndarray | None:
    """Positions that sort the rows by (unit, period), or None when they already are."""
    key = design.unit.astype(np.int64) * max(design.n_times, 1) + design.time.astype(np.int64)
    if np.all(key[1:] > key[:-1]):
        return None
    order = np.argsort(key, kind="stable")
    if np.any(key[order][1:] == key[order][:-1]):
        raise DataError("the design has duplicate (unit, period) rows; keep one row per unit and period.")
    return order


def _layout(spec: PanelSpec, K: int, p: int, T: int) -> tuple[dict, np.ndarray]:
    """Slices of theta and the time codes with an effect in it."""
    k = K + p if spec.mundlak else 0
    if spec.time_effects == "fixed":
        time_sel = np.arange(1, T)
    elif spec.time_effects == "hierarchical":
        time_sel = np.arange(T)
    else:
        time_sel = np.arange(0)
    i = 0
    lay = {}
    for name, size in (("effects", K), ("beta", p), ("mundlak", k), ("intercept", 1 if spec.hierarchical else 0),
                       ("time", len(time_sel))):
        lay[name] = slice(i, i + size)
        i += size
    return lay, time_sel


def _selection(lay: dict, time_sel: np.ndarray, dims: tuple, K: int, p: int) -> np.ndarray:
    """Raw layout ``[1, C, R, W, e]`` -> model space ``[theta, y]`` (a 0/1 matrix)."""
    _, m_c, m_r, k, T = dims
    q = lay["time"].stop
    c0, r0, w0, e0 = 1, 1 + m_c, 1 + m_c + m_r, 1 + m_c + m_r + k
    S = np.zeros((q + 1, sum(dims)))
    for j in range(K):
        S[lay["effects"].start + j, c0 + j] = 1.0
    for j in range(p):
        S[lay["beta"].start + j, r0 + j] = 1.0
    S[q, r0 + p] = 1.0
    for j in range(lay["mundlak"].stop - lay["mundlak"].start):
        S[lay["mundlak"].start + j, w0 + j] = 1.0
    if lay["intercept"].stop > lay["intercept"].start:
        S[lay["intercept"].start, 0] = 1.0
    for j, t in enumerate(time_sel):
        S[lay["time"].start + j, e0 + t] = 1.0
    return S


def prepare(design: PanelDesign, spec: PanelSpec, base: _Prepared | None = None) -> _Prepared:
    """Reduce a design to model-space statistics. With ``base`` (a prepared design with the same row arrays) only
    the effect-column statistics are recomputed."""
    K, p, T = design.effects.shape[1], design.controls.shape[1], design.n_times
    ar1 = spec.errors == "ar1"
    same_rows = (base is not None and base.design.y is design.y and base.design.unit is design.unit
                 and base.design.time is design.time and base.design.controls is design.controls
                 and base.design.offset is design.offset)
    has_offset = design.offset is not None
    if same_rows:
        order, cache = base.sorted_rows, base.cache
        y_mean, y_sd, x_mean, x_sd = base.y_mean, base.y_sd, base.x_mean, base.x_sd
    else:
        order = _sorted(design)
        unit = design.unit if order is None else design.unit[order]
        time = design.time if order is None else design.time[order]
        y = design.y if order is None else design.y[order]
        X = design.controls if order is None else design.controls[order]
        y_mean, y_sd = _standardise(y)
        stats = [_standardise(X[:, j]) for j in range(p)]
        x_mean = np.array([s[0] for s in stats])
        x_sd = np.array([s[1] for s in stats])
        R = np.empty((len(y), p + 1 + has_offset))  # standardised in place: no row-sized temporaries at 20M rows
        R[:, :p] = X
        R[:, :p] -= x_mean
        R[:, :p] /= x_sd
        R[:, p] = y
        R[:, p] -= y_mean
        R[:, p] /= y_sd
        if has_offset:  # a fixed column: the model's outcome is y - offset (see the selection below)
            R[:, p + 1] = design.offset if order is None else design.offset[order]
            R[:, p + 1] /= y_sd
        if ar1 and _math.pair_rows(unit, time).size == 0:
            raise DataError("errors='ar1' needs units observed in consecutive periods; no unit has two "
                            "consecutive periods.")
        cache = _math.row_cache(R, unit, time, T, between=spec.hierarchical, stats=not ar1, overwrite=True)
        del R
    C = design.effects if order is None else design.effects[order]
    W = np.zeros((cache.n_units, 0))
    if spec.mundlak:
        C_mean = (indicator_unit_means(C, cache.unit, cache.sizes).toarray() if isinstance(C, Indicators)
                  else _math.unit_means(C, cache.starts, cache.sizes))
        W = np.column_stack([C_mean, cache.R_mean[:, :p]])
    lay, time_sel = _layout(spec, K, p, T)
    dims = (1, K, p + 1 + has_offset, W.shape[1], T)
    names = (tuple(design.effect_names) + tuple(design.control_names)
             + tuple(f"unit mean of {n}" for n in (design.effect_names + design.control_names) if spec.mundlak)
             + (("intercept",) if spec.hierarchical else ())
             + tuple(f"time {_time_label(design, t)}" for t in time_sel))
    priors = spec.priors
    mean = np.zeros(lay["time"].stop)
    prec = np.zeros(lay["time"].stop)
    for key, prior in (("effects", priors.effect), ("beta", priors.coefficient), ("mundlak", priors.mundlak),
                       ("intercept", priors.intercept)):
        mean[lay[key]], prec[lay[key]] = gaussian_moments(prior)
    time_mask = np.zeros(lay["time"].stop, bool)
    if spec.time_effects == "hierarchical":
        time_mask[lay["time"]] = True
    sel = _selection(lay, time_sel, dims, K, p)
    prep = _Prepared(spec=spec, design=design, sorted_rows=order, cache=cache, y_mean=y_mean, y_sd=y_sd,
                     x_mean=x_mean, x_sd=x_sd, C=C, W=W, sel=sel, time_sel=time_sel, names=names, layout=lay,
                     prior_mean=mean, prior_prec=prec, time_mask=time_mask)
    if ar1:
        key = ("ar1", spec.hierarchical)
        if key not in cache.memo:
            cache.memo[key] = _math.ar1_cache(cache, spec.hierarchical)
        raw = _math.ar1_stats(cache, C, W, spec.hierarchical, cache.memo[key])
    else:
        raw = _math.panel_stats(cache, C, W)
    to_model = _model_space_ar1 if ar1 else _model_space_iid
    if has_offset:  # the outcome row of the model space reads y - offset; the plain statistics keep y alone
        prep.inputs_plain = to_model(raw, sel)
        prep.sel = sel.copy()
        prep.sel[-1, 1 + K + p + 1] = -1.0
    prep.inputs = to_model(raw, prep.sel)
    _identified(prep)
    return prep


def _time_label(design: PanelDesign, t: int):
    return design.time_labels[t] if design.time_labels is not None else t


def _model_space_iid(raw: _math.RawStats, sel: np.ndarray) -> dict:
    """Model-space statistics (numpy) of the iid likelihood: within ``Q`` (1, q+1, q+1), between ``G`` per group."""
    Q = (sel @ raw.within @ sel.T)[None]
    q1 = Q.shape[-1]
    if raw.between is not None:
        G = np.einsum("ia,mab,jb->mij", sel, raw.between, sel)[:, None, None]
        sizes, counts = np.column_stack([raw.sizes, np.zeros_like(raw.sizes)]), raw.counts
    else:
        G, sizes, counts = np.zeros((1, 1, 1, q1, q1)), np.ones((1, 2)), np.zeros(1)
    return {"Q": Q, "G": G, "sizes": sizes, "counts": counts, "n_rows": float(raw.n_rows), "n_starts": 0.0,
            "df": float(raw.n_rows - raw.n_units), "log_sizes": raw.log_sizes, "n_units": raw.n_units}


# a_x(rho) = sum_p A[x, p] rho^p: the weights of the per-unit sums F, S, L in l_i'w_i (model.py)
_AR1_POLY = np.array([[1.0, 0.0, -1.0], [1.0, -1.0, 0.0], [0.0, -1.0, 1.0]])


def _model_space_ar1(raw: _math.AR1Stats, sel: np.ndarray) -> dict:
    """Model-space statistics of the exact AR(1) likelihood: pooled ``Q`` (4, ...) and per group ``G`` (M, 9, ...):
    ``sum_xy a_x a_y G_xy`` as a polynomial in rho (coefficients of rho^0..rho^4), ``sum_x a_x (G_xm + G_mx)``
    (rho^0..rho^2) and ``G_mm``, so that a likelihood evaluation weights 9 matrices per group, not 16."""
    Q = np.einsum("ia,kab,jb->kij", sel, raw.pooled, sel)
    G4 = np.einsum("ia,mxyab,jb->mxyij", sel, raw.groups, sel)
    A = _AR1_POLY
    H = np.zeros((G4.shape[0], 5) + G4.shape[-2:])
    for p in range(3):
        for p2 in range(3):
            H[:, p + p2] += np.einsum("x,y,mxyab->mab", A[:, p], A[:, p2], G4[:, :3, :3])
    K = np.einsum("xp,mxab->mpab", A, G4[:, :3, 3] + G4[:, 3, :3])
    G = np.concatenate([H, K, G4[:, 3, 3][:, None]], axis=1)
    return {"Q": Q, "G": G, "sizes": np.column_stack([raw.starts, raw.pairs]), "counts": raw.counts,
            "n_rows": float(raw.n_rows), "n_starts": float(raw.n_starts), "df": float(raw.n_rows - raw.n_units),
            "log_sizes": 0.0, "n_units": raw.n_units}


def _identified(prep: _Prepared) -> None:
    """DataError when an effect or covariate is not identified by the data (collinear with the unit and time
    effects or with the other columns); periods without information get a harmless unit-normal prior."""
    inp, lay, spec = prep.inputs, prep.layout, prep.spec
    q = lay["time"].stop
    if spec.errors == "ar1":  # at rho = 0: all rows (starts and pairs), and the unit means
        A = (inp["Q"][0] + inp["Q"][1])[:q, :q].copy()
        if spec.hierarchical:
            A += inp["G"][:, 8].sum(axis=0)[:q, :q]
    else:
        A = inp["Q"][0][:q, :q].copy()
        if spec.hierarchical:
            A += inp["G"][:, 0, 0].sum(axis=0)[:q, :q]
    diag = np.diag(A)
    scale = max(float(diag.max(initial=0.0)), 1e-300)
    t_idx = np.arange(lay["time"].start, lay["time"].stop)
    empty = t_idx[diag[t_idx] <= COLLINEAR_TOL * scale]
    if spec.time_effects == "fixed" and empty.size:
        prep.prior_prec = prep.prior_prec.copy()
        prep.prior_prec[empty] = 1.0  # no row informs these periods: the prior only makes the posterior proper
    order = [j for j in range(lay["intercept"].start, lay["intercept"].stop)] + [j for j in t_idx if j not in empty]
    order += list(range(lay["beta"].start, lay["beta"].stop)) + list(range(lay["mundlak"].start, lay["mundlak"].stop))
    order += list(range(lay["effects"].start, lay["effects"].stop))
    kept: list[int] = []
    L = np.zeros((0, 0))
    problems = []
    pooled = prep.time_mask  # hierarchical time effects: their prior identifies them, collinear or not
    for j in order:
        a = A[j, j]
        if a <= COLLINEAR_TOL * scale:
            if not pooled[j]:
                problems.append((j, "zero"))
            continue
        if kept:
            lvec = np.linalg.solve(L, A[kept, j]) if L.size else np.zeros(0)
            r = a - lvec @ lvec
        else:
            lvec, r = np.zeros(0), a
        if r <= 1e-8 * a:
            if not pooled[j]:
                problems.append((j, "collinear"))
            continue
        L = np.block([[L, np.zeros((len(kept), 1))], [lvec[None, :], np.array([[np.sqrt(r)]])]]) if kept else \
            np.array([[np.sqrt(r)]])
        kept.append(j)
    if not problems:
        return
    where = "within units (the unit fixed effects absorb it)" if not spec.hierarchical else "in the data"
    parts = []
    for j, kind in problems:
        name = prep.names[j]
        role = "effect column" if lay["effects"].start <= j < lay["effects"].stop else (
            "covariate" if lay["beta"].start <= j < lay["beta"].stop else "term")
        if kind == "zero":
            parts.append(f"{role} {name!r} does not vary {where}")
        else:
            parts.append(f"{role} {name!r} is a linear combination of the unit and time effects and the columns "
                         "before it")
    raise DataError("the model is not identified: " + "; ".join(parts) + ". Drop the column, or add units or "
                    "periods in which it varies (e.g. never-treated units, or units treated at other times).")


def _stack_inputs(preps: Sequence[_Prepared], plain: bool = False) -> PanelInputs:
    import jax.numpy as jnp

    source = [p.inputs_plain if plain and p.inputs_plain is not None else p.inputs for p in preps]
    M = max(inp["G"].shape[0] for inp in source)

    def pad(a, fill):
        extra = M - a.shape[0]
        return a if extra == 0 else np.concatenate([a, np.full((extra,) + a.shape[1:], fill, float)])

    def stack(key, fill=None):
        return jnp.asarray(np.stack([pad(inp[key], fill) if fill is not None else np.asarray(inp[key])
                                     for inp in source]))

    return PanelInputs(Q=stack("Q"), G=stack("G", 0.0), sizes=stack("sizes", 1.0), counts=stack("counts", 0.0),
                       n_rows=stack("n_rows"), n_starts=stack("n_starts"), df=stack("df"),
                       log_sizes=stack("log_sizes"), prec=jnp.asarray(np.stack([p.prior_prec for p in preps])),
                       spectrum=_spectrum(preps, source))


def _spectrum(preps: Sequence[_Prepared], source: Sequence[dict]) -> Spectrum | None:
    """The scale-only model's O(q) statistics of every design (``model.spectral_statistics``), stacked; None
    when some scale besides sigma is sampled or a design's cross-products are not positive definite."""
    import jax.numpy as jnp

    if not _config(preps[0]).scale_only:
        return None
    parts = [spectral_statistics(inp["Q"][0], p.prior_prec, p.prior_mean) for p, inp in zip(preps, source, strict=True)]
    if any(part is None for part in parts):
        return None
    return Spectrum(**{k: jnp.asarray(np.stack([part[k] for part in parts])) for k in Spectrum._fields})


def _config(prep: _Prepared) -> ModelConfig:
    spec = prep.spec
    return ModelConfig(hier_units=spec.hierarchical, hier_time=spec.time_effects == "hierarchical",
                       ar1=spec.errors == "ar1", prior_mean=prep.prior_mean, time_mask=prep.time_mask,
                       priors=spec.priors)


# -- fitting --------------------------------------------------------------------------------------------------
def fit_panel_design(design: PanelDesign, spec: PanelSpec, sampler: Sampler | None = None, seed: int = 0) -> PanelFit:
    """Posterior of one panel design; see the module docstring and :class:`PanelFit`."""
    return fit_panel_batch([design], spec, sampler, seed)[0]


def fit_panel_batch(designs: Sequence[PanelDesign], spec: PanelSpec, sampler: Sampler | None = None, seed: int = 0,
                    prepared: Sequence[_Prepared] | None = None) -> list[PanelFit]:
    """Posteriors of several designs (same numbers of effect columns, covariates and periods) in one batched NUTS
    run. Designs sharing row arrays (``PanelDesign.with_effects``) share the statistics that do not involve the
    effects. ``prepared``: designs already reduced by :func:`prepare` (then ``designs`` is ignored)."""
    sampler = nuts_sampler(sampler, "the panel model")
    if prepared is None:
        preps: list[_Prepared] = []
        for des in designs:
            base = next((p for p in preps if p.design.y is des.y and p.design.unit is des.unit), None)
            preps.append(prepare(des, spec, base))
    else:
        preps = list(prepared)
    shapes = {(p.layout["time"].stop, p.C.shape[1]) for p in preps}
    if len(shapes) != 1:
        raise SpecError("fit_panel_batch: every design needs the same effect columns, covariates and periods.")
    cfg = _config(preps[0])
    inputs = _stack_inputs(preps)
    sampler = dataclasses.replace(sampler, warmup=sampler.warmup_or(NUTS_WARMUP))
    draws = run_mcmc(_model_for(_model_key(cfg), cfg), sampler, seed, (inputs,), kernel_name="NUTS",
                     jit_model_args=True, init_params=_init_params(preps, cfg, sampler.chains, seed))
    theta, theta_mean = _theta_draws(draws.samples, preps, cfg, seed)
    fits = []
    for b, prep in enumerate(preps):
        phi = {k: np.asarray(v[:, :, b]) for k, v in draws.samples.items()}
        fits.append(_to_fit(prep, phi, theta[:, :, b], theta_mean[:, :, b], draws, sampler, seed))
    return fits


def _model_key(cfg: ModelConfig) -> tuple:
    """A value key of the model's structure and priors: equal configurations share one model function, so the
    inference layer's compiled-sampler cache (keyed by the model) serves every fit of the same structure and
    shapes without compiling again."""
    import jax

    def prior_key(d):
        if d is None:
            return None
        return type(d).__name__, tuple(tuple(np.ravel(np.asarray(v)).tolist()) for v in jax.tree.leaves(d))

    priors = tuple((f.name, prior_key(getattr(cfg.priors, f.name))) for f in dataclasses.fields(cfg.priors))
    return (cfg.hier_units, cfg.hier_time, cfg.ar1, tuple(cfg.prior_mean.tolist()), tuple(cfg.time_mask.tolist()),
            priors)


_MODELS: dict = {}


def _model_for(key: tuple, cfg: ModelConfig):
    """The NumPyro model of ``cfg``, one function object per value key (at most 64 kept)."""
    if key not in _MODELS:
        if len(_MODELS) >= 64:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = functools.partial(panel_model, cfg=cfg)
    return _MODELS[key]


def _init_params(preps: Sequence[_Prepared], cfg: ModelConfig, chains: int, seed: int) -> dict:
    """Unconstrained starting values (chain, B) near the posterior: sigma from the within residuals at the
    least-squares coefficients, sd_unit from the spread of the unit means, sd_time 0.5, rho 0; each chain
    jittered by 10% so that R-hat compares distinct starts. (A Laplace start measured 14 s of compilation for a
    posterior this simple.)"""
    rng = np.random.default_rng(seed + 3)
    values: dict[str, list] = {"sigma": [], "sd_unit": [], "sd_time": [], "rho": []}
    for prep in preps:
        inp = prep.inputs
        q = prep.layout["time"].stop
        Q = inp["Q"][0] + (inp["Q"][1] if cfg.ar1 else 0.0)
        A = Q[:q, :q] + np.diag(np.maximum(prep.prior_prec, 1e-6) + 1e-9 * np.trace(Q[:q, :q]) / max(q, 1))
        theta = np.linalg.solve(A, Q[:q, q])
        rss = max(float(Q[q, q] - theta @ Q[:q, q]), 1e-12)
        values["sigma"].append(np.sqrt(rss / max(inp["df"], 1.0)))
        values["sd_unit"].append(0.5)
        values["sd_time"].append(0.5)
        values["rho"].append(0.0)
    names = ["sigma"] + (["sd_unit"] if cfg.hier_units else []) + (["sd_time"] if cfg.hier_time else []) \
        + (["rho"] if cfg.ar1 else [])
    from numpyro.distributions import biject_to

    out = {}
    for name in names:
        support = getattr(cfg.priors, name).support
        base = np.asarray(values[name], float)
        if name != "rho":
            base = np.clip(base, 1e-6, None)
            upper = getattr(support, "upper_bound", None)
            if upper is not None and np.isfinite(float(upper)):
                base = np.minimum(base, 0.5 * float(upper))
        else:
            base = np.full_like(base, 0.5 * (float(support.lower_bound) + float(support.upper_bound)))
        z = np.asarray(biject_to(support).inv(base), float)
        out[name] = z[None] + 0.1 * rng.standard_normal((chains, len(base)))
    return out


def _numpy_inputs(prep: _Prepared, plain: bool = False) -> PanelInputs:
    """One design's statistics as NumPy arrays (no batch axis)."""
    src = prep.inputs_plain if plain and prep.inputs_plain is not None else prep.inputs
    return PanelInputs(Q=src["Q"], G=src["G"], sizes=src["sizes"], counts=src["counts"], n_rows=src["n_rows"],
                       n_starts=src["n_starts"], df=src["df"], log_sizes=src["log_sizes"], prec=prep.prior_prec)


def _theta_draws(samples: dict, preps: Sequence[_Prepared], cfg: ModelConfig, seed: int):
    """Exact draws of theta | phi (chain, draw, B, q) and the conditional means, one per posterior draw of phi
    (NumPy: one q x q Cholesky per draw)."""
    from scipy.linalg import solve_triangular

    chains, n = next(iter(samples.values())).shape[:2]
    B, q = len(preps), cfg.q
    rng = np.random.default_rng(seed + 7919)
    z = rng.standard_normal((chains * n, B, q))
    flat = {k: np.asarray(v, float).reshape(chains * n, B) for k, v in samples.items()}
    theta = np.empty((chains * n, B, q))
    mean = np.empty((chains * n, B, q))
    for b, prep in enumerate(preps):
        inp = _numpy_inputs(prep)
        for s in range(chains * n):
            m, L = conditional_numpy({k: v[s, b] for k, v in flat.items()}, inp, cfg)
            mean[s, b] = m
            theta[s, b] = m + solve_triangular(L.T, z[s, b], lower=False)
    return theta.reshape(chains, n, B, q), mean.reshape(chains, n, B, q)


def _to_fit(prep: _Prepared, phi: dict, theta: np.ndarray, theta_mean: np.ndarray, draws, sampler: Sampler,
            seed: int) -> PanelFit:
    """Back to the original scale: effects x sd(y); covariate terms x sd(y)/sd(x); intercept shifted by the means."""
    lay, ys = prep.layout, prep.y_sd
    K = lay["effects"].stop
    eff = theta[..., lay["effects"]] * ys
    beta = theta[..., lay["beta"]] * ys / prep.x_sd
    mund = None
    intercept = None
    if prep.spec.mundlak:
        scale = np.r_[np.ones(K), 1.0 / prep.x_sd] * ys
        mund = theta[..., lay["mundlak"]] * scale
    if prep.spec.hierarchical:
        intercept = prep.y_mean + ys * theta[..., lay["intercept"].start] - beta @ prep.x_mean
        if mund is not None:
            intercept = intercept - mund[..., K:] @ prep.x_mean
    time_effects = None
    if prep.spec.time_effects is not None:
        time_effects = np.zeros(theta.shape[:2] + (prep.design.n_times,))
        time_effects[..., prep.time_sel] = theta[..., lay["time"]] * ys
    hyper = {}
    for name in ("sigma", "sd_unit", "sd_time", "rho"):
        if name in phi:
            hyper[name] = phi[name] * (1.0 if name == "rho" else ys)
    inp = prep.inputs
    info = {"n_rows": int(len(prep.design.y)), "n_units": int(inp["n_units"]), "n_times": int(prep.design.n_times),
            "df_within": float(inp["df"]), "seconds": round(draws.wall_seconds, 2),
            "kernel": draws.kernel, "chain_method": draws.chain_method, "chains": sampler.chains,
            "draws": sampler.draws, "warmup": sampler.warmup, "seed": seed}
    return PanelFit(effects=eff, beta=beta, time_effects=time_effects, intercept=intercept, mundlak=mund, hyper=hyper,
                    effects_mean=theta_mean[..., lay["effects"]].reshape(-1, K).mean(axis=0) * ys,
                    diverging=np.asarray(draws.sample_stats.get("diverging", np.zeros(theta.shape[:2], bool))),
                    info=info, effect_names=tuple(prep.design.effect_names),
                    control_names=tuple(prep.design.control_names), prep=prep, theta_std=theta, phi_std=phi)


def conditional_effects(preps: Sequence[_Prepared], phi: dict, plain: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd (B, K) of the effects given the scale parameters ``phi`` (standardised scale; scalars, or
    arrays (B,) with one value per design) for prepared designs: the exact posterior at fixed scales, used where
    many refits are needed (randomization inference). ``plain``: for designs with an offset, the statistics of the
    outcome without it."""
    from scipy.linalg import solve_triangular

    B = len(preps)
    values = {k: np.broadcast_to(np.asarray(v, float), (B,)) for k, v in phi.items()}
    lay = preps[0].layout
    K = lay["effects"].stop - lay["effects"].start
    mean, sd = np.empty((B, K)), np.empty((B, K))
    for b, prep in enumerate(preps):
        m, L = conditional_numpy({k: float(v[b]) for k, v in values.items()}, _numpy_inputs(prep, plain),
                                 _config(prep))
        Linv = solve_triangular(L, np.eye(L.shape[0]), lower=True)
        var = np.sum(Linv**2, axis=0)  # diag of P^-1 = L^-T L^-1
        mean[b] = m[lay["effects"]] * prep.y_sd
        sd[b] = np.sqrt(var[lay["effects"]]) * prep.y_sd
    return mean, sd


# -- checks shared by panel fits ------------------------------------------------------------------------------
def convergence(fit: PanelFit) -> CheckResult:
    """The shared convergence check on the sampled scales and the effects (R-hat, bulk ESS, divergences)."""
    draws = {name: v for name, v in fit.hyper.items()}
    draws["effects"] = fit.effects
    return convergence_check(draws, fit.diverging)


def _raw_rows(prep: _Prepared, rows: np.ndarray) -> np.ndarray:
    """Model-space vectors ``[theta columns, y]`` of sorted rows, on the standardised scale (not demeaned)."""
    cache = prep.cache
    u = cache.unit[rows]
    onehot = np.zeros((len(rows), cache.n_times))
    onehot[np.arange(len(rows)), cache.time[rows]] = 1.0
    raw = np.column_stack([np.ones(len(rows)), as_dense(prep.C[rows]), cache.R_tilde[rows] + cache.R_mean[u],
                           prep.W[u], onehot])
    return raw @ prep.sel.T


def _unit_vectors(prep: _Prepared, units: np.ndarray):
    """For units of the cache: sums of the model-space row vectors over run starts, over rows with a previous
    period, and over those previous rows, (n, 3, q + 1); and the counts of starts and of pairs."""
    cache = prep.cache
    lo, size = cache.starts[units], cache.sizes[units]
    rows = np.repeat(lo, size) + (np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size))
    owner = np.repeat(np.arange(len(units)), size)
    vec = _raw_rows(prep, rows)
    t = cache.time[rows]
    is_pair = np.r_[False, (owner[1:] == owner[:-1]) & (t[1:] == t[:-1] + 1)]
    pair = np.flatnonzero(is_pair)
    start = np.flatnonzero(~is_pair)
    out = np.zeros((len(units), 3, vec.shape[1]))
    np.add.at(out[:, 0], owner[start], vec[start])
    np.add.at(out[:, 1], owner[pair], vec[pair])
    np.add.at(out[:, 2], owner[pair], vec[pair - 1])
    return out, np.bincount(owner[start], minlength=len(units)), np.bincount(owner[pair], minlength=len(units))


def posterior_predictive(fit: PanelFit, rows: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """Replicated outcomes (n_draws, len(rows)) on the original scale for sorted rows; under AR(1) each row is
    predicted given its previous period (rows without one from the stationary marginal).

    With the unit's transformed residual ``w_i`` (``model.py``; the plain residuals for iid errors) and its loading
    ``l_i``, the unit effect's posterior given theta and the scales is ``N(kappa_i l_i'w_i, kappa_i sigma^2)``,
    ``kappa_i = 1 / l_i'l_i`` for fixed effects and ``sd_unit^2 / (sigma^2 + sd_unit^2 l_i'l_i)`` for hierarchical
    ones; for iid errors ``l_i'w_i`` is ``T_i`` times the unit's mean residual."""
    prep = fit.prep
    cache = prep.cache
    rng = np.random.default_rng(seed)
    chains, n = fit.theta_std.shape[:2]
    pick = rng.choice(chains * n, size=min(n_draws, chains * n), replace=False)
    theta = fit.theta_std.reshape(chains * n, -1)[pick]
    phi = {k: np.asarray(v).reshape(-1)[pick] for k, v in fit.phi_std.items()}
    rho = phi.get("rho", np.zeros(len(pick)))
    gamma = np.column_stack([-theta, np.ones(len(pick))])  # (S, q + 1)
    units, inverse = np.unique(cache.unit[rows], return_inverse=True)
    sums, n_s, n_p = _unit_vectors(prep, units)
    c2 = 1.0 - rho**2
    lw = (c2 * (sums[:, 0] @ gamma.T) + (1.0 - rho) * (sums[:, 1] @ gamma.T - rho * (sums[:, 2] @ gamma.T)))
    lam = n_s[:, None] * c2 + n_p[:, None] * (1.0 - rho) ** 2  # (units, S)
    sigma2 = phi["sigma"] ** 2
    if prep.spec.hierarchical:
        s2 = phi["sd_unit"] ** 2
        kappa = s2 / (sigma2 + s2 * lam)
    else:
        kappa = 1.0 / lam
    b = kappa * lw + np.sqrt(kappa * sigma2) * rng.standard_normal(lw.shape)
    b = b[inverse]  # (rows, S)
    vec = _raw_rows(prep, rows)
    e = vec @ gamma.T
    has_prev = np.zeros(len(rows), bool)
    if prep.spec.errors == "ar1":
        prev = rows - 1
        has_prev = (rows > 0) & (cache.unit[np.maximum(prev, 0)] == cache.unit[rows]) \
            & (cache.time[np.maximum(prev, 0)] == cache.time[rows] - 1)
    e_prev = np.zeros_like(e)
    if has_prev.any():
        e_prev[has_prev] = _raw_rows(prep, rows[has_prev] - 1) @ gamma.T
    innov_sd = np.where(has_prev[:, None], np.sqrt(sigma2), np.sqrt(sigma2 / c2))
    mean_shift = np.where(has_prev[:, None], -(e - rho * e_prev) + (1.0 - rho) * b, -e + b)
    y_rep = vec[:, -1][:, None] + mean_shift + innov_sd * rng.standard_normal(e.shape)
    return (prep.y_mean + prep.y_sd * y_rep).T


def predictive_rows(fit: PanelFit, seed: int, size: int = PREDICTIVE_ROWS) -> np.ndarray:
    """A random subset of the sorted rows, at most ``size``, sorted."""
    N = fit.prep.cache.n_rows
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(N, size=min(size, N), replace=False))


def observed_outcome(fit: PanelFit, rows: np.ndarray) -> np.ndarray:
    """The outcome of sorted rows on the original scale."""
    cache, prep = fit.prep.cache, fit.prep
    p = prep.design.controls.shape[1]
    return prep.y_mean + prep.y_sd * (cache.R_tilde[rows, p] + cache.R_mean[cache.unit[rows], p])


def predictive_check(fit: PanelFit, seed: int, y_rep: np.ndarray | None = None,
                     rows: np.ndarray | None = None) -> CheckResult:
    """Coverage of the 90% posterior predictive intervals of up to 5000 random rows (each given its unit's
    posterior effect, and its previous period under AR(1))."""
    if rows is None:
        rows = predictive_rows(fit, seed)
    if y_rep is None:
        y_rep = posterior_predictive(fit, rows, PREDICTIVE_DRAWS, seed)
    tail = (1 - PREDICTIVE_LEVEL) / 2
    lo, hi = np.quantile(y_rep, [tail, 1 - tail], axis=0)
    return interval_coverage_check(
        observed_outcome(fit, rows), lo, hi, PREDICTIVE_LEVEL, "posterior predictive",
        "randomly chosen rows", interval="posterior predictive",
        advice="The model's errors are too narrow for these rows (outliers, heavy tails, variances that differ "
               "between units, or effects that vary over time): its intervals are overconfident. Look at the "
               "residuals by unit and period; consider errors='ar1' or adding covariates.")


def residual_autocorrelation(fit: PanelFit) -> tuple[float, float, int]:
    """Lag-1 autocorrelation of the within residuals (of the innovations ``e_t - rho e_(t-1)`` under AR(1)) at the
    posterior mean, corrected for the demeaning: see ``_math.within_autocorrelation``."""
    prep = fit.prep
    cache = prep.cache
    theta = fit.theta_std.reshape(-1, fit.theta_std.shape[-1]).mean(axis=0)
    g = prep.sel.T @ np.r_[-theta, 1.0]  # raw layout [1, C, R, W, e]
    m_c, m_r, T = prep.C.shape[1], cache.R_tilde.shape[1], cache.n_times
    e = prep.C @ g[1:1 + m_c] + cache.R_tilde @ g[1 + m_c:1 + m_c + m_r] + g[len(g) - T:][cache.time]
    unit, time = cache.unit, cache.time
    if prep.spec.errors == "ar1":
        pair = _math.pair_rows(unit, time)
        e = e[pair] - float(np.mean(fit.phi_std["rho"])) * e[pair - 1]
        unit, time = unit[pair], time[pair]
    return _math.within_autocorrelation(e, unit, time)


def serial_correlation_check(fit: PanelFit) -> CheckResult:
    """Fails when the residuals stay autocorrelated (lag-1 correlation above 0.1 and 3 standard errors from 0):
    with serially correlated errors, iid-error intervals are too narrow (Bertrand, Duflo & Mullainathan 2004,
    QJE 119(1))."""
    r, se, pairs = residual_autocorrelation(fit)
    ar1 = fit.prep.spec.errors == "ar1"
    what = "AR(1) innovations" if ar1 else "within residuals"
    if pairs < 10 or not np.isfinite(r):
        return CheckResult("serial correlation", None, None, None,
                           f"not run: only {pairs} consecutive pairs of rows to measure it on.")
    passed = not (r > SERIAL_MAX and r > 3 * se)
    message = (f"lag-1 autocorrelation of the {what} {r:.3f} (corrected for the unit demeaning; se {se:.3f}, "
               f"{pairs} consecutive pairs).")
    if not passed:
        message += (" The errors are serially correlated within units, so intervals that assume independent errors "
                    "are too narrow: " + ("use errors='ar1'." if not ar1 else "the AR(1) model does not capture it "
                                          "(longer memory): treat the intervals as too narrow."))
    return CheckResult("serial correlation", passed, round(r, 4), f"<= {SERIAL_MAX} (or within 3 se of 0)", message)
