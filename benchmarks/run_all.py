"""``make bench``: every benchmark in one go, each in its own process, peers in their own venv.

1. recovery_bsts.py — coverage / false positives / bias / width over 200 simulated series;
2. speed_bsts.py — our fit on the standard case, with and without checks;
3. the peers (tfp-causalimpact, CausalPy) on the same CSV, if .venv-bench exists (created here from
   benchmarks/requirements-peers-lock.txt when missing and BENCH_PEERS=1, since it is a 3 GB install);
4. recovery of synthetic control, the SCM speed benchmark (with DoWhy's gcm as the peer when .venv-bench has
   it), the IV speed and recovery benchmarks (CausalPy's IV is not run here: 13 minutes; see
   benchmarks/peers/causalpy_iv.py), the panel speed benchmark (PanelFE and EventStudy at 1M units x 20
   periods, pyfixest beside them) and EventStudy's recovery over simulated staggered designs;
5. agreement with the same model written in PyMC, and other slow tests (pytest -m slow).
Results land in benchmarks/results/; benchmarks/README.md holds the table and the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(cmd: list[str], **kw) -> int:
    print("\n$ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kw)


def main() -> int:
    status = 0
    csv = ROOT / "benchmarks" / "peers" / "data" / "synthetic_bsts.csv"
    if not csv.exists():
        status |= run([PY, "benchmarks/peers/make_synthetic.py", "--out", str(csv)])
    status |= run([PY, "benchmarks/speed_bsts.py", "--checks", "none"])
    status |= run([PY, "benchmarks/speed_bsts.py", "--checks", "full"])
    bench_venv = ROOT / ".venv-bench"
    if not bench_venv.exists() and os.environ.get("BENCH_PEERS") == "1":
        status |= run([sys.executable, "-m", "venv", str(bench_venv)])
        status |= run([str(bench_venv / "bin" / "pip"), "install", "-q", "-r",
                       "benchmarks/requirements-peers-lock.txt"])
    if bench_venv.exists():
        status |= run(["bash", "benchmarks/peers/run_all_synthetic.sh", str(bench_venv)])
    else:
        print("peers skipped: no .venv-bench (run with BENCH_PEERS=1 to create it; about 3 GB)")
    status |= run([PY, "benchmarks/recovery_bsts.py"])
    status |= run([PY, "benchmarks/recovery_sc.py"])
    status |= run([PY, "benchmarks/speed_scm.py"] + ([] if bench_venv.exists() else ["--no-peer"]))
    status |= run([PY, "benchmarks/speed_iv.py"])
    status |= run([PY, "benchmarks/recovery_iv.py"])
    # panels: PanelFE and EventStudy at 1M units x 20 periods beside pyfixest (needs ~8 GB free), and EventStudy's
    # recovery over simulated staggered designs (coverage of the ATT, the pooled TWFE coefficient beside it)
    status |= run([PY, "benchmarks/speed_panel.py", "--models", "fixed,hierarchical,event"]
                  + ([] if bench_venv.exists() else ["--no-peer"]))
    status |= run([PY, "benchmarks/recovery_panel.py"])
    # marketing mix model: recovery of ROAS and contributions over 100 simulated datasets (placebo-channel
    # false-positive rate), and speed against PyMC-Marketing (numpyro sampler) when .venv-bench has it
    status |= run([PY, "benchmarks/recovery_mmm.py", "--datasets", "100"])
    status |= run([PY, "benchmarks/speed_mmm.py"])
    # study pipeline: the modelling table from 100M generated events on DuckDB (needs ~1.5 GB disk, 6 GB RAM; the
    # files are deleted afterwards) and Spark against DuckDB on a slice
    status |= run([PY, "benchmarks/study/scale_events.py", "all"])
    status |= run([PY, "benchmarks/agreement_pymc.py"])
    status |= run([PY, "-m", "pytest", "-q", "-m", "slow", "-p", "no:cacheprovider"])
    return status


if __name__ == "__main__":
    raise SystemExit(main())
