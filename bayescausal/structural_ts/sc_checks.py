"""Placebo in time for synthetic control: the treated unit itself, with fake intervention dates in the pre-period.

Placebo in space asks whether the method finds effects on the *donors*; it cannot see a treated unit that
drifts away from every donor mix (its own trend, or a path outside the donors' convex hull), because the
donors themselves are reproducible. Placebo in time (Abadie, Diamond & Hainmueller 2015, AJPS 59(2), the
"in-time placebo"; Abadie 2021, JEL 59(2), section 7) refits the treated unit as if the intervention had
happened at a date inside the pre-period, where the true effect is zero by construction, and asks whether the
estimate over a window as long as the post-period still finds none. A counterfactual that cannot follow the
treated unit misses there in the same way it misses after the real date.

Each fake date ``tau`` gets the window ``[tau - m, tau + L)``: ``m`` fitted points (the same for every date, so
all refits share one array shape and run as one vectorised NUTS run with the treated units x dates as
independent targets) and ``L`` evaluation points (the post-period's length where the pre-period allows).
"""

from __future__ import annotations

import numpy as np

from .checks import placebo_dates


def placebo_windows(n_pre: int, n_post: int, min_fit: int, n_placebos: int) -> tuple[list[int], int, int]:
    """Fake dates (positions in the pre-period), the evaluation length ``L`` and the common fit length ``m``.

    The dates are those of CausalImpact's placebo in time (:func:`~.checks.placebo_dates`: spread over the second
    half of the admissible range); ``m`` is the earliest date, so every window ``[tau - m, tau + L)`` lies inside
    the pre-period. Returns ``([], 0, 0)`` when the pre-period is too short.
    """
    dates, length = placebo_dates(n_pre, n_post, min_fit, n_placebos)
    if not dates:
        return [], 0, 0
    return dates, length, dates[0]


def window_targets(Y: np.ndarray, X: np.ndarray, dates: list[int], length: int, fit: int):
    """Stack the placebo windows as independent targets.

    ``Y``: (n, K) treated units; ``X``: (n, D) donors. Returns ``y`` (K * P, fit + length) and ``Xw``
    (K * P, fit + length, D), unit-major (the P dates of unit 0 first).
    """
    ys, xs = [], []
    for k in range(Y.shape[1]):
        for tau in dates:
            rows = slice(tau - fit, tau + length)
            ys.append(Y[rows, k])
            xs.append(X[rows])
    return np.stack(ys), np.stack(xs)
