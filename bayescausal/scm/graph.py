"""Causal graphs: a validated, immutable directed acyclic graph (DAG) with optional latent nodes.

A :class:`CausalGraph` is the graph half of a structural causal model (Pearl 2009, *Causality*, ch. 1.4):
each node is a variable, each edge ``a -> b`` says that ``a`` is a direct cause of ``b``, and nodes marked
``latent`` are unobserved (latent confounders are how graphs whose effects cannot be identified arise).
It is built from

* the arrow mini-language: ``"billing -> tickets; billing -> churn; tickets -> churn"``. Statements are
  separated by ``;`` or new lines, chains ``a -> b -> c`` and fan-in/fan-out ``a, b -> c, d`` are allowed,
  a statement with a single name declares an isolated node, and ``#`` starts a comment. Node names are
  identifiers (letters, digits and ``_``, not starting with a digit). The text is tokenised by a small
  regular expression and parsed by hand: nothing is ever ``eval``-ed.
* a ``networkx.DiGraph`` (node attribute ``latent=True`` marks latent nodes), or
* an edge list of ``(cause, effect)`` pairs of strings.

Every problem is a :class:`~bayescausal.errors.SpecError` that names the statement, edge or node and says
what to do: bad syntax (with line and column), self-loops, duplicated edges or nodes, cycles (naming the
cycle's nodes), and, for every query, unknown node names (with close matches suggested).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from typing import Any

import networkx as nx

from ..errors import SpecError

_SYNTAX_HELP = (
    "Write edges as 'cause -> effect', chains as 'a -> b -> c', several nodes as 'a, b -> c', and separate "
    "statements with ';' or new lines; node names are identifiers (letters, digits and '_', not starting "
    "with a digit)."
)

# One token at a time; `bad` catches any single character that is not part of the language.
_TOKEN = re.compile(
    r"(?P<space>[ \t\r\f\v]+)|(?P<comment>#[^\n]*)|(?P<sep>[;\n])|(?P<arrow>->|→)|(?P<comma>,)"
    r"|(?P<name>[^\W\d]\w*)|(?P<bad>.)",
    re.UNICODE,
)
# Common mistakes, with the fix to suggest.
_HINTS = (
    ("<->", "bidirected edges are not supported: add the latent common cause as a node, e.g. "
            "'u -> a; u -> b' with latent={'u'}"),
    ("<-", "write the edge the other way round: 'b <- a' is 'a -> b'"),
    ("-->", "use '->' (one dash)"),
    ("--", "undirected edges are not allowed: use '->'"),
    ("=>", "use '->'"),
    ("-", "use '->' for an edge; node names cannot contain '-' (use '_')"),
)


class CausalGraph:
    """An immutable causal DAG, optionally with latent (unobserved) nodes.

    Parameters
    ----------
    spec:
        The arrow mini-language (``"a -> b; b -> c"``), a ``networkx.DiGraph``, an edge list of
        ``(cause, effect)`` string pairs, or another ``CausalGraph`` (copied, latent nodes kept).
    latent:
        Names of unobserved nodes (a string for one node). They take part in d-separation but can never
        be adjusted for, used as mediators or asked about as treatment or outcome.

    Examples
    --------
    >>> g = CausalGraph("u -> smoking; u -> cancer; smoking -> tar -> cancer", latent={"u"})
    >>> sorted(g.parents("cancer"))
    ['tar', 'u']
    """

    __slots__ = ("_dag", "_latent", "_nodes", "_edges")

    def __init__(self, spec: Any, *, latent: str | Iterable[str] | None = None) -> None:
        attr_latent: set[str] = set()
        if isinstance(spec, CausalGraph):
            nodes, edges, attr_latent = _from_networkx(spec.to_networkx())
        elif isinstance(spec, str):
            nodes, edges = _parse(spec)
        elif isinstance(spec, nx.Graph):
            nodes, edges, attr_latent = _from_networkx(spec)
        elif isinstance(spec, Iterable):
            nodes, edges = _from_edge_list(spec)
        else:
            raise SpecError(
                f"Cannot build a causal graph from a {type(spec).__name__}. Pass the arrow syntax "
                "('a -> b; b -> c'), a networkx.DiGraph or a list of (cause, effect) pairs."
            )
        dag = _build_dag(nodes, edges)
        latent_set = attr_latent | _latent_arg(latent, dag)
        object.__setattr__(self, "_dag", nx.freeze(dag))
        object.__setattr__(self, "_latent", frozenset(latent_set))
        object.__setattr__(self, "_nodes", tuple(dag.nodes))
        object.__setattr__(self, "_edges", tuple(dag.edges))

    # -- immutability, equality, pickling -------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("CausalGraph is immutable; build a new one (e.g. CausalGraph(g, latent=...)).")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("CausalGraph is immutable.")

    def __reduce__(self):
        return (_rebuild, (self._nodes, self._edges, tuple(sorted(self._latent))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CausalGraph):
            return NotImplemented
        return (set(self._nodes), set(self._edges), self._latent) == (
            set(other._nodes), set(other._edges), other._latent)

    def __hash__(self) -> int:
        return hash((frozenset(self._nodes), frozenset(self._edges), self._latent))

    def __repr__(self) -> str:
        latent = f", latent={sorted(self._latent)!r}" if self._latent else ""
        return f"CausalGraph({self.to_string(sep='; ')!r}{latent})"

    def __contains__(self, node: object) -> bool:
        return node in self._dag

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    # -- structure --------------------------------------------------------------------------------------------
    @property
    def graph(self) -> nx.DiGraph:
        """The underlying graph, frozen (read-only). Use :meth:`to_networkx` for a mutable copy."""
        return self._dag

    @property
    def nodes(self) -> tuple[str, ...]:
        """All nodes, in order of first appearance."""
        return self._nodes

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """All ``(cause, effect)`` edges."""
        return self._edges

    @property
    def latent(self) -> frozenset[str]:
        """The unobserved nodes."""
        return self._latent

    @property
    def observed(self) -> tuple[str, ...]:
        """The observed nodes, in order of first appearance."""
        return tuple(n for n in self._nodes if n not in self._latent)

    def parents(self, node: str) -> frozenset[str]:
        """Direct causes of ``node``."""
        return frozenset(self._dag.predecessors(self.check_node(node)))

    def children(self, node: str) -> frozenset[str]:
        """Direct effects of ``node``."""
        return frozenset(self._dag.successors(self.check_node(node)))

    def ancestors(self, node: str) -> frozenset[str]:
        """Nodes with a directed path to ``node`` (``node`` excluded)."""
        return frozenset(nx.ancestors(self._dag, self.check_node(node)))

    def descendants(self, node: str) -> frozenset[str]:
        """Nodes reachable from ``node`` by a directed path (``node`` excluded)."""
        return frozenset(nx.descendants(self._dag, self.check_node(node)))

    def topological_order(self) -> tuple[str, ...]:
        """A topological order (causes before effects), ties broken by name so that it is deterministic."""
        return tuple(nx.lexicographical_topological_sort(self._dag))

    def to_networkx(self) -> nx.DiGraph:
        """A mutable copy as a ``networkx.DiGraph``; latent nodes carry the attribute ``latent=True``."""
        out = nx.DiGraph()
        out.add_nodes_from((n, {"latent": n in self._latent}) for n in self._nodes)
        out.add_edges_from(self._edges)
        return out

    def to_string(self, sep: str = "\n") -> str:
        """The graph in the arrow syntax (one edge per statement; isolated nodes on their own)."""
        parts = [f"{u} -> {v}" for u, v in self._edges]
        parts += [n for n in self._nodes if self._dag.degree(n) == 0]
        return sep.join(parts)

    # -- query validation -------------------------------------------------------------------------------------
    def check_node(self, node: Any, role: str = "node") -> str:
        """Return ``node`` if it is in the graph; otherwise raise a SpecError that suggests close names."""
        return _lookup(self._dag, node, role)

    def check_nodes(self, nodes: Any, role: str = "nodes") -> frozenset[str]:
        """Validate a node name or an iterable of node names and return them as a frozenset."""
        return _lookup_many(self._dag, nodes, role)

    def check_observed(self, node: Any, role: str) -> str:
        """Like :meth:`check_node`, and also refuse latent nodes (they cannot be treatments, outcomes, ...)."""
        node = self.check_node(node, role)
        if node in self._latent:
            raise SpecError(
                f"The {role} {node!r} is a latent (unobserved) node; causal queries and adjustment sets must use "
                "observed nodes. Drop it from latent= if it is measured."
            )
        return node

    # -- identification shortcuts (see bayescausal.scm.identification) ---------------------------------------
    def d_separated(self, xs: Any, ys: Any, given: Any = ()) -> bool:
        """Whether ``xs`` and ``ys`` are d-separated given ``given``; see :func:`identification.d_separated`."""
        from .identification import d_separated

        return d_separated(self, xs, ys, given)

    def identify(self, treatment: str, outcome: str):
        """Identify the effect of ``treatment`` on ``outcome``; see :func:`identification.identify`."""
        from .identification import identify

        return identify(self, treatment, outcome)

    def implied_independencies(self, conditioning: str = "parents"):
        """Testable independencies; see :func:`identification.implied_independencies`."""
        from .identification import implied_independencies

        return implied_independencies(self, conditioning=conditioning)


def as_causal_graph(spec: Any, *, latent: str | Iterable[str] | None = None) -> CausalGraph:
    """Return ``spec`` if it already is a :class:`CausalGraph` (and no latent nodes are given), else build one."""
    if isinstance(spec, CausalGraph) and latent is None:
        return spec
    return CausalGraph(spec, latent=latent)


def _rebuild(nodes: tuple[str, ...], edges: tuple[tuple[str, str], ...], latent: tuple[str, ...]) -> CausalGraph:
    dag = nx.DiGraph()
    dag.add_nodes_from(nodes)
    dag.add_edges_from(edges)
    return CausalGraph(dag, latent=latent)


# -- the arrow language ----------------------------------------------------------------------------------------
def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _parse(text: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Tokenise and parse the arrow language into nodes (first-appearance order) and annotated edges."""
    statements: list[list[tuple[str, str, int]]] = [[]]
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("space", "comment"):
            continue
        if kind == "sep":
            statements.append([])
            continue
        if kind == "bad":
            line, col = _line_col(text, m.start())
            hint = next((h for pre, h in _HINTS if text.startswith(pre, m.start())), None)
            if hint is None and m.group().isdigit():
                hint = "node names cannot start with a digit"
            hint = f" ({hint})" if hint else ""
            number = sum(1 for st in statements if st) + (0 if statements[-1] else 1)
            raise SpecError(
                f"Bad graph syntax at line {line}, column {col}: unexpected {m.group()!r} in statement {number} "
                f"{_statement_text(text, m.start())!r}{hint}. {_SYNTAX_HELP}"
            )
        statements[-1].append((kind, m.group(), m.start()))

    nodes: dict[str, None] = {}
    edges: list[tuple[str, str, str]] = []
    number = 0
    for tokens in statements:
        if not tokens:
            continue
        number += 1
        where = f"statement {number} {_statement_text(text, tokens[0][2])!r}"
        groups = _parse_statement(text, tokens, where)
        for group in groups:
            for name in group:
                nodes.setdefault(name, None)
        for causes, effects in zip(groups, groups[1:], strict=False):
            edges.extend((u, v, where) for u in causes for v in effects)
    if not nodes:
        raise SpecError(f"The graph is empty: no node names found in {text!r}. {_SYNTAX_HELP}")
    return list(nodes), edges


def _statement_text(text: str, pos: int) -> str:
    """The statement (between separators) that contains position ``pos``, stripped, without comments."""
    start = max(text.rfind(";", 0, pos), text.rfind("\n", 0, pos)) + 1
    ends = [i for i in (text.find(";", pos), text.find("\n", pos)) if i != -1]
    end = min(ends) if ends else len(text)
    return text[start:end].split("#", 1)[0].strip()


def _parse_statement(text: str, tokens: list[tuple[str, str, int]], where: str) -> list[list[str]]:
    """``group (-> group)*`` with ``group = name (, name)*``; returns the groups of names."""
    groups: list[list[str]] = [[]]
    expect_name = True
    for kind, value, pos in tokens:
        line, col = _line_col(text, pos)
        if expect_name:
            if kind != "name":
                after = "at the start" if not groups[-1] and len(groups) == 1 else "after '->' or ','"
                raise SpecError(
                    f"Bad graph syntax at line {line}, column {col} in {where}: expected a node name {after}, "
                    f"found {value!r}. {_SYNTAX_HELP}"
                )
            if value in groups[-1]:
                raise SpecError(
                    f"Duplicated node {value!r} at line {line}, column {col} in {where}: list each node once."
                )
            groups[-1].append(value)
            expect_name = False
        elif kind == "comma":
            expect_name = True
        elif kind == "arrow":
            groups.append([])
            expect_name = True
        else:
            raise SpecError(
                f"Bad graph syntax at line {line}, column {col} in {where}: found node {value!r} right after "
                f"{groups[-1][-1]!r}; put '->' (an edge) or ',' (a list) or ';' (a new statement) between them. "
                f"{_SYNTAX_HELP}"
            )
    if expect_name:
        kind, value, pos = tokens[-1]
        line, col = _line_col(text, pos)
        raise SpecError(
            f"Bad graph syntax at line {line}, column {col} in {where}: the statement ends with {value!r}; "
            f"a node name must follow it. {_SYNTAX_HELP}"
        )
    return groups


# -- other inputs ----------------------------------------------------------------------------------------------
def _check_name(node: Any, where: str) -> str:
    if not isinstance(node, str):
        raise SpecError(
            f"Node {node!r} in {where} is a {type(node).__name__}; name nodes with strings (the data's column names)."
        )
    if not node or node != node.strip():
        raise SpecError(f"Node name {node!r} in {where} is empty or has leading/trailing spaces; fix the name.")
    return node


def _from_networkx(graph: nx.Graph) -> tuple[list[str], list[tuple[str, str, str]], set[str]]:
    if not graph.is_directed():
        raise SpecError(
            "The networkx graph is undirected; a causal graph needs directions. Pass a networkx.DiGraph."
        )
    if graph.is_multigraph():
        seen: set[tuple[Any, Any]] = set()
        for u, v in graph.edges():
            if (u, v) in seen:
                raise SpecError(f"Duplicated edge {u} -> {v} in the MultiDiGraph; keep one of them.")
            seen.add((u, v))
    nodes = [_check_name(n, "the DiGraph") for n in graph.nodes]
    edges = [(u, v, f"DiGraph edge {u} -> {v}") for u, v in graph.edges()]
    latent = {n for n, flag in graph.nodes(data="latent", default=False) if flag}
    return nodes, edges, latent


def _from_edge_list(items: Iterable[Any]) -> tuple[list[str], list[tuple[str, str, str]]]:
    nodes: dict[str, None] = {}
    edges: list[tuple[str, str, str]] = []
    for i, item in enumerate(items):
        if isinstance(item, str) or not isinstance(item, Iterable) or len(pair := tuple(item)) != 2:
            hint = " For the arrow syntax pass one string ('a -> b; b -> c')." if isinstance(item, str) else ""
            raise SpecError(f"Edge {i} of the edge list is {item!r}; each edge must be a (cause, effect) pair.{hint}")
        where = f"edge {i} {pair!r}"
        u, v = (_check_name(n, where) for n in pair)
        nodes.setdefault(u, None)
        nodes.setdefault(v, None)
        edges.append((u, v, where))
    if not nodes:
        raise SpecError("The edge list is empty; a causal graph needs at least one node.")
    return list(nodes), edges


def _build_dag(nodes: list[str], edges: list[tuple[str, str, str]]) -> nx.DiGraph:
    """Check self-loops, duplicated edges and cycles, naming where each offending edge came from."""
    dag = nx.DiGraph()
    dag.add_nodes_from(nodes)
    origin: dict[tuple[str, str], str] = {}
    for u, v, where in edges:
        if u == v:
            raise SpecError(
                f"Self-loop {u} -> {v} in {where}: a variable cannot cause itself. Remove the edge (to model "
                f"feedback over time, use separate nodes such as {u}_lag -> {u})."
            )
        if (u, v) in origin:
            first = origin[(u, v)]
            again = "again" if first == where else f"and again in {where}"
            raise SpecError(f"Duplicated edge {u} -> {v}: it appears in {first} {again}. Keep one of them.")
        origin[(u, v)] = where
        dag.add_edge(u, v)
    try:
        cycle = nx.find_cycle(dag)
    except nx.NetworkXNoCycle:
        return dag
    path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
    sources = sorted({origin[(u, v)] for u, v in cycle})
    raise SpecError(
        f"The graph has a cycle: {path} (edges from {'; '.join(sources)}). A causal graph must be acyclic: "
        "remove or reverse one of these edges (for feedback over time, use time-indexed nodes)."
    )


def _latent_arg(latent: str | Iterable[str] | None, dag: nx.DiGraph) -> set[str]:
    return set() if latent is None else set(_lookup_many(dag, latent, "latent node"))


def _lookup(dag: nx.DiGraph, node: Any, role: str) -> str:
    if isinstance(node, str) and node in dag:
        return node
    if not isinstance(node, str):
        raise SpecError(f"The {role} must be a node name (a string), got {node!r} ({type(node).__name__}).")
    names = list(dag.nodes)
    close = difflib.get_close_matches(node, names, n=3, cutoff=0.6)
    close += [n for n in names if n.lower() == node.lower() and n not in close]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise SpecError(f"Unknown {role} {node!r}: it is not a node of the graph.{hint} The nodes are: {known}.")


def _lookup_many(dag: nx.DiGraph, nodes: Any, role: str) -> frozenset[str]:
    if nodes is None:
        return frozenset()
    if isinstance(nodes, str):
        return frozenset({_lookup(dag, nodes, role)})
    if not isinstance(nodes, Iterable):
        raise SpecError(f"The {role}s must be a node name or a collection of node names, got {nodes!r}.")
    items = list(nodes)
    out = frozenset(_lookup(dag, n, role) for n in items)
    if len(out) != len(items):
        dup = sorted({n for n in items if items.count(n) > 1})
        raise SpecError(f"Duplicated {role} {', '.join(map(repr, dup))}: list each node once.")
    return out
