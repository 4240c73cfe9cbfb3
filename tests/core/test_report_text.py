"""The report's opening says, for each failed check, what that kind of check catches and what it found."""

from bayescausal.checks.base import CheckResult
from bayescausal.report.text import catches, checks_sentences


def test_catches_matches_the_longest_known_start():
    assert "settle" in catches("convergence")
    assert "random halves" in catches("A/A placebo")  # its own entry, not the generic placebo one
    assert "none by construction" in catches("placebo in space")
    assert "diverging before" in catches("pre-trends (leads jointly zero)")
    assert catches("a check nobody described") == ""
    assert "wrong shape" in catches("calibration within parent bins: churn")
    assert "cohort" in catches("specification (effect heterogeneity)")


def test_failed_checks_say_what_they_catch_before_what_they_found():
    checks = [CheckResult("outcome calibration", False, 0.0, "p >= 0.01", "worst bin: age 60 to 80, off by +4."),
              CheckResult("my custom check", False, 1.0, "", "it failed."),
              CheckResult("overlap", True, 0.0, "", "fine.")]
    opening, closing = checks_sentences(checks)
    assert opening.startswith("Warning: the outcome calibration, my custom check checks failed")
    assert ("The outcome calibration check catches an outcome model that is wrong in part of the data (a curve or an "
            "interaction it lacks); it found: worst bin: age 60 to 80, off by +4.") in opening
    assert opening.endswith(" it failed.")  # an unknown check: its message only
    assert closing == "Checks passed: overlap (fine)."
