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


def outcome_sentence(draws, y, control=None, prob: float = 0.95) -> str:
    """:func:`sensitivity_sentence` for an effect on an outcome's own scale, the conversion chosen from the outcome.

    ``y``: the outcome's values; ``control``: a boolean mask of the comparison units (optional). A 0/1 outcome's
    effect is a risk difference, converted with the comparison units' risk as ``baseline`` (all units' when no
    mask is given); any other outcome's effect is a difference in means, standardised by the outcome's sd
    (VanderWeele & Ding 2017's SMD route). Returns "" when no conversion applies (a baseline risk of 0 or 1, a
    constant outcome), so a report can always call it."""
    y = np.asarray(y, dtype=float)
    ref = y if control is None else y[np.asarray(control, dtype=bool)]
    try:
        if np.all(np.isin(y, (0.0, 1.0))):
            base = float(ref.mean()) if ref.size else float("nan")
            if not 0.0 < base < 1.0:
                return ""
            return sensitivity_sentence(draws, "difference", baseline=base, prob=prob)
        sd = float(np.std(y, ddof=1)) if y.size > 1 else 0.0
        return sensitivity_sentence(draws, "difference", sd=sd, prob=prob) if sd > 0 else ""
    except SpecError:
        return ""
