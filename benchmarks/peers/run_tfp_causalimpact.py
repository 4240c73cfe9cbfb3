#!/usr/bin/env python
"""Peer benchmark: Google's tfp-causalimpact (TensorFlow Probability port of R CausalImpact).

Model = R CausalImpact defaults as far as the Python port exposes them:
  local level (prior_level_sd=0.01, R's prior.level.sd default) + optional seasonal
  component (tfp.sts.Seasonal, num_seasons=--seasons, drift allowed; R nseasons) + static
  regression on all x* controls with spike-and-slab prior (prior inclusion prob
  min(1, 3/k), Zellner-g-like slab), standardize_data=True. Fitted by the package's
  Gibbs sampler (tfp.experimental.sts_gibbs), ONE chain: num_results=--draws,
  num_warmup_steps=--warmup (default: the package's own ceil(num_results/9)).
  --chains is accepted for CLI uniformity but tfp-causalimpact has no multi-chain option;
  the JSON reports chains=1.

Effect draws: fit_causalimpact() only returns samples of the latents, not the
posterior-predictive counterfactual trajectories it summarises. We capture them without
changing the computation by wrapping the module-level helper
causalimpact.causalimpact_lib._compute_impact_trajectories (called once inside
fit_causalimpact), and average its "point_effects" (y - counterfactual draw) over the
post period: one average-effect draw per Gibbs iteration, in sampler order, so the
bulk ESS is meaningful. The reported mean/interval are the package's own summary
("average" row: abs_effect, abs_effect_lower, abs_effect_upper); note the package's
abs_effect is observed mean minus the noise-free posterior mean, the interval comes from
the predictive trajectories (which include observation noise), exactly as R does.

Usage:
  python run_tfp_causalimpact.py data.csv --pre-end 364 --post-end 424 --seasons 7 \
      --draws 1000 --seed 1
Prints one JSON line on stdout; TF's own logging goes to stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
from _peer_common import add_window_args, emit, ess_bulk, load_csv, peak_rss_mb, versions  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_window_args(p)
    p.add_argument("--seasons", type=int, default=0, help="num_seasons of a seasonal component; 0 = none")
    p.add_argument("--draws", type=int, default=1000, help="num_results of the Gibbs sampler")
    p.add_argument("--warmup", type=int, default=None,
                   help="num_warmup_steps (default: package's ceil(draws/9))")
    p.add_argument("--chains", type=int, default=1, help="ignored: the package runs a single Gibbs chain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prior-level-sd", type=float, default=0.01)
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--repeat", type=int, default=1,
                   help="fit N times in-process; wall_s is the first (cold: includes tf.function tracing), "
                        "wall_s_repeats lists the later ones (graph cached)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse(argv)
    if not (0 < a.pre_end < a.post_end):
        raise SystemExit("need 0 < --pre-end < --post-end")
    df, outcome, controls, time_col = load_csv(a.csv, a.post_end)

    t0 = time.perf_counter()
    import causalimpact
    from causalimpact import causalimpact_lib

    import_s = time.perf_counter() - t0

    # Integer positional index: pre = [0, pre_end], post = [pre_end + 1, post_end].
    data = df[[outcome] + controls].astype("float64")
    data.index = np.arange(len(data))

    captured: dict = {}
    _orig = causalimpact_lib._compute_impact_trajectories

    def _capture(posterior_trajectories, observed_ts_full, treatment_start):
        out = _orig(posterior_trajectories, observed_ts_full, treatment_start)
        captured["point_effects"] = out["point_effects"]
        return out

    causalimpact_lib._compute_impact_trajectories = _capture

    seasons = [causalimpact.Seasons(num_seasons=a.seasons)] if a.seasons and a.seasons > 1 else []

    def fit():
        return causalimpact.fit_causalimpact(
            data,
            pre_period=(0, a.pre_end),
            post_period=(a.pre_end + 1, a.post_end),
            alpha=a.alpha,
            seed=a.seed,
            data_options=causalimpact.DataOptions(outcome_column=outcome, standardize_data=True),
            model_options=causalimpact.ModelOptions(prior_level_sd=a.prior_level_sd, seasons=seasons),
            inference_options=causalimpact.InferenceOptions(num_results=a.draws, num_warmup_steps=a.warmup),
        )

    t1 = time.perf_counter()
    try:
        res = fit()
    finally:
        causalimpact_lib._compute_impact_trajectories = _orig
    wall_s = time.perf_counter() - t1
    repeats = []
    for _ in range(max(0, a.repeat - 1)):
        t2 = time.perf_counter()
        fit()
        repeats.append(time.perf_counter() - t2)

    s = res.summary.loc["average"]
    rec = {
        "peer": "tfp-causalimpact",
        "model": "local level" + (f" + seasonal({a.seasons})" if seasons else "")
        + f" + static spike-and-slab regression on {len(controls)} controls, Gibbs",
        "wall_s": wall_s,
        "import_s": import_s,
        "wall_s_repeats": [round(r, 3) for r in repeats],
        "average_effect_mean": s["abs_effect"],
        "average_effect_lower": s["abs_effect_lower"],
        "average_effect_upper": s["abs_effect_upper"],
        "average_effect_sd": s["abs_effect_sd"],
    }
    pe = captured.get("point_effects")
    if pe is not None:
        post = pe.loc[(pe.index >= a.pre_end + 1) & (pe.index <= a.post_end)]
        avg_draws = post.to_numpy(dtype=float).mean(axis=0)  # one per Gibbs iteration, in order
        ess, how = ess_bulk(avg_draws[None, :])
        rec.update({
            "ess_average_effect": ess,
            "ess_method": how,
            "average_effect_draws_mean": float(avg_draws.mean()),
            "n_effect_draws": int(avg_draws.size),
            "ess_note": "single Gibbs chain; draws of mean(y - counterfactual trajectory) over post period, "
                        "captured from causalimpact_lib._compute_impact_trajectories",
        })
    else:
        rec.update({"ess_average_effect": None,
                    "ess_note": "could not capture posterior-predictive trajectories "
                                "(package internals changed)"})
    warm = a.warmup if a.warmup is not None else -(-a.draws // 9)
    rec.update({
        "chains": 1, "draws": a.draws, "warmup": warm, "seed": a.seed, "seasons": a.seasons,
        "n_pre": a.pre_end + 1, "n_post": a.post_end - a.pre_end, "n_controls": len(controls),
        "time_col": time_col,
        "peak_rss_mb": peak_rss_mb(),
        "versions": versions("tfp-causalimpact", "tensorflow", "tensorflow-probability", "tf-keras",
                             "numpy", "pandas"),
    })
    emit(rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
