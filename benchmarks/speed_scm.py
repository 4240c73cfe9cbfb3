"""Speed of a 6-node mixed SCM on 100k rows: fit (with checks), 3 interventions and a lever ranking, next to
the same do-queries through DoWhy's gcm (with its bootstrap intervals) in the same run.

Target (issue 3): fit + 3 interventions + lever ranking under 60 s on 2 CPU cores. Each query's true value is
computed from the simulator's structural equations (the outcome's noise integrated exactly, the other nodes'
values the simulated rows' own), so both tools' answers can be compared with the truth, not only with each other.

Run: ``python benchmarks/speed_scm.py [--rows 100000] [--blocks auto] [--no-peer]``. The peer runs in
``.venv-bench`` (``pip install dowhy``; see benchmarks/README.md). One JSON row is appended to
``benchmarks/results/speed_scm.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayescausal as bc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_row, peak_rss_mb, stamp  # noqa: E402

GRAPH = ("region -> visits; age -> visits; region -> price; price -> buy; visits -> buy; age -> buy; "
         "buy -> revenue; price -> revenue; visits -> revenue")
DRAWS = 500
HERE = Path(__file__).resolve().parent
PEER_PYTHON = HERE.parent / ".venv-bench" / "bin" / "python"
# (treatment, outcome, effect() arguments, label shared with peers/run_dowhy_gcm.py)
QUERIES = [("price", "buy", dict(shift=-2.0), "shift -2"), ("visits", "revenue", dict(treat=5, control=2), "5 vs 2"),
           ("buy", "revenue", dict(treat=1, control=0), "1 vs 0")]
LEVERS = {"price": {"shift": -2.0}, "visits": (2, 5), "buy": (0, 1)}


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _buy_logit(price, visits, age):
    return -0.5 - 0.15 * (price - 20) + 0.2 * (visits - 3) + 0.02 * (age - 40)


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "west"], size=n, p=[0.5, 0.3, 0.2])
    r = (region == "south") * 0.4 - (region == "west") * 0.3
    age = rng.normal(40, 10, n)
    mu = np.exp(1.0 + r + 0.01 * (age - 40))
    visits = rng.negative_binomial(2, 2 / (2 + mu))
    price = 20 + 3 * r + rng.normal(0, 2, n)
    buy = (rng.uniform(size=n) < _sigmoid(_buy_logit(price, visits, age))).astype(int)
    revenue = 5 + 30 * buy + 0.5 * price + 1.0 * visits + rng.normal(0, 5, n)
    return pd.DataFrame({"region": region, "age": age, "visits": visits, "price": price, "buy": buy,
                         "revenue": revenue})


def truths(df: pd.DataFrame) -> dict[str, float]:
    """The three queries' true values under the simulator, averaged over the rows' own non-descendants."""
    p, v, a = (df[c].to_numpy(float) for c in ("price", "visits", "age"))
    shift = float(np.mean(_sigmoid(_buy_logit(p - 2.0, v, a)) - _sigmoid(_buy_logit(p, v, a))))
    visits = 3.0 + 30.0 * float(np.mean(_sigmoid(_buy_logit(p, 5.0, a)) - _sigmoid(_buy_logit(p, 2.0, a))))
    return {"shift -2": shift, "5 vs 2": visits, "1 vs 0": 30.0}


def run_peer(df: pd.DataFrame, bootstrap: int) -> dict | None:
    if not PEER_PYTHON.exists():
        print(f"peer skipped: {PEER_PYTHON} not found")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "scm.csv"
        df.to_csv(csv, index=False)
        out = subprocess.run([str(PEER_PYTHON), str(HERE / "peers" / "run_dowhy_gcm.py"), str(csv),
                              "--bootstrap", str(bootstrap)], capture_output=True, text=True, check=False)
    if out.returncode:
        print(f"peer failed:\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--blocks", default="auto")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--bootstrap", type=int, default=20)
    ap.add_argument("--laplace", action="store_true",
                    help="start per-node NUTS from the Laplace approximation (off by default)")
    args = ap.parse_args()
    import bayescausal.scm.fitted as scm_fitted

    scm_fitted.LAPLACE_START = args.laplace
    df = simulate(args.rows)
    truth = truths(df)
    t0 = time.perf_counter()
    fitted = bc.SCM(GRAPH).fit(df, sampler=bc.Sampler(chains=2, draws=DRAWS, warmup=DRAWS), seed=0,
                               blocks=args.blocks)
    t_fit = time.perf_counter() - t0
    print(f"fit ({fitted.info['blocks']}) {t_fit:.1f} s (sampling {fitted.info['fit_seconds']} s, "
          f"{fitted.info['node_seconds']})")
    for c in fitted.checks:
        print(f"  {c.name}: {c.verdict}")
    ours = []
    for x, y, kw, label in QUERIES:
        t = time.perf_counter()
        row = fitted.effect(x, y, **kw).summary().iloc[0]
        ours.append({"query": f"{x} -> {y} ({label})", "truth": round(truth[label], 4),
                     "mean": round(float(row["mean"]), 4), "lower": round(float(row["lower"]), 4),
                     "upper": round(float(row["upper"]), 4), "width": round(float(row["upper"] - row["lower"]), 4),
                     "covers": bool(row["lower"] <= truth[label] <= row["upper"]),
                     "seconds": round(time.perf_counter() - t, 2)})
        print(f"effect {ours[-1]}")
    t = time.perf_counter()
    ranking = fitted.rank_levers("revenue", LEVERS)
    t_rank = time.perf_counter() - t
    print(f"rank_levers {t_rank:.1f} s: best {ranking.best}")
    total = time.perf_counter() - t0
    print(f"total {total:.1f} s for {args.rows} rows (target 60 s)")
    peer = None if args.no_peer else run_peer(df, args.bootstrap)
    if peer:
        for q in peer["queries"]:
            label = q["query"].split("(")[-1].rstrip(")")
            q["truth"] = round(truth[label], 4)
            q["covers"] = bool(q["lower"] <= truth[label] <= q["upper"])
        print(f"dowhy-gcm: fit {peer['fit_seconds']} s, total {peer['total_seconds']} s")
        for q in peer["queries"]:
            print(f"  {q}")
    append_row(HERE / "results" / "speed_scm.jsonl", {
        "benchmark": "speed_scm", "rows": args.rows, "draws": DRAWS, "chains": 2, "blocks": fitted.info["blocks"],
        "laplace_start": args.laplace, "fit_seconds": round(t_fit, 2),
        "sampling_seconds": fitted.info["fit_seconds"],
        "node_seconds": fitted.info["node_seconds"], "rank_levers_seconds": round(t_rank, 2),
        "total_seconds": round(total, 2), "checks": {c.name: c.verdict for c in fitted.checks}, "queries": ours,
        "peak_rss_mb": peak_rss_mb(), "peer": peer, **stamp()})


if __name__ == "__main__":
    main()
