"""Identification on the graph: textbook cases, bad queries, and a brute-force reference on random small DAGs.

The reference below is written independently of ``bayescausal.scm.identification`` and of networkx:

* d-separation: enumerate every simple path of the skeleton between the two sets and apply the blocking rules
  (a non-collider in Z blocks; a collider blocks unless it or one of its descendants is in Z) — not networkx's
  algorithm, nor the moral-graph separation the package uses to enumerate sets;
* backdoor (Pearl 2009, Definition 3.3.1, read literally): Z has no descendant of X and blocks every path between
  X and Y whose first edge points into X; all subsets are tried, minimal = no valid proper subset;
* frontdoor (Definition 3.3.3): (i) every directed X -> Y path (enumerated) meets M; (ii) every path from X to a
  mediator starting with an arrow into X is blocked by the empty set; (iii) every path from a mediator to Y
  starting with an arrow into that mediator, with no other mediator on it, is blocked by {X}. Paths through a
  second mediator are left out in (iii) because the theorem applies the backdoor criterion to M as a set
  (Theorem 3.3.2 with M's outgoing edges cut), where the relevant path from the set starts at its last mediator;
  (iii) is read only when (ii) holds, which also makes "descendant" the same in G and in G with M's edges cut.
* identification numerically: binary variables with random conditional probability tables; the interventional
  distribution from the truncated factorisation (latent nodes included) must equal every backdoor and frontdoor
  formula evaluated on the observed marginal.
"""

import itertools
import random

import networkx as nx
import numpy as np
import pytest

from bayescausal.errors import SpecError
from bayescausal.scm import (
    CausalGraph,
    d_separated,
    frontdoor_sets,
    identify,
    implied_independencies,
    is_backdoor_set,
    is_frontdoor_set,
    minimal_backdoor_sets,
)
from bayescausal.scm.identification import (
    METHOD_BACKDOOR,
    METHOD_FRONTDOOR,
    METHOD_NO_CONFOUNDING,
    METHOD_NO_PATH,
    _Dag,
)

CHURN = CausalGraph(
    "billing_issues -> support_tickets; billing_issues -> churn; support_tickets -> churn; usage -> churn; "
    "churn -> ltv; usage -> ltv"
)
SMOKING = CausalGraph("genotype -> smoking; genotype -> cancer; smoking -> tar -> cancer", latent="genotype")


def fs(*names):
    return frozenset(names)


# -- textbook cases ------------------------------------------------------------------------------------------
def test_d_separation_basics():
    assert d_separated("a -> b -> c", "a", "c", "b") and not d_separated("a -> b -> c", "a", "c")
    assert d_separated("b -> a; b -> c", "a", "c", ["b"])
    collider = "a -> c; b -> c; c -> d"
    assert d_separated(collider, "a", "b") and not d_separated(collider, "a", "b", "c")
    assert not d_separated(collider, "a", "b", "d")  # conditioning on a descendant of the collider opens it
    assert CHURN.d_separated(["billing_issues", "support_tickets"], "usage")
    assert d_separated(CHURN, "billing_issues", "ltv", ["churn", "usage"])


def test_pearl_frontdoor_smoking_tar_cancer():
    assert minimal_backdoor_sets(SMOKING, "smoking", "cancer") == ()
    assert frontdoor_sets(SMOKING, "smoking", "cancer") == (fs("tar"),)
    assert is_frontdoor_set(SMOKING, "smoking", "cancer", ["tar"])
    assert not is_frontdoor_set(SMOKING, "smoking", "cancer", [])
    r = identify(SMOKING, "smoking", "cancer")
    assert r.identifiable and r.method == METHOD_FRONTDOOR and r.mediators == fs("tar") and r.adjustment_set is None
    assert "smoking <- genotype -> cancer" in r.explanation and "latent node genotype" in r.explanation
    assert r.formula == ("P(cancer | do(smoking)) = Σ_{tar} P(tar | smoking) "
                         "Σ_{smoking'} P(cancer | smoking', tar) P(smoking')")
    # a confounded mediator breaks condition (ii): then nothing identifies the effect
    broken = CausalGraph(SMOKING.to_string() + "\ngenotype -> tar", latent="genotype")
    r = identify(broken, "smoking", "cancer")
    assert not r.identifiable and r.method is None and r.frontdoor_sets == ()
    assert "cannot be intercepted" in r.explanation and "do-calculus" in r.explanation


def test_m_bias_conditioning_on_the_collider_is_wrong():
    g = CausalGraph("a -> x; a -> m; b -> m; b -> y; x -> y")
    assert minimal_backdoor_sets(g, "x", "y") == (fs(),)
    assert is_backdoor_set(g, "x", "y", [])
    assert not is_backdoor_set(g, "x", "y", ["m"])  # opens x <- a -> m <- b -> y
    assert is_backdoor_set(g, "x", "y", ["m", "a"]) and is_backdoor_set(g, "x", "y", ["m", "b"])
    r = identify(g, "x", "y")
    assert r.method == METHOD_NO_CONFOUNDING and r.adjustment_set == fs() and r.formula == "P(y | do(x)) = P(y | x)"
    # with a and b latent, the same answer: nothing to adjust for
    assert identify(CausalGraph(g, latent=["a", "b"]), "x", "y").method == METHOD_NO_CONFOUNDING


def test_issue_churn_graph():
    r = identify(CHURN, "support_tickets", "churn")
    assert r.method == METHOD_BACKDOOR and r.adjustment_set == fs("billing_issues")
    assert r.backdoor_sets == (fs("billing_issues"),)
    assert identify(CHURN, "churn", "ltv").adjustment_set == fs("usage")
    assert not is_backdoor_set(CHURN, "support_tickets", "ltv", ["churn"])  # a descendant of the treatment
    r = identify(CHURN, "billing_issues", "ltv")
    assert r.method == METHOD_NO_CONFOUNDING
    # {churn} alone is not a frontdoor set: churn <- usage -> ltv is open given billing_issues
    assert r.frontdoor_sets == (fs("churn", "usage"),)
    assert not is_frontdoor_set(CHURN, "billing_issues", "ltv", ["churn"])
    r = identify(CHURN, "ltv", "churn")
    assert r.method == METHOD_NO_PATH and r.identifiable and r.formula == "P(churn | do(ltv)) = P(churn)"
    assert [str(i) for i in implied_independencies(CHURN)] == [
        "billing_issues ⊥ usage", "support_tickets ⊥ usage", "billing_issues ⊥ ltv | churn, usage",
        "support_tickets ⊥ ltv | churn, usage",
    ]


def test_no_valid_adjustment_set():
    g = CausalGraph("u -> x; u -> y; x -> y; w -> x", latent="u")
    r = identify(g, "x", "y")
    assert not r.identifiable and r.method is None and r.backdoor_sets == () and r.frontdoor_sets == ()
    assert "x <- u -> y" in r.explanation and "direct edge x -> y" in r.explanation
    assert r.formula is None and str(r) == r.explanation
    # the latent confounder does not matter when x cannot affect y
    assert identify(CausalGraph("u -> x; u -> y", latent="u"), "x", "y").method == METHOD_NO_PATH
    # a descendant of the treatment cannot be adjusted for even when it is the only observed node on the path
    g = CausalGraph("x -> d; u -> d; u -> y; d -> y; v -> x; v -> y", latent=["u", "v"])
    r = identify(g, "x", "y")
    assert not r.identifiable


def test_several_minimal_adjustment_sets_smallest_first():
    g = CausalGraph("a -> b; b -> x; b -> c; c -> y; x -> y; d -> x; d -> y")
    assert minimal_backdoor_sets(g, "x", "y") == (fs("b", "d"), fs("c", "d"))
    r = identify(g, "x", "y")
    assert r.adjustment_set == fs("b", "d") and "Other minimal adjustment sets: {c, d}" in r.explanation


def test_implied_independencies_with_latent_nodes():
    g = CausalGraph("u -> a; u -> b; a -> c; b -> c; c -> d", latent="u")
    got = {(i.x, i.y): i.given for i in implied_independencies(g)}
    assert (("a", "b") not in got) and got[("a", "d")] == fs("c")
    assert got[("b", "d")] == fs("c")
    minimal = {(i.x, i.y): i.given for i in implied_independencies(g, conditioning="minimal")}
    assert minimal == got
    with pytest.raises(SpecError, match="conditioning"):
        implied_independencies(g, conditioning="all")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: d_separated(CHURN, "churn", ["churn", "ltv"]), "disjoint"),
        (lambda: d_separated(CHURN, "churn", "ltv", "ltv"), "disjoint"),
        (lambda: d_separated(CHURN, [], "ltv"), "at least one node"),
        (lambda: d_separated(CHURN, "churn", "ltvv"), "Unknown node 'ltvv'.*'ltv'"),
        (lambda: identify(CHURN, "churn", "churn"), "both 'churn'"),
        (lambda: minimal_backdoor_sets(CHURN, "usage", "LTV"), "Unknown outcome 'LTV'.*'ltv'"),
        (lambda: is_backdoor_set(CHURN, "usage", "ltv", ["churn", "churn"]), "Duplicated adjustment node 'churn'"),
        (lambda: is_backdoor_set(CHURN, "usage", "ltv", ["usage"]), "treatment or the outcome"),
        (lambda: is_backdoor_set(SMOKING, "smoking", "cancer", ["genotype"]), "latent"),
        (lambda: is_frontdoor_set(SMOKING, "smoking", "cancer", ["tarr"]), "Unknown mediator 'tarr'"),
        (lambda: identify(SMOKING, "genotype", "cancer"), "treatment 'genotype' is a latent"),
        (lambda: identify("a -> b -> a", "a", "b"), "cycle"),
    ],
)
def test_bad_queries_raise_spec_error(call, match):
    with pytest.raises(SpecError, match=match):
        call()


# -- the independent reference ---------------------------------------------------------------------------------
class Ref:
    """A DAG as plain sets, with brute-force path-based answers."""

    def __init__(self, nodes, edges, latent):
        self.nodes, self.edges, self.latent = list(nodes), set(edges), set(latent)
        self.observed = [n for n in self.nodes if n not in self.latent]
        self.children = {n: {v for u, v in self.edges if u == n} for n in self.nodes}
        self.nbrs = {n: {v for u, v in self.edges if u == n} | {u for u, v in self.edges if v == n} for n in nodes}
        self.desc = {n: self._reach(n) for n in self.nodes}

    def _reach(self, n):
        out, todo = set(), [n]
        while todo:
            for c in self.children[todo.pop()]:
                if c not in out:
                    out.add(c)
                    todo.append(c)
        return out

    def paths(self, a, b):
        """All simple paths between a and b in the skeleton."""
        out = []

        def walk(path):
            if path[-1] == b:
                out.append(path)
                return
            for n in self.nbrs[path[-1]]:
                if n not in path:
                    walk(path + [n])

        walk([a])
        return out

    def directed_paths(self, a, b):
        return [p for p in self.paths(a, b) if all((u, v) in self.edges for u, v in zip(p, p[1:], strict=False))]

    def blocked(self, path, z):
        for a, b, c in zip(path, path[1:], path[2:], strict=False):
            if (a, b) in self.edges and (c, b) in self.edges:
                if b not in z and not self.desc[b] & z:
                    return True
            elif b in z:
                return True
        return False

    def dsep(self, xs, ys, z):
        return all(self.blocked(p, set(z)) for x in xs for y in ys for p in self.paths(x, y))

    def backdoor_ok(self, x, y, z):
        z = set(z)
        if z & self.desc[x]:
            return False
        return all(self.blocked(p, z) for p in self.paths(x, y) if (p[1], x) in self.edges)

    def frontdoor_ok(self, x, y, m):
        m = set(m)
        if any(not m & set(p[1:-1]) for p in self.directed_paths(x, y)):
            return False
        for v in m:
            if not all(self.blocked(p, set()) for p in self.paths(x, v) if (p[1], x) in self.edges):
                return False
        for v in m:
            for p in self.paths(v, y):
                if (p[1], v) in self.edges and not m & set(p[1:]) and not self.blocked(p, {x}):
                    return False
        return True

    def subsets(self, exclude):
        pool = [n for n in self.observed if n not in exclude]
        return [frozenset(c) for k in range(len(pool) + 1) for c in itertools.combinations(pool, k)]

    @staticmethod
    def minimal(valid):
        return {s for s in valid if not any(t < s for t in valid)}


def random_case(seed):
    """A random DAG of 4-7 nodes, often with a latent confounder of (x, y), plus random latent nodes."""
    rng = random.Random(seed)
    n = rng.randint(4, 7)
    names = [f"v{i}" for i in range(n)]
    rng.shuffle(names)  # names do not follow the topological order
    p = rng.choice([0.25, 0.4, 0.55])
    edges = {(names[i], names[j]) for i in range(n) for j in range(i + 1, n) if rng.random() < p}
    i, j = sorted(rng.sample(range(n), 2))
    x, y = names[i], names[j]
    if rng.random() < 0.75:  # make sure x causes y, often through a mediator
        k = rng.randrange(i + 1, j) if j - i > 1 and rng.random() < 0.7 else None
        edges |= {(x, y)} if k is None else {(x, names[k]), (names[k], y)}
    if i > 0 and rng.random() < 0.5:  # an earlier node confounds x and y
        c = names[rng.randrange(i)]
        edges |= {(c, x), (c, y)}
    if rng.random() < 0.15:
        x, y = y, x  # no causal path from x to y
    latent = {v for v in names if v not in (x, y) and rng.random() < 0.2}
    nodes = list(names)
    if rng.random() < 0.4:
        nodes.append("u")
        latent.add("u")
        edges |= {("u", x), ("u", y)} | {("u", v) for v in names if rng.random() < 0.2}
    return Ref(nodes, edges, latent), x, y


def causal_graph(ref):
    dag = nx.DiGraph()
    dag.add_nodes_from(ref.nodes)  # isolated nodes too
    dag.add_edges_from(sorted(ref.edges))
    return CausalGraph(dag, latent=ref.latent)


SEEDS = range(300)


def test_brute_force_reference_on_random_dags():
    counts = dict.fromkeys([METHOD_NO_PATH, METHOD_NO_CONFOUNDING, METHOD_BACKDOOR, METHOD_FRONTDOOR, None], 0)
    n_dsep = n_subsets = n_indep = 0
    for seed in SEEDS:
        ref, x, y = random_case(seed)
        g = causal_graph(ref)
        rng = random.Random(10_000 + seed)
        fast = _Dag(g.graph)

        # d-separation on random disjoint queries (latent nodes included: it is a graph statement)
        for _ in range(6):
            pool = list(ref.nodes)
            rng.shuffle(pool)
            a, b = rng.randint(1, 2), rng.randint(1, 2)
            xs, ys = pool[:a], pool[a:a + b]
            zs = pool[a + b:a + b + rng.randint(0, 3)]
            assert d_separated(g, xs, ys, zs) == ref.dsep(xs, ys, zs), (seed, xs, ys, zs, sorted(ref.edges))
            # the internal search used by the frontdoor enumeration, with some nodes' outgoing edges cut
            cut = set(rng.sample(ref.nodes, rng.randint(0, 3)))
            cut_ref = Ref(ref.nodes, {(u, v) for u, v in ref.edges if u not in cut}, ref.latent)
            assert fast.d_separated(xs, set(ys), set(zs), cut) == cut_ref.dsep(xs, ys, zs), (seed, xs, ys, zs, cut)
            n_dsep += 1

        # every candidate set, checked one by one, then the minimal ones
        subsets = ref.subsets({x, y})
        valid_bd = {s for s in subsets if ref.backdoor_ok(x, y, s)}
        valid_fd = {s for s in subsets if ref.frontdoor_ok(x, y, s)}
        for s in subsets:
            assert is_backdoor_set(g, x, y, s) == (s in valid_bd), (seed, x, y, s, sorted(ref.edges), ref.latent)
            assert is_frontdoor_set(g, x, y, s) == (s in valid_fd), (seed, x, y, s, sorted(ref.edges), ref.latent)
            n_subsets += 1
        min_bd, min_fd = Ref.minimal(valid_bd), Ref.minimal(valid_fd)
        assert set(minimal_backdoor_sets(g, x, y)) == min_bd, (seed, x, y, sorted(ref.edges), ref.latent)
        assert set(frontdoor_sets(g, x, y)) == min_fd, (seed, x, y, sorted(ref.edges), ref.latent)

        # identify: the method follows from the reference sets
        r = identify(g, x, y)
        counts[r.method] += 1
        if not ref.directed_paths(x, y):
            assert r.method == METHOD_NO_PATH
        elif frozenset() in min_bd:
            assert r.method == METHOD_NO_CONFOUNDING and r.adjustment_set == frozenset()
        elif min_bd:
            assert r.method == METHOD_BACKDOOR and r.adjustment_set in min_bd
            assert len(r.adjustment_set) == min(map(len, min_bd))
        elif min_fd:
            assert r.method == METHOD_FRONTDOOR and r.mediators in min_fd
        else:
            assert not r.identifiable and r.method is None and "not identifiable" in r.explanation
        assert r.identifiable == (r.method is not None)
        assert set(r.backdoor_sets) == min_bd and set(r.frontdoor_sets) == min_fd

        # implied independencies: true, one per separable non-adjacent observed pair, with the promised set
        for conditioning in ("parents", "minimal"):
            got = {}
            for ind in implied_independencies(g, conditioning=conditioning):
                assert ref.dsep([ind.x], [ind.y], ind.given) and ind.x not in ref.desc[ind.y], (seed, ind)
                got[frozenset((ind.x, ind.y))] = ind
            for a, b in itertools.combinations(ref.observed, 2):
                if b in ref.nbrs[a]:
                    assert frozenset((a, b)) not in got
                    continue
                seps = [s for s in ref.subsets({a, b}) if ref.dsep([a], [b], s)]
                assert (frozenset((a, b)) in got) == bool(seps), (seed, a, b)
                if not seps:
                    continue
                ind = got[frozenset((a, b))]
                if conditioning == "parents" and not parents(ref, ind.y) & ref.latent:
                    assert ind.given == parents(ref, ind.y)
                else:
                    assert len(ind.given) == min(map(len, seps))
                n_indep += 1

    # the random cases exercise every branch
    assert all(c >= 10 for c in counts.values()), counts
    assert n_dsep == 6 * len(SEEDS) and n_subsets > 2500 and n_indep > 2000, (n_subsets, n_indep)


def parents(ref, v):
    return frozenset(u for u, w in ref.edges if w == v)


# -- identification checked numerically on discrete models ----------------------------------------------------
def joint_distribution(ref, rng, do=None):
    """Joint of binary nodes from random CPTs; ``do=(node, value)`` replaces that node's CPT by a point mass."""
    pa = {v: sorted(parents(ref, v)) for v in ref.nodes}
    cpt = {v: rng.uniform(0.1, 0.9, size=(2,) * len(pa[v])) for v in ref.nodes}  # P(v = 1 | parents)
    idx = {v: k for k, v in enumerate(ref.nodes)}

    def build(do):
        joint = np.ones((2,) * len(ref.nodes))
        for state in itertools.product((0, 1), repeat=len(ref.nodes)):
            prob = 1.0
            for v in ref.nodes:
                if do is not None and v == do[0]:
                    prob *= float(state[idx[v]] == do[1])
                    continue
                p1 = cpt[v][tuple(state[idx[u]] for u in pa[v])]
                prob *= p1 if state[idx[v]] else 1 - p1
            joint[state] = prob
        return joint

    return build


def marginal(joint, names, keep):
    drop = tuple(k for k, n in enumerate(names) if n not in keep)
    kept = [n for n in names if n in keep]
    return np.transpose(joint.sum(axis=drop), [kept.index(k) for k in keep])


def backdoor_formula(joint, names, x, y, z, xv):
    z = sorted(z)
    pxyz = marginal(joint, names, [x, y, *z])
    p_y = pxyz[xv, 1] / pxyz[xv].sum(axis=0)
    return float((p_y * marginal(joint, names, z)).sum())


def frontdoor_formula(joint, names, x, y, m, xv):
    m = sorted(m)
    pxmy = marginal(joint, names, [x, *m, y])
    px = marginal(joint, names, [x])
    pm_x = pxmy.sum(axis=-1)[xv] / px[xv]  # P(m | x = xv)
    py_xm = pxmy[..., 1] / pxmy.sum(axis=-1)  # P(y = 1 | x', m)
    inner = np.tensordot(px, py_xm, axes=(0, 0))  # sum_x' P(y = 1 | x', m) P(x')
    return float((pm_x * inner).sum())


def test_identification_formulas_match_interventions_numerically():
    checked = {METHOD_NO_PATH: 0, METHOD_NO_CONFOUNDING: 0, METHOD_BACKDOOR: 0, METHOD_FRONTDOOR: 0}
    for seed in SEEDS:
        ref, x, y = random_case(seed)
        g = causal_graph(ref)
        r = identify(g, x, y)
        if not r.identifiable:
            continue
        build = joint_distribution(ref, np.random.default_rng(seed))
        observed = marginal(build(None), ref.nodes, ref.observed)
        for xv in (0, 1):
            truth = float(marginal(build((x, xv)), ref.nodes, [y])[1])
            estimates = [backdoor_formula(observed, ref.observed, x, y, z, xv) for z in r.backdoor_sets]
            estimates += [frontdoor_formula(observed, ref.observed, x, y, m, xv) for m in r.frontdoor_sets]
            if r.method == METHOD_NO_PATH:
                estimates.append(float(marginal(observed, ref.observed, [y])[1]))
            assert estimates and np.allclose(estimates, truth, atol=1e-10), (seed, r.method, estimates, truth)
        checked[r.method] += 1
    assert all(c >= 5 for c in checked.values()), checked
