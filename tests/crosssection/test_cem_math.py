"""CEM arithmetic (no MCMC): coarsening, strata keys, weights and L1 against hand-computed examples; the outcome
model's likelihood from sufficient statistics against the dense row likelihood; conditional draws against dense
Gaussian conditioning."""

import numpy as np
import pandas as pd
import pytest

from bayescausal.crosssection import _cem_math as cm
from bayescausal.crosssection._cem_strata import (
    BinomialStrata,
    GaussianStrata,
    baseline_conditional,
    effect_conditional,
)
from bayescausal.crosssection.cem_model import CEMPriors, binomial_stratum_loglik, gaussian_stratum_loglik
from bayescausal.errors import SpecError

# four strata: (treated, control) = (2, 1), (1, 3), (1, 0), (0, 2)
N_T = np.array([2, 1, 1, 0])
N_C = np.array([1, 3, 0, 2])
KEPT = cm.kept_strata(N_T, N_C)


def test_kept_strata_need_both_groups():
    assert KEPT.tolist() == [True, True, False, False]


def test_att_weights_by_hand():
    w_t, w_c = cm.cem_weights(N_T, N_C, KEPT, "ATT")
    # m_T = 3, m_C = 4: control weight (m_C / m_T) (m_T^s / m_C^s)
    np.testing.assert_allclose(w_t, [1, 1, 0, 0])
    np.testing.assert_allclose(w_c, [4 / 3 * 2 / 1, 4 / 3 * 1 / 3, 0, 0])
    assert np.isclose((w_c * N_C).sum(), 4.0)  # weighted controls keep their number


@pytest.mark.parametrize("estimand, target", [("ATT", N_T), ("ATC", N_C), ("ATE", N_T + N_C)])
def test_weighted_groups_share_the_target_distribution(estimand, target):
    w_t, w_c = cm.cem_weights(N_T, N_C, KEPT, estimand)
    goal = np.where(KEPT, target, 0) / np.where(KEPT, target, 0).sum()
    for w, n in ((w_t, N_T), (w_c, N_C)):
        mass = w * n
        np.testing.assert_allclose(mass / mass.sum(), goal)
    np.testing.assert_allclose(cm.estimand_weights(N_T[KEPT], N_C[KEPT], estimand), goal[KEPT])


def test_unit_weights_follow_stratum_and_group():
    stratum = np.array([0, 0, 1, 3])
    t = np.array([1, 0, 0, 0])
    w_t, w_c = cm.cem_weights(N_T, N_C, KEPT, "ATT")
    np.testing.assert_allclose(cm.unit_weights(stratum, t, w_t, w_c), [1, 8 / 3, 4 / 9, 0])


def test_l1_by_hand():
    cell = np.array([0, 0, 1, 1, 2])
    t = np.array([1, 0, 1, 0, 0])
    # f_T = (1/2, 1/2, 0), f_C = (1/3, 1/3, 1/3): L1 = (1/6 + 1/6 + 1/3) / 2
    assert np.isclose(cm.l1_imbalance(cell, t), 1 / 3)
    assert np.isclose(cm.l1_imbalance(cell, t, np.array([1, 1, 1, 1, 0])), 0.0)
    assert np.isclose(cm.l1_imbalance(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])), 1.0)


def test_quantile_bins_are_closed_on_the_right():
    x = np.arange(1.0, 101.0)
    cuts = cm.quantile_cutpoints(x, 4)
    assert len(cuts) == 3
    codes = cm.bin_codes(x, cuts)
    assert codes.dtype == np.uint8
    assert np.bincount(codes).tolist() == [25, 25, 25, 25]
    assert cm.bin_codes(np.array([cuts[0], cuts[0] + 1e-9]), cuts).tolist() == [0, 1]
    assert cm.bin_labels([1.0, 2.0]) == ["<= 1", "(1, 2]", "> 2"]
    # a discrete column with few values gets fewer bins, never an empty top bin
    assert len(cm.quantile_cutpoints(np.array([0.0] * 50 + [1.0] * 50), 5)) == 1


def test_auto_bin_count():
    assert cm.sturges_bin_count(1000) == 11
    # ten covariates at 10M rows: (1e7 / 5) ** 0.1 = 4.27 -> 4 bins each, not Sturges' 25
    assert cm.auto_bin_count(10_000_000, 10, 1) == 4
    assert cm.auto_bin_count(3000, 3, 4) == 5
    assert cm.auto_bin_count(100, 5, 50) == 2
    assert cm.auto_bin_count(100, 0, 1) == 0


def test_combine_codes_matches_distinct_rows_and_survives_overflow():
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 3, 400) for _ in range(4)]
    key = cm.combine_codes(codes, [3] * 4)
    rows = np.stack(codes, 1)
    assert len(np.unique(key)) == len(np.unique(rows, axis=0))
    # 12 columns of cardinality 2**10: the radix 2**120 would overflow int64; keys must stay exact
    big = [rng.integers(0, 2**10, 400) for _ in range(12)]
    big[5] = big[4]  # some structure, so that a few rows coincide on subsets
    key = cm.combine_codes(big, [2**10] * 12)
    assert key.dtype == np.int64 and key.min() >= 0
    assert len(np.unique(key)) == len(np.unique(np.stack(big, 1), axis=0))
    dup = [np.array([1, 1, 2]), np.array([5, 5, 5])]
    stratum, first = cm.form_strata(cm.combine_codes(dup, [3, 6]))
    assert stratum.tolist() == [0, 0, 1] and first.tolist() == [0, 2]


def test_gaussian_and_binomial_stats_match_groupby():
    rng = np.random.default_rng(1)
    n = 300
    stratum = rng.integers(0, 7, n)
    t = rng.integers(0, 2, n)
    y = rng.normal(3.0, 2.0, n)
    stats = cm.gaussian_stats(stratum, t, y, 7)
    df = pd.DataFrame({"s": stratum, "t": t, "y": y})
    g = df.groupby(["s", "t"])["y"]
    for s in range(7):
        for tt, key in ((1, "t"), (0, "c")):
            part = df[(df.s == s) & (df.t == tt)]["y"]
            assert stats[f"n_{key}"][s] == len(part)
            assert np.isclose(stats[f"mean_{key}"][s], part.mean())
            assert np.isclose(stats[f"ss_{key}"][s], ((part - part.mean()) ** 2).sum())
    assert g.ngroups == 14
    yb = (y > 3).astype(float)
    bstats = cm.binomial_stats(stratum, t, yb, 7)
    assert np.allclose(bstats["k_t"], [yb[(stratum == s) & (t == 1)].sum() for s in range(7)])


def test_permutation_within_strata_keeps_every_strata_count():
    rng = np.random.default_rng(2)
    stratum = rng.integers(0, 20, 1000)
    t = rng.random(1000) < 0.3
    perm = cm.permute_within_strata(stratum, t, rng)
    assert (perm != t).any()
    np.testing.assert_array_equal(np.bincount(stratum, weights=perm, minlength=20),
                                  np.bincount(stratum, weights=t, minlength=20))


def test_propensity_score_is_standardised_under_its_weights():
    w = np.array([0.2, 0.3, 0.5])
    e = cm.propensity_score(np.array([1, 5, 2]), np.array([9, 5, 1]), w)
    assert np.isclose((w * e).sum(), 0.0) and np.isclose((w * e**2).sum(), 1.0)
    assert np.allclose(cm.propensity_score(np.array([2, 2]), np.array([2, 2]), np.array([0.5, 0.5])), 0.0)


# -- the outcome model from sufficient statistics against the dense row likelihood --------------------------------
def _strata_rows(seed=3):
    rng = np.random.default_rng(seed)
    sizes = [(2, 3), (1, 1), (4, 2)]  # (treated, control) per stratum
    rows = []
    for s, (nt, nc) in enumerate(sizes):
        for tt, k in ((1, nt), (0, nc)):
            for _ in range(k):
                rows.append((s, tt, rng.normal(0.5 * s + 0.8 * tt, 1.0)))
    stratum, t, y = (np.array(c) for c in zip(*rows, strict=True))
    return stratum, t.astype(float), y.astype(float), len(sizes)


def _gaussian_inputs(stratum, t, y, S, score):
    st = cm.gaussian_stats(stratum, t, y, S)
    return GaussianStrata(*(np.asarray(v, float)[None] for v in (st["n_c"], st["n_t"], st["mean_c"], st["mean_t"],
                                                                   st["ss_c"], st["ss_t"], score, np.ones(S))))


def _dense_flat_loglik(y, t, theta, tau_sd, sc, st, kappa=1e4):
    """Row log-likelihood of one stratum with mu ~ N(0, kappa^2) and tau_s ~ N(theta, tau_sd^2) integrated out,
    plus 0.5 log(2 pi kappa^2): the flat-prior marginal as kappa grows."""
    from scipy.stats import multivariate_normal

    cov = np.diag(np.where(t == 1, st**2, sc**2)) + tau_sd**2 * np.outer(t, t) + kappa**2
    return multivariate_normal(theta * t, cov).logpdf(y) + 0.5 * np.log(2 * np.pi * kappa**2)


def test_gaussian_loglik_from_sufficient_statistics_equals_rows():
    stratum, t, y, S = _strata_rows()
    score = np.array([-1.0, 0.2, 0.8])
    inputs = _gaussian_inputs(stratum, t, y, S, score)
    tau, gamma, tau_sd, sc, st = 0.7, 0.3, 0.6, 1.1, 0.8
    ll = np.asarray(gaussian_stratum_loglik(inputs, np.array([tau]), np.array([gamma]), np.array([tau_sd]),
                                            np.array([sc]), np.array([st])))[0]
    for s in range(S):
        sel = stratum == s
        dense = _dense_flat_loglik(y[sel], t[sel], tau + gamma * score[s], tau_sd, sc, st)
        assert abs(ll[s] - dense) < 1e-6, (s, ll[s], dense)


def test_effect_and_baseline_conditionals_equal_dense_conditioning():
    stratum, t, y, S = _strata_rows(4)
    score = np.zeros(S)
    inputs = _gaussian_inputs(stratum, t, y, S, score)
    tau, tau_sd, sc, st, kappa = 0.4, 0.5, 0.9, 1.3, 1e4
    m, v = (np.asarray(a)[0] for a in effect_conditional(inputs, np.array([tau]), np.array([0.0]),
                                                          np.array([tau_sd]), np.array([sc]), np.array([st])))
    for s in range(S):
        ts, ys = t[stratum == s], y[stratum == s]
        cov_y = np.diag(np.where(ts == 1, st**2, sc**2)) + tau_sd**2 * np.outer(ts, ts) + kappa**2
        cross = tau_sd**2 * ts  # Cov(tau_s, y)
        gain = np.linalg.solve(cov_y, cross)
        assert np.isclose(m[s], tau + gain @ (ys - tau * ts), atol=1e-6)
        assert np.isclose(v[s], tau_sd**2 - cross @ gain, atol=1e-6)
        # mu_s given tau_s: generalised least squares of y - tau_s t on a constant (flat prior)
        tau_s = 0.25
        d = 1.0 / np.where(ts == 1, st**2, sc**2)
        mm, mv = baseline_conditional(type(inputs)(*(a[:, s:s + 1] for a in inputs)), np.array([[tau_s]]),
                                      np.array([sc]), np.array([st]))
        assert np.isclose(float(np.asarray(mm).ravel()[0]), (d * (ys - tau_s * ts)).sum() / d.sum())
        assert np.isclose(float(np.asarray(mv).ravel()[0]), 1.0 / d.sum())


def test_binomial_loglik_equals_bernoulli_rows():
    rng = np.random.default_rng(5)
    stratum, t, _, S = _strata_rows(5)
    y = (rng.random(len(t)) < 0.4).astype(float)
    st = cm.binomial_stats(stratum, t, y, S)
    inputs = BinomialStrata(*(np.asarray(v, float)[None] for v in (st["n_c"], st["n_t"], st["k_c"], st["k_t"],
                                                                     np.zeros(S), np.ones(S))))
    a_s, b_s = np.array([[-0.3, 0.5, 1.2]]), np.array([[0.4, -0.2, 0.9]])
    ll = np.asarray(binomial_stratum_loglik(inputs, a_s, b_s))[0]
    for s in range(S):
        sel = stratum == s
        p = 1 / (1 + np.exp(-(a_s[0, s] + b_s[0, s] * t[sel])))
        assert np.isclose(ll[s], np.sum(y[sel] * np.log(p) + (1 - y[sel]) * np.log1p(-p)))


def test_padded_strata_contribute_nothing():
    stratum, t, y, S = _strata_rows()
    inputs = _gaussian_inputs(stratum, t, y, S, np.zeros(S))
    masked = inputs._replace(mask=np.array([[1.0, 0.0, 1.0]]))
    ll = np.asarray(gaussian_stratum_loglik(masked, *(np.array([v]) for v in (0.1, 0.0, 0.5, 1.0, 1.0))))
    assert ll[0, 1] == 0.0 and ll[0, 0] != 0.0


def test_priors_overrides():
    import numpyro.distributions as dist

    assert isinstance(CEMPriors.from_overrides({"effect": dist.Normal(0.0, 3.0)}).effect, dist.Normal)
    with pytest.raises(SpecError, match="unknown prior name"):
        CEMPriors.from_overrides({"efect": dist.Normal(0.0, 1.0)})
    with pytest.raises(SpecError, match="positive support"):
        CEMPriors(noise=dist.Normal(0.0, 1.0))
    with pytest.raises(SpecError, match="scalar numpyro distribution"):
        CEMPriors(effect=1.0)


def _random_strata(seed=6, S=60):
    rng = np.random.default_rng(seed)
    n_c = rng.integers(1, 4, S).astype(float)
    n_t = rng.integers(1, 3, S).astype(float)
    w = cm.estimand_weights(n_t, n_c, "ATT")
    return {"n_c": n_c, "n_t": n_t, "mean_c": rng.normal(size=S), "mean_t": rng.normal(0.5, 1.0, S),
            "ss_c": rng.gamma(2.0, size=S) * (n_c - 1), "ss_t": rng.gamma(2.0, size=S) * (n_t - 1),
            "weight": w, "score": cm.propensity_score(n_t, n_c, w)}


def test_strata_grouped_by_count_pair_give_the_same_likelihood():
    from bayescausal.crosssection._cem_strata import stack
    from bayescausal.crosssection.cem_model import gaussian_group_loglik

    d = _random_strata()
    groups, _ = stack([d], "gaussian")
    assert int(groups.mask.sum()) < len(d["n_c"])  # fewer pairs than strata
    assert groups.count.shape[1] == 64 and groups.count[0, int(groups.mask.sum()):].sum() == 0  # padded, empty
    per_stratum = GaussianStrata(*(np.asarray(d[k])[None] for k in ("n_c", "n_t", "mean_c", "mean_t", "ss_c", "ss_t",
                                                                     "score")), np.ones((1, len(d["n_c"]))))
    args = [np.array([v]) for v in (0.3, -0.2, 0.4, 0.9, 1.2)]
    total = float(np.sum(gaussian_stratum_loglik(per_stratum, *args)))
    assert np.isclose(float(np.sum(gaussian_group_loglik(groups, *args))), total, rtol=1e-12)


def test_effect_draws_equal_per_stratum_conditionals():
    from bayescausal.crosssection._cem_strata import effect_draws, stack

    d = _random_strata(7)
    inputs, post = stack([d], "gaussian")
    rng = np.random.default_rng(8)
    D = 400
    samples = {"tau": rng.normal(0.5, 0.1, (1, D, 1)), "gamma": rng.normal(0, 0.1, (1, D, 1)),
               "tau_sd": np.abs(rng.normal(0.3, 0.1, (1, D, 1))), "sigma": np.abs(rng.normal(1.0, 0.1, (1, D, 1, 2)))}
    eff, s_mean, s_sd = effect_draws("gaussian", inputs, post, samples, np.random.default_rng(9))
    per_stratum = GaussianStrata(*(np.asarray(d[k])[None] for k in ("n_c", "n_t", "mean_c", "mean_t", "ss_c", "ss_t",
                                                                     "score")), np.ones((1, len(d["n_c"]))))
    m, v = (np.asarray(a)[:, 0, :] for a in effect_conditional(
        per_stratum, samples["tau"][0], samples["gamma"][0], samples["tau_sd"][0], samples["sigma"][0, ..., 0],
        samples["sigma"][0, ..., 1]))  # (D, S)
    np.testing.assert_allclose(s_mean, m.mean(0), rtol=1e-10)
    np.testing.assert_allclose(s_sd, np.sqrt(v.mean(0) + m.var(0)), rtol=1e-8)
    # the estimand: conditional mean sum_s w_s m_s plus an exact normal of variance sum_s w_s^2 v_s
    centre = m @ d["weight"]
    z = (eff[0, :, 0] - centre) / np.sqrt(v @ d["weight"] ** 2)
    assert abs(z.mean()) < 4 / np.sqrt(D) and abs(z.std() - 1) < 0.1


# -- the fast paths against the plain ones ------------------------------------------------------------------------
def test_counted_strata_equal_sorted_strata():
    rng = np.random.default_rng(10)
    codes = [rng.integers(0, 4, 5000), rng.integers(0, 3, 5000), rng.integers(0, 5, 5000)]
    key, radix = cm.mixed_radix_key(codes, [4, 3, 5])
    assert radix == 60 and key.max() < radix
    counted = cm.form_strata(key, radix)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(counted[0], inverse.reshape(-1))
    np.testing.assert_array_equal(counted[1], first)
    np.testing.assert_array_equal(cm.form_strata(key)[0], counted[0])  # no radix: the sorting path
    ids, n = cm.dense_ids(key, radix)
    assert n == len(first) and (ids == counted[0]).all()
    ids_sorted, n_sorted = cm.dense_ids(key * 10**9, radix * 10**9)  # radix too large to count: sorted instead
    assert n_sorted == n and (ids_sorted == ids).all()
    t = rng.random(5000) < 0.4
    w = rng.random(5000) * t + (~t)
    assert np.isclose(cm.l1_imbalance(ids, t, w, n_cells=n), cm.l1_imbalance(key, t, w))


def test_shared_quantiles_equal_separate_ones_and_lookup_equals_search():
    rng = np.random.default_rng(11)
    for x, bins in ((rng.normal(size=3001), 4), (rng.lognormal(size=2000), 7), (rng.poisson(1.0, 3000) * 1.0, 5),
                    (rng.normal(size=100), 1)):
        cuts, ref = cm.quantile_cutpoints_and_reference(x, bins)
        np.testing.assert_array_equal(cuts, cm.quantile_cutpoints(x, bins))
        np.testing.assert_array_equal(ref, cm.quantile_cutpoints(x, 2 * (len(cuts) + 1)))
        lookup = cm.coarser_bin_lookup(cuts, ref)
        if lookup is not None:
            codes = lookup[cm.bin_codes(x, ref)]
            np.testing.assert_array_equal(codes, cm.bin_codes(x, cuts))
            assert codes.dtype == cm.bin_codes(x, cuts).dtype
    assert cm.coarser_bin_lookup(np.array([1.5]), np.array([1.0, 2.0])) is None


def test_smd_pairs_equal_the_shared_balance_definition():
    from bayescausal.crosssection._balance import standardised_mean_differences

    rng = np.random.default_rng(12)
    n = 3000
    t = rng.random(n) < 0.3
    w = np.where(t, 1.0, rng.gamma(2.0, size=n)) * (rng.random(n) < 0.9)
    g, n_g, w_g = cm.group_totals(t, w)
    x = rng.normal(1.0, 2.0, n) + t
    raw, weighted = cm.smd_pair(x, g, w, n_g, w_g)
    assert np.isclose(raw, standardised_mean_differences(x, t)[0], rtol=1e-12)
    assert np.isclose(weighted, standardised_mean_differences(x, t, w)[0], rtol=1e-12)
    codes = rng.integers(0, 4, n) * (rng.random(n) < 0.8)
    raw, weighted = cm.level_smd_pairs(codes, 4, g, w, n_g, w_g)
    dummies = np.stack([(codes == lv).astype(float) for lv in (1, 2, 3)], 1)
    np.testing.assert_allclose(raw, standardised_mean_differences(dummies, t), rtol=1e-10)
    np.testing.assert_allclose(weighted, standardised_mean_differences(dummies, t, w), rtol=1e-10)


def test_matching_l1_is_measured_on_the_reference_coarsening():
    """L1 before and after, recomputed from the reference coarsening's definition: twice the matching's quantile
    bins for binned numeric columns, the raw categories, exact columns as matched."""
    from bayescausal.crosssection._data import prepare_units
    from bayescausal.crosssection.cem_match import match

    rng = np.random.default_rng(13)
    n = 4000
    df = pd.DataFrame({"t": (rng.random(n) < 0.35).astype(int), "y": rng.normal(size=n),
                       "age": rng.normal(40, 10, n), "visits": rng.poisson(2.0, n), "spend": rng.lognormal(size=n),
                       "kids": rng.integers(0, 3, n), "region": rng.choice(list("abcd"), n)})
    df["age"] += 3 * df["t"]
    units = prepare_units(df, "t", "y", ["age", "visits", "spend", "kids", "region"])
    spec = (("spend", ("cutpoints", (0.5, 1.0, 2.0))), ("kids", ("exact",)),
            ("region", ("groups", (("a", "b"), ("c",), ("d",)))))
    m = match(units, spec, "ATT")
    ref = []
    for col, code in zip(m.columns, m.codes, strict=True):
        x = units.covariates[col.name]
        if col.kind == "categorical":
            ref.append(x.cat.codes.to_numpy())
        elif col.rule == "exact":
            ref.append(code)
        else:
            ref.append(cm.bin_codes(x.to_numpy(float), cm.quantile_cutpoints(x.to_numpy(float), 2 * col.cardinality)))
    cell = cm.combine_codes(ref, [int(r.max()) + 1 for r in ref])
    assert np.isclose(m.l1_before, cm.l1_imbalance(cell, units.t), rtol=1e-12)
    assert np.isclose(m.l1_after, cm.l1_imbalance(cell, units.t, m.unit_w), rtol=1e-12)
    assert m.l1_after < m.l1_before
    for col, code in zip(m.columns, m.codes, strict=True):  # the matching's own codes, by plain binary search
        if col.kind == "numeric" and col.rule != "exact":
            np.testing.assert_array_equal(code, cm.bin_codes(units.covariates[col.name].to_numpy(float),
                                                             np.asarray(col.cutpoints)))
