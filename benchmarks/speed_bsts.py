"""Speed of CausalImpact on the standard case: 365 pre + 60 post daily points, 5 controls, weekly
seasonality, 4 chains x 1000 draws. Run in a fresh process so the wall time includes JAX start-up and
compilation. Prints one JSON line (and appends it to benchmarks/results/speed_bsts.jsonl).

Usage: python benchmarks/speed_bsts.py [CSV] [--checks full|fast|none] [--chains 4] [--draws 1000]
The CSV is benchmarks/peers/data/synthetic_bsts.csv (columns date, y, x1..x5; intervention at row 365),
the same file the peer scripts in benchmarks/peers/ read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

T0 = time.perf_counter()

import pandas as pd  # noqa: E402

import bayescausal as bc  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _common import append_row, effect_fields, peak_rss_mb, stamp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="?", default=str(HERE / "peers" / "data" / "synthetic_bsts.csv"))
    ap.add_argument("--checks", default="none", choices=["full", "fast", "none"])
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--pre-end", type=int, default=364)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    df = pd.read_csv(args.csv, parse_dates=["date"], index_col="date")
    controls = [c for c in df.columns if c.startswith("x")]
    est = bc.CausalImpact(pre_period=(0, args.pre_end), post_period=(args.pre_end + 1, len(df) - 1), seasonality=[7])
    checks = False if args.checks == "none" else args.checks
    t = time.perf_counter()
    res = est.fit(df, "y", controls, sampler=bc.Sampler(chains=args.chains, draws=args.draws, progress=False),
                  seed=args.seed, checks=checks)
    fit_s = time.perf_counter() - t
    total_s = time.perf_counter() - T0
    eff = res.effect.values
    fields = effect_fields(eff)
    row = {
        "tool": "bayescausal CausalImpact (Gibbs)",
        "checks": args.checks,
        "chains": args.chains,
        "draws": args.draws,
        "fit_wall_s": round(fit_s, 2),
        "process_wall_s": round(total_s, 2),
        "ess_per_s": round(fields["ess_average_effect"] / fit_s, 1),
        **fields,
        "peak_rss_mb": peak_rss_mb(),
        **stamp(),
    }
    append_row(HERE / "results" / "speed_bsts.jsonl", row)


if __name__ == "__main__":
    sys.exit(main())
