"""Convergence check: split R-hat, bulk effective sample size and divergent transitions.

Thresholds follow Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021), "Rank-normalization, folding,
and localization: an improved R-hat": R-hat below 1.01 and a bulk ESS of at least 100 per chain; and
no divergent NUTS transitions (any divergence means the sampler missed part of the posterior).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import arviz as az
import numpy as np

from ..errors import ConvergenceWarning
from ..inference.stall import advice
from .base import CheckResult

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100


def convergence_check(
    draws: Mapping[str, np.ndarray],
    divergences: np.ndarray | None = None,
    rhat_max: float = RHAT_MAX,
    ess_per_chain_min: float = ESS_PER_CHAIN_MIN,
    stopped: np.ndarray | None = None,
) -> CheckResult:
    """Check the named quantities (arrays shaped ``(chain, draw, ...)``) for convergence.

    Quantities that are constant across all draws (an indicator that never flips) carry no
    information about mixing and are skipped. ``stopped``: the sampler's ``sample_stats["stopped"]``
    (``(chain, draw)``, the stall guard of ``inference/stall.py``); any stopped chain fails the check, with
    advice. Warns with ``ConvergenceWarning`` on failure.
    """
    worst_rhat, worst_rhat_name = 1.0, ""
    worst_ess, worst_ess_name = np.inf, ""
    n_chains = None
    for name, values in draws.items():
        arr = np.asarray(values, dtype=float)
        n_chains = arr.shape[0]
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        for j in range(flat.shape[2]):
            x = flat[:, :, j]
            if np.ptp(x) == 0 or not np.all(np.isfinite(x)):
                continue
            label = name if flat.shape[2] == 1 else f"{name}[{j}]"
            rhat = float(az.rhat(x)) if x.shape[0] > 1 else float(az.rhat(x.reshape(1, -1)))
            ess = float(az.ess(x, method="bulk"))
            if np.isfinite(rhat) and rhat > worst_rhat:
                worst_rhat, worst_rhat_name = rhat, label
            if np.isfinite(ess) and ess < worst_ess:
                worst_ess, worst_ess_name = ess, label
    n_chains = n_chains or 1
    ess_min = ess_per_chain_min * n_chains
    n_div = int(np.sum(divergences)) if divergences is not None else 0
    stalled = stopped is not None and bool(np.any(stopped))
    problems = [advice(stopped)] if stalled else []
    if worst_rhat > rhat_max:
        problems.append(f"R-hat {worst_rhat:.3f} > {rhat_max} ({worst_rhat_name})")
    if worst_ess < ess_min:
        problems.append(f"bulk ESS {worst_ess:.0f} < {ess_min:.0f} ({worst_ess_name})")
    if n_div > 0:
        problems.append(f"{n_div} divergent transitions")
    threshold = f"R-hat <= {rhat_max}, bulk ESS >= {ess_min:.0f}, 0 divergences"
    if problems:
        message = (
            "MCMC did not converge: " + "; ".join(problems)
            + ("." if stalled else ". Run longer chains (Sampler(draws=..., warmup=...)), or simplify the model.")
        )
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return CheckResult("convergence", False, worst_rhat, threshold, message)
    ess_text = f"{worst_ess:.0f}" if np.isfinite(worst_ess) else "n/a"
    return CheckResult(
        "convergence", True, worst_rhat, threshold,
        f"max R-hat {worst_rhat:.3f}, min bulk ESS {ess_text}, {n_div} divergences.",
    )
