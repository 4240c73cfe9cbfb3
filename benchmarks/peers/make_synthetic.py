"""Generate a small synthetic impact-analysis CSV for the peer benchmark scripts.

Default: 365 pre + 60 post daily points, 5 controls x1..x5, a slow local level,
weekly seasonality, Gaussian noise sd 1 and a known additive effect of +2 on y in the
post period. Columns: date, y, x1..x5 (the true counterfactual is not written).

    python benchmarks/peers/make_synthetic.py --out benchmarks/peers/data/synthetic_bsts.csv
    -> pre-end index 364, post-end index 424 (0-based, inclusive)
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd


def make(n_pre: int = 365, n_post: int = 60, k: int = 5, effect: float = 2.0, noise_sd: float = 1.0,
         level_sd: float = 0.05, seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    t = np.arange(n)
    # Controls: random walks plus their own weekly wiggle, so they are informative but not trivial.
    xs = np.cumsum(rng.normal(0.0, 0.3, size=(n, k)), axis=0) + 10.0
    xs += 0.5 * np.sin(2 * np.pi * t[:, None] / 7.0 + rng.uniform(0, 2 * np.pi, size=k))
    beta = np.array([1.0, 0.6, -0.4, 0.0, 0.0] + [0.0] * max(0, k - 5))[:k]
    level = 5.0 + np.cumsum(rng.normal(0.0, level_sd, size=n))
    weekly = np.array([0.0, 0.6, 1.0, 0.4, -0.3, -1.2, -0.5])
    weekly -= weekly.mean()
    y0 = level + xs @ beta + weekly[t % 7] + rng.normal(0.0, noise_sd, size=n)
    y = y0 + np.where(t >= n_pre, effect, 0.0)
    df = pd.DataFrame({"date": pd.date_range("2023-01-02", periods=n, freq="D").strftime("%Y-%m-%d"), "y": y})
    for j in range(k):
        df[f"x{j + 1}"] = xs[:, j]
    return df


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--n-pre", type=int, default=365)
    p.add_argument("--n-post", type=int, default=60)
    p.add_argument("--controls", type=int, default=5)
    p.add_argument("--effect", type=float, default=2.0)
    p.add_argument("--noise-sd", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=20240601)
    a = p.parse_args(argv)
    df = make(a.n_pre, a.n_post, a.controls, a.effect, a.noise_sd, seed=a.seed)
    df.to_csv(a.out, index=False, float_format="%.6f")
    print(json.dumps({"out": a.out, "rows": len(df), "pre_end": a.n_pre - 1,
                      "post_end": a.n_pre + a.n_post - 1, "true_average_effect": a.effect}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
