"""Robustness values and benchmark bounds for a regression-type estimate (Cinelli & Hazlett 2020, "Making
sense of sensitivity: extending omitted variable bias", JRSS-B 82:39-67).

From a treatment estimate, its standard error and the residual degrees of freedom of the regression it
came from, :func:`robustness` gives the partial R-squared of the treatment with the outcome, the robustness
values ``RV_q`` and ``RV_{q,alpha}``, bias-adjusted estimates for hypothetical confounders, and bounds on a
confounder ``k`` times as strong as observed benchmark covariates; :meth:`RobustnessResult.plot` draws the
contours of the adjusted estimate (or t statistic) over the two partial R-squared, like sensemakr's
contour plot. :func:`ols_robustness` computes every input (benchmark partial R-squared included) from the
data by least squares.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError, SpecError
from ..report import plots
from ..report.text import fmt
from . import _math
from ._inputs import dof_value, finite_number, positive, probability

BOUND_COLUMNS = ["kd", "ky", "r2dz_x", "r2yz_dx", "adjusted_estimate", "adjusted_se", "adjusted_t",
                 "adjusted_lower", "adjusted_upper"]


@dataclass(frozen=True)
class RobustnessResult:
    """Cinelli-Hazlett sensitivity statistics of one treatment coefficient.

    Attributes
    ----------
    estimate, se, dof : the treatment coefficient, its standard error and residual degrees of freedom.
    q, alpha : the fraction of the estimate to be explained away, and the significance level.
    partial_r2 : ``R2_{Y~D|X}``; a confounder explaining all residual outcome variance would need at least
        this partial R-squared with the treatment to explain the estimate away.
    rv_q, rv_qa : robustness values ``RV_q`` and ``RV_{q,alpha}`` (partial R-squared, 0 to 1).
    bounds : one row per benchmark multiple or hypothetical confounder (index: label), columns
        ``kd, ky, r2dz_x, r2yz_dx, adjusted_estimate, adjusted_se, adjusted_t, adjusted_lower, adjusted_upper``.
    benchmarks : name -> ``(R2_{D~Xj|X-j}, R2_{Y~Xj|D,X-j})`` of the benchmark covariates.
    treatment : the treatment's name for tables and plots.
    reduce : True when confounding is assumed to move the estimate toward zero (the default question).
    """

    estimate: float
    se: float
    dof: float
    q: float
    alpha: float
    partial_r2: float
    rv_q: float
    rv_qa: float
    bounds: pd.DataFrame
    benchmarks: dict = field(default_factory=dict)
    treatment: str = "treatment"
    reduce: bool = True

    @property
    def t(self) -> float:
        return self.estimate / self.se

    def table(self) -> pd.DataFrame:
        """One row of sensitivity statistics (sensemakr's ``sensitivity_stats``)."""
        return pd.DataFrame([{"estimate": self.estimate, "se": self.se, "t": self.t, "dof": self.dof,
                              "partial_r2_yd_x": self.partial_r2, "rv_q": self.rv_q, "rv_qa": self.rv_qa,
                              "q": self.q, "alpha": self.alpha}], index=pd.Index([self.treatment], name="treatment"))

    def adjusted(self, r2dz, r2yz) -> pd.DataFrame:
        """Bias-adjusted estimate, standard error, t and interval for confounder strengths ``(r2dz, r2yz)``."""
        return _adjusted_rows(self.estimate, self.se, self.dof, self.alpha, self.reduce,
                              *_r2_pairs(r2dz, r2yz), labels=None)

    @property
    def text(self) -> str:
        """One sentence a report can quote."""
        pct = 100 * self.q
        move = "explain the estimate away" if self.q == 1 else f"move the estimate by {pct:.0f}%"
        target = "zero" if self.q == 1 else "that value"
        level = f"the {1 - self.alpha:.0%} interval"
        if self.rv_qa > 0:
            interval_txt = f"{self.rv_qa:.1%} would make {level} include {target}"
        else:
            interval_txt = f"{level} already includes {target} without any confounding"
        out = (f"Robustness value {self.rv_q:.1%}: an unmeasured confounder explaining {self.rv_q:.1%} of the "
               f"residual variance of both the treatment and the outcome would {move}; {interval_txt} "
               f"(Cinelli & Hazlett 2020). A confounder explaining all the outcome's residual variance would need a "
               f"partial R-squared of {self.partial_r2:.1%} with the treatment to explain the estimate away")
        strongest = self._strongest_benchmark()
        if strongest is not None:
            label, row = strongest
            verdict = "would" if (row["adjusted_lower"] <= 0 <= row["adjusted_upper"]) else "would not"
            out += (f". A confounder as strong as {label} {verdict} make the interval include zero "
                    f"(adjusted estimate {fmt(row['adjusted_estimate'])}, interval {fmt(row['adjusted_lower'])} to "
                    f"{fmt(row['adjusted_upper'])})")
        return out + "."

    def _strongest_benchmark(self):
        rows = self.bounds[(self.bounds["kd"] == 1) & (self.bounds["ky"] == 1)]
        if rows.empty:
            return None
        label = rows["r2yz_dx"].idxmax()
        return label, rows.loc[label]

    def plot(self, kind: str = "estimate", lim: float | None = None, lim_y: float | None = None, levels: int = 12):
        """Contours of the adjusted estimate (``kind="estimate"``) or t statistic (``"t"``) over
        ``(R2_{D~Z|X}, R2_{Y~Z|D,X})``, with the zero (or critical-t) contour, the unadjusted point and the
        benchmark bounds marked."""
        if kind not in ("estimate", "t"):
            raise SpecError(f"kind={kind!r}: use 'estimate' (adjusted estimate) or 't' (adjusted t statistic).")
        pts = self.bounds[["r2dz_x", "r2yz_dx"]].to_numpy(float)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        auto = max(0.4, self.rv_q * 1.5, *(1.2 * pts.max(axis=0) if pts.size else (0.0,)))
        lim = min(0.99, lim if lim is not None else auto)
        lim_y = min(0.99, lim_y if lim_y is not None else lim)
        gx, gy = np.meshgrid(np.linspace(0, lim, 201), np.linspace(0, lim_y, 201))
        if kind == "estimate":
            z = _math.adjusted_estimate(self.estimate, self.se, self.dof, gx, gy, self.reduce)
            threshold, at0, tlabel = (1 - self.q) * self.estimate, self.estimate, "adjusted estimate"
        else:
            z = _math.adjusted_t(self.estimate, self.se, self.dof, gx, gy, self.reduce)
            crit = float(stats.t.ppf(1 - self.alpha / 2, self.dof - 1))
            threshold, at0, tlabel = np.sign(self.estimate) * crit, self.t, "adjusted t statistic"
        with plots.plt.rc_context(plots.STYLE):
            fig, ax = plots.plt.subplots(figsize=(6.2, 5.2))
            cs = ax.contour(gx, gy, z, levels=levels, colors=plots.MODEL, linewidths=0.8, alpha=0.8)
            ax.clabel(cs, fontsize=8, fmt=lambda v: fmt(v))
            if np.nanmin(z) <= threshold <= np.nanmax(z):
                ct = ax.contour(gx, gy, z, levels=[threshold], colors=plots.EFFECT, linewidths=1.8, linestyles="--")
                ax.clabel(ct, fontsize=8, fmt=lambda v: fmt(v))
            ax.plot([0], [0], marker="^", color=plots.OBSERVED, ms=8, ls="none", clip_on=False)
            ax.annotate(f"unadjusted ({fmt(at0)})", (0, 0), xytext=(6, 6), textcoords="offset points", fontsize=8)
            for label, row in self.bounds.iterrows():
                x, y = row["r2dz_x"], row["r2yz_dx"]
                if not (np.isfinite(x) and np.isfinite(y)) or x > lim or y > lim_y:
                    continue
                val = row["adjusted_estimate"] if kind == "estimate" else row["adjusted_t"]
                ax.plot([x], [y], marker="D", color=plots.EFFECT, ms=6, ls="none")
                ax.annotate(f"{label} ({fmt(val)})", (x, y), xytext=(6, 4), textcoords="offset points", fontsize=8)
            ax.set_xlim(0, lim)
            ax.set_ylim(0, lim_y)
            ax.set_xlabel("Partial R² of the confounder with the treatment")
            ax.set_ylabel("Partial R² of the confounder with the outcome")
            ax.set_title(f"Sensitivity of the {tlabel} for {self.treatment}")
            fig.tight_layout()
        return fig


def _r2_pairs(r2dz, r2yz) -> tuple[np.ndarray, np.ndarray]:
    """Validated arrays of confounder partial R-squared pairs (r2dz < 1, r2yz <= 1)."""
    dz = np.atleast_1d(np.asarray(r2dz, float))
    yz = np.atleast_1d(np.asarray(r2yz, float))
    if dz.shape != yz.shape and dz.size != 1 and yz.size != 1:
        raise SpecError(f"r2dz and r2yz have {dz.size} and {yz.size} values: give pairs of equal length.")
    dz, yz = np.broadcast_arrays(dz, yz)
    if not (np.all(np.isfinite(dz)) and np.all((dz >= 0) & (dz < 1))):
        raise SpecError(f"r2dz={r2dz!r}: partial R-squared with the treatment must lie in [0, 1).")
    if not (np.all(np.isfinite(yz)) and np.all((yz >= 0) & (yz <= 1))):
        raise SpecError(f"r2yz={r2yz!r}: partial R-squared with the outcome must lie in [0, 1].")
    return dz.astype(float), yz.astype(float)


def _adjusted_rows(estimate, se, dof, alpha, reduce, r2dz, r2yz, labels, kd=None, ky=None) -> pd.DataFrame:
    est = _math.adjusted_estimate(estimate, se, dof, r2dz, r2yz, reduce)
    ase = _math.adjusted_se(se, dof, r2dz, r2yz)
    crit = float(stats.t.ppf(1 - alpha / 2, dof - 1))
    n = len(r2dz)
    with np.errstate(divide="ignore", invalid="ignore"):  # r2yz = 1: the long regression fits exactly
        t_adj = est / ase
    df = pd.DataFrame({"kd": np.nan if kd is None else kd, "ky": np.nan if ky is None else ky,
                       "r2dz_x": r2dz, "r2yz_dx": r2yz, "adjusted_estimate": est, "adjusted_se": ase,
                       "adjusted_t": t_adj, "adjusted_lower": est - crit * ase, "adjusted_upper": est + crit * ase},
                      index=pd.Index(labels if labels is not None else [f"confounder {i + 1}" for i in range(n)],
                                     name="bound"))
    return df[BOUND_COLUMNS]


def _multipliers(kd, ky) -> tuple[np.ndarray, np.ndarray]:
    kd_arr = np.atleast_1d(np.asarray(kd, float))
    ky_arr = kd_arr if ky is None else np.atleast_1d(np.asarray(ky, float))
    if kd_arr.ndim != 1 or ky_arr.ndim != 1 or kd_arr.size != ky_arr.size:
        raise SpecError(f"kd={kd!r}, ky={ky!r}: give one multiplier or equal-length lists of multipliers.")
    if not (np.all(np.isfinite(kd_arr)) and np.all(kd_arr > 0) and np.all(np.isfinite(ky_arr)) and np.all(ky_arr > 0)):
        raise SpecError(f"kd={kd!r}, ky={ky!r}: multipliers must be positive numbers (1 = as strong as the benchmark).")
    return kd_arr, ky_arr


def robustness(estimate: float, se: float, dof: float, *, q: float = 1.0, alpha: float = 0.05,
               benchmarks: Mapping[str, tuple[float, float]] | None = None, kd=(1, 2, 3), ky=None,
               r2dz=None, r2yz=None, reduce: bool = True, treatment: str = "treatment") -> RobustnessResult:
    """Cinelli-Hazlett sensitivity analysis of a regression's treatment coefficient.

    Parameters
    ----------
    estimate, se, dof : the treatment coefficient, its standard error and the regression's residual degrees of
        freedom.
    q : the fraction of the estimate to explain away (1: to zero; 0.5: to half).
    alpha : significance level of ``RV_{q,alpha}`` and the adjusted intervals.
    benchmarks : covariate name -> ``(r2dxj, r2yxj)``: its partial R-squared with the treatment given the other
        covariates and with the outcome given the treatment and the other covariates (:func:`ols_robustness`
        computes them). Each gets one bound row per multiplier pair ``(kd, ky)``: a confounder ``kd`` times as
        strong with the treatment and ``ky`` times with the outcome (``ky`` defaults to ``kd``).
    r2dz, r2yz : optional partial R-squared pairs of hypothetical confounders, one bound row each (either
        defaults to the other: equal strength).
    reduce : True (default) asks about confounding that moves the estimate toward zero.
    """
    estimate = finite_number(estimate, "estimate")
    se = positive(se, "se", "a standard error, a positive number")
    dof = dof_value(dof)
    q = finite_number(q, "q")
    if q <= 0:
        raise SpecError(f"q={q!r}: the fraction of the estimate to explain away must be positive (1 = all of it).")
    alpha = probability(alpha, "alpha", open_interval=True)
    t = estimate / se
    frames, bench = [], {}
    if benchmarks:
        if not isinstance(benchmarks, Mapping):
            raise SpecError("benchmarks: give a mapping name -> (r2dxj, r2yxj) of partial R-squared.")
        kd_arr, ky_arr = _multipliers(kd, ky)
        for name, pair in benchmarks.items():
            try:
                r2dxj, r2yxj = (float(v) for v in pair)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"benchmarks[{name!r}]={pair!r}: give (r2dxj, r2yxj), two partial R-squared.") from exc
            if not (0 <= r2dxj < 1 and 0 <= r2yxj < 1):
                raise SpecError(f"benchmarks[{name!r}]={pair!r}: partial R-squared must lie in [0, 1).")
            bench[str(name)] = (r2dxj, r2yxj)
            bdz, byz = _math.benchmark_bounds(r2dxj, r2yxj, kd_arr, ky_arr)
            bad = ~np.isfinite(bdz)
            if np.any(bad):
                raise SpecError(f"benchmarks[{name!r}]: kd={kd_arr[bad].tolist()} implies a partial R-squared with the "
                                f"treatment of 1 or more (impossible); use smaller multipliers.")
            if np.any(byz >= 1.0):
                warnings.warn(f"benchmarks[{name!r}]: the bound on the confounder's partial R-squared with the outcome "
                              f"reaches 1 for ky={ky_arr[byz >= 1.0].tolist()} (set to 1: such a confounder explains "
                              "all residual outcome variance); use smaller multipliers for an informative bound.",
                              UserWarning, stacklevel=2)
            labels = [_label(k1, k2, name) for k1, k2 in zip(kd_arr, ky_arr, strict=True)]
            frames.append(_adjusted_rows(estimate, se, dof, alpha, reduce, bdz, byz, labels, kd_arr, ky_arr))
    if r2dz is not None or r2yz is not None:
        dz, yz = _r2_pairs(r2dz if r2dz is not None else r2yz, r2yz if r2yz is not None else r2dz)
        labels = [f"r2dz={a:.3g}, r2yz={b:.3g}" for a, b in zip(dz, yz, strict=True)]
        frames.append(_adjusted_rows(estimate, se, dof, alpha, reduce, dz, yz, labels))
    bounds = pd.concat(frames) if frames else pd.DataFrame(columns=BOUND_COLUMNS, index=pd.Index([], name="bound"))
    return RobustnessResult(
        estimate=estimate, se=se, dof=dof, q=q, alpha=alpha,
        partial_r2=float(_math.partial_r2(t, dof)),
        rv_q=float(_math.robustness_value(t, dof, q)),
        rv_qa=float(_math.robustness_value(t, dof, q, alpha)),
        bounds=bounds, benchmarks=bench, treatment=str(treatment), reduce=bool(reduce))


def _label(kd: float, ky: float, name: str) -> str:
    if kd == ky:
        return f"{kd:g}x {name}"
    return f"{kd:g}x/{ky:g}x {name}"


def ols_robustness(y, d, X=None, *, names: Sequence[str] | None = None, benchmarks: Sequence[str] | None = None,
                   treatment: str = "treatment", **kwargs) -> RobustnessResult:
    """:func:`robustness` for the least-squares regression of ``y`` on an intercept, ``d`` and ``X``.

    Computes the treatment coefficient, its classical standard error and residual degrees of freedom, and for
    each benchmark covariate ``X_j`` its partial R-squared with the outcome (from the outcome regression) and
    with the treatment (from the regression of ``d`` on an intercept and ``X``), both as ``t^2 / (t^2 + dof)``.
    ``X`` may be a DataFrame (its columns name the covariates) or an ``(n, k)`` array with ``names``;
    ``benchmarks`` lists the covariates to benchmark against (default: none). Further keyword arguments go to
    :func:`robustness`.
    """
    y = np.asarray(y, float).ravel()
    d = np.asarray(d, float).ravel()
    n = y.size
    if d.size != n:
        raise DataError(f"y has {n} rows but d has {d.size}: pass the outcome and treatment of the same rows.")
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns] if names is None else list(names)
        X = X.to_numpy(float)
    X = np.zeros((n, 0)) if X is None else np.asarray(X, float).reshape(n, -1)
    names = [f"x{j}" for j in range(X.shape[1])] if names is None else [str(v) for v in names]
    if len(names) != X.shape[1]:
        raise SpecError(f"names has {len(names)} entries for {X.shape[1]} covariate columns.")
    for label, arr in (("outcome", y), ("treatment", d), ("covariates", X)):
        if not np.all(np.isfinite(arr)):
            raise DataError(f"the {label} contains NaN or infinite values; drop or impute those rows first.")
    design = np.column_stack([np.ones(n), d, X])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise DataError("the treatment and covariates are collinear (with an intercept); drop redundant columns.")
    coef, se, dof = _math.ols(y, design)
    if dof < 2:
        raise DataError(f"{n} rows for {design.shape[1]} coefficients leave {dof} residual degrees of freedom; "
                        "need at least 2.")
    bench = {}
    if benchmarks:
        unknown = [b for b in benchmarks if b not in names]
        if unknown:
            raise SpecError(f"benchmarks {unknown} are not among the covariates {names}.")
        coef_d, se_d, dof_d = _math.ols(d, np.column_stack([np.ones(n), X]))
        for b in benchmarks:
            j = names.index(b)
            r2y = float(_math.partial_r2(coef[2 + j] / se[2 + j], dof))
            r2d = float(_math.partial_r2(coef_d[1 + j] / se_d[1 + j], dof_d))
            bench[b] = (r2d, r2y)
    return robustness(coef[1], se[1], dof, benchmarks=bench, treatment=treatment, **kwargs)
