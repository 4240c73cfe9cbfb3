"""E-values (VanderWeele & Ding 2017, "Sensitivity analysis in observational research: introducing the
E-value", Ann. Intern. Med. 167:268-274).

The E-value is the minimum strength of association, on the risk-ratio scale, that an unmeasured confounder
would need with both the treatment and the outcome, conditional on the measured covariates, to explain
away an observed association; the E-value of the interval limit nearest the null is the strength that
would move the interval to include no effect. Other effect scales are first converted to an approximate
risk ratio with the paper's rules (see :mod:`bayescausal.sensitivity._math`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..result import interval
from . import _math
from ._inputs import RATIO_SCALES, draws_1d, finite_number, positive, probability, scale_name


@dataclass(frozen=True)
class EValue:
    """E-value of an estimate and of its interval limit nearest the null.

    Attributes
    ----------
    point : E-value of the estimate (1 when the estimate is the null).
    limit : E-value of the interval limit nearest the null; 1 when the interval includes the null; None
        when that limit was not given.
    rr : the (approximate) risk ratio of the estimate that the E-value was computed from.
    rr_limit : the risk ratio of the interval limit nearest the null (None when not given).
    scale : the scale of the input (``"RR"``, ``"OR"``, ``"HR"``, ``"difference"``, ``"SMD"``).
    conversion : how the input was turned into a risk ratio, in words ("" for a risk ratio).
    """

    point: float
    limit: float | None
    rr: float
    rr_limit: float | None
    scale: str
    conversion: str = ""

    @property
    def text(self) -> str:
        """One sentence a report can quote."""
        head = f"E-value {self.point:.2f}"
        if self.limit is not None:
            head += f" (interval limit {self.limit:.2f})"
        body = (f"{head}: an unmeasured confounder would need risk-ratio associations of at least "
                f"{self.point:.2f} with both the treatment and the outcome, beyond the measured covariates, to "
                f"explain the estimate away")
        if self.limit is not None:
            if self.limit <= 1.0:
                body += "; the interval already includes no effect"
            else:
                body += f", and of {self.limit:.2f} to make the interval include no effect"
        note = f" (risk ratio {self.rr:.2f}, {self.conversion})" if self.conversion else ""
        return body + note + "."


def _to_rr(values: np.ndarray, scale: str, rare_outcome: bool, sd: float | None, baseline: float | None):
    """Approximate risk ratios of ``values`` on ``scale`` and the conversion in words."""
    if scale == "RR":
        return values, ""
    if scale == "OR":
        if rare_outcome:
            return _math.or_to_rr(values, True), "the odds ratio taken as a risk ratio for a rare outcome"
        return _math.or_to_rr(values, False), "the square root of the odds ratio, for a common outcome"
    if scale == "HR":
        if rare_outcome:
            return _math.hr_to_rr(values, True), "the hazard ratio taken as a risk ratio for a rare outcome"
        return (_math.hr_to_rr(values, False),
                "from the hazard ratio by (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)), for a common outcome")
    if scale == "SMD":
        return _math.smd_to_rr(values), "from the standardised mean difference d by exp(0.91 d)"
    if sd is not None:
        return (_math.smd_to_rr(values / sd),
                f"from the standardised difference (difference / sd {sd:.4g}) by exp(0.91 d)")
    return (_math.risk_difference_to_rr(values, baseline),
            f"from the risk difference with baseline risk {baseline:.4g}")


def _check_scale_args(scale: str, sd, baseline) -> tuple[float | None, float | None]:
    if scale != "difference":
        if sd is not None or baseline is not None:
            raise SpecError(f"sd= and baseline= apply only to scale='difference', not scale={scale!r}; drop them.")
        return None, None
    if (sd is None) == (baseline is None):
        raise SpecError("scale='difference' needs exactly one of sd= (the outcome's standard deviation, for a "
                        "difference in means) or baseline= (the control group's risk, for a risk difference).")
    if sd is not None:
        return positive(sd, "sd", "the outcome's standard deviation, a positive number"), None
    return None, probability(baseline, "baseline", open_interval=True)


def e_value(estimate, lower=None, upper=None, scale: str = "RR", rare_outcome: bool = False,
            sd: float | None = None, baseline: float | None = None) -> EValue:
    """E-value of an estimate and of its interval limit nearest the null (VanderWeele & Ding 2017).

    Parameters
    ----------
    estimate, lower, upper : the estimate and (optionally) its interval limits on ``scale``.
    scale : ``"RR"`` (risk ratio), ``"OR"`` (odds ratio), ``"HR"`` (hazard ratio), ``"SMD"``
        (standardised mean difference) or ``"difference"`` (a difference in means with ``sd``, the outcome's
        standard deviation, or a risk difference with ``baseline``, the control group's risk).
    rare_outcome : for ``"OR"`` and ``"HR"``: True when the outcome is rare (< 15%), so the ratio is used as a
        risk ratio; False (default, conservative) converts by the paper's common-outcome rules.

    A protective estimate (risk ratio below 1) uses ``1 / RR``, so ``e_value(r) == e_value(1 / r)``.
    """
    scale = scale_name(scale)
    sd, baseline = _check_scale_args(scale, sd, baseline)
    names = {"estimate": estimate, "lower": lower, "upper": upper}
    given = {k: finite_number(v, k) for k, v in names.items() if v is not None}
    if "lower" in given and "upper" in given and given["lower"] > given["upper"]:
        raise SpecError(f"lower={lower!r} > upper={upper!r}: give the interval as (lower, upper).")
    if given.get("lower", -np.inf) > given["estimate"] or given.get("upper", np.inf) < given["estimate"]:
        raise SpecError(f"estimate={estimate!r} lies outside its interval ({lower!r}, {upper!r}); check the inputs.")
    for k, v in given.items():
        if scale in RATIO_SCALES and v <= 0:
            raise SpecError(f"{k}={v!r}: a {scale} must be positive (> 0); pass the ratio, not its logarithm.")
        if baseline is not None and not 0.0 < baseline + v <= 1.0:
            raise SpecError(f"{k}={v!r}: baseline risk {baseline} plus the risk difference must be a risk in (0, 1]; "
                            "check that the estimate is a risk difference and baseline the control group's risk.")
    rr_all, conversion = _to_rr(np.array(list(given.values())), scale, rare_outcome, sd, baseline)
    rr = dict(zip(given, (float(v) for v in rr_all), strict=True))
    point = float(_math.evalue_rr(rr["estimate"]))
    near = "lower" if rr["estimate"] > 1.0 else "upper" if rr["estimate"] < 1.0 else None
    limit = rr_limit = None
    if rr["estimate"] == 1.0 and ("lower" in rr or "upper" in rr):
        limit, rr_limit = 1.0, 1.0
    elif near in rr:
        rr_limit = rr[near]
        crosses = rr_limit <= 1.0 if near == "lower" else rr_limit >= 1.0
        limit = 1.0 if crosses else float(_math.evalue_rr(rr_limit))
    return EValue(point=point, limit=limit, rr=rr["estimate"], rr_limit=rr_limit, scale=scale, conversion=conversion)


def e_value_from_draws(draws, scale: str = "difference", *, sd: float | None = None, baseline: float | None = None,
                       rare_outcome: bool = False, prob: float = 0.95) -> EValue:
    """E-value of a posterior: of its centre and of its equal-tailed ``prob`` interval's limit nearest the null.

    The centre is the posterior mean on a difference scale and the exponentiated posterior mean of the log
    ratio on a ratio scale (ratios are averaged on the log scale, where their posteriors are near symmetric).
    ``draws``: a 1-D array, a ``(chain, draw)`` array or an ``xarray.DataArray`` of one scalar effect.
    """
    scale = scale_name(scale)
    prob = probability(prob, "prob", open_interval=True)
    d = draws_1d(draws, "draws")
    if scale in RATIO_SCALES:
        if np.any(d <= 0):
            raise SpecError(f"draws: a {scale} must be positive; pass ratio draws, not log-ratio draws.")
        centre = float(np.exp(np.mean(np.log(d))))
    else:
        centre = float(np.mean(d))
    lo, hi = interval(d, prob, "eti")
    return e_value(centre, min(lo, centre), max(hi, centre), scale=scale, rare_outcome=rare_outcome, sd=sd,
                   baseline=baseline)
