"""Shared handling of the priors dataclasses every model has (``BSTSPriors``, ``SCPriors``, ...)."""

from __future__ import annotations

import dataclasses

from .errors import SpecError


def from_overrides(cls, priors):
    """An instance of the frozen priors dataclass ``cls`` from None (the defaults), an instance, or a dict
    of overrides by field name. An unknown name raises a SpecError that lists the known ones, so a typo
    never silently leaves a default in place."""
    if priors is None:
        return cls()
    if isinstance(priors, cls):
        return priors
    if not isinstance(priors, dict):
        raise SpecError(f"priors must be a {cls.__name__} or a dict of overrides, not {type(priors).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(priors) - known)
    if unknown:
        raise SpecError(f"unknown prior name(s) {unknown} for {cls.__name__}; known names: {sorted(known)}.")
    return cls(**priors)
