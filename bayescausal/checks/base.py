"""The check protocol: every fit runs a suite of checks and records their verdicts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    """Verdict of one check.

    ``passed`` is True or False, or None when the check could not run (for example a placebo that
    needs a longer pre-period); a result is trustworthy only when every check ran and passed.
    ``statistic`` and ``threshold`` are the numbers the verdict compares; ``message`` says in words
    what was found and, for a failure, what to do.
    """

    name: str
    passed: bool | None
    statistic: float | None
    threshold: float | str | None
    message: str

    @property
    def verdict(self) -> str:
        return {True: "passed", False: "FAILED", None: "not run"}[self.passed]

    def as_row(self) -> dict:
        return {
            "check": self.name,
            "verdict": self.verdict,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "message": self.message,
        }


def skipped(name: str, reason: str) -> CheckResult:
    """A check that did not run, with the reason (counts against ``trustworthy``)."""
    return CheckResult(name, None, None, None, f"not run: {reason}")


CHECK_LEVELS = ("full", "fast", False)


def normalise_level(checks) -> str | bool:
    """Validate the ``checks=`` argument of ``fit``: "full" (default), "fast" (no refits) or False."""
    from ..errors import SpecError

    if checks is True:
        return "full"
    if checks not in CHECK_LEVELS:
        raise SpecError(f"checks={checks!r}: use 'full' (all checks), 'fast' (skip refitting checks) or False.")
    return checks
