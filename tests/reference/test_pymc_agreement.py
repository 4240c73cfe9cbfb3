"""Agreement: on the demo data, the BSTS model written independently in PyMC gives the same posterior for
the average effect (and the noise sd) as ``bc.CausalImpact``'s Gibbs kernel, within Monte Carlo error.

Slow (about 2 minutes on 2 cores): run by ``make bench`` / ``pytest -m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")

from .agreement import run_agreement  # noqa: E402
from .pymc_bsts import seasonal_path, seasonal_path_by_recursion  # noqa: E402

K = 4.0  # allowed discrepancy in combined Monte Carlo standard errors


@pytest.mark.slow
def test_seasonal_path_matches_transition_recursion():
    """The vectorised dummy-seasonal path of the reference model equals stepping its transition matrix."""
    import pytensor.tensor as pt

    rng = np.random.default_rng(3)
    for period, n in [(7, 60), (2, 9), (12, 40)]:
        first, innov = rng.normal(size=period - 1), rng.normal(size=n - 1)
        got = seasonal_path(pt.as_tensor(first), pt.as_tensor(innov), period, n).eval()
        np.testing.assert_allclose(got, seasonal_path_by_recursion(first, innov, period), atol=1e-12)


@pytest.mark.slow
def test_gibbs_agrees_with_pymc_reference():
    agree = run_agreement()
    assert agree.pymc_divergences == 0
    for name in ("effect", "obs_sd"):
        g, p, d = agree.gibbs[name], agree.pymc[name], agree.diff[name]
        for fit in (g, p):  # the MCSEs are only trustworthy for converged chains with many effective draws
            assert fit["rhat"] < 1.01 and fit["ess_bulk"] > 400, (name, fit)
        assert abs(d["mean_diff"]) <= K * np.hypot(g["mcse_mean"], p["mcse_mean"]), (name, g, p, d)
        assert abs(d["sd_diff"]) <= K * np.hypot(g["mcse_sd"], p["mcse_sd"]), (name, g, p, d)
