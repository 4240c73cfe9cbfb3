"""One quotable sentence on sensitivity to unmeasured confounding, for any method's report."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError
from ._inputs import RATIO_SCALES, draws_1d, scale_name
from .evalue import e_value_from_draws
from .robustness import robustness


def sensitivity_sentence(draws, scale: str = "difference", *, sd: float | None = None, baseline: float | None = None,
                         rare_outcome: bool = False, dof: float | None = None, prob: float = 0.95) -> str:
    """The E-value and/or robustness value of a posterior effect, in words a report can quote.

    ``draws``: posterior draws of one scalar effect. The E-value (VanderWeele & Ding 2017) is given for a ratio
    scale (``"RR"``, ``"OR"``, ``"HR"``), for ``"SMD"``, and for ``"difference"`` with ``sd`` (the outcome's
    standard deviation) or ``baseline`` (the control group's risk). The robustness value (Cinelli & Hazlett
    2020) is added when ``dof`` is given for an effect on a difference scale, taking the posterior mean and sd
    as the regression estimate and its standard error (a normal approximation to a regression-type posterior).
    """
    scale = scale_name(scale)
    parts = []
    if scale in RATIO_SCALES or scale == "SMD" or sd is not None or baseline is not None:
        parts.append(e_value_from_draws(draws, scale, sd=sd, baseline=baseline, rare_outcome=rare_outcome,
                                        prob=prob).text)
    if dof is not None:
        if scale in RATIO_SCALES:
            raise SpecError(f"dof= gives a robustness value for an effect on a difference scale, not scale={scale!r}; "
                            "drop dof=.")
        d = draws_1d(draws, "draws")
        parts.append(robustness(float(np.mean(d)), float(np.std(d, ddof=1)), dof, alpha=1.0 - prob).text)
    if not parts:
        raise SpecError("scale='difference' needs sd= (the outcome's standard deviation) or baseline= (the control "
                        "group's risk) for an E-value, or dof= (residual degrees of freedom) for a robustness value.")
    return " ".join(parts)
