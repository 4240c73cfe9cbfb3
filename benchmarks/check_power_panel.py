"""Do PanelFE's checks catch wrong answers? A pooled two-way fixed-effects coefficient under heterogeneous effects.

Simulator: ``bc.datasets.simulate_staggered_panel`` (the recovery benchmark's generator, ``recovery_panel.py``):
300 units over 16 periods, 30% never treated, three adoption cohorts (periods 5, 8, 11) of equal size, unit and
period effects (adopters sit higher: selection on levels, which the unit effects absorb), one covariate
correlated with the unit effects (coefficient 0.5), iid errors with sd 1. The effect of cohort ``g`` at ``e``
periods after adoption is ``(1 + growth e) m_g``, with cohort multipliers ``m_g`` running linearly from
``1 + spread`` (earliest cohort) to ``1 - spread`` (latest).

Estimand scored: the average effect on the treated unit-periods (ATT), the mean of the simulated effects over
the treated rows of each dataset (known exactly; ``StaggeredStudy.true_att``). ``PanelFE`` reports one pooled
coefficient for every treated unit-period; it is the ATT when the effect is constant, and not otherwise
(Goodman-Bacon 2021, J. Econometrics 225(2); de Chaisemartin & D'Haultfoeuille 2020, AER 110(9); Sun &
Abraham 2021, J. Econometrics 225(2)).

Scenarios (each fitted with ``PanelFE()`` defaults, the default sampler and ``checks="full"``):

* ``cohorts``: effects that differ by cohort (``spread`` 0.5: 1.5, 1, 0.5) and are constant over time since
  adoption; the pooled coefficient weights the cohorts by the variance of their treatment dummy, not by their
  treated rows (bias about -0.14 against an interval half-width of about 0.10).
* ``cohorts and dynamics``: effects that differ by cohort (``spread`` 0.3) and grow with time since adoption
  (``growth`` 0.05 per period): already-treated units then serve as controls whose effect is still growing,
  the negative-weights bias (about -0.23).
* well specified (shared by both): a constant effect of 1 in every cohort and period, where the pooled
  coefficient is the ATT.

The check that sees it is ``specification (effect heterogeneity)`` (``bayescausal/panel/_heterogeneity.py``): a
Hausman test of the pooled coefficient against the average of the nested saturated cohort-by-event-time model's
cells, failing when ``|z| > 2.576``; that threshold was chosen on pilot seeds 1000+ (the z-score's null
distribution there: sd 0.95-1.15, 2 of 130 beyond it). The reported run uses seeds ``0 .. fits - 1``.

    flock /tmp/w/cpu.lock .venv/bin/python benchmarks/check_power_panel.py [--fits 40] [--seed 0] [--out PATH]

Writes ``results/check_power_panel.json``: per scenario, the harness's summary (misses, flagged share of misses,
false alarms, MC standard errors, failures per check), its README table row, and every replicate with the
heterogeneity check's z-score.
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

from _check_power import TABLE_HEADER, Replicate, from_result, markdown_row, run, summarise  # noqa: E402
from _common import stamp  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.datasets.panel import simulate_staggered_panel  # noqa: E402

DESIGN = {"n_units": 300, "n_periods": 16, "cohorts": (5, 8, 11), "never_treated_share": 0.3, "effect": 1.0,
          "n_covariates": 1, "noise_sd": 1.0}
# scenario -> (effect_growth, cohort_spread, README label)
SCENARIOS = {
    "cohorts": (0.0, 0.5, "staggered adoption, effects differ by cohort (1.5/1/0.5), pooled TWFE"),
    "cohorts and dynamics": (0.05, 0.3, "staggered adoption, effects differ by cohort and grow with time since "
                                        "adoption, pooled TWFE"),
}
WELL = "well-specified"
NEW_CHECK = "specification (effect heterogeneity)"
Z = {}  # (condition, seed) -> the heterogeneity check's z-score, kept beside the replicates


def fit_one(condition: str, seed: int) -> Replicate:
    growth, spread = (0.0, 0.0) if condition == WELL else SCENARIOS[condition.split("|")[0]][:2]
    s = simulate_staggered_panel(effect_growth=growth, cohort_spread=spread, seed=seed, **DESIGN)
    res = bc.PanelFE().fit(s.data, s.unit, s.time, s.outcome, s.treatment, list(s.covariates), seed=seed,
                           sampler=bc.Sampler(progress=False))
    Z[(condition, seed)] = res.info.get("heterogeneity", {}).get("z")
    return from_result(condition, seed, s.true_att, res)


def per_scenario(replicates: list[dict]) -> dict:
    """The harness's summary per scenario, its misspecified fits beside the shared well-specified ones."""
    reps = [Replicate(**{k: v for k, v in r.items() if k not in ("covers", "z")}) for r in replicates]
    out = {}
    for name, (growth, spread, label) in SCENARIOS.items():
        mine = [Replicate(**{**r.__dict__, "condition": "misspecified"}) for r in reps
                if r.condition == f"{name}|misspecified"] + [r for r in reps if r.condition == WELL]
        summary = summarise(mine)
        # the same fits as the suite stood before the heterogeneity check was added (its verdicts left out)
        before = summarise(Replicate(**{**r.__dict__, "failed": [c for c in r.failed if c != NEW_CHECK]})
                           for r in mine)
        out[name] = {"effect_growth": growth, "cohort_spread": spread, "summary": summary,
                     "row": markdown_row("PanelFE", label, summary),
                     "without_heterogeneity_check": {"summary": before, "row": markdown_row(
                         "PanelFE (checks before issue 22)", label, before)}}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fits", type=int, default=40, help="fits per condition")
    p.add_argument("--seed", type=int, default=0, help="first seed (pilots: 1000)")
    p.add_argument("--out", type=Path, default=HERE / "results" / "check_power_panel.json")
    a = p.parse_args(argv)
    jobs = [(f"{name}|misspecified", a.seed + i) for name in SCENARIOS for i in range(a.fits)]
    jobs += [(WELL, a.seed + i) for i in range(a.fits)]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.json"
        run("check_power_panel", jobs, fit_one, out=raw)
        doc = json.loads(raw.read_text())
    replicates = [r | {"z": Z.get((r["condition"], r["seed"]))} for r in doc["replicates"]]
    scenarios = per_scenario(replicates)
    seconds = round(time.perf_counter() - start, 1)
    command = f"flock /tmp/w/cpu.lock .venv/bin/python benchmarks/check_power_panel.py --fits {a.fits}" + (
        f" --seed {a.seed}" if a.seed else "")
    out = {"benchmark": "check_power_panel", "design": DESIGN, "scenarios": scenarios,
           "estimand": "average effect on the treated unit-periods (ATT), from the simulated effects",
           "fits_per_condition": a.fits, "first_seed": a.seed, "sampler": "PanelFE default (4 chains, 1000 draws)",
           "heterogeneity_threshold": "|z| <= 2.576 (chosen on pilot seeds 1000+)", "command": command,
           "seconds": seconds, "replicates": replicates, **stamp()}
    a.out.parent.mkdir(exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(TABLE_HEADER)
    for s in scenarios.values():
        print(s["row"])
        print(s["without_heterogeneity_check"]["row"])
    for name, s in scenarios.items():
        for cond, v in s["summary"].items():
            print(name, cond, "failures per check:", v["failures_per_check"])
    print(f"{seconds} s")


if __name__ == "__main__":
    main()
