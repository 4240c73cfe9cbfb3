"""Compiling programs ahead of their use, on background threads, so that compilations overlap.

A fit that runs several NUTS samplers one after the other (an SCM fitted node by node: one run for the cheap
mechanisms, one per row-level mechanism) compiles each sampler just before running it. XLA compiles a
program on one core, so on a cold compile cache a 2-core machine spends seconds with a core idle per
sampler (2.6-5.7 s each on the SCM benchmark). When the runs are known up front, the caller traces and
lowers every program in its own thread (tracing runs Python and NumPyro's global handler stack, which is not
thread-safe) and hands the XLA compilations to a pool with one worker per core (XLA releases the GIL while it
compiles); each run then waits only for the rest of its own compilation.

:func:`compile_ahead` queues ``fn`` for the given arguments; :func:`call` runs ``fn`` on arguments, through
the program compiled ahead for their shapes when there is one, else as usual (the compiled program is kept,
so later calls with the same shapes reuse it). Nothing else changes: the same lowered program runs either
way, so results are identical.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax

_log = logging.getLogger(__name__)
MAX_PROGRAMS = 16  # compiled-ahead programs kept (oldest dropped first); each holds its machine code
_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()
_AHEAD: OrderedDict[tuple, Future] = OrderedDict()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                       thread_name_prefix="bayescausal-compile")
        return _POOL


def signature(args: tuple) -> tuple:
    """What a compiled program is specialised to: the arguments' tree structure, shapes, dtypes and weak types
    (``jax.ShapeDtypeStruct`` leaves give the same signature as arrays of their shape)."""
    leaves, treedef = jax.tree.flatten(args)
    return treedef, tuple((tuple(a.shape), str(a.dtype), bool(getattr(a, "weak_type", False))) for a in leaves)


def compile_ahead(fn, *args) -> bool:
    """Lower ``fn`` (a ``jax.jit`` or ``jax.pmap`` function) for ``args`` here and compile it on a background
    thread. Returns False, queuing nothing, when it is already queued or ``fn`` cannot be lowered for these
    arguments (the later :func:`call` then compiles it as usual)."""
    key = (fn, signature(args))
    if key in _AHEAD:
        return False
    try:
        lowered = fn.lower(*args)
    except Exception as exc:  # noqa: BLE001 - e.g. a model that needs concrete values; call() compiles it
        _log.debug("not compiled ahead: %s", exc)
        return False
    _AHEAD[key] = _pool().submit(lowered.compile)
    while len(_AHEAD) > MAX_PROGRAMS:
        _AHEAD.popitem(last=False)
    return True


def call(fn, *args) -> Any:
    """``fn(*args)``, through the program compiled ahead for these arguments' shapes when there is one."""
    future = _AHEAD.get((fn, signature(args)))
    if future is not None:
        try:
            compiled = future.result()
        except Exception as exc:  # noqa: BLE001 - a failed background compile: compile in the usual way
            _log.debug("compiling ahead failed: %s", exc)
        else:
            try:
                return compiled(*args)
            except (TypeError, ValueError) as exc:  # arguments the program does not accept (placement, types)
                _log.debug("compiled-ahead program not used: %s", exc)
    return fn(*args)


def forget() -> None:
    """Drop every compiled-ahead program (``programs.release_if_near_limit`` calls this with JAX's own caches)."""
    _AHEAD.clear()
