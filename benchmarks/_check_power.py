"""Shared harness of the "do the checks catch wrong answers?" benchmarks (``check_power_*.py``, issue 22).

Each benchmark simulates two kinds of dataset for one method: *misspecified* ones, where the method's default
model is wrong in a way the data can reveal (so its interval often misses the truth), and *well-specified* ones,
where the default model is adequate. Every dataset is fitted with the default ``checks="full"`` and summarised
as one :class:`Replicate`. :func:`summarise` then reports, per condition:

* ``miss_share``: the share of fits whose 95% interval misses the true effect;
* ``flagged_share_of_misses``: of the fits that miss, the share with at least one FAILED check (the checks'
  power where it matters; target at least 0.8 where the data can reveal the problem);
* ``false_alarm_rate``: on the well-specified datasets, the share of fits with at least one FAILED check
  (target at most 0.1);
* the same shares per check, so a table can say which check caught what.

Monte Carlo standard errors are binomial, ``sqrt(p (1 - p) / n)``; with no miss the flagged share is undefined
(reported as ``None``). A check that could not run (``passed is None``) does not count as flagging.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import stamp

HERE = Path(__file__).resolve().parent


@dataclass
class Replicate:
    """One fitted dataset: its condition, the truth, the estimate's 95% interval and the checks' verdicts."""

    condition: str  # "misspecified" or "well-specified"
    seed: int
    truth: float
    mean: float
    lower: float
    upper: float
    failed: list[str] = field(default_factory=list)  # names of the checks that FAILED
    not_run: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def covers(self) -> bool:
        return bool(self.lower <= self.truth <= self.upper)

    @property
    def flagged(self) -> bool:
        return bool(self.failed)


def from_result(condition: str, seed: int, truth: float, result, estimand: str = "effect",
                seconds: float = 0.0) -> Replicate:
    """A :class:`Replicate` from a fitted Result whose ``summary()`` has the row ``estimand`` (mean, lower,
    upper: the 95% interval)."""
    s = result.summary().loc[estimand]
    return Replicate(condition, seed, float(truth), float(s["mean"]), float(s["lower"]), float(s["upper"]),
                     [c.name for c in result.checks if c.passed is False],
                     [c.name for c in result.checks if c.passed is None], round(seconds, 2))


def _share(k: int, n: int) -> dict:
    if n == 0:
        return {"share": None, "mc_se": None, "count": 0, "of": 0}
    p = k / n
    return {"share": round(p, 4), "mc_se": round(math.sqrt(p * (1 - p) / n), 4), "count": k, "of": n}


def summarise(reps: Iterable[Replicate]) -> dict:
    """Per condition: miss share, flagged share of the misses, flag rate (false alarms where well specified),
    each with its binomial Monte Carlo standard error, and failures per check."""
    reps = list(reps)
    out = {}
    for cond in sorted({r.condition for r in reps}):
        rs = [r for r in reps if r.condition == cond]
        misses = [r for r in rs if not r.covers]
        per_check = Counter(name for r in rs for name in r.failed)
        per_check_misses = Counter(name for r in misses for name in r.failed)
        out[cond] = {
            "fits": len(rs),
            "miss_share": _share(len(misses), len(rs)),
            "flagged_share_of_misses": _share(sum(r.flagged for r in misses), len(misses)),
            "flag_rate": _share(sum(r.flagged for r in rs), len(rs)),
            "failures_per_check": dict(per_check),
            "failures_per_check_among_misses": dict(per_check_misses),
            "not_run_per_check": dict(Counter(name for r in rs for name in r.not_run)),
            "mean_abs_error": round(sum(abs(r.mean - r.truth) for r in rs) / len(rs), 4),
            "seconds_per_fit": round(sum(r.seconds for r in rs) / len(rs), 2),
        }
    return out


def fmt(s: dict) -> str:
    """``0.85 (0.06; 17/20)`` from a share dict."""
    if s["share"] is None:
        return "n/a (no fit)"
    return f"{s['share']:.2f} ({s['mc_se']:.2f}; {s['count']}/{s['of']})"


def markdown_row(method: str, scenario: str, summary: dict) -> str:
    """One row of the README table: method, misspecification, miss share, flagged share of misses, false alarms."""
    mis, well = summary.get("misspecified"), summary.get("well-specified")
    cells = [method, scenario,
             fmt(mis["miss_share"]) if mis else "-",
             fmt(mis["flagged_share_of_misses"]) if mis else "-",
             fmt(mis["flag_rate"]) if mis else "-",
             fmt(well["flag_rate"]) if well else "-",
             fmt(well["miss_share"]) if well else "-"]
    return "| " + " | ".join(cells) + " |"


TABLE_HEADER = ("| method | misspecification (data can reveal it) | misses (MC se; count) | flagged share of misses "
                "| flagged, all misspecified fits | false alarms, well specified | misses, well specified |\n"
                "|---|---|---|---|---|---|---|")


def condition_jobs(conditions: list[str], first: int, fits: int, well_fits: int | None = None) -> list[tuple[str, int]]:
    """``(condition, seed)`` jobs interleaved by seed: ``fits`` seeds from ``first`` for each condition, or
    ``well_fits`` for the condition ``"well-specified"`` (default ``fits``)."""
    n_well = fits if well_fits is None else well_fits
    return [(c, s) for s in range(first, first + max(fits, n_well)) for c in conditions
            if s < first + (n_well if c == "well-specified" else fits)]


def run(name: str, jobs: list[tuple[str, int]], fit_one: Callable[[str, int], Replicate], out: Path | None = None,
        meta: dict | None = None) -> dict:
    """Fit every ``(condition, seed)`` job with ``fit_one`` (which returns a :class:`Replicate`), print progress,
    write ``results/<name>.json`` (the replicates, the summary, the machine stamp) and return the summary.

    Warnings (e.g. ConvergenceWarning) are silenced: a failed convergence check is what is counted."""
    reps = []
    t0 = time.perf_counter()
    for i, (cond, seed) in enumerate(jobs):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fit_one(cond, seed)
        r.seconds = round(time.perf_counter() - t, 2)
        reps.append(r)
        print(f"[{i + 1}/{len(jobs)}] {cond} seed {seed}: {r.mean:.4g} [{r.lower:.4g}, {r.upper:.4g}] truth "
              f"{r.truth:.4g} {'covers' if r.covers else 'MISSES'}; failed: {', '.join(r.failed) or '-'} "
              f"({r.seconds:.1f} s)", flush=True)
    summary = summarise(reps)
    doc = {"benchmark": name, "summary": summary, "meta": meta or {},
           "replicates": [asdict(r) | {"covers": r.covers} for r in reps],
           "seconds": round(time.perf_counter() - t0, 1), **stamp()}
    path = out or HERE / "results" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    print(json.dumps(summary, indent=1))
    return summary
