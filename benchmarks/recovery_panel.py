"""Recovery of EventStudy over simulated staggered-adoption panels with heterogeneous effects.

Each dataset (``bc.datasets.simulate_staggered_panel``): ``--units`` units over ``--periods`` periods, 30% never
treated, three adoption cohorts, effects ``(1 + 0.25 e) * m_g`` growing with event time ``e`` and larger for
earlier cohorts (``m_g`` = 1.5, 1, 0.5), unit and period effects, one covariate, iid errors (sd 1). The estimand is
the sample average effect on the treated unit-periods (ATT), known exactly from the simulated effects. For each
dataset: the EventStudy posterior of the ATT (mean, 95% interval; default priors, fixed unit and period effects)
and the pooled two-way fixed-effects coefficient, which is biased on this design (Goodman-Bacon 2021). Reported:
coverage of the 95% interval (with its Monte Carlo standard error), the mean bias and RMSE of the posterior mean,
the mean bias of the pooled coefficient, the coverage of the dynamic effects' intervals, and the worst R-hat.

The fits of ``--batch`` datasets run as one batched NUTS program (the core's ``fit_panel_batch``) on the designs
``EventStudy.fit`` builds; the checks are not run here (``checks=False`` equivalent).

    .venv/bin/python benchmarks/recovery_panel.py [--datasets 100] [--batch 25] [--units 300] [--periods 16]
        [--chains 2] [--draws 1000] [--chain-method auto] [--out PATH]

Writes ``results/recovery_panel.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import stamp  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.datasets.panel import simulate_staggered_panel  # noqa: E402
from bayescausal.panel import _event  # noqa: E402
from bayescausal.panel._data import prepare_panel  # noqa: E402
from bayescausal.panel.core import fit_panel_batch  # noqa: E402
from bayescausal.panel.event_study import EventStudy  # noqa: E402

DESIGN = {"cohorts": (5, 8, 11), "never_treated_share": 0.3, "effect": 1.0, "effect_growth": 0.25,
          "cohort_spread": 0.5, "n_covariates": 1, "noise_sd": 1.0}
LEADS, LAGS = 3, 4


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=int, default=100)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--units", type=int, default=300)
    p.add_argument("--periods", type=int, default=16)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chain-method", default="auto", choices=["auto", "parallel", "vectorized", "sequential"])
    p.add_argument("--out", type=Path, default=HERE / "results" / "recovery_panel.json",
                   help="where to write the JSON (use a temporary path while iterating)")
    a = p.parse_args(argv)
    est = EventStudy(leads=LEADS, lags=LAGS)
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, warmup=a.draws, progress=False, chain_method=a.chain_method)
    rows, start = [], time.perf_counter()
    for b0 in range(0, a.datasets, a.batch):
        studies = [simulate_staggered_panel(n_units=a.units, n_periods=a.periods, seed=a.seed + i, **DESIGN)
                   for i in range(b0, min(b0 + a.batch, a.datasets))]
        items = []
        for s in studies:
            frame = prepare_panel(s.data, s.unit, s.time, s.outcome, s.treatment, list(s.covariates))
            items.append((s, frame, est._build(frame, frame.adoption, frame.time >= 0, LAGS, "fit")))
        fits = fit_panel_batch([it.panel for _, _, it in items], est._spec, sampler, a.seed + b0)
        for (_, _, it), fit in zip(items, fits, strict=True):
            it.fit = fit
        for s, frame, it in items:
            att = it.att
            lo, hi = np.quantile(att, [0.025, 0.975])
            twfe = _event.two_way_ols(frame.y, np.column_stack([frame.treatment, frame.X]), frame.unit,
                                      frame.time)[0]
            iw_ols = it.design.att_weights() @ _event.two_way_ols(
                it.panel.y, np.column_stack([it.design.dense(), it.panel.controls]), it.panel.unit,
                it.panel.time)[: it.design.n_columns]
            truth_dyn = s.true_dynamic_binned(LAGS)
            dyn = it.dynamic.reshape(-1, it.design.event_times.size)
            lags = it.design.event_times >= 0
            dlo, dhi = np.quantile(dyn[:, lags], [0.025, 0.975], axis=0)
            t_dyn = truth_dyn.reindex(it.design.event_times[lags]).to_numpy()
            rows.append({"truth": s.true_att, "mean": float(att.mean()), "lower": lo, "upper": hi,
                         "cover": bool(lo <= s.true_att <= hi), "twfe": twfe, "iw_ols": iw_ols,
                         "dyn_cover": float(np.mean((dlo <= t_dyn) & (t_dyn <= dhi))),
                         "rhat": float(az.rhat(att)), "sd": float(att.std())})
        print(f"{len(rows)} datasets, {time.perf_counter() - start:.0f} s", flush=True)
    r = pd.DataFrame(rows)
    cov = float(r["cover"].mean())
    err = r["mean"] - r["truth"]
    out = {"benchmark": "recovery_panel", "units": a.units, "periods": a.periods, "design": DESIGN,
           "leads": LEADS, "lags": LAGS, "datasets": a.datasets, "chains": a.chains, "draws": a.draws, **stamp(),
           "results": {
               "att_coverage_95": round(cov, 3),
               "att_coverage_mc_se": round(float(np.sqrt(cov * (1 - cov) / len(r))), 3),
               "att_mean_bias": round(float(err.mean()), 4),
               "att_bias_mc_se": round(float(err.std(ddof=1) / np.sqrt(len(r))), 4),
               "att_rmse": round(float(np.sqrt((err**2).mean())), 4),
               "att_mean_posterior_sd": round(float(r["sd"].mean()), 4),
               "twfe_mean_bias": round(float((r["twfe"] - r["truth"]).mean()), 4),
               "twfe_rmse": round(float(np.sqrt(((r["twfe"] - r["truth"]) ** 2).mean())), 4),
               "max_abs_posterior_mean_minus_iw_ols": round(float((r["mean"] - r["iw_ols"]).abs().max()), 5),
               "dynamic_coverage_95": round(float(r["dyn_cover"].mean()), 3),
               "mean_true_att": round(float(r["truth"].mean()), 4),
               "worst_rhat": round(float(r["rhat"].max()), 4),
               "seconds": round(time.perf_counter() - start, 1)}}
    print(json.dumps(out["results"], indent=1))
    a.out.parent.mkdir(exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1, default=float))
    return out


if __name__ == "__main__":
    main()
