"""Speed of a 6-node mixed SCM on 100k rows: fit (with checks) plus 3 interventions.

Target (issue): fit + 3 interventions + lever ranking under 60 s on 2 CPU cores. Lever ranking is not built yet.
Run: ``python benchmarks/speed_scm.py [rows] [joint|node]``.
"""

import sys
import time

import numpy as np
import pandas as pd

import bayescausal as bc

GRAPH = ("region -> visits; age -> visits; region -> price; price -> buy; visits -> buy; age -> buy; "
         "buy -> revenue; price -> revenue; visits -> revenue")


DRAWS = 500


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "west"], size=n, p=[0.5, 0.3, 0.2])
    r = (region == "south") * 0.4 - (region == "west") * 0.3
    age = rng.normal(40, 10, n)
    mu = np.exp(1.0 + r + 0.01 * (age - 40))
    visits = rng.negative_binomial(2, 2 / (2 + mu))
    price = 20 + 3 * r + rng.normal(0, 2, n)
    eta = -0.5 - 0.15 * (price - 20) + 0.2 * (visits - 3) + 0.02 * (age - 40)
    buy = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    revenue = 5 + 30 * buy + 0.5 * price + 1.0 * visits + rng.normal(0, 5, n)
    return pd.DataFrame({"region": region, "age": age, "visits": visits, "price": price, "buy": buy,
                         "revenue": revenue})


def main(n: int = 100_000, blocks: str = "joint") -> None:
    df = simulate(n)
    t0 = time.perf_counter()
    fitted = bc.SCM(GRAPH).fit(df, sampler=bc.Sampler(chains=2, draws=DRAWS, warmup=DRAWS), seed=0, blocks=blocks)
    t1 = time.perf_counter()
    print(f"fit ({blocks}) {t1 - t0:.1f} s (sampling {fitted.info['fit_seconds']} s, {fitted.info['node_seconds']})")
    for c in fitted.checks:
        print(f"  {c.name}: {c.verdict}")
    queries = [("price", "buy", dict(shift=-2.0)), ("visits", "revenue", dict(treat=5, control=2)),
               ("buy", "revenue", dict(treat=1, control=0))]
    for x, y, kw in queries:
        t = time.perf_counter()
        res = fitted.effect(x, y, **kw)
        row = res.summary().iloc[0]
        print(f"effect {x} -> {y} {kw}: {row['mean']:.4g} [{row['lower']:.4g}, {row['upper']:.4g}] "
              f"in {time.perf_counter() - t:.1f} s")
    print(f"total {time.perf_counter() - t0:.1f} s for {n} rows")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, sys.argv[2] if len(sys.argv) > 2 else "joint")
