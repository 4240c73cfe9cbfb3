"""The sensitivity figure of a fitted result, and the regression summaries it is computed from.

Cinelli & Hazlett (2020, "Making sense of sensitivity: extending omitted variable bias", JRSS-B 82:39-67) turn
a confounder's strength, as two partial R-squared (with the treatment given the covariates, and with the outcome
given the treatment and the covariates), into the bias it would cause in a regression's treatment coefficient:
``|bias| = se sqrt(dof) sqrt(r2yz r2dz / (1 - r2dz))``, where ``se sqrt(dof) = sqrt(RSS_y / RSS_d)``, the
residual sum of squares of the outcome on ``(1, d, X)`` over that of the treatment on ``(1, X)``. What a result
needs for this is small and is kept at fit time as a :class:`RegressionBenchmarks`: that residual scale and, for
every covariate (its design columns as a group, as sensemakr does for grouped benchmarks), its partial R-squared
with the treatment and with the outcome, from least squares on the rows the estimate is about. They come from
one pass over the rows accumulating the covariates' cross-products (:func:`regression_benchmarks`, chunked, so
memory stays a few megabytes however many rows), after which everything is a small linear-algebra problem
(Frisch-Waugh-Lovell).

A Bayesian posterior takes the place of the regression's estimate and standard error
(:func:`posterior_robustness`: mean and sd of the draws), with the degrees of freedom set so that
``se sqrt(dof)`` equals the data's residual scale; so a confounder of a given strength moves the posterior by
the bias it would cause in the covariate-adjusted regression (exact for least squares, an approximation for
AIPW or matching), and the robustness value for the interval is that of the posterior's normal-approximation
interval. An instrumental-variable result asks the question of the reduced form (the regression of the outcome
on the instrument and covariates, behind the Anderson-Rubin test): its effect is zero exactly when the IV
effect is, so the robustness of the IV estimate's sign to a confounder or side effect of the instrument is that
of the reduced form (Cinelli & Hazlett 2025, "An omitted variable bias framework for sensitivity analysis of
instrumental variables", Biometrika 112(2), asaf004); :func:`regression_robustness` uses the least-squares
estimate itself.

:class:`ConfoundingSensitivity` gives a result ``sensitivity()``, ``plot_sensitivity()`` and the panel its
``plot()`` draws (:func:`contour_panel`: contours of the bias-adjusted estimate over the two partial R-squared,
with the benchmark covariates marked, after sensemakr's contour plot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from scipy import stats

from ..errors import DataError, SpecError
from ..report import plots
from ..report.text import fmt
from . import _math
from ._inputs import draws_1d, probability
from .robustness import RobustnessResult, robustness

CHUNK_ELEMENTS = 2_000_000  # values per chunk of the design (16 MB): memory stays flat however many rows
RCOND = 1e-10  # relative singular-value cut-off of the (correlation-scaled) cross-product solves
MIN_DOF = 3.0  # a posterior sd this close to the residual scale leaves no room for a sensitivity analysis
PANEL_LABELS = 4  # benchmark covariates named in the compact panel of a result's plot (the strongest on the outcome)


@dataclass(frozen=True)
class RegressionBenchmarks:
    """What a result keeps for its sensitivity analysis: the least-squares regression of the outcome on an
    intercept, ``treatment`` and the covariates, summarised.

    Attributes
    ----------
    treatment : the regressor whose confounding is in question (a result's treatment; an IV result's instrument).
    rows : rows used. ``dof`` : residual degrees of freedom, rows minus 2 minus the covariates' rank.
    estimate, se : the treatment's coefficient and its classical standard error.
    table : one row per covariate: ``r2_treatment`` (``R2_{D~Xj|X-j}``), ``r2_outcome`` (``R2_{Y~Xj|D,X-j}``)
        and ``columns`` (its design columns: 1, or levels minus 1 for a category).
    problem : why no sensitivity analysis is possible on these rows ("" when it is).
    """

    treatment: str
    rows: int
    dof: float
    estimate: float
    se: float
    table: pd.DataFrame = field(repr=False)
    problem: str = ""

    @property
    def scale(self) -> float:
        """``se sqrt(dof) = sqrt(RSS_y / RSS_d)``: outcome units of bias per unit of confounder strength."""
        return float(self.se * np.sqrt(self.dof))

    def pairs(self, benchmarks=None) -> dict[str, tuple[float, float]]:
        """``name -> (r2dxj, r2yxj)`` for :func:`~bayescausal.sensitivity.robustness`: every covariate (None), the
        covariates named (a name or a list of names), or a mapping of such pairs given as is."""
        if isinstance(benchmarks, Mapping):
            return dict(benchmarks)
        if benchmarks is None:
            names = list(self.table.index)
        elif isinstance(benchmarks, str):
            names = [benchmarks]
        elif isinstance(benchmarks, Sequence):
            names = list(benchmarks)
        else:
            raise SpecError(f"benchmarks={benchmarks!r}: give covariate names, a mapping name -> (r2dxj, r2yxj), "
                            "or None for every covariate.")
        unknown = [b for b in names if b not in self.table.index]
        if unknown:
            raise SpecError(f"benchmarks {unknown} are not covariates of this fit; choose among "
                            f"{list(self.table.index)}.")
        return {str(b): (float(self.table.loc[b, "r2_treatment"]), float(self.table.loc[b, "r2_outcome"]))
                for b in names}


# -- cross-products (NumPy on a frame's columns, chunked) -------------------------------------------------------
def _take(values: np.ndarray, sl: slice, mask: np.ndarray | None) -> np.ndarray:
    return values[sl] if mask is None else values[sl][mask]


def _design_chunk(covariates: pd.DataFrame | None, sl: slice, mask: np.ndarray | None) -> list[np.ndarray]:
    """The design columns of rows ``sl`` (``mask`` selecting among them), one block per covariate: a numeric
    column as is, a category as 0/1 columns for its levels but the first."""
    blocks = []
    for c in ([] if covariates is None else covariates.columns):
        s = covariates[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = _take(s.cat.codes.to_numpy(), sl, mask)
            blocks.append((codes[:, None] == np.arange(1, len(s.cat.categories))[None, :]).astype(float))
        else:
            blocks.append(_take(s.to_numpy(dtype=float), sl, mask)[:, None])
    return blocks


def _cross_products(y, d, covariates, rows) -> tuple[np.ndarray, int, list[int]]:
    """Centred cross-products of ``[d, y, design]`` over the selected rows, the row count and each covariate's
    number of design columns. One pass, shifted by the first chunk's means (stable when the shift is near the
    mean), so the design is never held whole."""
    n_all = len(y)
    widths = [len(covariates[c].cat.categories) - 1 if isinstance(covariates[c].dtype, pd.CategoricalDtype) else 1
              for c in ([] if covariates is None else covariates.columns)]
    k = 2 + sum(widths)
    step = max(1024, CHUNK_ELEMENTS // k)
    S = np.zeros((k, k))
    total = np.zeros(k)
    shift = None
    n = 0
    for start in range(0, n_all, step):
        sl = slice(start, min(start + step, n_all))
        mask = None if rows is None else rows[sl]
        M = np.column_stack([_take(d, sl, mask), _take(y, sl, mask), *_design_chunk(covariates, sl, mask)])
        if not len(M):
            continue
        if shift is None:
            shift = M.mean(axis=0)
        M -= shift
        S += M.T @ M
        total += M.sum(axis=0)
        n += len(M)
    if n == 0:
        return np.zeros((k, k)), 0, widths
    offset = total / n
    return S - n * np.outer(offset, offset), n, widths


# -- the regression summary (pure NumPy on the cross-products) ---------------------------------------------------
def _rss(C: np.ndarray, target: int, cols: np.ndarray) -> float:
    """Residual sum of squares of column ``target`` on columns ``cols`` (and the intercept the centring removed)."""
    if len(cols) == 0:
        return float(C[target, target])
    A, b = C[np.ix_(cols, cols)], C[cols, target]
    coef = np.linalg.lstsq(A, b, rcond=RCOND)[0]
    return float(max(C[target, target] - b @ coef, 0.0))


def summarise_regression(G: np.ndarray, n: int, widths: Sequence[int]) -> dict:
    """From the centred cross-products of ``[d, y, X]``: the treatment's coefficient, standard error and residual
    dof in ``y ~ 1 + d + X``, and each covariate group's partial R-squared with ``d`` (given the other covariates)
    and with ``y`` (given ``d`` and the other covariates); ``problem`` says why these are undefined, if they are.

    Works on the correlation-scaled matrix (columns that are constant on these rows are dropped) and by
    Frisch-Waugh-Lovell: ``RSS_d = RSS(d | X)``, ``b = (C_dy - C_dX C_XX^+ C_Xy) / RSS_d`` and
    ``RSS(y | d, X) = RSS(y | X) - RSS_d b^2``; a group's partial R-squared is ``1 - RSS_full / RSS_without``.
    """
    diag = np.diag(G).copy()
    keep = diag > 0
    sd = np.sqrt(np.where(keep, diag, 1.0))
    C = G / np.outer(sd, sd)
    starts = np.cumsum([2, *widths])[:-1]
    groups = [np.arange(s, s + w)[keep[s:s + w]] for s, w in zip(starts, widths, strict=True)]
    X = np.concatenate(groups) if groups else np.zeros(0, int)
    rank = int(np.linalg.matrix_rank(C[np.ix_(X, X)], tol=RCOND * max(1.0, len(X)))) if len(X) else 0
    dof = float(n - 2 - rank)
    out = {"dof": dof, "estimate": float("nan"), "se": float("nan"), "r2_treatment": np.full(len(widths), np.nan),
           "r2_outcome": np.full(len(widths), np.nan), "problem": ""}
    if not (keep[0] and keep[1]):
        out["problem"] = ("the treatment or the outcome is constant on the rows used, so no regression "
                          "summarises the confounding.")
        return out
    if dof < 2:
        out["problem"] = (f"{n} rows for {rank + 2} regression coefficients leave {dof:g} residual degrees of "
                          "freedom; a sensitivity analysis needs at least 2.")
        return out
    rss_d = _rss(C, 0, X)
    if rss_d <= RCOND * C[0, 0]:
        out["problem"] = ("the covariates predict the treatment exactly (no residual variation in it), so its "
                          "effect is not identified by adjustment.")
        return out
    bx_y = np.linalg.lstsq(C[np.ix_(X, X)], C[X, 1], rcond=RCOND)[0] if len(X) else np.zeros(0)
    b = (C[0, 1] - C[X, 0] @ bx_y) / rss_d
    rss_y = max(_rss(C, 1, X) - rss_d * b ** 2, 0.0)
    out["estimate"] = float(b * sd[1] / sd[0])
    out["se"] = float(np.sqrt(rss_y * sd[1] ** 2 / dof / (rss_d * sd[0] ** 2)))
    if rss_y <= RCOND * C[1, 1]:
        out["problem"] = ("the treatment and covariates fit the outcome exactly (no residual variation), so the "
                          "bias of a confounder cannot be scaled.")
        return out
    dy = np.concatenate([[0], X])
    for j, grp in enumerate(groups):
        if not len(grp):  # every column of the covariate is constant on these rows: it explains nothing
            out["r2_treatment"][j] = out["r2_outcome"][j] = 0.0
            continue
        others = np.setdiff1d(X, grp)
        out["r2_treatment"][j] = 1.0 - rss_d / max(_rss(C, 0, others), rss_d)
        out["r2_outcome"][j] = 1.0 - rss_y / max(_rss(C, 1, np.setdiff1d(dy, grp)), rss_y)
    return out


def regression_benchmarks(y, d, covariates: pd.DataFrame | None = None, *, treatment: str = "treatment",
                          rows: np.ndarray | None = None) -> RegressionBenchmarks:
    """Summarise ``y ~ 1 + d + covariates`` by least squares for a sensitivity analysis (see the module docstring).

    ``covariates``: numeric columns (float) and pandas ``Categorical`` columns (levels but the first as 0/1
    columns), the frame a result's covariates came from; ``rows``: a boolean mask of the rows the estimate is
    about (default all). Never raises for degenerate data: ``problem`` then says why no analysis is possible, so
    that a fit can always store the summary."""
    y = np.asarray(y, float)
    d = np.asarray(d, float)
    if rows is not None:
        rows = np.asarray(rows, bool)
    G, n, widths = _cross_products(y, d, covariates, rows)
    s = summarise_regression(G, n, widths)
    names = [] if covariates is None else [str(c) for c in covariates.columns]
    table = pd.DataFrame({"r2_treatment": s["r2_treatment"], "r2_outcome": s["r2_outcome"], "columns": widths},
                         index=pd.Index(names, name="covariate"))
    return RegressionBenchmarks(treatment=str(treatment), rows=int(n), dof=s["dof"], estimate=s["estimate"],
                                se=s["se"], table=table, problem=s["problem"])


# -- robustness of a result ----------------------------------------------------------------------------------------
def _usable(bench: RegressionBenchmarks) -> RegressionBenchmarks:
    if bench.problem:
        raise DataError(f"no sensitivity analysis for these data: {bench.problem}")
    return bench


def posterior_robustness(draws, bench: RegressionBenchmarks, *, benchmarks=None, kd=1.0, ky=None, q: float = 1.0,
                         prob: float = 0.95, treatment: str | None = None) -> RobustnessResult:
    """:func:`~bayescausal.sensitivity.robustness` of a posterior: its mean and sd as the estimate and standard
    error, ``dof = (bench.scale / sd)^2`` so that the bias of a confounder is the one it would cause in the
    covariate-adjusted regression, and ``bench``'s covariates as benchmarks (``kd`` / ``ky`` times as strong)."""
    bench = _usable(bench)
    prob = probability(prob, "prob", open_interval=True)
    d = draws_1d(draws, "effect draws")
    est, sd = float(np.mean(d)), float(np.std(d, ddof=1))
    if sd <= 0:
        raise DataError("the effect's posterior draws are all equal; a sensitivity analysis needs a posterior sd.")
    dof = (bench.scale / sd) ** 2
    if dof < MIN_DOF:
        raise DataError(f"the posterior sd ({fmt(sd)}) is as large as the data's residual scale ({fmt(bench.scale)}): "
                        "the estimate says too little for a robustness value; fit on more rows.")
    return robustness(est, sd, dof, q=q, alpha=1.0 - prob, benchmarks=bench.pairs(benchmarks), kd=kd, ky=ky,
                      treatment=treatment or bench.treatment)


def regression_robustness(bench: RegressionBenchmarks, *, benchmarks=None, kd=1.0, ky=None, q: float = 1.0,
                          prob: float = 0.95, treatment: str | None = None) -> RobustnessResult:
    """:func:`~bayescausal.sensitivity.robustness` of the summarised regression's own least-squares estimate
    (sensemakr's analysis of that regression), with its covariates as benchmarks."""
    bench = _usable(bench)
    prob = probability(prob, "prob", open_interval=True)
    return robustness(bench.estimate, bench.se, bench.dof, q=q, alpha=1.0 - prob, benchmarks=bench.pairs(benchmarks),
                      kd=kd, ky=ky, treatment=treatment or bench.treatment)


# -- the figure ----------------------------------------------------------------------------------------------------
def contour_panel(ax, rob: RobustnessResult, *, kind: str = "estimate", regressor: str = "the treatment",
                  title: str | None = None, max_labels: int | None = None, levels: int = 10) -> None:
    """Contours of the bias-adjusted estimate (``kind="estimate"``) or t statistic (``"t"``) over the confounder's
    partial R-squared with ``regressor`` and with the outcome, on ``ax``: the contour where the estimate is
    explained away (for ``"t"``: where it stops being significant) dashed, the robustness value as the weakest
    point on that contour, the unadjusted point at the origin and the benchmark bounds as diamonds (the
    ``max_labels`` strongest on the outcome named; all when None)."""
    if kind not in ("estimate", "t"):
        raise SpecError(f"kind={kind!r}: use 'estimate' (adjusted estimate) or 't' (adjusted t statistic).")
    pts = rob.bounds[["r2dz_x", "r2yz_dx"]].to_numpy(float)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    lim = float(min(0.99, max(0.05, 2.0 * rob.rv_q, *(1.25 * pts.max(axis=0) if pts.size else (0.0,)))))
    gx, gy = np.meshgrid(np.linspace(0, lim, 161), np.linspace(0, lim, 161))
    if kind == "estimate":
        z = _math.adjusted_estimate(rob.estimate, rob.se, rob.dof, gx, gy, rob.reduce)
        threshold, at0 = (1 - rob.q) * rob.estimate, rob.estimate
    else:
        z = _math.adjusted_t(rob.estimate, rob.se, rob.dof, gx, gy, rob.reduce)
        threshold, at0 = np.sign(rob.estimate) * float(stats.t.ppf(1 - rob.alpha / 2, rob.dof - 1)), rob.t
    # contour values from the unadjusted value to as far beyond the threshold again: the region that decides
    # whether the estimate survives, not the far corner where it is reversed many times over
    far = threshold - (at0 - threshold)
    span = np.clip(z, min(far, at0), max(far, at0))
    steps = MaxNLocator(nbins=levels).tick_values(float(np.nanmin(span)), float(np.nanmax(span)))
    steps = steps[(steps >= np.nanmin(z)) & (steps <= np.nanmax(z)) & ~np.isclose(steps, threshold)]
    if len(steps):
        cs = ax.contour(gx, gy, z, levels=steps, colors=plots.MODEL, linewidths=0.8, alpha=0.8,
                        linestyles="solid")
        ax.clabel(cs, fontsize=7, fmt=lambda v: fmt(v))
    if np.nanmin(z) <= threshold <= np.nanmax(z):
        ct = ax.contour(gx, gy, z, levels=[threshold], colors=plots.EFFECT, linewidths=1.8, linestyles="--")
        ax.clabel(ct, fontsize=7, fmt=lambda v: fmt(v))
    ax.plot([0], [0], marker="^", color=plots.OBSERVED, ms=7, ls="none", clip_on=False)
    ax.annotate(f"unadjusted ({fmt(at0)})", (0, 0), xytext=(6, 6), textcoords="offset points", fontsize=8)
    rv, rv_y, rv_name = _rv_point(rob, kind)
    if 0 < rv <= lim:
        ax.plot([rv], [rv_y], marker="o", color=plots.EFFECT, ms=5, ls="none")
        ax.annotate(f"{rv_name} {rv:.1%}", (rv, rv_y), xytext=(5, -11), textcoords="offset points", fontsize=8,
                    color=plots.EFFECT)
    shown = rob.bounds[np.isfinite(rob.bounds["r2dz_x"]) & np.isfinite(rob.bounds["r2yz_dx"])]
    named = shown["r2yz_dx"].sort_values(ascending=False).index[:max_labels] if max_labels else shown.index
    for label, row in shown.iterrows():
        x, y = row["r2dz_x"], row["r2yz_dx"]
        if x > lim or y > lim:
            continue
        ax.plot([x], [y], marker="D", color=plots.EFFECT, ms=5, ls="none")
        if label in named:
            val = row["adjusted_estimate"] if kind == "estimate" else row["adjusted_t"]
            ax.annotate(f"{label} ({fmt(val)})", (x, y), xytext=(5, 3), textcoords="offset points", fontsize=7)
    ax.set_xlim(0, lim)
    ax.set_ylim(0, lim)
    ax.set_xlabel(f"partial R² of a confounder with {regressor}")
    ax.set_ylabel("partial R² with the outcome")
    what = "estimate" if kind == "estimate" else "t statistic"
    ax.set_title(title or f"Adjusted {what} (RV {rob.rv_q:.1%}, interval {rob.rv_qa:.1%})")


def _rv_point(rob: RobustnessResult, kind: str) -> tuple[float, float, str]:
    """Where the robustness value lies on the dashed contour: on the diagonal (equal strength with both), except
    ``RV_{q,alpha}`` in its extreme case, reached with the weaker outcome association ``r / (r + f*^2)``
    (see :func:`bayescausal.sensitivity._math.robustness_value`)."""
    if kind == "estimate":
        return rob.rv_q, rob.rv_q, "RV"
    fq = rob.q * abs(rob.t) / np.sqrt(rob.dof)
    fc = _math.critical_f(rob.alpha, rob.dof)
    r = rob.rv_qa
    return r, (r if fq * fc < 1.0 else r / (r + fc ** 2)), "RV for the interval"


def sensitivity_tables(rob: RobustnessResult, regressor: str = "treatment") -> dict[str, pd.DataFrame]:
    """The robustness statistics and the benchmark bounds, titled for a result's HTML page."""
    tables = {f"Sensitivity to an unmeasured confounder of the {regressor} and the outcome (Cinelli & Hazlett "
              "2020)": rob.table()}
    if len(rob.bounds):
        tables["Confounders as strong as each covariate (benchmark bounds)"] = rob.bounds
    return tables


class ConfoundingSensitivity:
    """Mixin for a frozen result dataclass with a ``confounding_benchmarks`` field (a :class:`RegressionBenchmarks`
    or None) and an ``effect`` posterior: ``sensitivity()``, ``plot_sensitivity()`` and the plot panel.

    A result analyses its posterior (:func:`posterior_robustness`); one whose question is the regression itself
    (an IV result's reduced form) sets ``_sensitivity_of_posterior = False``."""

    _sensitivity_of_posterior = True
    _sensitivity_regressor = "the treatment"

    def _sensitivity_title(self, rob: RobustnessResult) -> str | None:
        """The panel's title (None: the default, naming the robustness values)."""
        return None

    def _sensitivity_unavailable(self) -> str:
        """Why this result holds no regression summary (the message of the SpecError)."""
        return (f"this {type(self).__name__} holds no regression summary of its data (confounding_benchmarks); "
                "sensitivity() needs a result returned by fit.")

    @property
    def has_sensitivity(self) -> bool:
        """True when the result holds what :meth:`sensitivity` needs and the data allow the analysis."""
        bench = getattr(self, "confounding_benchmarks", None)
        return bench is not None and not bench.problem

    def sensitivity(self, benchmarks=None, *, kd=1.0, ky=None, q: float = 1.0, prob: float = 0.95
                    ) -> RobustnessResult:
        """Cinelli-Hazlett sensitivity of the estimate to an unmeasured confounder.

        Returns a :class:`~bayescausal.sensitivity.RobustnessResult`: ``rv_q`` (the partial R-squared a confounder
        needs with both the treatment and the outcome to move the estimate by ``100 q`` percent), ``rv_qa`` (to
        make the ``prob`` interval include that value), and ``bounds`` (the bias-adjusted estimate and interval
        under a confounder ``kd`` / ``ky`` times as strong as each benchmark covariate). ``benchmarks``: None
        (every covariate of the fit), covariate names, or a mapping ``name -> (r2dxj, r2yxj)``. The covariates'
        partial R-squared come from least squares on the fit's rows, kept by ``fit`` (see
        :mod:`bayescausal.sensitivity.figure`)."""
        bench = getattr(self, "confounding_benchmarks", None)
        if bench is None:
            raise SpecError(self._sensitivity_unavailable())
        if self._sensitivity_of_posterior:
            return posterior_robustness(self.effect.values, bench, benchmarks=benchmarks, kd=kd, ky=ky, q=q,
                                        prob=prob)
        return regression_robustness(bench, benchmarks=benchmarks, kd=kd, ky=ky, q=q, prob=prob)

    def plot_sensitivity(self, benchmarks=None, *, kind: str = "estimate", **kwargs):
        """The contour figure of :meth:`sensitivity` (same arguments), every benchmark named."""
        rob = self.sensitivity(benchmarks, **kwargs)
        with plots.plt.rc_context(plots.STYLE):
            fig, ax = plots.plt.subplots(figsize=(6.2, 5.2))
            contour_panel(ax, rob, kind=kind, regressor=self._sensitivity_regressor,
                          title=self._sensitivity_title(rob))
            fig.tight_layout()
        return fig

    def _sensitivity_panel(self, ax) -> None:
        """The compact contour panel of ``plot()``; the reason in words when the analysis cannot be done."""
        try:
            rob = self.sensitivity()
            contour_panel(ax, rob, regressor=self._sensitivity_regressor, title=self._sensitivity_title(rob),
                          max_labels=PANEL_LABELS)
        except (DataError, SpecError) as exc:
            ax.text(0.5, 0.5, str(exc), ha="center", va="center", wrap=True, fontsize=8, color="#6b7280",
                    transform=ax.transAxes)
            ax.set_title("Sensitivity to unmeasured confounding")

    def _sensitivity_tables(self) -> dict[str, pd.DataFrame]:
        if not self.has_sensitivity:
            return {}
        try:
            rob = self.sensitivity()
        except (DataError, SpecError):
            return {}
        return sensitivity_tables(rob, self._sensitivity_regressor.removeprefix("the "))
