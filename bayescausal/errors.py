"""Errors and warnings raised by bayescausal.

Every error says what is wrong *and* what to do about it, naming the column, row or node involved.
Both error types subclass ``ValueError`` so generic handlers still catch them.
"""

from __future__ import annotations


class BayesCausalError(ValueError):
    """Base class of the toolkit's input errors."""


class DataError(BayesCausalError):
    """The data passed to ``fit`` cannot be used as given (missing column, NaN, bad index, ...)."""


class SpecError(BayesCausalError):
    """The specification of an estimator, prior or sampler is invalid (bad option, unknown name, ...)."""


class ConvergenceWarning(UserWarning):
    """MCMC did not converge by the stated thresholds; the convergence check fails as well."""
