"""JAX runtime set-up done once, when bayescausal is imported.

* float64: Kalman filters and conjugate updates lose accuracy in float32, so the toolkit runs JAX in
  double precision (``jax_enable_x64``).
* compiled programs are cached on disk (``~/.cache/bayescausal/jax``, or ``$XDG_CACHE_HOME``): a model
  compiles once per shape per machine, not once per Python session. Set
  ``BAYESCAUSAL_COMPILATION_CACHE=0`` to turn this off; a cache directory the user configured for JAX
  is left as it is.
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


def _set_compilation_cache(jax) -> None:
    if os.environ.get("BAYESCAUSAL_COMPILATION_CACHE", "1") == "0":
        return
    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "bayescausal", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def configure() -> None:
    """Apply the runtime settings (idempotent)."""
    _set_host_device_count()
    import jax

    _set_compilation_cache(jax)
    jax.config.update("jax_enable_x64", True)
    import warnings

    # ArviZ 0.2x announces its coming refactor on import; it says nothing about the user's work.
    warnings.filterwarnings("ignore", message=r"(?s).*ArviZ is undergoing a major refactor", category=FutureWarning)
