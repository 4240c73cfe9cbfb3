"""Column-role arguments shared by every estimator that takes column names (one name or a list of names)."""

from __future__ import annotations

from .errors import DataError, SpecError


def column_names(arg, role: str, allow_empty: bool = False) -> tuple[str, ...]:
    """``arg`` (None, one name or a list of names) as a tuple of distinct strings; SpecError/DataError otherwise."""
    if arg is None:
        names: tuple = ()
    elif isinstance(arg, str):
        names = (arg,)
    else:
        try:
            names = tuple(arg)
        except TypeError:
            raise SpecError(f"{role}={arg!r}: give a column name or a list of column names.") from None
    if not names and not allow_empty:
        raise SpecError(f"{role}=[]: name at least one column.")
    for c in names:
        if not isinstance(c, str):
            raise SpecError(f"{role} entry {c!r}: give column names as strings.")
    dup = [c for c in names if names.count(c) > 1]
    if dup:
        raise DataError(f"{role} lists column {dup[0]!r} twice: {list(names)}; list each column once.")
    return names
