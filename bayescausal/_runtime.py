"""JAX runtime set-up done once, when bayescausal is imported.

* float64: Kalman filters and conjugate updates lose accuracy in float32, so the toolkit runs JAX in
  double precision (``jax_enable_x64``).
* CPU chains in parallel: XLA exposes one host device unless told otherwise; we ask for one device per
  core so that ``chain_method="parallel"`` can spread chains over cores. This only takes effect when
  bayescausal is imported before JAX initialises its backend; if it was already initialised we leave it.
"""

from __future__ import annotations

import os
import sys


def _set_host_device_count() -> None:
    if "jax" in sys.modules:
        try:
            import jax

            if jax._src.xla_bridge._backends:  # backend already initialised: too late, leave it alone
                return
        except Exception:  # pragma: no cover - private API moved; fall through to the env variable
            pass
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    count = max(1, min(os.cpu_count() or 1, 8))  # one XLA device per core
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def configure() -> None:
    """Apply the runtime settings (idempotent)."""
    _set_host_device_count()
    import jax

    jax.config.update("jax_enable_x64", True)
    import warnings

    # ArviZ 0.2x announces its coming refactor on import; it says nothing about the user's work.
    warnings.filterwarnings("ignore", message=r"(?s).*ArviZ is undergoing a major refactor", category=FutureWarning)
