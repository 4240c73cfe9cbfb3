"""``make demo``: impact of a regional price change on the shipped demo data, with a report.

Run as ``python -m bayescausal.demo [output.html]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import bayescausal as bc
from bayescausal.datasets import load_regional_sales


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "impact_report.html").resolve()
    df = load_regional_sales()
    print(f"Demo data: {len(df)} days of sales in a region that cut its price on {df.attrs['post_period'][0]}, "
          f"with {len(df.attrs['controls'])} control regions (simulated; true average effect "
          f"{df.attrs['true_average_effect']:+.2f} per day).\n")
    start = time.perf_counter()
    est = bc.CausalImpact(pre_period=df.attrs["pre_period"], post_period=df.attrs["post_period"], seasonality=[7])
    res = est.fit(df, outcome="sales", controls=df.attrs["controls"], sampler=bc.Sampler(chains=4), seed=0)
    elapsed = time.perf_counter() - start
    print(res.report())
    print()
    print(res.summary().round(4).to_string())
    print()
    print(res.checks_table()[["verdict", "message"]].to_string())
    res.to_html(out)
    print(f"\nFit, checks included, took {elapsed:.1f} s. Trustworthy: {res.trustworthy}.")
    print(f"Report written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
