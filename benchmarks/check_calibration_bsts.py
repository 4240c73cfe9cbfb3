"""How often do CausalImpact's checks fail on series where the model is adequate?

Fits ``CausalImpact(seasonality=[7])`` with ``checks="full"`` to N simulated series from the recovery
benchmark's generator and counts each check's failures. A check that fails often on adequate data
would cry wolf; one that never fails anywhere would be useless (see the misspecified case in the
issue note). Writes results/check_calibration_bsts.json.

Usage: python benchmarks/check_calibration_bsts.py [N]
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from recovery_bsts import make_studies

import bayescausal as bc


def main(n: int = 30) -> None:
    studies = make_studies(n, 1)
    fails, not_run = Counter(), Counter()
    trustworthy = 0
    start = time.perf_counter()
    for s in studies:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bc.CausalImpact(s.pre_period, s.post_period, seasonality=[7]).fit(
                s.data, s.outcome, list(s.controls), sampler=bc.Sampler(progress=False), seed=0)
        trustworthy += res.trustworthy
        for c in res.checks:
            fails[c.name] += c.passed is False
            not_run[c.name] += c.passed is None
    out = {"series": n, "failures": dict(fails), "not_run": dict(not_run),
           "trustworthy_share": trustworthy / n, "seconds": round(time.perf_counter() - start, 1)}
    Path(__file__).parent.joinpath("results", "check_calibration_bsts.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
