"""Shared bits of our benchmark scripts: the machine and versions stamp, and appending a result row."""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def stamp() -> dict:
    """Where and with what a figure was measured."""
    import jax
    import numpyro

    import bayescausal

    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "versions": {"bayescausal": bayescausal.__version__, "jax": jax.__version__,
                         "numpyro": numpyro.__version__}}


def append_row(path: Path, row: dict) -> None:
    """Print ``row`` as one JSON line and append it to ``path`` (results accumulate, never overwrite)."""
    line = json.dumps(row)
    print(line)
    path.parent.mkdir(exist_ok=True)
    with path.open("a") as fh:
        fh.write(line + "\n")
