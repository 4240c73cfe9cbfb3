"""Agreement of ``bc.CausalImpact`` (Gibbs kernel) with the same BSTS model written in PyMC (NUTS).

Fits the demo data (``load_regional_sales``, weekly seasonality, 5 controls, ``expected_model_size=5``
so every control is in) both ways and compares the posterior of the average post-period effect and
of the observation noise sd: mean, sd, 95% interval, MCSE, ESS and wall time for each, and the
differences in combined Monte Carlo standard errors. The PyMC model is
``tests/reference/pymc_bsts.py``; the slow test ``tests/reference/test_pymc_agreement.py`` asserts
the same comparison.

Usage: python benchmarks/agreement_pymc.py [--gibbs-draws 4000] [--pymc-draws 1500] [--seed 0]
    [--nuts-sampler numpyro|pymc]
Prints the table and writes benchmarks/results/agreement_pymc.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the reference model lives in tests/reference

import bayescausal as bc  # noqa: E402,F401  (configures JAX before PyMC's numpyro backend starts it)
from tests.reference.agreement import PRIORS, run_agreement  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gibbs-draws", type=int, default=4000)
    ap.add_argument("--pymc-draws", type=int, default=1500)
    ap.add_argument("--pymc-tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nuts-sampler", default="numpyro", choices=["numpyro", "pymc"])
    args = ap.parse_args()
    agree = run_agreement(args.gibbs_draws, args.pymc_draws, args.pymc_tune, args.chains, args.seed,
                          args.nuts_sampler)
    rows = []
    for name in agree.gibbs:
        for tool, fit, seconds in (("bayescausal Gibbs", agree.gibbs[name], agree.gibbs_seconds),
                                   (agree.pymc_sampler, agree.pymc[name], agree.pymc_seconds)):
            rows.append({"quantity": name, "tool": tool, **{k: round(v, 4) for k, v in fit.items()},
                         "seconds": round(seconds, 1)})
    header = f"{'quantity':8s} {'tool':34s} {'mean':>9s} {'sd':>7s} {'95% interval':>19s} {'mcse':>7s} " \
             f"{'mcse_sd':>7s} {'ess':>7s} {'rhat':>6s} {'s':>6s}"
    print(header)
    for r in rows:
        print(f"{r['quantity']:8s} {r['tool']:34s} {r['mean']:9.3f} {r['sd']:7.3f} "
              f"[{r['lower_95']:8.3f},{r['upper_95']:8.3f}] {r['mcse_mean']:7.4f} {r['mcse_sd']:7.4f} "
              f"{r['ess_bulk']:7.0f} {r['rhat']:6.3f} {r['seconds']:6.1f}")
    for name, d in agree.diff.items():
        print(f"{name}: mean difference {d['mean_diff']:+.4f} = {d['mean_diff_mcse_units']:+.2f} MCSE; "
              f"sd difference {d['sd_diff']:+.4f} = {d['sd_diff_mcse_units']:+.2f} MCSE(sd)")
    out = ROOT / "benchmarks" / "results" / "agreement_pymc.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "data": "load_regional_sales (365 pre + 60 post days, 5 controls), seasonality=[7]",
        "priors": PRIORS,
        "chains": args.chains, "gibbs_draws": args.gibbs_draws, "pymc_draws": args.pymc_draws,
        "pymc_tune": args.pymc_tune, "seed": args.seed, "pymc_divergences": agree.pymc_divergences,
        "rows": rows,
        "differences": {k: {kk: round(vv, 4) for kk, vv in d.items()} for k, d in agree.diff.items()},
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.python_version()}",
        "versions": {"bayescausal": bc.__version__, "pymc": __import__("pymc").__version__,
                     "numpyro": __import__("numpyro").__version__, "jax": __import__("jax").__version__},
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
