"""Do the MMM's checks catch wrong answers? Adstock of the wrong shape (issue 22).

Misspecified: the data of ``simulate_mmm(n_weeks=104, n_channels=4, seed)`` (geometric adstock, logistic
saturation, trend, seasonality, a price control), with every channel's carry-over replaced by a *delayed*
geometric adstock (Jin et al. 2017, eq. 1 with a delay): weights ``alpha^((l - theta)^2)`` over ``l = 0..12``
weeks, normalised, with the peak ``theta`` drawn from 3 to 6 weeks after the spend and ``alpha`` from 0.5 to 0.8.
The spend, baseline, saturation, coefficients and noise are the simulator's own; only the lag shape changes
(normalised weights keep a constant spend's long-run effect, so the channels' media share is unchanged). The
default ``MMM`` fits a geometric adstock (peak at lag 0) over 8 weeks, so it cannot follow the delayed peak.

Well-specified: ``simulate_mmm(n_weeks=104, n_channels=4, seed)`` itself (the default model's own structure).

Estimand: the summary's leading rows, each channel's ROAS over the data (total contribution over total spend),
with the truth from the noise-free contributions. A fit *misses* when ANY channel's 95% interval misses its
true ROAS (the Replicate holds the channel that misses by the most standard deviations, or else the one nearest
to missing); the per-channel shares are in ``meta.per_channel``.

Every fit is the default ``MMM(channels)`` with ``checks="full"``, with 2 chains x (500 warm-up + 1000 draws)
in place of the default 4 chains (two cores; as in benchmarks/recovery_mmm.py).

    flock /tmp/w/cpu.lock .venv/bin/python benchmarks/check_power_mmm.py [--fits 25] [--seed0 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from _check_power import TABLE_HEADER, Replicate, markdown_row, run  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.datasets.mmm import MMMStudy, simulate_mmm  # noqa: E402
from bayescausal.mmm import _math  # noqa: E402

N_WEEKS, N_CHANNELS = 104, 4
DELAY_LAGS = 13  # weeks of the true delayed adstock (the model's default l_max is 8)
SCENARIO = ("adstock of the wrong shape: true carry-over peaks 3-6 weeks after spend (delayed geometric over "
            "13 weeks); the default geometric adstock peaks at once and stops at 8")


def delayed_weights(alpha: np.ndarray, theta: np.ndarray, lags: int = DELAY_LAGS) -> np.ndarray:
    """Delayed geometric lag weights ``alpha^((l - theta)^2)``, ``l = 0..lags-1``, normalised: ``(lags, C)``."""
    lag = np.arange(lags)[:, None]
    w = alpha[None, :] ** ((lag - theta[None, :]) ** 2)
    return w / w.sum(axis=0, keepdims=True)


def delayed_study(seed: int) -> MMMStudy:
    """``simulate_mmm``'s data with each channel's adstock replaced by a delayed one (see the module doc)."""
    base = simulate_mmm(n_weeks=N_WEEKS, n_channels=N_CHANNELS, seed=seed)
    rng = np.random.default_rng(seed + 10_000)
    C = N_CHANNELS
    alpha, theta = rng.uniform(0.5, 0.8, C), rng.uniform(3.0, 6.0, C)
    w = delayed_weights(alpha, theta)
    ch = list(base.channels)
    spend = base.data[ch].to_numpy(float)  # (T, C), one geo
    p = base.params
    x = spend / p["spend_mean"][0]
    a = np.asarray(_math.adstock(x, w))
    contrib = p["beta"][0][None, :] * np.asarray(_math.logistic(a, p["lam"]))
    noise = base.data["sales"].to_numpy() - base.baseline - base.contributions.to_numpy().sum(axis=1)
    data = base.data.copy()
    data["sales"] = base.baseline + contrib.sum(axis=1) + noise
    roas = base.roas.copy()
    roas[:] = contrib.sum(axis=0) / spend.sum(axis=0)
    contributions = base.contributions.copy()
    contributions[:] = contrib
    params = {**p, "delay_alpha": alpha, "delay_theta": theta}
    return MMMStudy(data, roas, base.mroas * np.nan, contributions, base.baseline, params, base.channels,
                    l_max=DELAY_LAGS, adstock="delayed geometric", saturation="logistic")


def study_for(condition: str, seed: int) -> MMMStudy:
    if condition == "misspecified":
        return delayed_study(seed)
    return simulate_mmm(n_weeks=N_WEEKS, n_channels=N_CHANNELS, seed=seed)


def any_channel_replicate(condition: str, seed: int, study: MMMStudy, result) -> tuple[Replicate, dict]:
    """The fit as one :class:`Replicate` scored on any channel (the channel that misses its truth by the most
    posterior standard deviations outside its interval, or the one closest to missing), and per-channel rows."""
    table = result.summary()
    rows, score = [], []
    for c in study.channels:
        r = table.loc[f"ROAS: {c}"]
        truth = float(study.roas[c])
        outside = max(r["lower"] - truth, truth - r["upper"])  # > 0: a miss
        rows.append({"channel": c, "truth": truth, "mean": float(r["mean"]), "lower": float(r["lower"]),
                     "upper": float(r["upper"]), "covers": bool(r["lower"] <= truth <= r["upper"])})
        score.append(outside / max(float(r["sd"]), 1e-12))
    j = int(np.argmax(score))
    pick = rows[j]
    rep = Replicate(condition, seed, pick["truth"], pick["mean"], pick["lower"], pick["upper"],
                    [c.name for c in result.checks if c.passed is False],
                    [c.name for c in result.checks if c.passed is None])
    return rep, {"condition": condition, "seed": seed, "channels": rows,
                 "checks": {c.name: [c.passed, None if c.statistic is None else float(c.statistic)]
                            for c in result.checks}}


def per_channel_summary(extra: list[dict]) -> dict:
    """Per condition, scored per channel: share of channel intervals that miss, and of those the share whose fit
    has a failed check."""
    out = {}
    for cond in sorted({e["condition"] for e in extra}):
        es = [e for e in extra if e["condition"] == cond]
        n = sum(len(e["channels"]) for e in es)
        miss = [(e, r) for e in es for r in e["channels"] if not r["covers"]]
        flagged = sum(any(v[0] is False for v in e["checks"].values()) for e, _ in miss)
        p = len(miss) / n
        q = flagged / len(miss) if miss else None
        out[cond] = {"channel_intervals": n, "miss_share": round(p, 4),
                     "miss_mc_se": round(float(np.sqrt(p * (1 - p) / n)), 4),
                     "flagged_share_of_channel_misses": None if q is None else round(q, 4),
                     "note": "channels of one fit share its checks, so these counts are not independent"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=25, help="fits per condition")
    ap.add_argument("--seed0", type=int, default=0, help="first seed (pilot runs: 1000 and up)")
    ap.add_argument("--conditions", default="misspecified,well-specified")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    sampler = bc.Sampler(chains=args.chains, draws=args.draws, warmup=500, progress=False)
    extra: list[dict] = []

    def fit_one(condition: str, seed: int) -> Replicate:
        study = study_for(condition, seed)
        res = bc.MMM(study.channels).fit(study.data, "date", "sales", controls=["price"], sampler=sampler,
                                          seed=seed)
        rep, row = any_channel_replicate(condition, seed, study, res)
        extra.append(row)
        return rep

    conds = args.conditions.split(",")
    jobs = [(c, args.seed0 + i) for i in range(args.fits) for c in conds]
    t0 = time.perf_counter()
    meta = {"scenario": SCENARIO, "estimand": "ROAS of each channel over the data; a fit misses when any channel's "
                                              "95% interval misses its truth",
            "sampler": f"{args.chains} chains x (500 warm-up + {args.draws} draws), checks='full'",
            "seeds": f"{args.seed0}..{args.seed0 + args.fits - 1}", "per_channel": None, "fits_detail": extra}
    out = Path(args.out) if args.out else None
    summary = run("check_power_mmm", jobs, fit_one, out=out, meta=meta)
    meta["per_channel"] = per_channel_summary(extra)
    # rewrite with the per-channel summary filled in
    run_path = out or HERE / "results" / "check_power_mmm.json"
    import json

    doc = json.loads(run_path.read_text())
    doc["meta"] = meta
    run_path.write_text(json.dumps(doc, indent=1))
    print(json.dumps(meta["per_channel"], indent=1))
    print(TABLE_HEADER)
    print(markdown_row("MMM", SCENARIO, summary))
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
