"""Building ``arviz.InferenceData`` from draws, so that all of ArviZ works on every result."""

from __future__ import annotations

from collections.abc import Mapping

import arviz as az
import numpy as np


def to_inference_data(
    posterior: Mapping[str, np.ndarray],
    *,
    posterior_predictive: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | None = None,
    constant_data: Mapping[str, np.ndarray] | None = None,
    sample_stats: Mapping[str, np.ndarray] | None = None,
    coords: Mapping[str, object] | None = None,
    dims: Mapping[str, list[str]] | None = None,
    attrs: Mapping[str, object] | None = None,
) -> az.InferenceData:
    """Assemble an InferenceData from arrays shaped ``(chain, draw, ...)`` (observed: no chain/draw)."""
    idata = az.from_dict(
        posterior=dict(posterior),
        posterior_predictive=dict(posterior_predictive) if posterior_predictive else None,
        observed_data=dict(observed_data) if observed_data else None,
        constant_data=dict(constant_data) if constant_data else None,
        sample_stats=dict(sample_stats) if sample_stats else None,
        coords=dict(coords) if coords else None,
        dims=dict(dims) if dims else None,
        attrs=dict(attrs) if attrs else None,
    )
    return idata
