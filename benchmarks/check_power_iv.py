"""Do BayesianIV's checks catch wrong answers? Exclusion violations of known size, and weak instruments.

Simulator (the style of ``recovery_iv.py``): n = 500 rows, two covariates, instruments correlated with the
first covariate (``z = e + 0.3 w0``, so each has unit variance given the covariates), true effect 1, endogeneity
corr(u, v) = 0.5 with unit error sds, first stage ``x = 0.5 + Z pi + 0.3 (w0 + w1) + v`` with the concentration
parameter ``n pi'pi`` = 50 (first-stage F about 50) shared equally by the instruments, and outcome
``y = 1 + x - 0.2 (w0 + w1) + gamma z0 + u``. ``gamma`` is a direct effect of the first instrument on the
outcome: an exclusion violation. Its size is set by ``delta``, the bias it causes in units of the effect's
standard error: 2SLS converges to ``1 + gamma pi_0 / pi'pi`` with standard error ``1 / sqrt(n pi'pi)``, so
``gamma = delta sqrt(pi'pi) / (pi_0 sqrt(n))`` (with one instrument ``delta / sqrt(n)``; with two of equal
strength ``delta sqrt(2 / n)``). A 2SLS Wald interval centred ``delta`` standard errors off misses with
probability about ``P(|N(delta, 1)| > 1.96)``: 0.85 at ``delta = 3``, 0.52 at ``delta = 2``. (With two
instruments the Bayesian posterior misses less often than that: when the instruments disagree the joint model
cannot fit both reduced-form coefficients and its interval widens.)

Scenarios (each fitted with ``BayesianIV()`` defaults and ``checks="full"``):

* ``just-identified``: one instrument. Misspecified: ``delta = 3``; well specified: ``gamma = 0``. A direct
  effect of the only instrument is not revealable from the data (the model's reduced form is saturated: every
  value of ``gamma`` fits the data equally well, with the effect shifted by ``gamma / pi``); no check can fail on
  it, and the sensitivity analysis (``IVResult.exclusion_sensitivity()``, Conley, Hansen & Rossi 2012) is what
  answers it.
* ``over-identified``: two instruments of equal strength, only ``z0`` acts directly. Misspecified:
  ``delta = 3``; well specified: ``gamma = 0``. The over-identification check (Sargan 1958) sees it: the
  Sargan statistic's non-centrality is ``delta^2 pi_1^2 / pi_0^2`` (= 9 here), so its power at the 5% level
  is about ``P(|N(3, 1)| > 1.96) = 0.85``, and it is asymptotically independent of the effect's estimation
  error, so the flagged share of the misses is at least about that power.
* ``over-identified, moderate``: as above with ``delta = 2`` (``--extra-fits`` misspecified fits only; its false
  alarms are the well-specified ``over-identified`` fits'): the test's power is about 0.52, the limit of a
  5%-level test of one over-identifying restriction at this non-centrality, not a defect of the check.
* ``weak instrument``: one valid instrument with concentration 5 (F about 5, below Staiger & Stock's 10);
  ``--extra-fits`` misspecified fits only (its well-specified fits are the ``just-identified`` valid ones): the
  instrument-strength check should fail on most of them (F is noisy: F above 10 happens at concentration 5),
  whatever the interval does; the posterior widens rather than misses (``recovery_iv.py``: coverage 0.96 at F about 5).

    flock /tmp/w/cpu.lock .venv/bin/python benchmarks/check_power_iv.py [--fits 40] [--extra-fits 20]
        [--seed 0] [--out PATH]

Pilot runs (choosing ``delta``) used ``--seed 1000``; the reported run uses seeds ``0 .. fits - 1``. Writes
``results/check_power_iv.json``: per scenario, the harness's summary (misses, flagged share of misses, false
alarms, MC standard errors, failures per check), its README table row, and every replicate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _check_power import TABLE_HEADER, Replicate, from_result, markdown_row, run, summarise  # noqa: E402
from _common import stamp  # noqa: E402

import bayescausal as bc  # noqa: E402

N, BETA, RHO, CONCENTRATION, WEAK_CONCENTRATION = 500, 1.0, 0.5, 50.0, 5.0

# scenario -> (instruments, concentration, delta (bias in standard errors), README label); each job's condition
# is "<scenario>|misspecified" or "<scenario>|well-specified"
SCENARIOS = {
    "just-identified": (1, CONCENTRATION, 3.0, "exclusion violation, one instrument (bias 3 se): NOT revealable "
                                               "from the data; the exclusion sensitivity analysis is for this"),
    "over-identified": (2, CONCENTRATION, 3.0, "exclusion violation of one of two instruments (bias 3 se)"),
    "over-identified, moderate": (2, CONCENTRATION, 2.0, "exclusion violation of one of two instruments "
                                                         "(bias 2 se)"),
    "weak instrument": (1, WEAK_CONCENTRATION, 0.0, "weak instrument, one instrument, F about 5 (valid)"),
}
# where a scenario has no well-specified fits of its own, the ones it shares
SHARED_WELL = {"over-identified, moderate": "over-identified", "weak instrument": "just-identified"}


def direct_effect(k: int, concentration: float, delta: float) -> float:
    """``gamma`` whose bias on the effect is ``delta`` standard errors (equal strengths, ``z0`` violates)."""
    return float(delta * np.sqrt(k / N))  # pi'pi / pi_0 = k pi_0 with equal strengths (whatever the concentration)


def simulate(rng, k: int, concentration: float, gamma: float) -> pd.DataFrame:
    """One dataset: ``k`` instruments sharing ``concentration`` equally; ``z0`` has direct effect ``gamma``."""
    W = rng.normal(size=(N, 2))
    Z = rng.normal(size=(N, k)) + 0.3 * W[:, :1]
    pi = np.sqrt(concentration / (k * N))  # var(z | W) = 1 and var(v) = 1: mu^2 = n pi'pi
    e = rng.multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], size=N)
    x = 0.5 + Z.sum(1) * pi + 0.3 * W.sum(1) + e[:, 0]
    y = 1.0 + BETA * x - 0.2 * W.sum(1) + gamma * Z[:, 0] + e[:, 1]
    return pd.DataFrame({"y": y, "x": x, **{f"z{j}": Z[:, j] for j in range(k)}, "w0": W[:, 0], "w1": W[:, 1]})


def fit_one(condition: str, seed: int) -> Replicate:
    scenario, cond = condition.split("|")
    k, mu2, delta, _ = SCENARIOS[scenario]
    gamma = direct_effect(k, mu2, delta) if cond == "misspecified" else 0.0
    if scenario == "weak instrument" and cond == "well-specified":
        raise ValueError("the weak-instrument scenario shares the just-identified well-specified fits")
    # one stream per (scenario, condition, seed), distinct across scenarios
    rng = np.random.default_rng([seed, list(SCENARIOS).index(scenario), int(cond == "misspecified")])
    df = simulate(rng, k, mu2, gamma)
    res = bc.BayesianIV().fit(df, "y", "x", [f"z{j}" for j in range(k)], ["w0", "w1"],
                              sampler=bc.Sampler(progress=False), seed=seed)
    return from_result(condition, seed, BETA, res)


def jobs_for(scenarios: list[str], fits: int, seed: int) -> list[tuple[str, int]]:
    jobs = []
    for s in scenarios:
        conds = ["misspecified"] if s in SHARED_WELL else ["misspecified", "well-specified"]
        jobs += [(f"{s}|{c}", seed + i) for c in conds for i in range(fits)]
    return jobs


def per_scenario(replicates: list[dict]) -> dict:
    """The harness's summary per scenario, with its shared well-specified fits where it has none of its own."""
    reps = [Replicate(**{k: v for k, v in r.items() if k != "covers"}) for r in replicates]
    out = {}
    for s in SCENARIOS:
        mine = [r for r in reps if r.condition.startswith(s + "|")]
        if not mine:
            continue
        well = SHARED_WELL.get(s, s)
        mine = [r for r in mine if r.condition.endswith("|misspecified")] + \
               [r for r in reps if r.condition == f"{well}|well-specified"]
        relabelled = [Replicate(**{**r.__dict__, "condition": r.condition.split("|")[1]}) for r in mine]
        summary = summarise(relabelled)
        k, mu2, delta, label = SCENARIOS[s]
        out[s] = {"instruments": k, "concentration": mu2, "delta_bias_in_se": delta,
                  "direct_effect_gamma": round(direct_effect(k, mu2, delta), 4), "well_specified_fits_from": well,
                  "summary": summary, "row": markdown_row("BayesianIV", label, summary)}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fits", type=int, default=40, help="fits per condition")
    p.add_argument("--extra-fits", type=int, default=20,
                   help="misspecified fits of the scenarios that share well-specified ones (moderate, weak)")
    p.add_argument("--seed", type=int, default=0, help="first seed (pilots: 1000)")
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    p.add_argument("--out", type=Path, default=HERE / "results" / "check_power_iv.json")
    a = p.parse_args(argv)
    jobs = jobs_for([s for s in a.scenarios if s not in SHARED_WELL], a.fits, a.seed)
    jobs += jobs_for([s for s in a.scenarios if s in SHARED_WELL], a.extra_fits, a.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.json"
        run("check_power_iv", jobs, fit_one, out=raw)
        doc = json.loads(raw.read_text())
    scenarios = per_scenario(doc["replicates"])
    meta = {"n": N, "beta": BETA, "rho": RHO, "fits_per_condition": a.fits, "extra_fits": a.extra_fits,
            "first_seed": a.seed,
            "sampler": "BayesianIV defaults (NUTS, 4 chains x 1000 draws, 1000 warm-up), checks='full'",
            "command": "flock /tmp/w/cpu.lock .venv/bin/python benchmarks/check_power_iv.py "
                       + " ".join(argv if argv is not None else sys.argv[1:])}
    out = {"benchmark": "check_power_iv", "meta": meta, "scenarios": scenarios, "replicates": doc["replicates"],
           "seconds": round(time.perf_counter() - start, 1), **stamp()}
    a.out.parent.mkdir(exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(TABLE_HEADER)
    for s in scenarios.values():
        print(s["row"])
    return out


if __name__ == "__main__":
    main()
