"""Test set-up: CPU backend, float64 via bayescausal's runtime, non-interactive plots, quiet progress."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CI", "1")  # no progress bars in test logs

import matplotlib  # noqa: E402

import bayescausal  # noqa: E402,F401  (configures JAX: float64, host devices)

matplotlib.use("Agg")
