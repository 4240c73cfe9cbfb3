"""Validation of the user's frame and column roles for :class:`~bayescausal.iv.BayesianIV` (the pandas side).

Every failure is a ``DataError`` (the data cannot be used as given) or a ``SpecError`` (the roles asked
for are impossible), naming the column and saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._columns import column_names
from ..errors import DataError, SpecError
from ._math import partial_out, with_intercept

MIN_ROWS_PER_PARAMETER = 5  # rows needed per first-stage coefficient before a fit is attempted


@dataclass
class IVData:
    """Validated arrays: outcome ``y`` (n,), treatments ``X`` (n, m), instruments ``Z`` (n, k), covariates
    ``W`` (n, p), with their column names and the frame's index."""

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    W: np.ndarray
    outcome: str
    treatments: tuple
    instruments: tuple
    covariates: tuple
    index: pd.Index

    @property
    def x(self) -> np.ndarray:
        """The treatment as a vector (n,) when there is one, else the (n, m) matrix: the form ``_math`` takes."""
        return self.X[:, 0] if self.X.shape[1] == 1 else self.X

    @property
    def treatment(self) -> str:
        """The treatment names joined by ", " (one name when there is one treatment)."""
        return ", ".join(self.treatments)


def _column(df: pd.DataFrame, name: str, role: str) -> np.ndarray:
    if name not in df.columns:
        raise DataError(f"{role} column {name!r} not found in the data; available columns: {list(df.columns)}.")
    s = df[name]
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    if not pd.api.types.is_numeric_dtype(s):
        raise DataError(f"{role} column {name!r} is not numeric (dtype {s.dtype}); convert it, e.g. "
                        f"df[{name!r}] = pd.to_numeric(df[{name!r}], errors='coerce'), or encode a category "
                        f"as 0/1 indicator columns.")
    values = s.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{role} column {name!r} is NaN or infinite at row {df.index[np.argmax(bad)]!r} "
                        f"({int(bad.sum())} such rows); drop or impute them first, e.g. df = df.dropna(subset=[...]).")
    if np.ptp(values) == 0:
        raise DataError(f"{role} column {name!r} is constant ({values[0]:g} in every row): it carries no information; "
                        f"drop it from {role}s.")
    return values


def prepare(df, outcome, treatment, instruments, covariates, binary_treatment: bool) -> IVData:
    """Check roles and columns and return the arrays; see the module docstring."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"fit() needs a pandas DataFrame, got {type(df).__name__}.")
    if not isinstance(outcome, str):
        raise SpecError(f"outcome={outcome!r}: give the outcome column's name.")
    treatments = column_names(treatment, "treatment", allow_empty=False)
    instruments = column_names(instruments, "instruments", allow_empty=True)
    covariates = column_names(covariates, "covariates", allow_empty=True)
    if len(instruments) < len(treatments):
        raise SpecError(f"{len(instruments)} instrument(s) {list(instruments)} for {len(treatments)} endogenous "
                        f"treatment(s) {list(treatments)}: the effect is not identified; an IV model needs at "
                        "least as many excluded instruments as endogenous variables.")
    if binary_treatment and len(treatments) > 1:
        raise SpecError(f"treatment={list(treatments)}: treatment_model='probit' handles one binary treatment; "
                        "use treatment_model='linear' for several treatments (a linear probability first stage), "
                        "or fit one probit model per treatment.")
    roles = [("outcome", outcome)] + [("treatment", t) for t in treatments] + [
        ("instrument", c) for c in instruments] + [("covariate", c) for c in covariates]
    seen: dict[str, str] = {}
    for role, name in roles:
        if name in seen:
            raise DataError(f"column {name!r} is given both as {seen[name]} and as {role}; each column can play "
                            "one role only.")
        seen[name] = role
    y = _column(df, outcome, "outcome")
    X = np.column_stack([_column(df, t, "treatment") for t in treatments])
    Z = np.column_stack([_column(df, c, "instrument") for c in instruments])
    W = (np.column_stack([_column(df, c, "covariate") for c in covariates]) if covariates
         else np.zeros((len(df), 0)))
    n, k = Z.shape
    if binary_treatment and not np.all(np.isin(X[:, 0], (0.0, 1.0))):
        raise DataError(f"treatment {treatments[0]!r} must be coded 0/1 for treatment_model='probit' (found values "
                        f"such as {np.unique(X[:, 0])[:4].tolist()}); recode it, or use treatment_model='linear'.")
    need = MIN_ROWS_PER_PARAMETER * (1 + W.shape[1] + k + 1)
    if n < need:
        raise DataError(f"{n} rows for {1 + W.shape[1] + k} first-stage coefficients; an IV fit needs at least {need} "
                        "rows here. Use fewer covariates or instruments, or more data.")
    for j, c in enumerate(instruments):
        for t, treatment in enumerate(treatments):
            if np.array_equal(Z[:, j], X[:, t]) or abs(np.corrcoef(Z[:, j], X[:, t])[0, 1]) > 1 - 1e-10:
                raise DataError(f"instrument {c!r} is identical (or perfectly correlated) with the treatment "
                                f"{treatment!r}: it is the treatment itself, not an instrument for it; remove it "
                                "from instruments.")
        for i, w in enumerate(covariates):
            if abs(np.corrcoef(Z[:, j], W[:, i])[0, 1]) > 1 - 1e-10:
                raise DataError(f"instrument {c!r} is identical (or perfectly correlated) with covariate {w!r}: it "
                                "adds no excluded variation; remove it from instruments (or from covariates).")
    _check_rank(W, Z, covariates, instruments)
    if len(treatments) > 1:
        _check_rank(W, X, covariates, treatments, "treatment")
    return IVData(y, X, Z, W, outcome, treatments, instruments, covariates, df.index)


def _check_rank(W: np.ndarray, Z: np.ndarray, covariates: tuple, names: tuple, role: str = "instrument") -> None:
    """DataError naming the first covariate or instrument (or treatment) that is a linear combination of the
    columns before it (the intercept, the covariates, then the instruments or the treatments)."""
    n = len(Z)
    A = with_intercept(W, n)
    cols = [("covariate", c) for c in covariates] + [(role, c) for c in names]
    full = np.column_stack([A, Z])
    for j in range(1, full.shape[1]):
        col = full[:, j]
        resid = partial_out(col, full[:, :j])
        if float(resid @ resid) <= 1e-10 * float((col - col.mean()) @ (col - col.mean())):
            role, name = cols[j - 1]
            raise DataError(f"{role} {name!r} is a linear combination of the intercept and the columns before it "
                            f"({', '.join(c for _, c in cols[: j - 1]) or 'none'}): it adds no variation of its own; "
                            f"remove it.")
