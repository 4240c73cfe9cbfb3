"""Keep a long-lived process under the kernel's limit on memory mappings.

Every program XLA compiles for the CPU is loaded as machine code in a few memory mappings of its own
(about three for a small program, dozens for a large sampler), and JAX keeps each one alive in its
in-process caches for the life of the process. Linux caps the mappings a process may hold
(``vm.max_map_count``, 65,530 by default); when a process that has run hundreds of fits reaches it, the
next compilation cannot map its code and the interpreter dies (a segmentation fault or an abort inside
XLA's compiler, with no Python error). A platform job running many studies in one process, or a long
test session, gets there.

``release_if_near_limit`` is called before every sampler run: when the process holds more than half the
allowed mappings it drops JAX's in-process caches of compiled programs (``jax.clear_caches``) and the
programs compiled ahead (``ahead.forget``), which unmaps them. Nothing else is lost: programs are
recompiled on their next use, from the on-disk compile cache when it is on.
"""

from __future__ import annotations

import gc

_MAPS_FILE = "/proc/self/maps"
_LIMIT_FILE = "/proc/sys/vm/max_map_count"
SHARE = 0.5  # release at half the limit: one large fit can add a few thousand mappings


def _read_int(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def mapping_count(path: str = _MAPS_FILE) -> int | None:
    """Memory mappings this process holds, or None where /proc is not available (macOS, Windows)."""
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return None


def mapping_limit(path: str = _LIMIT_FILE) -> int | None:
    """The kernel's cap on mappings per process, or None where it cannot be read."""
    return _read_int(path)


def release_if_near_limit(share: float = SHARE, count: int | None = None, limit: int | None = None) -> bool:
    """Drop JAX's caches of compiled programs when the mapping count passes ``share`` of the limit.

    Returns True when it released them. ``count`` and ``limit`` default to this process's figures.
    """
    count = mapping_count() if count is None else count
    limit = mapping_limit() if limit is None else limit
    if count is None or limit is None or count <= share * limit:
        return False
    import jax

    from . import ahead

    jax.clear_caches()
    ahead.forget()
    gc.collect()
    return True
