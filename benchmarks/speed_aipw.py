"""Speed and memory of the Bayesian AIPW at scale (default 1M rows), next to DoWhy's doubly robust estimator.

One table of ``simulate_confounded_units(rows)``; ``AIPW`` with its default models (spline outcome on sufficient
statistics, spline propensity on the rows; ``--outcome-model linear --propensity-model logistic`` for the additive
ones) is fitted with ``checks="fast"`` (convergence, posterior predictive, overlap, balance, the binned calibration
checks and the batched randomization test; the refits of the placebo and the specification check are left out,
as ``--checks full`` shows), timed end to end,
with the peak resident memory of the process. The peer, in ``.venv-bench`` on the same CSV: DoWhy 0.14's doubly
robust estimator (``backdoor.econml.dr.LinearDRLearner``; DoWhy delegates it to EconML) and DoubleML's IRM with the
same linear learners (``peers/crosssection_peers.py speed``).

    .venv/bin/python benchmarks/speed_aipw.py [--rows 1000000] [--draws 500] [--checks fast] [--no-peer]

On a GPU machine run it with ``JAX_PLATFORMS=cuda`` (the device is recorded). Appends one JSON row to
``results/speed_aipw.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import append_row, effect_fields, peak_rss_mb, stamp  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.crosssection.aipw import AIPW  # noqa: E402
from bayescausal.datasets.crosssection import simulate_confounded_units  # noqa: E402

PEER_PYTHON = HERE.parent / ".venv-bench" / "bin" / "python"
COVS = ["age", "income", "region", "visits"]


def run_peer(df, rows: int) -> dict | None:
    if not PEER_PYTHON.exists():
        print(f"peer skipped: {PEER_PYTHON} not found")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "units.csv"
        df.iloc[:rows].to_csv(path, index=False)
        out = subprocess.run([str(PEER_PYTHON), str(HERE / "peers" / "crosssection_peers.py"), "speed", str(path)],
                             capture_output=True, text=True, check=False)
    if out.returncode:
        print(f"peer failed:\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    import jax

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--checks", default="fast", choices=["fast", "full", "none"])
    p.add_argument("--outcome-model", default=AIPW.outcome_model)
    p.add_argument("--propensity-model", default=AIPW.propensity_model)
    p.add_argument("--peer-rows", type=int, default=None, help="rows given to the peer (default: all)")
    p.add_argument("--no-peer", action="store_true")
    a = p.parse_args(argv)
    study = simulate_confounded_units(a.rows, seed=0)
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, warmup=a.draws, progress=False)
    est = AIPW(outcome_model=a.outcome_model, propensity_model=a.propensity_model)
    t0 = time.perf_counter()
    res = est.fit(study.data, "offer", "spend", COVS, sampler=sampler, seed=0,
                  checks=False if a.checks == "none" else a.checks)
    total = time.perf_counter() - t0
    rss = peak_rss_mb()
    s = res.summary().loc["effect"]
    print(f"AIPW on {a.rows} rows: {total:.1f} s (sampling {res.info['seconds']} s), peak RSS {rss} MB; "
          f"ATE {s['mean']:.3f} [{s['lower']:.3f}, {s['upper']:.3f}], truth {study.true_ate:.3f}")
    for c in res.checks:
        print(f"  {c.name}: {c.verdict}")
    peer = None if a.no_peer else run_peer(study.data, a.peer_rows or a.rows)
    if peer:
        print(f"peer: {peer}")
    append_row(HERE / "results" / "speed_aipw.jsonl", {
        "benchmark": "speed_aipw", "rows": a.rows, "chains": a.chains, "draws": a.draws, "checks": a.checks,
        "outcome_model": a.outcome_model, "propensity_model": a.propensity_model,
        "device": str(jax.devices()[0].platform), "total_seconds": round(total, 2),
        "sampling_seconds": res.info["seconds"], "peak_rss_mb": rss, "truth_ate": round(study.true_ate, 4),
        "covers": bool(s["lower"] <= study.true_ate <= s["upper"]), **effect_fields(res.effect.values),
        "checks_verdicts": {c.name: c.verdict for c in res.checks}, "peer": peer, **stamp()})


if __name__ == "__main__":
    main()
