"""Lever ranking: which intervention moves an outcome most, how sure we are, and what it costs per unit of effect.

>>> ranking = fitted.rank_levers("churn", {"billing_issues": (1, 0), "usage": {"shift": 5.0}},   # doctest: +SKIP
...                              cost={"billing_issues": 40.0, "usage": 25.0}, goal="decrease")
>>> print(ranking.report()); ranking.table(); ranking.best                                   # doctest: +SKIP

Each lever is one interventional contrast computed by :meth:`FittedSCM.effect`. All levers use the same
``draws`` and ``seed``, which select the same posterior parameter draws in the same order and the same
exogenous noise, so the effect draws are *paired* across levers: draw ``i`` of every lever comes from one
joint posterior draw of the model. The probability that a lever is the best is then the share of joint draws
in which it beats every other lever: the "probability of being the best" that network meta-analysis reports
for competing treatments (Salanti, Ades & Ioannidis 2011, J. Clin. Epidemiol. 64(2), 163-171). Treating the
levers' posteriors as independent instead would ignore that they share parameters (two levers acting through
the same mechanism move together) and misstate how sure the ranking is.

The pure arithmetic (probability of being best, effect per unit cost) lives in small functions over draw
arrays, :func:`prob_best` and :func:`per_unit_cost`; :func:`rank_levers` parses and validates the levers and
calls the fitted model; :class:`LeverRanking` holds the answer.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..checks.base import CheckResult
from ..errors import SpecError
from ..inference import to_inference_data
from ..report import html as html_report
from ..report.text import checks_sentences, fmt
from ..result import CausalResult, interval

GOALS = ("increase", "decrease")
CLEARLY_BEST = 0.8  # P(best) from which the report calls a lever clearly the best


# -- pure arithmetic on draw arrays ------------------------------------------------------------------------------
def goal_sign(goal: str) -> float:
    """+1 when larger effects are better (``"increase"``), -1 when smaller ones are (``"decrease"``)."""
    if goal not in GOALS:
        raise SpecError(f"goal={goal!r}: use 'increase' (larger outcome is better) or 'decrease' (e.g. churn).")
    return 1.0 if goal == "increase" else -1.0


def prob_best(draws: np.ndarray, goal: str = "increase") -> np.ndarray:
    """Share of joint draws in which each lever has the largest effect in the goal's direction.

    ``draws``: ``(levers, samples)``, column ``j`` one joint posterior draw. A draw in which several levers tie
    for the best (for example levers without a path to the outcome, all exactly 0) credits each of them
    equally, so the probabilities sum to 1.
    """
    d = goal_sign(goal) * np.asarray(draws, float)
    if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] < 1:
        raise ValueError(f"draws must be (levers, samples) with at least one of each, got shape {d.shape}")
    winners = d == d.max(axis=0, keepdims=True)
    return (winners / winners.sum(axis=0, keepdims=True)).mean(axis=1)


def per_unit_cost(draws: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Effect per unit cost, draw by draw: ``draws[k] / costs[k]`` for ``(levers, samples)`` draws."""
    c = np.asarray(costs, float)
    if c.ndim != 1 or np.any(~np.isfinite(c)) or np.any(c <= 0):
        raise ValueError(f"costs must be a 1-D array of positive finite numbers, got {costs!r}")
    return np.asarray(draws, float) / c[:, None]


# -- levers: parsing and validation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lever:
    """One intervention: ``effect()`` keyword arguments and the words that describe it."""

    node: str
    arguments: dict
    description: str


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def parse_lever(fitted, node: str, spec: Any) -> Lever:
    """A lever from its spec: ``(from, to)`` compares ``do(node = to)`` with ``do(node = from)``; ``{"shift": s}``
    (or a bare number ``s``, for a continuous or count node only) compares ``do(node = node + s)`` with the
    natural value, row by row."""
    kind = fitted.data.layout(node).encoding.kind
    shift = None
    if isinstance(spec, Mapping):
        if set(spec) != {"shift"}:
            raise SpecError(f"lever {node!r}: a dict lever must be {{'shift': number}}, got keys {sorted(spec)}; for a "
                            "set value use a (from, to) pair.")
        shift = spec["shift"]
        if not _is_number(shift) or not np.isfinite(float(shift)):
            raise SpecError(f"lever {node!r}: shift must be a finite number, got {shift!r}.")
    elif isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise SpecError(f"lever {node!r}: give (from, to), two values, got {spec!r}.")
        frm, to = spec
        return Lever(node, {"treat": to, "control": frm}, f"set {node} from {frm!r} to {to!r}")
    elif _is_number(spec):
        if kind not in ("continuous", "count"):
            raise SpecError(f"lever {node!r}: a bare number means a shift, which applies to a continuous or count "
                            f"node; {node!r} is {kind}: give (from, to), e.g. (0, 1).")
        shift = spec
    else:
        raise SpecError(f"lever {node!r}: give (from, to), {{'shift': number}} or a number (a shift), not {spec!r}.")
    if kind not in ("continuous", "count"):
        raise SpecError(f"lever {node!r}: a shift applies to a continuous or count node; {node!r} is {kind}: give "
                        "(from, to) instead.")
    return Lever(node, {"shift": float(shift)}, f"shift {node} by {float(shift):+g}")


def _costs(cost: Any, names: list[str]) -> np.ndarray | None:
    if cost is None:
        return None
    if not isinstance(cost, Mapping):
        raise SpecError(f"cost must be a dict {{lever: cost per application}}, got {type(cost).__name__}.")
    unknown = sorted(set(cost) - set(names), key=str)
    if unknown:
        raise SpecError(f"cost names {unknown}, which are not levers; the levers are {names}.")
    missing = [n for n in names if n not in cost]
    if missing:
        raise SpecError(f"cost is missing lever(s) {missing}: give a cost for every lever (effects per unit cost "
                        "are only comparable when all are known).")
    out = []
    for n in names:
        c = cost[n]
        if not _is_number(c) or not np.isfinite(float(c)) or float(c) <= 0:
            raise SpecError(f"cost[{n!r}] = {c!r}: give a positive finite number (cost per application).")
        out.append(float(c))
    return np.array(out)


def rank_levers(fitted, outcome: str, levers: Mapping[str, Any], cost: Mapping[str, float] | None = None, *,
                where: Any = None, goal: str = "increase", draws: int = 1000, seed: int | None = None,
                level: Any = None) -> LeverRanking:
    """Rank interventions on ``outcome`` by effect, probability of being the best, and effect per unit cost.

    Parameters
    ----------
    fitted : a :class:`~bayescausal.scm.FittedSCM`.
    outcome : the node the levers should move.
    levers : ``{node: spec}``. ``spec`` is ``(from, to)``: ``do(node = to)`` against ``do(node = from)`` (any
        kind of node; binary nodes take 0/1, categorical nodes their levels); ``{"shift": s}``: ``do(node = node
        + s)`` against the natural value, row by row (continuous and count nodes); or a bare number ``s``, the
        same shift (a bare number for a binary or categorical node is an error: say ``(from, to)``).
    cost : ``{lever: cost per application}``, positive, one per lever; adds the effect per unit cost, its
        interval and the probability of being best per unit cost.
    where : a subgroup of rows, as in :meth:`FittedSCM.effect`.
    goal : ``"increase"`` (default) or ``"decrease"`` (e.g. churn): the direction in which a lever is better.
    draws, seed : posterior draws used and the seed of the intervention noise, the same for every lever (paired
        draws, see the module doc); seed defaults to the fit's.
    level : for a categorical outcome, the level whose probability the levers move.

    A lever on a node without a directed path to ``outcome`` has an effect of exactly 0 (the graph says the
    intervention cannot reach the outcome); the report says so.
    """
    g = fitted.graph
    y = g.check_node(outcome, "outcome")
    goal_sign(goal)  # validates goal
    if not isinstance(levers, Mapping) or not levers:
        raise SpecError("levers must be a non-empty dict {node: (from, to) or {'shift': s}}.")
    names = [g.check_node(node, "lever") for node in levers]
    if y in names:
        raise SpecError(f"the outcome {y!r} is also a lever; a lever must be another node that may move it.")
    costs = _costs(cost, names)
    parsed = [parse_lever(fitted, node, levers[node]) for node in names]
    results = {}
    for lev in parsed:
        try:
            results[lev.node] = fitted.effect(lev.node, y, where=where, level=level, draws=draws, seed=seed,
                                              **lev.arguments)
        except SpecError as err:
            raise SpecError(f"lever {lev.node!r}: {err}") from None
    first = results[names[0]].effect
    chains, per = first.sizes["chain"], first.sizes["draw"]
    stacked = np.stack([results[n].effect.values for n in names], axis=-1)  # (chain, draw, lever), paired draws
    effect = xr.DataArray(stacked, dims=("chain", "draw", "lever"), name="effect",
                          coords={"chain": np.arange(chains), "draw": np.arange(per), "lever": names})
    posterior = {"effect": stacked}
    if costs is not None:
        posterior["effect_per_cost"] = stacked / costs
    idata = to_inference_data(posterior, coords={"lever": names},
                              dims={k: ["lever"] for k in posterior},
                              sample_stats={"diverging": np.zeros((chains, per), dtype=bool)},
                              attrs={"method": "SCM lever ranking", "outcome": y, "goal": goal})
    no_path = tuple(n for n in names if y not in g.descendants(n))
    checks = list(fitted.checks)
    for n in names:
        checks += [CheckResult(f"{c.name} [{n}]", c.passed, c.statistic, c.threshold, c.message)
                   for c in results[n].checks if c not in fitted.checks]
    out_words = fitted._outcome_value(y, level)[1]
    sub = "" if where is None else f" among the rows with {fitted._where_words(where)}"
    estimand = f"effects on {out_words} of {len(names)} candidate lever{'s' if len(names) > 1 else ''}{sub}"
    info = {"outcome": y, "goal": goal, "levers": len(names), "draws": chains * per,
            "rows": results[names[0]].info.get("rows")}
    return LeverRanking(estimand, effect, idata, tuple(checks), method="SCM lever ranking", info=info,
                        outcome=y, outcome_words=out_words + sub, goal=goal,
                        descriptions={lev.node: lev.description for lev in parsed},
                        results=results,
                        costs=None if costs is None else dict(zip(names, costs.tolist(), strict=True)),
                        no_path=no_path)


@dataclass(frozen=True)
class LeverRanking(CausalResult):
    """The ranked levers: per lever the effect (mean, interval), P(best), and effect per unit cost when costs are
    given; ``best``; the per-lever :class:`CausalResult` in ``results[node]`` (with its identification and placebo
    checks); ``checks`` gathers the fit's checks and every lever's own (named ``"check [lever]"``).

    ``effect`` has dims ``(chain, draw, lever)``; draw ``i`` of every lever comes from the same joint posterior
    draw (paired), which is what P(best) is computed from.
    """

    outcome: str = ""
    outcome_words: str = ""
    goal: str = "increase"
    descriptions: Mapping[str, str] = field(default_factory=dict)
    results: Mapping[str, CausalResult] = field(default_factory=dict, repr=False)
    costs: Mapping[str, float] | None = None
    no_path: tuple[str, ...] = ()

    # -- numbers ----------------------------------------------------------------------------------------------------
    @property
    def sign(self) -> float:
        """+1 when the goal is to increase the outcome, -1 when it is to decrease it."""
        return goal_sign(self.goal)

    @property
    def levers(self) -> tuple[str, ...]:
        return tuple(str(v) for v in self.effect.coords["lever"].values)

    def _draws(self) -> np.ndarray:
        """``(lever, samples)``: the paired effect draws."""
        e = self.effect.transpose("lever", "chain", "draw").values
        return e.reshape(e.shape[0], -1)

    def p_best(self, per_cost: bool = False) -> pd.Series:
        """Posterior probability that each lever is the best (per unit cost with ``per_cost=True``)."""
        draws = self._draws()
        if per_cost:
            if self.costs is None:
                raise SpecError("no costs were given to rank_levers(cost=...), so there is no P(best per unit cost).")
            draws = per_unit_cost(draws, np.array([self.costs[n] for n in self.levers]))
        return pd.Series(prob_best(draws, self.goal), index=list(self.levers), name="p_best")

    def summary(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """One row per lever, best first (by expected effect in the goal's direction): ``intervention``, ``mean``,
        ``sd``, ``lower``, ``upper`` (interval at ``hdi_prob``), ``p_positive``, ``p_best``; with costs also
        ``cost``, ``per_cost_mean``, ``per_cost_lower``, ``per_cost_upper`` and ``p_best_per_cost``."""
        if not 0.0 < hdi_prob < 1.0:
            raise SpecError(f"interval probability {hdi_prob!r} must lie strictly between 0 and 1.")
        draws = self._draws()
        p_best = self.p_best().to_numpy()
        has_cost = self.costs is not None
        if has_cost:
            costs = np.array([self.costs[n] for n in self.levers])
            ratio = per_unit_cost(draws, costs)
            p_best_cost = prob_best(ratio, self.goal)
        records = []
        for k, name in enumerate(self.levers):
            d = draws[k]
            lo, hi = interval(d, hdi_prob, self.interval_kind)
            row = {"lever": name, "intervention": self.descriptions.get(name, ""), "mean": d.mean(),
                   "sd": d.std(ddof=1), "lower": lo, "upper": hi, "p_positive": float(np.mean(d > 0)),
                   "p_best": float(p_best[k])}
            if has_cost:
                clo, chi = interval(ratio[k], hdi_prob, self.interval_kind)
                row.update(cost=float(costs[k]), per_cost_mean=float(ratio[k].mean()), per_cost_lower=clo,
                           per_cost_upper=chi, p_best_per_cost=float(p_best_cost[k]))
            records.append(row)
        table = pd.DataFrame(records).set_index("lever")
        order = np.argsort(-self.sign * table["mean"].to_numpy(), kind="stable")
        return table.iloc[order]

    def table(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """The same table as :meth:`summary`."""
        return self.summary(hdi_prob)

    @property
    def best(self) -> str:
        """The most impactful lever: the largest expected effect in the goal's direction."""
        return str(self.summary().index[0])

    @property
    def best_per_cost(self) -> str | None:
        """The lever with the largest expected effect per unit cost in the goal's direction (None without costs)."""
        if self.costs is None:
            return None
        t = self.summary()
        return str(t.index[int(np.argmax(self.sign * t["per_cost_mean"].to_numpy()))])

    # -- words and pictures -------------------------------------------------------------------------------------------
    def _lever_words(self, name: str, row: pd.Series) -> str:
        return (f"{name} ({self.descriptions.get(name, '')}): {fmt(row['mean'])} (95% interval {fmt(row['lower'])} "
                f"to {fmt(row['upper'])})")

    def _headline(self) -> str:
        t = self.summary()
        verb = "raise" if self.goal == "increase" else "lower"
        top, row = t.index[0], t.iloc[0]
        lead = (f"To {verb} {self.outcome_words or self.outcome}, the most impactful of the "
                f"{len(t)} levers is {self._lever_words(top, row)}, P(best) = {row['p_best']:.2f}.")
        if row["p_best"] >= CLEARLY_BEST:
            verdict = f"It is the best lever in {row['p_best']:.0%} of the joint posterior draws."
        else:
            lead_p = t["p_best"].sort_values(ascending=False)
            rivals = ", ".join(f"{n} (P(best) = {p:.2f})" for n, p in lead_p.items() if n != top and p >= 0.05)
            verdict = (f"No lever is clearly best (no P(best) reaches {CLEARLY_BEST:g})"
                       + (f": {rivals} could be as good." if rivals else "."))
        return f"{lead} {verdict}"

    def report(self) -> str:
        """Plain language: failed checks first, then the best lever and how sure, the others, costs, the checks."""
        opening, closing = checks_sentences(self.checks)
        t = self.summary()
        parts = [self._headline()]
        others = [f"{self._lever_words(n, r)}, P(best) = {r['p_best']:.2f}" for n, r in t.iloc[1:].iterrows()
                  if n not in self.no_path]
        if others:
            parts.append("The others: " + "; ".join(others) + ".")
        for n in self.no_path:
            parts.append(f"{n} has no directed path to {self.outcome} in the graph, so its effect is exactly 0.")
        if self.costs is not None:
            b = self.best_per_cost
            r = t.loc[b]
            parts.append(f"Per unit cost the best lever is {b}: {fmt(r['per_cost_mean'])} per unit (95% interval "
                         f"{fmt(r['per_cost_lower'])} to {fmt(r['per_cost_upper'])}), P(best per unit cost) = "
                         f"{r['p_best_per_cost']:.2f}.")
        parts.append("P(best) is the share of joint posterior draws in which a lever beats all others; each effect "
                     "is an intervention on the fitted causal graph, only as right as the graph.")
        return " ".join(p for p in (opening, " ".join(parts), closing) if p)

    def plot(self):
        """Effects with 95% intervals, one row per lever (best on top), P(best) annotated; per unit cost beside."""
        import matplotlib.pyplot as plt

        from ..report import plots

        t = self.summary().iloc[::-1]  # best on top
        panels = [("mean", "lower", "upper", "p_best", "effect", "P(best)")]
        if self.costs is not None:
            panels.append(("per_cost_mean", "per_cost_lower", "per_cost_upper", "p_best_per_cost",
                           "effect per unit cost", "P(best per cost)"))
        with plt.rc_context(plots.STYLE):
            fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 0.55 * len(t) + 1.6), squeeze=False)
            ypos = np.arange(len(t))
            for ax, (m, lo, hi, p, label, p_label) in zip(axes[0], panels, strict=True):
                err = np.vstack([t[m] - t[lo], t[hi] - t[m]])
                ax.errorbar(t[m], ypos, xerr=err, fmt="o", color=plots.EFFECT, ecolor=plots.MODEL, capsize=3, lw=1.4)
                ax.axvline(0, color=plots.OBSERVED, lw=0.8, ls="--")
                ax.set_yticks(ypos, list(t.index))
                ax.set_ylim(-0.6, len(t) - 0.4)
                for yv, (mv, pv) in enumerate(zip(t[m], t[p], strict=True)):
                    ax.annotate(f"{p_label} = {pv:.2f}", (mv, yv), xytext=(0, 7), textcoords="offset points",
                                ha="center", fontsize=8, color=plots.OBSERVED)
                ax.set_xlabel(f"{label} on {self.outcome} (95% interval)")
            axes[0][0].set_title(f"Levers on {self.outcome} (goal: {self.goal})")
            if self.costs is not None:
                axes[0][1].set_title("Per unit cost")
            fig.tight_layout()
        return fig

    def _meta(self) -> dict:
        return {"method": self.method, "outcome": self.outcome, "goal": self.goal,
                "draws": int(self.info.get("draws", 0)), "interval": self.interval_kind}

    def _repr_html_(self) -> str:
        return html_report.notebook_card(f"{self.method}: {self.estimand}", self._headline(), self.summary(),
                                         self.checks)

    def __repr__(self) -> str:
        verdict = "trustworthy" if self.trustworthy else "NOT trustworthy (see .checks)"
        p = float(self.p_best()[self.best])
        return (f"<LeverRanking {self.outcome} ({self.goal}), {len(self.levers)} levers: best {self.best}, "
                f"P(best) = {p:.2f} [{verdict}]>")


__all__ = ["CLEARLY_BEST", "GOALS", "Lever", "LeverRanking", "goal_sign", "parse_lever", "per_unit_cost",
           "prob_best", "rank_levers"]
