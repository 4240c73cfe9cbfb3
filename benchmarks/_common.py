"""Shared bits of our benchmark scripts: the machine and versions stamp, and appending a result row."""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def effect_fields(eff) -> dict:
    """The average effect's posterior draws (chain, draw) as result-row fields: bulk ESS, mean, 95%
    equal-tailed interval and R-hat, rounded as every speed row reports them."""
    import arviz as az
    import numpy as np

    lo, hi = np.quantile(eff, [0.025, 0.975])
    return {"ess_average_effect": round(float(az.ess(eff)), 1),
            "average_effect_mean": round(float(np.mean(eff)), 4),
            "average_effect_lower": round(float(lo), 4), "average_effect_upper": round(float(hi), 4),
            "rhat": round(float(az.rhat(eff)), 4)}


def stamp() -> dict:
    """Where and with what a figure was measured."""
    import jax
    import numpyro

    import bayescausal

    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "versions": {"bayescausal": bayescausal.__version__, "jax": jax.__version__,
                         "numpyro": numpyro.__version__}}


def append_row(path: Path, row: dict) -> None:
    """Print ``row`` as one JSON line and append it to ``path`` (results accumulate, never overwrite)."""
    line = json.dumps(row)
    print(line)
    path.parent.mkdir(exist_ok=True)
    with path.open("a") as fh:
        fh.write(line + "\n")
