#!/usr/bin/env python
"""Peer benchmark: CausalPy's InstrumentalVariable (PyMC) on Card's (1995) schooling data.

Runs in the peers' venv (``.venv-bench``; it does not import bayescausal). The model matches
``benchmarks/speed_iv.py``: ``log_wage ~ 1 + education + experience + black + south + smsa`` with
``education ~ 1 + nearcollege + nearcollege2 + experience + black + south + smsa`` (6 second-stage and
7 first-stage coefficients), CausalPy's default priors (coefficient means at the 2SLS fit, sd 1, LKJ(2)
on the error correlation, Exponential(1) error sds), PyMC's own NUTS, 2 chains x 1000 tune + 1000 draws
on 2 cores by default. Wall time covers building the experiment (OLS, 2SLS, the PyMC model) and sampling,
not the imports (``import_s``). ESS is the bulk ESS of the education coefficient. Prints one JSON line:

    .venv-bench/bin/python benchmarks/peers/causalpy_iv.py benchmarks/data/card1995_schooling.csv \\
        >> benchmarks/peers/results/causalpy_iv.jsonl
"""
from __future__ import annotations

import argparse
import os
import sys
import time

T0 = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _peer_common import emit, ess_bulk, peak_rss_children_mb, peak_rss_mb, versions  # noqa: E402

FORMULA = "log_wage ~ 1 + education + experience + black + south + smsa"
INSTRUMENTS_FORMULA = "education ~ 1 + nearcollege + nearcollege2 + experience + black + south + smsa"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    import causalpy as cp
    from causalpy.pymc_models import InstrumentalVariableRegression

    import_s = time.perf_counter() - T0
    df = pd.read_csv(a.csv)
    model = InstrumentalVariableRegression(sample_kwargs={
        "draws": a.draws, "tune": a.tune, "chains": a.chains, "cores": a.cores, "random_seed": a.seed,
        "progressbar": False})
    start = time.perf_counter()
    result = cp.InstrumentalVariable(instruments_data=df, data=df, instruments_formula=INSTRUMENTS_FORMULA,
                                     formula=FORMULA, model=model)
    wall = time.perf_counter() - start
    post = result.model.idata.posterior["beta_z"].sel(covariates="education").values  # (chain, draw)
    ess, ess_method = ess_bulk(post)
    lo, hi = np.quantile(post, [0.025, 0.975])
    div = int(result.model.idata.sample_stats["diverging"].sum())
    emit({"benchmark": "speed_iv", "tool": "CausalPy InstrumentalVariable", "sampler": "PyMC NUTS",
          "data": os.path.basename(a.csv), "chains": a.chains, "draws": a.draws, "tune": a.tune, "cores": a.cores,
          "wall_s": wall, "import_s": import_s, "ess_average_effect": ess, "ess_method": ess_method,
          "ess_per_s": ess / wall, "average_effect_mean": float(post.mean()), "average_effect_lower": float(lo),
          "average_effect_upper": float(hi), "divergences": div, "peak_rss_mb": peak_rss_mb(),
          "peak_rss_children_mb": peak_rss_children_mb(), "versions": versions("causalpy", "pymc", "pytensor")})


if __name__ == "__main__":
    main()
