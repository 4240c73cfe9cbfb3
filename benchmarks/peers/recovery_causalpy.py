"""CausalPy's nearest BSTS-like model on the first N series of the recovery benchmark (same seeds).

Writes each series as a CSV, runs run_causalpy.py (forecast model) on it in the peer venv, and
summarises coverage / false positives / bias / width next to ours in results/recovery_causalpy.json.
Run with the MAIN venv (it needs bayescausal's simulator): .venv/bin/python benchmarks/peers/recovery_causalpy.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from recovery_bsts import make_studies  # noqa: E402


def main(n: int = 20, chains: int = 2, draws: int = 500) -> None:
    studies = make_studies(200, 0)[:n]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(studies):
            df = s.data.rename(columns={s.outcome: "y", **{c: f"x{j + 1}" for j, c in enumerate(s.controls)}})
            path = Path(tmp) / f"s{i}.csv"
            df.reset_index().assign(date=lambda d: d["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
            n_pre = len(df) - len(s.true_effect)
            cmd = [str(HERE.parent.parent / ".venv-bench" / "bin" / "python"), str(HERE / "run_causalpy.py"), str(path),
                   "--pre-end", str(n_pre - 1), "--post-end", str(len(df) - 1), "--seasons", "7",
                   "--draws", str(draws), "--tune", str(draws), "--chains", str(chains), "--seed", str(i)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            line = [x for x in out.stdout.splitlines() if x.startswith("{")]
            if not line:
                print("failed", i, out.stderr[-500:], flush=True)
                continue
            r = json.loads(line[-1])
            lo = r.get("average_effect_pred_lower", r["average_effect_lower"])
            hi = r.get("average_effect_pred_upper", r["average_effect_upper"])
            rows.append({"truth": s.true_average_effect, "mean": r["average_effect_mean"], "lower": lo, "upper": hi,
                         "wall_s": r["wall_s"], "divergences": r.get("divergences")})
            print(i, rows[-1], flush=True)
    truth = np.array([r["truth"] for r in rows])
    lo = np.array([r["lower"] for r in rows])
    hi = np.array([r["upper"] for r in rows])
    mean = np.array([r["mean"] for r in rows])
    zero = truth == 0
    summary = {"series": len(rows), "chains": chains, "draws": draws,
               "coverage_95": float(np.mean((lo <= truth) & (truth <= hi))),
               "false_positive_rate_at_zero": float(np.mean((lo[zero] > 0) | (hi[zero] < 0))) if zero.any() else None,
               "n_zero_effect": int(zero.sum()), "bias": float(np.mean(mean - truth)),
               "mean_abs_error": float(np.mean(np.abs(mean - truth))), "mean_interval_width": float(np.mean(hi - lo)),
               "mean_wall_s": float(np.mean([r["wall_s"] for r in rows]))}
    (HERE / "results" / "recovery_causalpy.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
