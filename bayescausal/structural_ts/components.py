"""State components of a structural time series and the system matrices they build (NumPy, set-up only).

A component contributes state coordinates, their row of the observation vector ``Z_t``, their block of
the transition ``T_t`` and which coordinates receive an innovation (and from which variance). The
Kalman filter in ``_math.py`` consumes the assembled arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError


@dataclass(frozen=True)
class Seasonal:
    """Dummy-variable seasonality: ``period`` seasons, each lasting ``duration`` time points.

    The seasonal effects sum to zero over a cycle up to a random-walk innovation at each season change
    (Harvey 1989, sec. 2.3.4). ``Seasonal(7)`` is a day-of-week effect on daily data;
    ``Seasonal(52)`` a week-of-year effect on weekly data; ``Seasonal(7, duration=24)`` a day-of-week
    effect on hourly data.
    """

    period: int
    duration: int = 1

    def __post_init__(self):
        if not isinstance(self.period, (int, np.integer)) or self.period < 2:
            raise SpecError(
                f"Seasonal(period={self.period!r}): give an integer number of seasons >= 2; for a "
                "non-integer period such as 365.25 use Harmonic(period, harmonics)."
            )
        if not isinstance(self.duration, (int, np.integer)) or self.duration < 1:
            raise SpecError(f"Seasonal(duration={self.duration!r}): give a positive integer.")

    @property
    def cycle_length(self) -> float:
        return float(self.period * self.duration)

    @property
    def name(self) -> str:
        return f"seasonal_{self.period}" + (f"x{self.duration}" if self.duration > 1 else "")


@dataclass(frozen=True)
class Harmonic:
    """Trigonometric seasonality: ``harmonics`` sine/cosine pairs of a cycle of length ``period``.

    The economical choice for long or non-integer periods (yearly seasonality on daily data:
    ``Harmonic(365.25, 3)``): it costs ``2 * harmonics`` states instead of ``period - 1``.
    """

    period: float
    harmonics: int = 2

    def __post_init__(self):
        if not np.isfinite(self.period) or self.period <= 2:
            raise SpecError(f"Harmonic(period={self.period!r}): give a period longer than 2 time points.")
        if not isinstance(self.harmonics, (int, np.integer)) or not 1 <= self.harmonics < self.period / 2:
            raise SpecError(
                f"Harmonic(harmonics={self.harmonics!r}): give an integer from 1 to below period/2 "
                f"(= {self.period / 2:g})."
            )

    @property
    def cycle_length(self) -> float:
        return float(self.period)

    @property
    def name(self) -> str:
        return f"harmonic_{self.period:g}"


SeasonalComponent = Seasonal | Harmonic
LONG_PERIOD = 60  # integer periods above this get trigonometric seasonality unless asked otherwise


def parse_seasonality(seasonality) -> tuple[SeasonalComponent, ...]:
    """Normalise the ``seasonality`` argument: None, an int, (period, duration), a component, or a list."""
    if seasonality is None:
        return ()
    items = seasonality if isinstance(seasonality, (list, tuple)) and not _is_pair(seasonality) else [seasonality]
    out: list[SeasonalComponent] = []
    for item in items:
        if isinstance(item, (Seasonal, Harmonic)):
            out.append(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            out.append(Seasonal(int(item)) if item <= LONG_PERIOD else Harmonic(float(item), 3))
        elif isinstance(item, float):
            out.append(Seasonal(int(item)) if item.is_integer() and item <= LONG_PERIOD else Harmonic(item, 3))
        elif _is_pair(item):
            out.append(Seasonal(int(item[0]), int(item[1])))
        else:
            raise SpecError(
                f"seasonality entry {item!r} not understood: give an int number of seasons (7), a pair "
                "(period, duration), Seasonal(...) or Harmonic(...)."
            )
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise SpecError(f"seasonality lists the same component twice: {names}.")
    return tuple(out)


def _is_pair(x) -> bool:
    return (
        isinstance(x, tuple)
        and len(x) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in x)
    )


@dataclass
class Layout:
    """Assembled system arrays for ``n`` time points (see ``_math.py`` for the model)."""

    Z: np.ndarray  # (n, m) observation vectors (dynamic-regression columns hold x_t)
    T: np.ndarray  # (n, m, m) transitions t -> t+1
    var_index: np.ndarray  # (m,) which variance moves each state coordinate, -1 for none
    innov_mask: np.ndarray  # (n, m) 1 where coordinate j receives an innovation on transition t -> t+1
    a1: np.ndarray  # (m,) initial state mean
    P1: np.ndarray  # (m, m) initial state covariance
    variance_names: list[str] = field(default_factory=list)  # one per state variance parameter
    variance_kinds: list[str] = field(default_factory=list)  # prior family per variance: level/slope/seasonal/dynamic

    @property
    def m(self) -> int:
        return self.Z.shape[1]

    def q(self, variances: np.ndarray) -> np.ndarray:
        """Per-time state innovation variances ``q_t`` for the given variance parameters."""
        per_coord = np.where(self.var_index >= 0, np.asarray(variances)[np.maximum(self.var_index, 0)], 0.0)
        return per_coord[None, :] * self.innov_mask


def build_layout(n: int, trend: str, seasonal: tuple[SeasonalComponent, ...], dynamic_x: np.ndarray | None,
                 level_start: float, dynamic_names: tuple[str, ...] = ()) -> Layout:
    """Assemble the state space for ``n`` time points on the standardised scale.

    The level starts at ``level_start`` (the first observed standardised value) with variance 1 (the
    outcome's pre-period variance), as R's bsts does; other states start at 0 with variance 1.
    """
    blocks_T: list[np.ndarray] = []  # each (n, k, k)
    z_cols: list[np.ndarray] = []  # each (n, k)
    var_index: list[int] = []
    innov: list[np.ndarray] = []  # each (n, k)
    a1: list[float] = []
    names: list[str] = []
    kinds: list[str] = []

    def add_variance(name: str, kind: str) -> int:
        names.append(name)
        kinds.append(kind)
        return len(names) - 1

    ones = np.ones(n)
    if trend == "level":
        blocks_T.append(np.ones((n, 1, 1)))
        z_cols.append(np.ones((n, 1)))
        var_index.append(add_variance("level", "level"))
        innov.append(np.ones((n, 1)))
        a1.append(level_start)
    elif trend == "local_linear":
        blocks_T.append(np.broadcast_to(np.array([[1.0, 1.0], [0.0, 1.0]]), (n, 2, 2)).copy())
        z_cols.append(np.column_stack([ones, np.zeros(n)]))
        var_index += [add_variance("level", "level"), add_variance("slope", "slope")]
        innov.append(np.ones((n, 2)))
        a1 += [level_start, 0.0]
    else:  # validated by the estimator
        raise SpecError(f"trend={trend!r}: use 'level' or 'local_linear'.")

    for comp in seasonal:
        if isinstance(comp, Seasonal):
            k = comp.period - 1
            change = np.zeros((k, k))
            change[0, :] = -1.0
            change[1:, :-1] = np.eye(k - 1)
            boundary = ((np.arange(n) + 1) % comp.duration) == 0  # a new season starts at t + 1
            Tb = np.where(boundary[:, None, None], change[None], np.eye(k)[None])
            blocks_T.append(Tb)
            z = np.zeros((n, k))
            z[:, 0] = 1.0
            z_cols.append(z)
            vi = add_variance(comp.name, "seasonal")
            var_index += [vi] + [-1] * (k - 1)
            mask = np.zeros((n, k))
            mask[:, 0] = boundary
            innov.append(mask)
            a1 += [0.0] * k
        else:
            k = 2 * comp.harmonics
            block = np.zeros((k, k))
            for j in range(comp.harmonics):
                lam = 2.0 * np.pi * (j + 1) / comp.period
                c, s = np.cos(lam), np.sin(lam)
                block[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = [[c, s], [-s, c]]
            blocks_T.append(np.broadcast_to(block, (n, k, k)).copy())
            z = np.zeros((n, k))
            z[:, 0::2] = 1.0
            z_cols.append(z)
            vi = add_variance(comp.name, "seasonal")
            var_index += [vi] * k
            innov.append(np.ones((n, k)))
            a1 += [0.0] * k

    if dynamic_x is not None and dynamic_x.shape[1] > 0:
        p = dynamic_x.shape[1]
        blocks_T.append(np.broadcast_to(np.eye(p), (n, p, p)).copy())
        z_cols.append(np.asarray(dynamic_x, float))
        for j in range(p):
            label = dynamic_names[j] if j < len(dynamic_names) else str(j)
            var_index.append(add_variance(f"dynamic_{label}", "dynamic"))
        innov.append(np.ones((n, p)))
        a1 += [0.0] * p

    m = sum(b.shape[1] for b in blocks_T)
    T = np.zeros((n, m, m))
    start = 0
    for b in blocks_T:
        k = b.shape[1]
        T[:, start : start + k, start : start + k] = b
        start += k
    return Layout(
        Z=np.concatenate(z_cols, axis=1),
        T=T,
        var_index=np.asarray(var_index, dtype=np.int32),
        innov_mask=np.concatenate(innov, axis=1),
        a1=np.asarray(a1, float),
        P1=np.eye(m),
        variance_names=names,
        variance_kinds=kinds,
    )
