"""Design (a) of the BSTS sampler comparison: NUTS on the Kalman-filter likelihood (states integrated
out, regularised horseshoe on the coefficients), on the same standard case as speed_bsts.py (365 pre +
60 post daily points, 5 controls, weekly seasonality). Run in a fresh process; the wall time includes
compilation and the simulation-smoother draws of the counterfactual. Prints one JSON line and appends
it to benchmarks/results/speed_bsts.jsonl, next to the Gibbs kernel's rows (design (b)).

Usage: python benchmarks/speed_bsts_nuts.py [CSV] [--chains 2] [--draws 1000] [--warmup 1000]
The default is 2 chains rather than 4: on this 2-core machine 4 NUTS chains would take half an hour.
ESS per second does not depend on the number of chains run in parallel on as many cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

T0 = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.inference.mcmc import run_mcmc  # noqa: E402
from bayescausal.structural_ts._inputs import make_inputs, standardise  # noqa: E402
from bayescausal.structural_ts.components import parse_seasonality  # noqa: E402
from bayescausal.structural_ts.priors import BSTSPriors  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _common import append_row, effect_fields, peak_rss_mb, stamp  # noqa: E402
from designs.bsts_nuts_model import bsts_model, nuts_posterior_predictive  # noqa: E402


def gradient_ms(inputs, priors, repeats: int = 300) -> float:
    """Milliseconds per gradient of the model's log density (the unit cost of a leapfrog step)."""
    import jax
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(0), bsts_model, model_args=(inputs, priors))
    grad = jax.jit(jax.value_and_grad(info.potential_fn))
    z = info.param_info.z
    jax.block_until_ready(grad(z))
    start = time.perf_counter()
    for _ in range(repeats):
        out = grad(z)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="?", default=str(HERE / "peers" / "data" / "synthetic_bsts.csv"))
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--pre-end", type=int, default=364)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    df = pd.read_csv(args.csv, parse_dates=["date"], index_col="date")
    controls = [c for c in df.columns if c.startswith("x")]
    y = df["y"].to_numpy(float)
    X = df[controls].to_numpy(float)
    n_pre = args.pre_end + 1
    fit = np.arange(len(y)) < n_pre
    y_std, X_std, _, y_sd, *_ = standardise(y, X, fit)
    priors = BSTSPriors()
    inputs, _ = make_inputs(y_std, X_std, fit, "level", parse_seasonality([7]), False, priors)
    ms_per_gradient = gradient_ms(inputs, priors)
    sampler = bc.Sampler(chains=args.chains, draws=args.draws, warmup=args.warmup, progress=False)
    t = time.perf_counter()
    draws = run_mcmc(bsts_model, sampler, args.seed, model_args=(inputs, priors))
    mcmc_s = time.perf_counter() - t
    pred = nuts_posterior_predictive(inputs, draws.samples, args.seed)
    fit_s = time.perf_counter() - t
    eff = (y_std[n_pre:][None, None, :] - pred["y_pred"][:, :, n_pre:]).mean(axis=-1) * y_sd
    fields = effect_fields(eff)
    steps = draws.sample_stats["n_steps"]
    row = {
        "tool": "design (a): NUTS + Kalman likelihood + horseshoe",
        "checks": "none",
        "chains": args.chains,
        "draws": args.draws,
        "warmup": args.warmup,
        "fit_wall_s": round(fit_s, 2),
        "mcmc_wall_s": round(mcmc_s, 2),
        "process_wall_s": round(time.perf_counter() - T0, 2),
        "ess_per_s": round(fields["ess_average_effect"] / fit_s, 2),
        "mean_leapfrog_steps": round(float(steps.mean()), 1),
        "ms_per_gradient": round(ms_per_gradient, 3),
        "divergences": int(draws.sample_stats["diverging"].sum()),
        **fields,
        "peak_rss_mb": peak_rss_mb(),
        **stamp(),
    }
    append_row(HERE / "results" / "speed_bsts.jsonl", row)


if __name__ == "__main__":
    sys.exit(main())
