"""Identification on the graph alone: d-separation, backdoor and frontdoor sets, implied independencies.

Pure functions of a :class:`~bayescausal.scm.graph.CausalGraph` (or anything it can be built from). They answer
"can the effect of X on Y be computed from the distribution of the observed nodes, and how?" using the two
graphical criteria of Pearl (2009), *Causality* (2nd ed.), section 3.3:

* the backdoor criterion (Definition 3.3.1, Theorem 3.3.2): a set Z of observed non-descendants of X that blocks
  every path between X and Y with an arrow into X; then ``P(y | do(x)) = sum_z P(y | x, z) P(z)``;
* the frontdoor criterion (Definition 3.3.3, Theorem 3.3.4): a set M of observed nodes that (i) intercepts every
  directed path from X to Y, (ii) has no unblocked backdoor path from X, and (iii) has every backdoor path to Y
  blocked by X; then ``P(y | do(x)) = sum_m P(m | x) sum_x' P(y | x', m) P(x')``.

Both are sufficient, not complete: an effect that neither criterion identifies may still be identifiable by the
do-calculus (Shpitser & Pearl 2006, the ID algorithm), which is not implemented here; :func:`identify` says so.

How the sets are found. Adjustment sets use the result behind van der Zander, Liśkiewicz & Textor (2019,
"Separators and adjustment sets in causal graphs: complete criteria and an algorithmic framework", AI 270):
a set Z contained in An(X ∪ Y) d-separates X and Y exactly when it separates them in the moral graph of
An(X ∪ Y) (Lauritzen et al. 1990), so among such sets separation is monotone, and every minimal separator lies in
An(X ∪ Y) (Tian, Paz & Pearl 1998: intersecting a separator with An(X ∪ Y) keeps it a separator). Minimal sets
are then listed by branching on the nodes of an open path (every separator must contain one of them), which
visits only sets that fail to separate plus the separators found; minimality is one removal per node.
The frontdoor search keeps the observed ancestors of Y that pass condition (ii) (which is per node), then tries
subsets by size, skipping supersets of sets already found, with a small reachability search for d-separation
(Koller & Friedman 2009, Algorithm 3.1) instead of copying graphs. It is exponential in the number of
candidates: on random 20-node DAGs ``identify`` takes milliseconds, at worst about half a second; much larger
graphs may need ``frontdoor_sets(..., max_size=k)``. ``d_separated`` and ``is_backdoor_set`` use networkx's
``is_d_separator``. The tests check everything against brute-force path enumeration on random small DAGs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any, NamedTuple

import networkx as nx

from ..errors import SpecError
from .graph import CausalGraph, as_causal_graph

_is_d_separator = getattr(nx, "is_d_separator", None) or nx.d_separated  # renamed in networkx 3.3

METHOD_NO_PATH = "no causal path"
METHOD_NO_CONFOUNDING = "no confounding (empty adjustment set)"
METHOD_BACKDOOR = "backdoor"
METHOD_FRONTDOOR = "frontdoor"

FrozenSets = tuple[frozenset[str], ...]


# -- results -----------------------------------------------------------------------------------------------------
class Independence(NamedTuple):
    """A conditional independence ``x ⊥ y | given`` implied by the graph (a triple, so it unpacks)."""

    x: str
    y: str
    given: frozenset[str]

    def __str__(self) -> str:
        given = f" | {', '.join(sorted(self.given))}" if self.given else ""
        return f"{self.x} ⊥ {self.y}{given}"


@dataclass(frozen=True)
class Identification:
    """Whether and how the effect of ``treatment`` on ``outcome`` is identified by the graphical criteria.

    ``identifiable`` means identifiable *by the criteria checked here* (no causal path, backdoor, frontdoor);
    ``False`` says that none applies, not that no method could ever identify the effect (see ``explanation``).
    ``method`` is one of ``"no causal path"`` (the effect is zero: ``P(y | do(x)) = P(y)``),
    ``"no confounding (empty adjustment set)"``, ``"backdoor"``, ``"frontdoor"``, or ``None``.
    ``adjustment_set`` / ``mediators`` is the chosen set (smallest, ties broken by name); ``backdoor_sets`` and
    ``frontdoor_sets`` list all minimal alternatives, smallest first.
    """

    treatment: str
    outcome: str
    identifiable: bool
    method: str | None
    adjustment_set: frozenset[str] | None
    mediators: frozenset[str] | None
    backdoor_sets: FrozenSets
    frontdoor_sets: FrozenSets
    explanation: str

    @property
    def formula(self) -> str | None:
        """The identifying formula in words of the observed distribution, or None when not identified."""
        x, y = self.treatment, self.outcome
        lhs = f"P({y} | do({x}))"
        if self.method == METHOD_NO_PATH:
            return f"{lhs} = P({y})"
        if self.method == METHOD_NO_CONFOUNDING:
            return f"{lhs} = P({y} | {x})"
        if self.method == METHOD_BACKDOOR:
            z = ", ".join(sorted(self.adjustment_set or ()))
            return f"{lhs} = Σ_{{{z}}} P({y} | {x}, {z}) P({z})"
        if self.method == METHOD_FRONTDOOR:
            m = ", ".join(sorted(self.mediators or ()))
            return f"{lhs} = Σ_{{{m}}} P({m} | {x}) Σ_{{{x}'}} P({y} | {x}', {m}) P({x}')"
        return None

    def __str__(self) -> str:
        return self.explanation


# -- argument handling ---------------------------------------------------------------------------------------
def _graph(g: Any) -> CausalGraph:
    return as_causal_graph(g)


def _pair(g: CausalGraph, treatment: Any, outcome: Any) -> tuple[str, str]:
    x = g.check_observed(treatment, "treatment")
    y = g.check_observed(outcome, "outcome")
    if x == y:
        raise SpecError(f"The treatment and the outcome are both {x!r}; name two different nodes.")
    return x, y


def _observed_set(g: CausalGraph, nodes: Any, role: str, x: str, y: str) -> frozenset[str]:
    out = g.check_nodes(nodes, role)
    for n in sorted(out):
        g.check_observed(n, role)
        if n in (x, y):
            raise SpecError(f"The {role}s contain {n!r}, which is the treatment or the outcome; remove it.")
    return out


# -- graph helpers -------------------------------------------------------------------------------------------
def _without_out_edges(dag: nx.DiGraph, nodes: Iterable[str]) -> nx.DiGraph:
    """The graph with every edge out of ``nodes`` removed (Pearl's G with the nodes' outgoing arrows cut)."""
    cut = nx.DiGraph(dag)
    cut.remove_edges_from([e for n in nodes for e in dag.out_edges(n)])
    return cut


def _ancestral(dag: nx.DiGraph, anchor: Iterable[str]) -> set[str]:
    out = set(anchor)
    for n in list(out):
        out |= nx.ancestors(dag, n)
    return out


def _moral_adjacency(dag: nx.DiGraph, keep: set[str]) -> dict[str, set[str]]:
    """Adjacency of the moral graph of the induced subgraph on ``keep`` (an ancestral set)."""
    moral = nx.moral_graph(dag.subgraph(keep))
    return {n: set(moral.adj[n]) for n in moral}


def _open_route(adj: dict[str, set[str]], x: str, y: str, blocked: frozenset[str] | set[str]) -> list[str] | None:
    """A shortest x-y path in the undirected graph avoiding ``blocked``, or None if they are separated."""
    parent: dict[str, str | None] = {x: None}
    queue = deque([x])
    while queue:
        v = queue.popleft()
        for w in adj[v]:
            if w in parent or w in blocked:
                continue
            parent[w] = v
            if w == y:
                path = [w]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            queue.append(w)
    return None


def _minimal_separators(adj: dict[str, set[str]], x: str, y: str, allowed: set[str]) -> list[frozenset[str]]:
    """All inclusion-minimal S ⊆ ``allowed`` separating x from y in an undirected graph, smallest first.

    Separation in a fixed undirected graph is monotone (supersets of separators separate), so a separator is
    minimal iff no single node can be dropped. Every separator containing the current set S must contain one
    allowed node of any open path, so branching on those nodes reaches every minimal separator.
    """
    if _open_route(adj, x, y, allowed) is not None:
        return []
    found: set[frozenset[str]] = set()
    seen: set[frozenset[str]] = set()
    stack: list[frozenset[str]] = [frozenset()]
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        path = _open_route(adj, x, y, s)
        if path is None:
            if all(_open_route(adj, x, y, s - {v}) is not None for v in s):
                found.add(s)
            continue
        stack.extend(s | {v} for v in path[1:-1] if v in allowed)
    return sorted(found, key=_set_key)


def _set_key(s: frozenset[str]) -> tuple[int, list[str]]:
    return len(s), sorted(s)


def _backdoor_setup(g: CausalGraph, x: str, y: str) -> tuple[nx.DiGraph, set[str], set[str]]:
    """G with x's outgoing edges cut, the ancestral set An(x, y) there, and the nodes allowed in an adjustment set."""
    dag = g.graph
    cut = _without_out_edges(dag, [x])
    anc = _ancestral(cut, [x, y])
    forbidden = nx.descendants(dag, x) | g.latent | {x, y}
    return cut, anc, anc - forbidden


# -- public functions ----------------------------------------------------------------------------------------
def d_separated(g: Any, xs: Any, ys: Any, given: Any = ()) -> bool:
    """True when every path between ``xs`` and ``ys`` is blocked by ``given`` (Pearl 2009, Definition 1.2.3).

    Each argument is a node name or a collection of names; the three must be disjoint. Latent nodes may appear
    (this is a statement about the graph). Uses ``networkx.is_d_separator``.

    >>> d_separated("a -> b -> c", "a", "c", given="b")
    True
    """
    g = _graph(g)
    X, Y, Z = g.check_nodes(xs, "node"), g.check_nodes(ys, "node"), g.check_nodes(given, "conditioning node")
    if not X or not Y:
        raise SpecError("d_separated needs at least one node on each side (xs and ys).")
    for a, b, what in ((X, Y, "xs and ys"), (X, Z, "xs and given"), (Y, Z, "ys and given")):
        if a & b:
            raise SpecError(f"{what} share {', '.join(sorted(a & b))}; the three node sets must be disjoint.")
    return bool(_is_d_separator(g.graph, set(X), set(Y), set(Z)))


def is_backdoor_set(g: Any, treatment: str, outcome: str, adjustment_set: Any) -> bool:
    """Whether ``adjustment_set`` satisfies the backdoor criterion for ``treatment`` -> ``outcome``.

    It must contain no descendant of the treatment and d-separate treatment and outcome once the treatment's
    outgoing edges are cut (equivalently: block every path with an arrow into the treatment; Pearl 2009, 3.3.1).
    """
    g = _graph(g)
    x, y = _pair(g, treatment, outcome)
    z = _observed_set(g, adjustment_set, "adjustment node", x, y)
    if z & nx.descendants(g.graph, x):
        return False
    return bool(_is_d_separator(_without_out_edges(g.graph, [x]), {x}, {y}, set(z)))


def minimal_backdoor_sets(g: Any, treatment: str, outcome: str) -> FrozenSets:
    """All minimal sets of observed nodes satisfying the backdoor criterion, smallest first (ties by name).

    Minimal: no proper subset satisfies the criterion. ``(frozenset(),)`` means no adjustment is needed;
    ``()`` means no set of observed nodes works (e.g. a backdoor path through a latent confounder).

    >>> minimal_backdoor_sets("z -> x; z -> y; x -> y", "x", "y")
    (frozenset({'z'}),)
    """
    g = _graph(g)
    x, y = _pair(g, treatment, outcome)
    cut, anc, allowed = _backdoor_setup(g, x, y)
    return tuple(_minimal_separators(_moral_adjacency(cut, anc), x, y, allowed))


class _Dag:
    """Parent and child lists of a DAG, for the many small d-separation checks of the frontdoor search."""

    def __init__(self, dag: nx.DiGraph) -> None:
        self.parents = {n: tuple(dag.predecessors(n)) for n in dag}
        self.children = {n: tuple(dag.successors(n)) for n in dag}

    def directed_path(self, x: str, y: str, avoid: frozenset[str]) -> bool:
        """Whether a directed path leads from x to y without passing through ``avoid``."""
        seen, stack = {x}, [x]
        while stack:
            for c in self.children[stack.pop()]:
                if c == y:
                    return True
                if c not in seen and c not in avoid:
                    seen.add(c)
                    stack.append(c)
        return False

    def d_separated(self, xs: Iterable[str], ys: set[str] | frozenset[str], given: set[str] | frozenset[str],
                    cut: set[str] | frozenset[str]) -> bool:
        """d-separation in the graph with every edge out of ``cut`` removed (the reachable-nodes search of
        Koller & Friedman 2009, Algorithm 3.1: a trail may pass a collider only if it is an ancestor of ``given``).
        """
        anc: set[str] = set()
        stack = list(given)
        while stack:
            v = stack.pop()
            if v not in anc:
                anc.add(v)
                stack.extend(p for p in self.parents[v] if p not in cut)
        seen: set[tuple[str, bool]] = set()
        todo = [(x, True) for x in xs]  # (node, reached from a child, i.e. travelling up)
        while todo:
            v, up = todo.pop()
            if (v, up) in seen:
                continue
            seen.add((v, up))
            if v in ys and v not in given:
                return False
            if v not in given:
                if v not in cut:
                    todo.extend((c, False) for c in self.children[v])
                if up:
                    todo.extend((p, True) for p in self.parents[v] if p not in cut)
            if not up and v in anc:  # a collider that is, or has a descendant, in the conditioning set
                todo.extend((p, True) for p in self.parents[v] if p not in cut)
        return True


def _frontdoor_ok(dag: _Dag, x: str, y: str, m: frozenset[str]) -> bool:
    """Pearl's three frontdoor conditions for the set ``m``."""
    if dag.directed_path(x, y, m):  # (i) some directed x -> y path avoids m
        return False
    if not m:
        return True
    if not dag.d_separated([x], m, set(), {x}):  # (ii) an open backdoor path from x to m
        return False
    # (iii) backdoor paths from m to y, blocked by x: d-separation once m's outgoing edges are cut (Pearl's
    # backdoor criterion for the set m, Theorem 3.3.2, as used in the proof of Theorem 3.3.4).
    return dag.d_separated(m, {y}, {x}, m)


def is_frontdoor_set(g: Any, treatment: str, outcome: str, mediators: Any) -> bool:
    """Whether ``mediators`` satisfies Pearl's frontdoor criterion (2009, Definition 3.3.3).

    (i) every directed path from treatment to outcome goes through a mediator; (ii) no backdoor path from the
    treatment to a mediator is open (given nothing); (iii) every backdoor path from the mediators to the outcome
    is blocked by the treatment (for a set: d-separation of mediators and outcome given the treatment once the
    mediators' outgoing edges are cut).
    """
    g = _graph(g)
    x, y = _pair(g, treatment, outcome)
    m = _observed_set(g, mediators, "mediator", x, y)
    return _frontdoor_ok(_Dag(g.graph), x, y, m)


def frontdoor_sets(g: Any, treatment: str, outcome: str, *, max_size: int | None = None) -> FrozenSets:
    """All minimal sets of observed nodes (of any size, up to ``max_size``) satisfying the frontdoor criterion.

    Minimal: no proper subset satisfies it. A minimal set can hold a node that is not on a causal path (it may be
    needed to block a backdoor path from another mediator to the outcome). When there is no directed path from
    treatment to outcome, the empty set qualifies (the formula then reduces to ``P(y)``).

    >>> frontdoor_sets(CausalGraph("u -> x; u -> y; x -> m -> y", latent="u"), "x", "y")
    (frozenset({'m'}),)
    """
    g = _graph(g)
    x, y = _pair(g, treatment, outcome)
    dag = _Dag(g.graph)
    if g.graph.has_edge(x, y):
        return ()
    # Condition (ii) is per node. A node that is not an ancestor of y is never needed: dropping it from a valid
    # set keeps (i) and (ii), and any path it opened for (iii) would contain a backdoor path that already
    # violates (iii) for the larger set. So candidates are observed ancestors of y passing (ii).
    anc_y = nx.ancestors(g.graph, y)
    candidates = [n for n in g.observed if n in anc_y and n != x and dag.d_separated([x], {n}, set(), {x})]
    if dag.directed_path(x, y, frozenset(candidates)):
        return ()  # even all candidates together leave a directed path open: condition (i) cannot hold
    found: list[frozenset[str]] = []
    top = len(candidates) if max_size is None else min(max_size, len(candidates))
    for k in range(top + 1):
        for combo in combinations(candidates, k):
            m = frozenset(combo)
            if any(f <= m for f in found):
                continue
            if _frontdoor_ok(dag, x, y, m):
                found.append(m)
    return tuple(sorted(found, key=_set_key))


def implied_independencies(g: Any, conditioning: str = "parents") -> tuple[Independence, ...]:
    """Conditional independencies among observed nodes implied by the graph: one per non-adjacent pair.

    The basis: for each pair of non-adjacent observed nodes ``x`` before ``y`` in a topological order (so ``x`` is
    a non-descendant of ``y``), the statement ``x ⊥ y | S`` where ``S`` is

    * ``conditioning="parents"`` (default): the parents of ``y``. This is the pairwise form of the ordered local
      Markov property (each node is independent of its non-descendants given its parents; Pearl 2009, 1.2.3,
      Theorem 1.2.7), one statement per missing edge, like Shipley's (2000) basis set. When ``y`` has a latent
      parent, the parents cannot be conditioned on, and ``S`` falls back to a smallest observed separator.
    * ``conditioning="minimal"``: a smallest set of observed nodes that d-separates the pair (ties by name).

    Pairs that no set of observed nodes separates (e.g. two children of a latent confounder) imply nothing
    testable and are left out. Without latent nodes, together with the graphoid axioms the parents-basis
    implies every d-separation of the graph. The order is the topological order of ``y``, then of ``x``.

    >>> [str(i) for i in implied_independencies("a -> b -> c")]
    ['a ⊥ c | b']
    """
    if conditioning not in ("parents", "minimal"):
        raise SpecError(f"conditioning must be 'parents' or 'minimal', got {conditioning!r}.")
    g = _graph(g)
    dag = g.graph
    order = [n for n in g.topological_order() if n not in g.latent]
    out: list[Independence] = []
    for j, y in enumerate(order):
        parents = set(dag.predecessors(y))
        for x in order[:j]:
            if x in parents:
                continue
            if conditioning == "parents" and not parents & g.latent:
                out.append(Independence(x, y, frozenset(parents)))
                continue
            anc = _ancestral(dag, [x, y])
            seps = _minimal_separators(_moral_adjacency(dag, anc), x, y, anc - g.latent - {x, y})
            if seps:
                out.append(Independence(x, y, seps[0]))
    return tuple(out)


# -- identify --------------------------------------------------------------------------------------------------
def _fmt(nodes: Iterable[str]) -> str:
    return "{" + ", ".join(sorted(nodes)) + "}"


def _arrow_path(dag: nx.DiGraph, path: list[str]) -> str:
    out = path[0]
    for a, b in zip(path, path[1:], strict=False):
        out += f" -> {b}" if dag.has_edge(a, b) else f" <- {b}"
    return out


def _open_backdoor_path(g: CausalGraph, x: str, y: str, given: set[str]) -> list[str] | None:
    """A shortest path from x to y, starting with an arrow into x, that ``given`` does not block (DFS, pruned)."""
    dag = g.graph
    cut = _without_out_edges(dag, [x])
    keep = _ancestral(cut, {x, y} | given)  # a path open given Z only visits An(x, y, Z)
    opens = {n for n in keep if n in given or nx.descendants(cut, n) & given}  # colliders that are open
    nbrs = {n: [m for m in sorted(keep) if m != n and (cut.has_edge(n, m) or cut.has_edge(m, n))] for n in keep}

    def ok(a: str, b: str, c: str) -> bool:  # is b, between a and c, passable?
        collider = cut.has_edge(a, b) and cut.has_edge(c, b)
        return b in opens if collider else b not in given

    for limit in range(2, len(keep) + 1):
        stack = [[x]]
        while stack:
            path = stack.pop()
            for n in nbrs[path[-1]]:
                if n in path or (len(path) > 1 and not ok(path[-2], path[-1], n)):
                    continue
                if n == y:
                    return path + [n]
                if len(path) + 1 < limit:
                    stack.append(path + [n])
    return None


def _backdoor_failure(g: CausalGraph, x: str, y: str) -> str:
    _, anc, allowed = _backdoor_setup(g, x, y)
    path = _open_backdoor_path(g, x, y, allowed)
    if path is None:  # cannot happen when no backdoor set exists; kept as a safe fallback
        return "no set of observed non-descendants of the treatment blocks every backdoor path."
    desc = nx.descendants(g.graph, x)
    inner = path[1:-1]
    latent = [n for n in inner if n in g.latent]
    why = []
    if latent:
        why.append(f"it runs through the latent node{'s' if len(latent) > 1 else ''} {', '.join(latent)}, "
                   "which cannot be adjusted for")
    bad_desc = [n for n in inner if n in desc]
    if bad_desc:
        why.append(f"blocking it would mean adjusting for {', '.join(bad_desc)}, a descendant of {x}")
    because = f" ({'; '.join(why)})" if why else ""
    usable = f"every usable node {_fmt(allowed)}" if allowed else "nothing (no observed node is usable)"
    return (f"adjusting for {usable} still leaves the backdoor path {_arrow_path(g.graph, path)} "
            f"open{because}; no other choice of observed non-descendants of {x} blocks every backdoor path.")


def _frontdoor_failure(g: CausalGraph, x: str, y: str) -> str:
    dag = g.graph
    if dag.has_edge(x, y):
        return f"the direct edge {x} -> {y} cannot be intercepted by any mediator."
    fast = _Dag(dag)
    candidates = {n for n in g.observed if n not in (x, y) and fast.d_separated([x], {n}, set(), {x})}
    if nx.has_path(dag.subgraph(set(dag) - candidates), x, y):
        path = nx.shortest_path(dag.subgraph(set(dag) - candidates), x, y)
        return (f"the directed path {' -> '.join(path)} cannot be intercepted by observed nodes that have no "
                f"open backdoor path from {x} (conditions i and ii).")
    return (f"every set of observed nodes that intercepts the directed paths from {x} to {y} has a backdoor path "
            f"to {y} that {x} does not block (condition iii).")


def identify(g: Any, treatment: str, outcome: str) -> Identification:
    """Decide whether the effect of ``treatment`` on ``outcome`` is identified by the graph, and how.

    Tried in order: no directed path (the effect is zero), the backdoor criterion (an empty set means no
    confounding), the frontdoor criterion. When none applies, the explanation names a backdoor path that no
    observed adjustment set can block and why no frontdoor set exists; the effect might still be identifiable
    by the full do-calculus (Shpitser & Pearl 2006), which is not implemented.

    >>> identify("age -> exercise; age -> health; exercise -> health", "exercise", "health").adjustment_set
    frozenset({'age'})
    """
    g = _graph(g)
    x, y = _pair(g, treatment, outcome)
    backdoor = minimal_backdoor_sets(g, x, y)
    frontdoor = frontdoor_sets(g, x, y)
    common = dict(treatment=x, outcome=y, backdoor_sets=backdoor, frontdoor_sets=frontdoor)
    alternatives = ""
    if len(backdoor) > 1:
        alternatives = " Other minimal adjustment sets: " + "; ".join(_fmt(s) for s in backdoor[1:]) + "."

    if not nx.has_path(g.graph, x, y):
        return Identification(
            identifiable=True, method=METHOD_NO_PATH, adjustment_set=None, mediators=None, **common,
            explanation=(f"There is no directed path from {x} to {y}, so by this graph intervening on {x} cannot "
                         f"change {y}: P({y} | do({x})) = P({y}) and the effect is zero. If you expected an "
                         "effect, check the graph."),
        )
    if backdoor and not backdoor[0]:
        return Identification(
            identifiable=True, method=METHOD_NO_CONFOUNDING, adjustment_set=frozenset(), mediators=None, **common,
            explanation=(f"Every backdoor path from {x} to {y} (if any) is blocked by a collider, so there is no "
                         f"confounding: P({y} | do({x})) = P({y} | {x}), no adjustment needed (backdoor criterion "
                         "with the empty set, Pearl 2009, Theorem 3.3.2)."),
        )
    if backdoor:
        z = backdoor[0]
        return Identification(
            identifiable=True, method=METHOD_BACKDOOR, adjustment_set=z, mediators=None, **common,
            explanation=(f"Identified by the backdoor criterion (Pearl 2009, Theorem 3.3.2): adjusting for {_fmt(z)} "
                         f"blocks every backdoor path from {x} to {y} and includes no descendant of {x}, so "
                         f"P({y} | do({x})) = Σ_z P({y} | {x}, z) P(z) with z = {_fmt(z)}.{alternatives}"),
        )
    no_backdoor = _backdoor_failure(g, x, y)
    if frontdoor:
        m = frontdoor[0]
        others = ""
        if len(frontdoor) > 1:
            others = " Other minimal frontdoor sets: " + "; ".join(_fmt(s) for s in frontdoor[1:]) + "."
        return Identification(
            identifiable=True, method=METHOD_FRONTDOOR, adjustment_set=None, mediators=m, **common,
            explanation=(f"No adjustment set exists: {no_backdoor} But the effect is identified by the frontdoor "
                         f"criterion (Pearl 2009, Theorem 3.3.4) through {_fmt(m)}: it intercepts every directed "
                         f"path from {x} to {y}, has no open backdoor path from {x}, and {x} blocks its backdoor "
                         f"paths to {y}. P({y} | do({x})) = Σ_m P(m | {x}) Σ_x' P({y} | x', m) P(x') with "
                         f"m = {_fmt(m)}.{others}"),
        )
    return Identification(
        identifiable=False, method=None, adjustment_set=None, mediators=None, **common,
        explanation=(f"The effect of {x} on {y} is not identifiable by the backdoor or frontdoor criterion. "
                     f"Backdoor: {no_backdoor} Frontdoor: {_frontdoor_failure(g, x, y)} It may still be "
                     "identifiable by the full do-calculus (Shpitser & Pearl 2006), which is not implemented; "
                     "otherwise measure a confounder on the open path, or use an instrument."),
    )
