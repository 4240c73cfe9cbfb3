#!/usr/bin/env bash
# Run every peer script on the synthetic CSV (4 chains x 1000 draws; tfp: 1000 results)
# and append their JSON lines to benchmarks/peers/results/synthetic.jsonl.
# Usage: bash benchmarks/peers/run_all_synthetic.sh [VENV]   (VENV default: .venv-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${1:-.venv-bench}
PY="$VENV/bin/python"
CSV=benchmarks/peers/data/synthetic_bsts.csv
OUT=benchmarks/peers/results/synthetic.jsonl
LOG=benchmarks/peers/results/synthetic.log
[ -f "$CSV" ] || "$PY" benchmarks/peers/make_synthetic.py --out "$CSV"
# pip's pytensor finds no BLAS on Debian (libcblas/libgfortran dev links missing); point it at
# OpenBLAS when the system has it (apt-get install libopenblas-dev): ~25% faster NUTS here.
if [ -z "${PYTENSOR_FLAGS:-}" ] && ls /usr/lib/*/libopenblas.so >/dev/null 2>&1; then
  export PYTENSOR_FLAGS=blas__ldflags=-lopenblas
fi
COMMON=(--pre-end 364 --post-end 424 --seasons 7 --seed 1)
"$PY" benchmarks/peers/run_tfp_causalimpact.py "$CSV" "${COMMON[@]}" --draws 1000 --repeat 2 >>"$OUT" 2>>"$LOG"
"$PY" benchmarks/peers/run_causalpy.py "$CSV" "${COMMON[@]}" --draws 1000 --chains 4 --model forecast >>"$OUT" 2>>"$LOG"
"$PY" benchmarks/peers/run_causalpy.py "$CSV" "${COMMON[@]}" --draws 1000 --chains 4 --model linreg >>"$OUT" 2>>"$LOG"
tail -n 3 "$OUT"
