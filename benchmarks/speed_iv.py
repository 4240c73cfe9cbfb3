"""Speed of BayesianIV on Card's (1995) schooling data, next to CausalPy's InstrumentalVariable.

Model (the same in both tools): log wage on education, experience, black, south, smsa; education
instrumented by growing up near a 4-year and near a 2-year college (2 instruments: 6 second-stage and 7
first-stage coefficients with the intercepts). 2 chains x 1000 warm-up + 1000 draws by default, as the
CausalPy run in `peers/causalpy_iv.py`. Wall time is the whole ``fit`` (validation, frequentist
diagnostics, JIT compilation and sampling; with ``--checks`` also the checks and their refits); ESS is
the bulk ESS of the effect of education. One JSON row is appended to ``results/speed_iv.jsonl``.

    .venv/bin/python benchmarks/speed_iv.py [--checks none|fast|full] [--chains 2] [--draws 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

START = time.perf_counter()
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pandas as pd  # noqa: E402
from _common import append_row, effect_fields, peak_rss_mb, stamp  # noqa: E402

import bayescausal as bc  # noqa: E402

DATA = HERE / "data" / "card1995_schooling.csv"
INSTRUMENTS = ["nearcollege", "nearcollege2"]
COVARIATES = ["experience", "black", "south", "smsa"]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checks", choices=["none", "fast", "full"], default="none")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--errors", choices=["normal", "student_t"], default="normal")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-record", action="store_true", help="print the row without appending it")
    a = p.parse_args(argv)
    df = pd.read_csv(DATA)
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, warmup=a.warmup, progress=False)
    checks = False if a.checks == "none" else a.checks
    t0 = time.perf_counter()
    res = bc.BayesianIV(errors=a.errors).fit(df, "log_wage", "education", INSTRUMENTS, COVARIATES, sampler=sampler,
                                             seed=a.seed, checks=checks)
    wall = time.perf_counter() - t0
    eff = res.effect.values
    fields = effect_fields(eff)
    row = {"benchmark": "speed_iv", "tool": "bayescausal BayesianIV", "errors": a.errors, "checks": a.checks,
           "data": "card1995_schooling.csv (3010 rows)", "chains": a.chains, "draws": a.draws, "warmup": a.warmup,
           "chain_method": res.info["sampler"], "wall_s": round(wall, 2), "sampling_s": res.info["seconds"],
           "process_wall_s": round(time.perf_counter() - START, 2), **fields,
           "ess_per_s": round(fields["ess_average_effect"] / wall, 1),
           "tsls": round(res.tsls.estimate, 4), "tsls_lower": round(res.tsls.lower, 4),
           "tsls_upper": round(res.tsls.upper, 4), "first_stage_F": round(res.first_stage.f_stat, 2),
           "ar_set": [res.ar_set.kind, round(float(res.ar_set.lower), 4), round(float(res.ar_set.upper), 4)],
           "checks_verdicts": {c.name: c.verdict for c in res.checks}, "peak_rss_mb": peak_rss_mb(), **stamp()}
    if a.no_record:
        print(row)
    else:
        append_row(HERE / "results" / "speed_iv.jsonl", row)
    return row


if __name__ == "__main__":
    main()
