"""The within-stratum confounding check of CEM (``_cem_checks.py``): its pieces against brute force, its
randomization sd against permutations, and its verdict on bins too wide for the confounding versus bins that hold
it. No MCMC."""

import numpy as np
import pandas as pd
import pytest

from bayescausal.crosssection import _cem_checks as cc
from bayescausal.crosssection import _cem_math as cm
from bayescausal.crosssection._data import prepare_units
from bayescausal.crosssection.cem_match import match


def _strata(rng, n=3000, n_strata=40):
    stratum = rng.integers(0, n_strata, n)
    t = rng.random(n) < 0.2 + 0.6 * (stratum % 3 == 0)
    n_t, n_c = cm.group_counts(stratum, t, n_strata)
    return stratum, t, n_t, n_c, cm.kept_strata(n_t, n_c)


@pytest.mark.parametrize("estimand", ["ATT", "ATC", "ATE"])
def test_weighted_difference_is_the_cem_weighted_difference_in_means(estimand):
    rng = np.random.default_rng(0)
    stratum, t, n_t, n_c, kept = _strata(rng)
    u = rng.normal(size=len(t)) + stratum * 0.1
    b, _ = cc.weighted_difference(u, stratum, t, n_t, n_c, kept, estimand)
    w_t, w_c = cm.cem_weights(n_t, n_c, kept, estimand)
    w = cm.unit_weights(stratum, t, w_t, w_c)
    direct = np.average(u[t], weights=w[t]) - np.average(u[~t], weights=w[~t])
    assert b == pytest.approx(direct, abs=1e-12)


def test_randomization_sd_matches_permutations_within_strata():
    """The closed-form sd against 4,000 within-stratum permutations: the sd of the permuted B has a relative Monte
    Carlo error of about 1/sqrt(2 * 4000) = 1.1%, so 5% is over four of them."""
    rng = np.random.default_rng(1)
    stratum, t, n_t, n_c, kept = _strata(rng, n=1500, n_strata=25)
    u = rng.standard_t(5, size=len(t)) * (1 + stratum % 4)
    _, sd = cc.weighted_difference(u, stratum, t, n_t, n_c, kept, "ATT")
    perms = [cc.weighted_difference(u, stratum, cm.permute_within_strata(stratum, t, rng), n_t, n_c, kept, "ATT")[0]
             for _ in range(4000)]
    assert np.mean(perms) == pytest.approx(0.0, abs=4 * sd / np.sqrt(4000))
    assert np.std(perms) == pytest.approx(sd, rel=0.05)


def test_within_slopes_recover_a_line_per_bin_under_stratum_effects():
    rng = np.random.default_rng(2)
    n = 2000
    z = rng.normal(size=n)
    codes = (z > 0).astype(int)
    stratum = codes * 10 + rng.integers(0, 10, n)
    y = 3.0 * stratum + np.where(codes == 1, 2.0, -0.5) * z  # stratum levels plus a different slope per bin
    beta = cc.within_slopes(cc.bin_features(z, codes, 2), y, stratum, 20)
    np.testing.assert_allclose(beta, [-0.5, 2.0], atol=1e-6)


def _units(n, seed, within_bin_assignment):
    """Four standard normal covariates, 2 bins each (cut at the median); the outcome rises by 1 per sd of each; the
    treatment depends on the covariates' values (confounding within the bins) or only on their signs (none)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    index = x.sum(1) if within_bin_assignment else np.sign(x).sum(1)
    t = (rng.random(n) < 1 / (1 + np.exp(-0.4 * index))).astype(int)
    y = x.sum(1) + 0.5 * x[:, 0] ** 2 + t + rng.normal(0, 1, n)
    df = pd.DataFrame(x, columns=list("abcd")).assign(t=t, y=y)
    units = prepare_units(df, "t", "y", list("abcd"))
    m = match(units, tuple((c, ("bins", 2)) for c in "abcd"), "ATT")
    cols = [(units.covariates[c.name].to_numpy(float), k, c.cardinality) for c, k in zip(m.columns, m.codes,
                                                                                           strict=True)]
    return x, t, units, m, cols


def test_prognostic_bias_finds_the_bias_of_bins_too_wide():
    """Outcome linear plus a square, so the true bias of the matched difference is the weighted difference of
    ``sum x + 0.5 x0^2``; the line-per-bin model follows it up to the curvature within bins and the slopes'
    estimation error (20,000 rows: a few hundredths), well inside 0.05 of a bias near 0.3."""
    x, t, units, m, cols = _units(20_000, 3, within_bin_assignment=True)
    b, sd, parts = cc.prognostic_bias(cols, units.y, units.t, m.stratum, m.n_t, m.n_c, m.kept, "ATT",
                                      np.random.default_rng(0))
    mu0 = x.sum(1) + 0.5 * x[:, 0] ** 2
    true_bias, _ = cc.weighted_difference(mu0, m.stratum, t, m.n_t, m.n_c, m.kept, "ATT")
    assert true_bias > 0.2
    assert b == pytest.approx(true_bias, abs=0.05)
    assert parts.sum() == pytest.approx(b, abs=1e-9)
    assert b / sd > 2 * cc.CHANCE_Z


def test_prognostic_bias_is_chance_when_the_bins_hold_the_confounding():
    """Assignment by the bins only: B over its randomization sd is about standard normal; over 20 seeds none may
    pass the check's 3 sds (chance 0.27% each) and their mean square must be near 1 (its sd about 0.32)."""
    zs = []
    for seed in range(20):
        _, _, units, m, cols = _units(4000, 100 + seed, within_bin_assignment=False)
        b, sd, _ = cc.prognostic_bias(cols, units.y, units.t, m.stratum, m.n_t, m.n_c, m.kept, "ATT",
                                      np.random.default_rng(seed))
        zs.append(b / sd)
    zs = np.asarray(zs)
    assert np.abs(zs).max() < cc.CHANCE_Z
    assert 0.3 < np.mean(zs**2) < 2.0


def test_fit_rows_are_capped(monkeypatch):
    """Past MAX_FIT_ROWS matched controls the model is fitted on a random subset: the bias barely moves."""
    _, _, units, m, cols = _units(20_000, 4, within_bin_assignment=True)
    args = (cols, units.y, units.t, m.stratum, m.n_t, m.n_c, m.kept, "ATT", np.random.default_rng(0))
    full, _, _ = cc.prognostic_bias(*args)
    monkeypatch.setattr(cc, "MAX_FIT_ROWS", 3000)
    sub, _, _ = cc.prognostic_bias(*args)
    assert sub != full
    assert sub == pytest.approx(full, abs=0.05)


def test_no_binned_column_means_no_bias():
    assert cc.prognostic_bias([], np.zeros(3), np.array([0, 1, 0]), np.zeros(3, int), np.array([1]),
                              np.array([2]), np.array([True]), "ATT", np.random.default_rng(0))[0] == 0.0


@pytest.mark.parametrize(("bias", "sd_random", "sd_post", "passes"), [
    (0.3, 0.05, 0.1, False),  # material and beyond chance
    (0.3, 0.2, 0.1, True),  # material but chance could give it
    (0.04, 0.001, 0.1, True),  # beyond chance but immaterial (a huge sample)
    (-0.3, 0.05, 0.1, False),
])
def test_verdict_needs_a_bias_both_material_and_beyond_chance(bias, sd_random, sd_post, passes):
    assert cc.verdict(bias, sd_random, sd_post) is passes


def test_the_check_fails_on_bins_too_wide_and_says_what_to_do():
    """The CheckResult from a matching and posterior draws of the effect (a stand-in posterior sd of 0.03, about
    that of a 20,000-row fit here): the bias near 0.3 is 10 posterior sds and many randomization sds."""
    from bayescausal.crosssection.cem import _within_confounding_check

    _, _, units, m, _ = _units(20_000, 5, within_bin_assignment=True)
    draws = np.random.default_rng(0).normal(1.0, 0.03, size=(2, 1000))
    check = _within_confounding_check(m, units, "ATT", draws, seed=0)
    assert check.passed is False
    assert check.statistic > 5
    assert "too wide" in check.message and "coarsening=" in check.message and "corrected" in check.message


def test_the_check_passes_when_the_bins_hold_the_confounding():
    from bayescausal.crosssection.cem import _within_confounding_check

    _, _, units, m, _ = _units(20_000, 6, within_bin_assignment=False)
    draws = np.random.default_rng(0).normal(1.0, 0.03, size=(2, 1000))
    check = _within_confounding_check(m, units, "ATT", draws, seed=0)
    assert check.passed is True
    assert "too wide" not in check.message


def test_the_check_passes_when_every_covariate_is_matched_exactly():
    from bayescausal.crosssection.cem import _within_confounding_check

    rng = np.random.default_rng(7)
    df = pd.DataFrame({"region": pd.Categorical(rng.choice(list("nsew"), 500)), "t": rng.integers(0, 2, 500),
                       "y": rng.normal(size=500)})
    units = prepare_units(df, "t", "y", ["region"])
    m = match(units, (), "ATT")
    check = _within_confounding_check(m, units, "ATT", rng.normal(size=(2, 100)), seed=0)
    assert check.passed is True and check.statistic == 0.0 and "exactly" in check.message
