"""Budget allocation under posterior uncertainty (``MMMResult.optimize_budget``).

The outcome of a steady weekly spend ``b`` (per channel, summed over geos) over ``horizon`` weeks, in draw ``s``:

    F_s(b) = horizon * sum_c sum_g beta_sgc * s_sc(pi_gc b_c / m_gc)

with ``beta_sgc`` the geo's media coefficient in outcome units, ``s_sc`` the channel's saturation, ``m_gc`` the
spend unit and ``pi_gc`` the geo's historical share of the channel's spend. Adstock weights are normalised,
so a constant spend has a constant adstock equal to it: this is the long-run (steady-state) response, the
carry-over from past spend into the horizon is the same under every allocation and left out.

The allocation maximises a risk measure of ``F(b)`` over all posterior draws -- the mean (default), a lower
quantile, or the conditional value at risk (mean of the worst ``alpha`` share of draws) -- subject to
``sum_c b_c = total / horizon`` and per-channel bounds, by SLSQP with the exact gradient from ``jax.grad``
through every draw. It optimises multipliers ``u_c = b_c / r_c`` of each channel's reference spend ``r_c`` and
divides the objective by its value at the current mix, so that variables and gradients are of order one
whatever the currency (raw money units give gradients of order 1e-4 to 1e-6 that SLSQP treats as converged).

Expected regret: ``E_s[max_b F_s(b) - F_s(b*)]``, the expected loss from committing to ``b*`` before knowing
which draw is true. Each draw's own optimum is found by projected gradient ascent (all draws at once, in one
jitted loop) started from ``b*`` and kept only where it improves, so the regret is never negative; where a
draw's response curves are not concave (Hill slopes above 1 at low spend) it is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import SpecError
from ..report.text import fmt
from . import _math

RISKS = ("mean", "quantile", "cvar")


def weekly_response(b: jnp.ndarray, response: dict) -> jnp.ndarray:
    """Steady-state weekly contribution per draw and channel ``(S, C)`` at weekly spend ``b`` ``(C,)`` or
    ``(S, C)`` (summed over geos, outcome units)."""
    b = jnp.asarray(b)
    x = response["share"] * (b[..., None, :] if b.ndim == 2 else b[None, :]) / response["spend_unit"]  # (S|1, G, C)
    if response["saturation"] == "hill":
        sat = _math.hill(x, response["sat"]["hill_half"][:, None, :], response["sat"]["hill_slope"][:, None, :])
    else:
        sat = _math.logistic(x, response["sat"]["lam"][:, None, :])
    return jnp.sum(response["beta"] * sat, axis=1)


def risk_value(total: jnp.ndarray, risk: str, alpha: float) -> jnp.ndarray:
    """Risk measure of outcome draws ``total`` (S,): mean, lower ``alpha`` quantile, or CVaR at ``alpha``."""
    if risk == "mean":
        return jnp.mean(total)
    if risk == "quantile":
        return jnp.quantile(total, alpha)
    k = max(1, int(np.ceil(alpha * total.shape[0])))
    return jnp.mean(jnp.sort(total)[:k])


def _project(v, lo, hi, r, target, iters: int = 80):
    """Project multipliers ``v`` (..., C) onto ``{lo <= u <= hi, sum_c r_c u_c = target}`` (Euclidean in the
    r-weighted sense: ``u = clip(v - lam r, lo, hi)``, ``lam`` by bisection)."""
    def spend(lam):
        return jnp.sum(r * jnp.clip(v - lam[..., None] * r, lo, hi), axis=-1)

    span = (jnp.max(jnp.abs(v), axis=-1) + jnp.max(hi)) / jnp.min(r) + 1.0
    a, b = -span, span

    def body(_, ab):
        a, b = ab
        m = 0.5 * (a + b)
        big = spend(m) > target
        return jnp.where(big, m, a), jnp.where(big, b, m)

    a, b = jax.lax.fori_loop(0, iters, body, (a, b))
    return jnp.clip(v - (0.5 * (a + b))[..., None] * r, lo, hi)


@dataclass(frozen=True)
class BudgetAllocation:
    """What ``optimize_budget`` returns.

    ``table``: one row per channel with the current weekly spend, the optimal weekly spend, its change, the
    bounds, and the expected weekly contribution under each (with 95% intervals). ``outcome``: draws of the
    media outcome over the horizon under the optimal allocation; ``outcome_current``: under the current spend
    (as it is, and ``outcome_current_mix``: the current mix scaled to the same total). ``expected_regret``:
    ``E[max_b F_s(b) - F_s(b*)]`` (module docstring). ``objective``: the risk measure maximised.
    """

    table: pd.DataFrame
    outcome: np.ndarray = field(repr=False)
    outcome_current: np.ndarray = field(repr=False)
    outcome_current_mix: np.ndarray = field(repr=False)
    expected_regret: float
    regret_draws: np.ndarray = field(repr=False)
    total: float
    horizon: int
    risk: str
    alpha: float
    converged: bool
    message: str

    def summary(self) -> pd.DataFrame:
        """The outcome over the horizon under the optimal, the current and the rescaled current spend."""
        rows = {}
        for name, d in (("optimal allocation", self.outcome), ("current spend", self.outcome_current),
                        ("current mix at this total", self.outcome_current_mix),
                        ("gain over current spend", self.outcome - self.outcome_current),
                        ("gain over current mix", self.outcome - self.outcome_current_mix)):
            lo, hi = np.quantile(d, [0.025, 0.975])
            rows[name] = {"mean": d.mean(), "sd": d.std(ddof=1), "lower": lo, "upper": hi,
                          "p_positive": float(np.mean(d > 0))}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = "media outcome over the horizon"
        return df

    def report(self) -> str:
        gain = self.outcome - self.outcome_current_mix
        lo, hi = np.quantile(gain, [0.025, 0.975])
        moves = ", ".join(f"{c} {fmt(r.current_weekly)} -> {fmt(r.optimal_weekly)}" for c, r in self.table.iterrows())
        return (f"Allocating {fmt(self.total)} over {self.horizon} weeks to maximise the {self._risk_words()} media "
                f"outcome: weekly spend {moves}. Against the current mix at the same total it gains "
                f"{fmt(gain.mean())} (95% interval {fmt(lo)} to {fmt(hi)}; probability of a gain "
                f"{np.mean(gain > 0):.0%}). Expected regret (outcome lost because the true response is "
                f"uncertain): {fmt(self.expected_regret)}."
                + ("" if self.converged else f" The optimiser reported: {self.message}"))

    def _risk_words(self) -> str:
        if self.risk == "mean":
            return "expected"
        if self.risk == "quantile":
            return f"{self.alpha:.0%} lower quantile of the"
        return f"CVaR ({self.alpha:.0%} worst draws) of the"

    def plot(self):
        """Weekly spend per channel (current vs optimal) and the outcome distributions under each."""
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        idx = np.arange(len(self.table))
        ax1.bar(idx - 0.2, self.table["current_weekly"], 0.4, label="current", color="0.6")
        ax1.bar(idx + 0.2, self.table["optimal_weekly"], 0.4, label="optimal", color="C0")
        ax1.errorbar(idx + 0.2, self.table["optimal_weekly"], yerr=None)
        ax1.set_xticks(idx, self.table.index, rotation=20)
        ax1.set_ylabel("weekly spend")
        ax1.legend()
        ax1.set_title("Allocation")
        for d, lab, col in ((self.outcome_current_mix, "current mix", "0.5"), (self.outcome, "optimal", "C0")):
            ax2.hist(d, bins=40, alpha=0.6, label=lab, color=col, density=True)
        ax2.set_xlabel(f"media outcome over {self.horizon} weeks")
        ax2.legend()
        ax2.set_title(f"Outcome under the allocation (expected regret {fmt(self.expected_regret)})")
        fig.tight_layout()
        return fig


def optimize(response: dict, current: np.ndarray, reference: np.ndarray, channels: tuple, total: float,
             horizon: int, bounds, risk: str, alpha: float, seed: int = 0) -> BudgetAllocation:
    """Solve the allocation problem (see the module docstring); ``current`` and ``reference`` weekly (C,)."""
    from scipy.optimize import minimize

    if risk not in RISKS:
        raise SpecError(f"risk={risk!r}: use one of {RISKS}.")
    if not 0.0 < alpha < 1.0:
        raise SpecError(f"alpha={alpha!r}: give the tail probability strictly between 0 and 1 (e.g. 0.1).")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise SpecError(f"horizon={horizon!r}: give the number of weeks, a positive integer.")
    if not np.isfinite(total) or total <= 0:
        raise SpecError(f"total={total!r}: give the budget over the horizon, a positive number.")
    weekly = total / horizon
    r = np.asarray(reference, float)
    if bounds is None:
        lo_w, hi_w = 0.5 * np.asarray(current, float), 1.5 * np.asarray(current, float)
    else:
        if not isinstance(bounds, dict) or set(bounds) - set(channels):
            raise SpecError(f"bounds must be a dict {{channel: (low, high)}} of spend over the horizon for channels "
                            f"among {list(channels)}.")
        lo_w, hi_w = 0.5 * np.asarray(current, float), 1.5 * np.asarray(current, float)
        for c, (lo, hi) in bounds.items():
            j = channels.index(c)
            if not (0 <= lo <= hi):
                raise SpecError(f"bounds[{c!r}] = {(lo, hi)}: need 0 <= low <= high.")
            lo_w[j], hi_w[j] = lo / horizon, hi / horizon
    if lo_w.sum() > weekly * (1 + 1e-9) or hi_w.sum() < weekly * (1 - 1e-9):
        raise SpecError(f"total={total:,.4g} is outside what the bounds allow over {horizon} weeks "
                        f"({lo_w.sum() * horizon:,.4g} to {hi_w.sum() * horizon:,.4g}); widen `bounds` or change "
                        "`total` (default bounds: 0.5 to 1.5 times the current spend).")
    lo_u, hi_u = lo_w / r, hi_w / r
    resp = jax.tree.map(lambda a: jnp.asarray(a) if isinstance(a, np.ndarray) else a, response)
    mix = np.asarray(current, float) * weekly / max(float(np.sum(current)), 1e-300)
    F_mix = horizon * np.asarray(weekly_response(mix, resp)).sum(axis=1)
    norm = max(abs(float(risk_value(jnp.asarray(F_mix), risk, alpha))), 1e-12)

    def outcome(u):
        return horizon * jnp.sum(weekly_response(u * r, resp), axis=1)

    @jax.jit
    def objective(u):
        return -risk_value(outcome(u), risk, alpha) / norm

    grad = jax.jit(jax.grad(objective))
    u0 = np.clip(mix / r, lo_u, hi_u)
    u0 = np.asarray(_project(jnp.asarray(u0), lo_u, hi_u, r / weekly, 1.0))
    cons = {"type": "eq", "fun": lambda u: float(np.dot(r, u) / weekly - 1.0), "jac": lambda u: r / weekly}
    res = minimize(lambda u: float(objective(jnp.asarray(u))), u0, jac=lambda u: np.asarray(grad(jnp.asarray(u))),
                   bounds=list(zip(lo_u, hi_u, strict=True)), constraints=[cons], method="SLSQP",
                   options={"maxiter": 500, "ftol": 1e-12})
    u_best = np.clip(res.x, lo_u, hi_u)
    if float(objective(jnp.asarray(u_best))) > float(objective(jnp.asarray(u0))):  # never worse than the start
        u_best = u0
    b_best = u_best * r
    F_best = np.asarray(outcome(jnp.asarray(u_best)))
    F_cur = horizon * np.asarray(weekly_response(np.asarray(current, float), resp)).sum(axis=1)
    regret = _regret(resp, u_best, r, lo_u, hi_u, weekly, horizon)
    per_cur = np.asarray(weekly_response(np.asarray(current, float), resp))
    per_opt = np.asarray(weekly_response(b_best, resp))
    table = pd.DataFrame({
        "current_weekly": current, "optimal_weekly": b_best, "change": b_best - current,
        "low_weekly": lo_w, "high_weekly": hi_w,
        "contribution_current": per_cur.mean(axis=0), "contribution_optimal": per_opt.mean(axis=0),
        "contribution_optimal_lower": np.quantile(per_opt, 0.025, axis=0),
        "contribution_optimal_upper": np.quantile(per_opt, 0.975, axis=0),
    }, index=pd.Index(list(channels), name="channel"))
    return BudgetAllocation(table, F_best, F_cur, F_mix, float(regret.mean()), regret, float(total), horizon, risk,
                            float(alpha), bool(res.success), str(res.message))


def _regret(resp, u_star, r, lo_u, hi_u, weekly, horizon, iters: int = 400) -> np.ndarray:
    """Per draw: ``max_b F_s(b) - F_s(b*)`` by projected gradient ascent from ``b*`` (all draws at once)."""
    S = resp["beta"].shape[0]
    r_j, lo_j, hi_j = jnp.asarray(r), jnp.asarray(lo_u), jnp.asarray(hi_u)
    w = r_j / weekly

    def f(u):  # (S, C) -> (S,) outcome per draw, each draw at its own allocation
        return horizon * jnp.sum(weekly_response(u * r_j, resp), axis=1)

    @jax.jit
    def run(u0):
        f0 = f(u0)
        g_f = jax.grad(lambda u: jnp.sum(f(u)))

        def body(i, carry):
            u, best_u, best_f = carry
            g = g_f(u)
            step = 0.2 * (0.995 ** i) / (jnp.max(jnp.abs(g * (hi_j - lo_j + 1e-12)), axis=1, keepdims=True) + 1e-300)
            u = _project(u + step * g * (hi_j - lo_j) ** 2, lo_j, hi_j, w, 1.0)
            fu = f(u)
            better = fu > best_f
            return u, jnp.where(better[:, None], u, best_u), jnp.where(better, fu, best_f)

        _, _, best_f = jax.lax.fori_loop(0, iters, body, (u0, u0, f0))
        return best_f - f0

    u0 = jnp.broadcast_to(jnp.asarray(u_star), (S, len(r)))
    return np.maximum(np.asarray(run(u0)), 0.0)
