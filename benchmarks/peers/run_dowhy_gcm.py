#!/usr/bin/env python
"""Peer benchmark: the same do-queries as ``benchmarks/speed_scm.py`` through DoWhy's gcm module.

DoWhy (0.14) fits one mechanism per node with scikit-learn models chosen by ``gcm.auto.assign_causal_mechanisms``
(quality GOOD: it compares a few regressors/classifiers by cross-validation), and gives intervals for a query by
bootstrap: ``gcm.confidence_intervals(gcm.fit_and_compute(...))`` refits the mechanisms on resamples of the data
(75% subsets by default) and recomputes the query on each. That is the interval a DoWhy user gets; its width is
compared with our posterior interval in the same run.

Queries (the interventions of speed_scm.py): do(price = price - 2) on buy (a shift), do(visits = 5) against
do(visits = 2) on revenue, do(buy = 1) against do(buy = 0) on revenue.

Usage: ``python run_dowhy_gcm.py data.csv --bootstrap 20 --samples 20000``; prints one JSON line.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _peer_common import emit, peak_rss_mb, versions  # noqa: E402

EDGES = [("region", "visits"), ("age", "visits"), ("region", "price"), ("price", "buy"), ("visits", "buy"),
         ("age", "buy"), ("buy", "revenue"), ("price", "revenue"), ("visits", "revenue")]

QUERIES = [
    ("price", "buy", lambda v: v - 2.0, lambda v: v, "shift -2"),
    ("visits", "revenue", lambda v: np.full_like(v, 5), lambda v: np.full_like(v, 2), "5 vs 2"),
    ("buy", "revenue", lambda v: np.ones_like(v), lambda v: np.zeros_like(v), "1 vs 0"),
]


def main() -> None:
    from dowhy import gcm

    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--bootstrap", type=int, default=20, help="bootstrap resamples per query (DoWhy's default 20)")
    ap.add_argument("--samples", type=int, default=20_000, help="interventional samples drawn per estimate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    gcm.util.general.set_random_seed(args.seed)
    gcm.config.disable_progress_bars()
    df = pd.read_csv(args.csv)
    t0 = time.perf_counter()
    model = gcm.InvertibleStructuralCausalModel(nx.DiGraph(EDGES))
    gcm.auto.assign_causal_mechanisms(model, df)
    gcm.fit(model, df)
    fit_s = time.perf_counter() - t0
    rows = []
    for x, y, alt, ref, label in QUERIES:
        t = time.perf_counter()
        point = gcm.average_causal_effect(model, y, {x: alt}, {x: ref}, num_samples_to_draw=args.samples)
        t_point = time.perf_counter() - t
        t = time.perf_counter()
        med, ci = gcm.confidence_intervals(
            gcm.fit_and_compute(gcm.average_causal_effect, model, df, target_node=y,
                                interventions_alternative={x: alt}, interventions_reference={x: ref},
                                num_samples_to_draw=args.samples),
            num_bootstrap_resamples=args.bootstrap)
        t_boot = time.perf_counter() - t
        lo, hi = (float(v) for v in np.ravel(ci)[:2])
        rows.append({"query": f"{x} -> {y} ({label})", "point": round(float(point), 4),
                     "median": round(float(np.ravel(med)[0]), 4), "lower": round(lo, 4), "upper": round(hi, 4),
                     "width": round(hi - lo, 4), "point_seconds": round(t_point, 2),
                     "bootstrap_seconds": round(t_boot, 2)})
    mechanisms = {str(n): type(model.causal_mechanism(n)).__name__ for n in model.graph.nodes}
    emit({"peer": "dowhy-gcm", "rows": len(df), "fit_seconds": round(fit_s, 2), "queries": rows,
          "bootstrap_resamples": args.bootstrap, "total_seconds": round(time.perf_counter() - t0, 2),
          "mechanisms": mechanisms, "peak_rss_mb": peak_rss_mb(), "versions": versions("dowhy", "scikit-learn")})


if __name__ == "__main__":
    main()
