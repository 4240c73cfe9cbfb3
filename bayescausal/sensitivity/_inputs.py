"""Validation shared by the sensitivity functions: every bad argument is a SpecError naming it and the fix."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import SpecError

SCALES = ("RR", "OR", "HR", "difference", "SMD")
RATIO_SCALES = ("RR", "OR", "HR")


def finite_number(value, name: str) -> float:
    """A finite real number, else SpecError."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise SpecError(f"{name}={value!r}: give a finite number.")
    x = float(value)
    if not np.isfinite(x):
        raise SpecError(f"{name}={value!r}: give a finite number (not NaN or infinite).")
    return x


def positive(value, name: str, what: str = "a positive number") -> float:
    x = finite_number(value, name)
    if x <= 0:
        raise SpecError(f"{name}={value!r}: must be {what} (> 0).")
    return x


def probability(value, name: str, open_interval: bool = False) -> float:
    """A number in [0, 1] (or (0, 1) when ``open_interval``)."""
    x = finite_number(value, name)
    if open_interval and not 0.0 < x < 1.0:
        raise SpecError(f"{name}={value!r}: must lie strictly between 0 and 1.")
    if not 0.0 <= x <= 1.0:
        raise SpecError(f"{name}={value!r}: must be a probability between 0 and 1.")
    return x


def scale_name(scale) -> str:
    """The canonical scale name (case-insensitive for the ratio scales), else SpecError listing the options."""
    if isinstance(scale, str):
        for s in SCALES:
            if scale.lower() == s.lower():
                return s
    raise SpecError(f"scale={scale!r}: use one of {', '.join(repr(s) for s in SCALES)} (risk, odds or hazard "
                    "ratio; a difference in means or risks; a standardised mean difference).")


def dof_value(dof) -> float:
    x = finite_number(dof, "dof")
    if x < 2:
        raise SpecError(f"dof={dof!r}: the regression's residual degrees of freedom must be at least 2 "
                        "(observations minus estimated coefficients).")
    return x


def draws_1d(draws, name: str = "draws") -> np.ndarray:
    """Posterior draws of one scalar effect as a flat float array.

    Accepts a 1-D array, a ``(chain, draw)`` array or an ``xarray.DataArray`` whose dims are among
    ``chain``, ``draw``, ``sample``. An effect with further dims (for example one per period) must be
    reduced to a scalar first, so that draws of different quantities are never pooled.
    """
    dims = getattr(draws, "dims", None)
    if dims is not None:
        extra = [d for d in dims if d not in ("chain", "draw", "sample")]
        if extra:
            raise SpecError(f"{name} has dims {tuple(dims)}: pass the draws of one scalar effect (reduce or select "
                            f"over {extra} first, e.g. effect.mean({extra[0]!r})).")
    try:
        arr = np.asarray(getattr(draws, "values", draws), float)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{name}: give numeric posterior draws (an array or xarray.DataArray).") from exc
    if dims is None and arr.ndim > 2:
        raise SpecError(f"{name} has shape {arr.shape}: pass a 1-D array of draws or a (chain, draw) array.")
    arr = arr.ravel()
    if arr.size < 2:
        raise SpecError(f"{name}: need at least 2 posterior draws, got {arr.size}.")
    if not np.all(np.isfinite(arr)):
        raise SpecError(f"{name}: contains NaN or infinite values; drop failed draws first.")
    return arr
