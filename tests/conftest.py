"""Test set-up: CPU backend, float64 via bayescausal's runtime, non-interactive plots, quiet progress."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CI", "1")  # no progress bars in test logs
# No persistent compilation cache in the test process: tests compile hundreds of one-off shapes that no later
# run reuses. (The fresh-clone crashes once blamed on the cache were the process running out of memory
# mappings: see bayescausal/inference/programs.py.)
os.environ.setdefault("BAYESCAUSAL_COMPILATION_CACHE", "0")

import matplotlib  # noqa: E402

import bayescausal  # noqa: E402,F401  (configures JAX: float64, host devices)

matplotlib.use("Agg")
