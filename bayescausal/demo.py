"""``make demo``: a full study from the shipped config on shipped event data, then the regional price-change
impact report.

Run as ``python -m bayescausal.demo [FOLDER] [--no-impact]`` (default folder ``.bayescausal/demo``):

1. the study: ``bayescausal/datasets/data/study/study.yaml`` (did a loyalty offer raise 28-day revenue?) on event
   data generated deterministically by ``bayescausal.datasets.study_events`` (users, offers, events: a few MB of
   CSV), run exactly as ``bayescausal run study.yaml`` would: time-correct DuckDB pipeline, method recommendation,
   fit with checks, the run appended to the registry, an HTML report;
2. the BSTS impact analysis of a regional price cut on the shipped daily sales (``impact_report.html``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def run_study_demo(folder: Path) -> None:
    from bayescausal.datasets.study_events import simulate_study_events, write_study_demo
    from bayescausal.study.runner import run_study

    config = write_study_demo(folder / "loyalty_offer")
    truth = simulate_study_events().true_att
    print(f"Study demo: {config} (events, users and offers generated beside it; true effect on the treated of the "
          f"offer on 28-day revenue, by construction: {truth:+.2f}).\n")
    start = time.perf_counter()
    run = run_study(config, out=str(folder / "loyalty_offer_report.html"), progress=True,
                    note="make demo")
    print()
    print(run.recommendation.text())
    print()
    print(run.result.report())
    print()
    print(run.result.summary().round(3).to_string())
    hist = run.registry.history(run.config.name)
    print(f"\nStudy took {time.perf_counter() - start:.1f} s (pipeline {run.seconds.get('pipeline', 0):.1f} s on "
          f"{run.table.engine}, {len(run.table.frame)} units). Run {run.run_id}: run {hist['runs']} of this study in "
          f"the registry {run.registry.path}.")
    print(f"Study report written to {Path(run.report_path).resolve()}\n")


def run_impact_demo(out: Path) -> None:
    import bayescausal as bc
    from bayescausal.datasets import load_regional_sales

    df = load_regional_sales()
    print(f"Impact demo: {len(df)} days of sales in a region that cut its price on {df.attrs['post_period'][0]}, "
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
    print(f"Report written to {out.resolve()}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    impact = "--no-impact" not in argv
    args = [a for a in argv if not a.startswith("--")]
    folder = Path(args[0] if args else Path(".bayescausal") / "demo")
    folder.mkdir(parents=True, exist_ok=True)
    run_study_demo(folder)
    if impact:
        run_impact_demo(folder / "impact_report.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
