"""Do the SCM's checks catch wrong answers? (issue 22)

One simulator, four conditions, each fitted with the defaults (``bc.SCM(graph).fit(df)``: mechanisms inferred,
so every node is linear-Gaussian; 4 chains x 1,000 draws; ``checks="full"``) and queried with
``effect("x", "y", treat=1, control=0)``, whose checks add identification and the placebo refit. The estimand is
``E[y | do(x = 1)] - E[y | do(x = 0)]``; its truth follows from the structural equations below.

Structural equations (2,000 rows; ``w``, ``z``, noises standard normal, ``u`` a standard-normal latent node)::

    x = 0.8 w + 0.6 z + e_x
    y = 1.0 x + 0.7 z + e_y                     well specified: truth 1.0
    y = 1.0 x + 0.06 x^2 + 0.7 z + e_y          "shape": the outcome is curved in x; truth 1 + 0.06 = 1.06,
                                                while the linear mechanism's slope is about 1.0 (x is symmetric)
    y = 1.0 x + 0.7 z + 0.12 w + e_y            "edge": a direct w -> y edge the graph leaves out; truth 1.0,
                                                the fit's x-slope absorbs w's effect (about +0.06)
    x += 0.5 u, y += 0.5 u                      "latent": an unmeasured confounder of x and y; truth 1.0,
                                                graph "z -> x; z -> y; x -> y" (w left out)

The fitted graph is ``w -> x; z -> x; z -> y; x -> y`` (the true one for "well" and "shape"), which implies
``w _||_ z`` and ``w _||_ y | x, z``. The "latent" graph is complete over its observed nodes, so it implies no
independence: linear-Gaussian data with a latent confounder of x and y are fitted as well as without one, and
no check can see it (what the sensitivity analysis is for). With ``w`` in that graph the latent confounder
would not be invisible (x is a collider on w -> x <- u -> y, so ``w _||_ y | x, z`` fails), hence the graph
without ``w``.

Run: ``python benchmarks/check_power_scm.py [--fits-well 30] [--fits-shape 30] [--fits-edge 20]
[--fits-latent 20] [--first-seed 0]``; report seeds 0..N-1, pilot seeds from 1000. Writes
``results/check_power_scm.json``: the replicates, one summary per misspecification (each beside the same
well-specified fits) and the README table rows.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from _check_power import TABLE_HEADER, from_result, markdown_row, summarise
from _common import stamp

import bayescausal as bc

HERE = Path(__file__).resolve().parent
ROWS = 2_000
GRAPH = "w -> x; z -> x; z -> y; x -> y"
GRAPH_LATENT = "z -> x; z -> y; x -> y"
CURVE, EDGE, LATENT = 0.06, 0.12, 0.5
SCENARIOS = {  # name: (condition, row label of the README table)
    "well": ("well-specified", "(the well-specified fits)"),
    "shape": ("misspecified", f"outcome curved in the treatment (y = x + {CURVE} x^2 + ...; linear mechanism)"),
    "edge": ("misspecified", f"a missing edge w -> y ({EDGE}): the graph's implied independence of w and y "
             "given x, z fails"),
    "latent": ("misspecified", f"latent confounder of x and y ({LATENT} each), graph without testable "
               "implications: not revealable, the sensitivity analysis is for this"),
}


def simulate(scenario: str, seed: int, n: int = ROWS) -> tuple[pd.DataFrame, str, float]:
    """The data, the graph given to the SCM and the true effect of do(x = 1) against do(x = 0) on y."""
    rng = np.random.default_rng([seed, list(SCENARIOS).index(scenario)])
    w, z, u = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    latent = LATENT if scenario == "latent" else 0.0
    x = 0.8 * w + 0.6 * z + latent * u + rng.normal(size=n)
    y = 1.0 * x + 0.7 * z + latent * u + rng.normal(size=n)
    truth = 1.0
    if scenario == "shape":
        y = y + CURVE * x**2
        truth = 1.0 + CURVE * (1.0**2 - 0.0**2)
    if scenario == "edge":
        y = y + EDGE * w
    graph = GRAPH_LATENT if scenario == "latent" else GRAPH
    return pd.DataFrame({"w": w, "z": z, "x": x, "y": y}), graph, truth


def fit_one(scenario: str, seed: int):
    df, graph, truth = simulate(scenario, seed)
    t = time.perf_counter()
    fitted = bc.SCM(graph).fit(df, sampler=bc.Sampler(progress=False), seed=seed)
    res = fitted.effect("x", "y", treat=1, control=0)
    return from_result(SCENARIOS[scenario][0], seed, truth, res, seconds=time.perf_counter() - t), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("well", 30), ("shape", 30), ("edge", 20), ("latent", 20)):
        ap.add_argument(f"--fits-{name}", type=int, default=default)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "check_power_scm.json"))
    args = ap.parse_args()
    counts = {s: getattr(args, f"fits_{s}") for s in SCENARIOS}
    jobs = [(s, args.first_seed + i) for i in range(max(counts.values())) for s in SCENARIOS if i < counts[s]]
    reps, scen, start = [], [], time.perf_counter()
    for k, (s, seed) in enumerate(jobs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r, res = fit_one(s, seed)
        reps.append(r)
        scen.append(s)
        print(f"[{k + 1}/{len(jobs)}] {s} seed {seed}: {r.mean:.4f} [{r.lower:.4f}, {r.upper:.4f}] truth {r.truth:.3f} "
              f"{'covers' if r.covers else 'MISSES'}; failed: {', '.join(r.failed) or '-'} ({r.seconds:.1f} s)",
              flush=True)
    well = [r for r, s in zip(reps, scen, strict=True) if s == "well"]
    summaries, rows = {}, []
    for s in ("shape", "edge", "latent"):
        mine = [r for r, t in zip(reps, scen, strict=True) if t == s]
        summaries[s] = summarise(mine + well)
        rows.append(markdown_row("SCM", SCENARIOS[s][1], summaries[s]))
    seconds = round(time.perf_counter() - start, 1)
    doc = {"benchmark": "check_power_scm", "rows": ROWS, "fits": counts, "seconds": seconds,
           "meta": {"graph": GRAPH, "graph_latent": GRAPH_LATENT, "curve": CURVE, "edge": EDGE, "latent": LATENT,
                    "sampler": "defaults: 4 chains x 1000 draws, 1000 warm-up", "checks": "full",
                    "estimand": "E[y | do(x=1)] - E[y | do(x=0)]"},
           "summary": summaries, "table": [TABLE_HEADER, *rows],
           "replicates": [asdict(r) | {"scenario": s, "covers": r.covers} for r, s in zip(reps, scen, strict=True)],
           **stamp()}
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(summaries, indent=1))
    print(TABLE_HEADER)
    print("\n".join(rows))
    print(f"{len(jobs)} fits in {seconds:.0f} s")


if __name__ == "__main__":
    main()
