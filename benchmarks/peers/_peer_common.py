"""Helpers shared by the peer benchmark scripts (no dependency on bayescausal).

Kept dependency-light on purpose: numpy + pandas only; arviz is used for ESS when it is
importable, otherwise a numpy implementation of rank-normalised bulk ESS
(Vehtari et al. 2021, FFT autocorrelation, Geyer initial monotone sequence) is used.
"""
from __future__ import annotations

import json
import math
import resource
import sys
from importlib import metadata

import numpy as np
import pandas as pd


def add_window_args(parser) -> None:
    """The arguments every peer script takes: the CSV and the pre/post-period ends (row positions)."""
    parser.add_argument("csv")
    parser.add_argument("--pre-end", type=int, required=True, help="last pre-period row position (0-based, inclusive)")
    parser.add_argument("--post-end", type=int, required=True, help="last post-period row position (inclusive)")


def load_csv(path: str, post_end: int) -> tuple[pd.DataFrame, str, list[str], str | None]:
    """Read the benchmark CSV. Returns (frame truncated to rows 0..post_end, outcome, controls, time col).

    The frame keeps its original columns; positions are 0-based and inclusive.
    """
    df = pd.read_csv(path)
    if "y" not in df.columns:
        raise SystemExit(f"{path}: no 'y' column")
    time_col = "date" if "date" in df.columns else ("t" if "t" in df.columns else None)
    controls = [c for c in df.columns if c.startswith("x") and c[1:].isdigit()]
    controls.sort(key=lambda c: int(c[1:]))
    if post_end >= len(df):
        raise SystemExit(f"--post-end {post_end} is past the last row ({len(df) - 1})")
    return df.iloc[: post_end + 1].reset_index(drop=True), "y", controls, time_col


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS).
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0, 1)


def peak_rss_children_mb() -> float:
    """Largest maxrss among waited-for child processes (e.g. PyMC's per-chain workers)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0, 1)


def versions(*dists: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = None
    return out


def _autocov_fft(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    m = 2 ** math.ceil(math.log2(2 * n))
    xc = x - x.mean(axis=-1, keepdims=True)
    f = np.fft.rfft(xc, n=m, axis=-1)
    acov = np.fft.irfft(f * np.conj(f), n=m, axis=-1)[..., :n]
    return acov / n


def _ess_raw(chains: np.ndarray) -> float:
    """Classic ESS (Stan/arviz 'ess_mean'-style) for an array [chains, draws]."""
    m, n = chains.shape
    if n < 4:
        return float("nan")
    acov = _autocov_fft(chains)  # [m, n]
    chain_mean = chains.mean(axis=1)
    chain_var = acov[:, 0] * n / (n - 1.0)
    w = chain_var.mean()
    b_over_n = chain_mean.var(ddof=1) if m > 1 else 0.0
    var_plus = w * (n - 1.0) / n + b_over_n
    if not np.isfinite(var_plus) or var_plus <= 0:
        return float("nan")
    rho = 1.0 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # Geyer initial positive + monotone sequence on paired sums.
    t = 0
    pair_sums = []
    while t + 1 < n:
        p = rho[t] + rho[t + 1]
        if p < 0:
            break
        pair_sums.append(p)
        t += 2
    pair_sums = np.minimum.accumulate(np.asarray(pair_sums)) if pair_sums else np.asarray([1.0])
    tau = -1.0 + 2.0 * pair_sums.sum()
    tau = max(tau, 1.0 / math.log10(m * n))
    return float(m * n / tau)


def _z_scale(x: np.ndarray) -> np.ndarray:
    from statistics import NormalDist

    flat = x.ravel()
    ranks = np.empty(flat.size)
    order = np.argsort(flat, kind="mergesort")
    ranks[order] = np.arange(1, flat.size + 1)
    # average ranks for ties
    _, inv, counts = np.unique(flat, return_inverse=True, return_counts=True)
    if np.any(counts > 1):
        sums = np.bincount(inv, weights=ranks)
        ranks = sums[inv] / counts[inv]
    u = (ranks - 3.0 / 8.0) / (flat.size + 1.0 / 4.0)
    nd = NormalDist()
    z = np.fromiter((nd.inv_cdf(v) for v in u), dtype=float, count=u.size)
    return z.reshape(x.shape)


def ess_bulk_numpy(draws: np.ndarray) -> float:
    """Rank-normalised split-chain bulk ESS for draws shaped [chains, draws] (or [draws])."""
    x = np.atleast_2d(np.asarray(draws, dtype=float))
    n = x.shape[1] // 2 * 2
    x = x[:, -n:] if n else x
    half = n // 2
    split = np.concatenate([x[:, :half], x[:, half:]], axis=0)
    return _ess_raw(_z_scale(split))


def ess_bulk(draws: np.ndarray) -> tuple[float, str]:
    """Bulk ESS of draws [chains, draws]; returns (value, method)."""
    x = np.atleast_2d(np.asarray(draws, dtype=float))
    try:
        import arviz as az

        return float(az.ess(x, method="bulk")), f"arviz {az.__version__} ess(method='bulk')"
    except Exception:  # noqa: BLE001 - any import/runtime problem falls back to numpy
        return ess_bulk_numpy(x), "numpy rank-normalised split bulk ESS (FFT autocorr)"


def emit(record: dict) -> None:
    def clean(v):
        if isinstance(v, (np.floating, float)):
            v = float(v)
            return None if not math.isfinite(v) else round(v, 6)
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, dict):
            return {k: clean(w) for k, w in v.items()}
        return v

    sys.stdout.write(json.dumps({k: clean(v) for k, v in record.items()}) + "\n")
    sys.stdout.flush()
