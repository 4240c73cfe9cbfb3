"""Recovery of BayesianIV over simulated datasets with strong and weak instruments.

Each dataset: n = 500 rows, two covariates, one instrument correlated with a covariate, true effect 1,
endogeneity corr(u, v) = 0.5, and the first-stage coefficient set so that the concentration parameter
is about 50 ("strong", first-stage F about 50) or about 5 ("weak", F about 5; Staiger & Stock's
threshold is 10). For each, three 95% intervals for the effect: the posterior interval of BayesianIV
(default priors), the 2SLS Wald interval, and the Anderson-Rubin set; we report their coverage (an
unbounded AR set covers by definition), the share of unbounded AR sets, widths, and the posterior's
bias. The fits of a strength are batched: ``--batch`` datasets are independent blocks of one NUTS
run (the normal model carries a batch axis), so one compiled program serves them all.

    .venv/bin/python benchmarks/recovery_iv.py [--datasets 100] [--batch 50] [--chains 2] [--draws 1000] [--out PATH]

Writes ``results/recovery_iv.json`` (or ``--out``). Also reports the sampler's health over the batches:
divergent transitions, the worst R-hat of an effect, and the share of datasets sampled in the rotated
coordinates of ``bayescausal/iv/model.py`` (those with first-stage F below ``ROTATE_BELOW_F``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import stamp  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.inference import run_mcmc  # noqa: E402
from bayescausal.iv import _math  # noqa: E402
from bayescausal.iv._data import prepare  # noqa: E402
from bayescausal.iv.estimator import _standardise  # noqa: E402
from bayescausal.iv.model import IVStats  # noqa: E402

N, BETA, RHO = 500, 1.0, 0.5
CONCENTRATION = {"strong": 50.0, "weak": 5.0}


def simulate(rng, concentration: float) -> pd.DataFrame:
    W = rng.normal(size=(N, 2))
    z = rng.normal(size=N) + 0.3 * W[:, 0]
    pi = np.sqrt(concentration / N)  # var(z | W) = 1 and var(v) = 1: mu^2 = n pi^2
    e = rng.multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], size=N)
    x = 0.5 + pi * z + 0.3 * W.sum(1) + e[:, 0]
    y = 1.0 + BETA * x - 0.2 * W.sum(1) + e[:, 1]
    return pd.DataFrame({"y": y, "x": x, "z": z, "w0": W[:, 0], "w1": W[:, 1]})


def fit_batch(est, frames, sampler, seed):
    """One NUTS run over a batch of datasets; returns effect draws (chain, draw, B) in original units, the
    draws, and the datasets' rotate switches."""
    stds, parts, inits = [], [], []
    for df in frames:
        data = prepare(df, "y", "x", ["z"], ["w0", "w1"], False)
        std = _standardise(data, False)
        stds.append(std)
        parts.append(est._inputs(std, std.Z[None], np.zeros(1)))
        inits.append(est._init_params(std, std.Z[None], False, sampler.chains, seed))
    inputs = IVStats(jnp.concatenate([p.S for p in parts]), jnp.asarray(float(N - 3)), jnp.zeros(len(frames)),
                     jnp.concatenate([p.rotate for p in parts]))
    init = {k: np.concatenate([i[k] for i in inits], axis=1) for k in inits[0]}
    draws = run_mcmc(est._model(False, 1), sampler, seed, (inputs,), jit_model_args=True, init_params=init)
    scale = np.array([float(s.y_scale / s.x_scale[0]) for s in stds])
    return draws.samples["beta"][..., 0] * scale, draws, np.asarray(inputs.rotate)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=int, default=100, help="datasets per instrument strength")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "results" / "recovery_iv.json",
                   help="where to write the JSON (use a temporary path while iterating)")
    a = p.parse_args(argv)
    import arviz as az

    est = bc.BayesianIV()
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, warmup=a.draws, progress=False)
    out = {"benchmark": "recovery_iv", "n": N, "beta": BETA, "rho": RHO, "datasets_per_strength": a.datasets,
           "chains": a.chains, "draws": a.draws, **stamp(), "results": {}}
    for j, (label, mu2) in enumerate(CONCENTRATION.items()):
        rng = np.random.default_rng(a.seed + 1000 * j)
        frames = [simulate(rng, mu2) for _ in range(a.datasets)]
        rows, start = [], time.perf_counter()
        divergences, worst_rhat, rotated = 0, 1.0, []
        for b0 in range(0, a.datasets, a.batch):
            chunk = frames[b0:b0 + a.batch]
            eff, draws, rotate = fit_batch(est, chunk, sampler, a.seed + b0)
            divergences += int(draws.sample_stats["diverging"].sum())
            rotated += list(rotate)
            for i, df in enumerate(chunk):
                d = eff[..., i]
                worst_rhat = max(worst_rhat, float(az.rhat(d)))
                lo, hi = np.quantile(d, [0.025, 0.975])
                W = df[["w0", "w1"]].to_numpy()
                t = _math.tsls(df["y"].to_numpy(), df["x"].to_numpy(), W, df[["z"]].to_numpy())
                ar = _math.anderson_rubin_set(df["y"].to_numpy(), df["x"].to_numpy(), W, df[["z"]].to_numpy())
                fs = _math.first_stage(df["x"].to_numpy(), W, df[["z"]].to_numpy())
                rows.append({"post_cover": lo <= BETA <= hi, "post_width": hi - lo, "post_mean": d.mean(),
                             "wald_cover": t.lower <= BETA <= t.upper, "wald_width": t.upper - t.lower,
                             "tsls": t.estimate, "ar_cover": ar.contains(BETA), "ar_bounded": ar.bounded,
                             "ar_width": ar.upper - ar.lower if ar.kind == "interval" else np.inf,
                             "f": fs.f_stat})
        r = pd.DataFrame(rows)
        cov = r["post_cover"].mean()
        out["results"][label] = {
            "concentration": mu2, "median_first_stage_F": round(float(r["f"].median()), 2),
            "posterior_coverage": round(float(cov), 3),
            "posterior_coverage_mc_se": round(float(np.sqrt(cov * (1 - cov) / len(r))), 3),
            "wald_coverage": round(float(r["wald_cover"].mean()), 3),
            "ar_coverage": round(float(r["ar_cover"].mean()), 3),
            "ar_unbounded_share": round(float(1 - r["ar_bounded"].mean()), 3),
            "posterior_median_width": round(float(r["post_width"].median()), 3),
            "wald_median_width": round(float(r["wald_width"].median()), 3),
            "ar_median_width_bounded": round(float(r.loc[r["ar_bounded"], "ar_width"].median()), 3)
            if r["ar_bounded"].any() else None,
            "posterior_mean_bias": round(float(r["post_mean"].mean() - BETA), 4),
            "posterior_median_bias": round(float(r["post_mean"].median() - BETA), 4),
            "tsls_median_bias": round(float(r["tsls"].median() - BETA), 4),
            "divergences": divergences, "worst_rhat": round(worst_rhat, 3),
            "share_rotated": round(float(np.mean(rotated)), 3),
            "seconds": round(time.perf_counter() - start, 1)}
        print(label, out["results"][label], flush=True)
    a.out.write_text(json.dumps(out, indent=1, default=float))
    return out


if __name__ == "__main__":
    main()
