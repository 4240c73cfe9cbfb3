"""CausalGraph: the arrow language, the other constructors, immutability, and every SpecError it raises."""

import copy
import pickle

import networkx as nx
import pytest

from bayescausal.errors import SpecError
from bayescausal.scm import CausalGraph, as_causal_graph

CHURN = ("billing_issues -> support_tickets; billing_issues -> churn; support_tickets -> churn; usage -> churn; "
         "churn -> ltv; usage -> ltv")
CHURN_EDGES = {("billing_issues", "support_tickets"), ("billing_issues", "churn"), ("support_tickets", "churn"),
               ("usage", "churn"), ("churn", "ltv"), ("usage", "ltv")}


def test_issue_example_parses():
    g = CausalGraph(CHURN)
    assert set(g.edges) == CHURN_EDGES
    assert g.nodes == ("billing_issues", "support_tickets", "churn", "usage", "ltv")
    assert g.parents("churn") == {"billing_issues", "support_tickets", "usage"}
    assert g.children("usage") == {"churn", "ltv"}
    assert g.descendants("billing_issues") == {"support_tickets", "churn", "ltv"}
    assert g.ancestors("ltv") == {"billing_issues", "support_tickets", "churn", "usage"}
    assert g.latent == frozenset() and g.observed == g.nodes
    order = g.topological_order()
    assert all(order.index(u) < order.index(v) for u, v in g.edges)


def test_newlines_chains_fan_in_comments_and_isolated_nodes():
    text = """
    # the churn graph, written compactly
    billing_issues -> support_tickets -> churn
    billing_issues, usage -> churn -> ltv   # fan-in, then a chain
    usage -> ltv;
    region          # an isolated node
    """
    g = CausalGraph(text)
    assert set(g.edges) == CHURN_EDGES
    assert "region" in g and g.parents("region") == frozenset() and len(g) == 6
    assert CausalGraph("a, b -> c, d").edges == (("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"))
    assert CausalGraph("a → b").edges == (("a", "b"),)
    assert CausalGraph("größe -> _x1").nodes == ("größe", "_x1")


def test_networkx_and_edge_list_constructors_agree_with_the_language():
    g = CausalGraph(CHURN)
    dg = nx.DiGraph(sorted(CHURN_EDGES))
    assert CausalGraph(dg) == g
    assert CausalGraph(sorted(CHURN_EDGES)) == g
    assert CausalGraph(iter(sorted(CHURN_EDGES))) == g
    assert CausalGraph(g) == g and as_causal_graph(g) is g
    assert CausalGraph(g.to_string()) == g
    dg.nodes["usage"]["latent"] = True
    assert CausalGraph(dg).latent == {"usage"}
    assert CausalGraph(g, latent="usage") == CausalGraph(dg)
    assert CausalGraph(CausalGraph(dg).to_networkx()) == CausalGraph(dg)


def test_immutable_hashable_picklable():
    g = CausalGraph("u -> x; u -> y; x -> y", latent=["u"])
    with pytest.raises(AttributeError):
        g.latent = frozenset()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        g._dag = None  # type: ignore[misc]
    with pytest.raises(nx.NetworkXError):
        g.graph.add_edge("y", "u")
    copy_ = g.to_networkx()
    copy_.add_edge("y", "z")
    assert "z" not in g
    assert pickle.loads(pickle.dumps(g)) == g and copy.deepcopy(g) == g
    assert len({g, CausalGraph("x -> y; u -> y; u -> x", latent="u")}) == 1
    assert g != CausalGraph("u -> x; u -> y; x -> y")  # same edges, different latent nodes
    assert "latent=['u']" in repr(g)


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("a -> b; b -> c; c -> a", ["cycle", "a -> b -> c -> a", "statement 3 'c -> a'", "acyclic"]),
        ("a -> b -> a", ["cycle", "a -> b -> a"]),
        ("a -> a", ["Self-loop a -> a", "statement 1 'a -> a'"]),
        ("x -> y\nz -> y\nx -> y", ["Duplicated edge x -> y", "statement 1 'x -> y'", "statement 3 'x -> y'"]),
        ("a, b -> c; b -> c", ["Duplicated edge b -> c", "statement 2 'b -> c'"]),
        ("a, a -> b", ["Duplicated node 'a'", "column 4"]),
        ("a -> b,", ["line 1, column 7", "ends with ','"]),
        ("a -> ", ["ends with '->'"]),
        ("-> b", ["column 1", "expected a node name at the start"]),
        ("a -> -> b", ["column 6", "expected a node name after '->'"]),
        ("a b -> c", ["right after 'a'", "column 3"]),
        ("a => b", ["column 3", "use '->'"]),
        ("a <- b", ["other way round"]),
        ("a -- b", ["undirected"]),
        ("a <-> b", ["bidirected", "latent"]),
        ("a -> b\n1x -> c", ["line 2, column 1", "cannot start with a digit"]),
        ("a -> b-c", ["column 7", "'-'"]),
        ("a -> b; import os; os.system('x')", ["column 22", "statement 3 \"os.system('x')\"", "'.'"]),
        ("", ["empty"]),
        (" ; # only a comment", ["empty"]),
        ([], ["empty"]),
        ([("a", "b"), ("a", "b")], ["Duplicated edge a -> b", "edge 0", "edge 1"]),
        ([("a", "b", "c")], ["Edge 0", "(cause, effect) pair"]),
        (["a -> b"], ["arrow syntax"]),
        ([("a", 1)], ["Node 1", "int", "strings"]),
        ([("a", " b")], ["leading/trailing"]),
        ([("a", "b"), ("b", "a")], ["cycle"]),
        (nx.Graph([("a", "b")]), ["undirected", "DiGraph"]),
        (nx.MultiDiGraph([("a", "b"), ("a", "b")]), ["Duplicated edge a -> b"]),
        (nx.DiGraph([("a", "a")]), ["Self-loop"]),
        (42, ["int", "arrow syntax"]),
    ],
)
def test_spec_errors_name_the_problem(spec, fragments):
    with pytest.raises(SpecError) as err:
        CausalGraph(spec)
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_latent_and_query_node_errors_suggest_names():
    with pytest.raises(SpecError, match=r"Unknown latent node 'genotyp'.*Did you mean 'genotype'"):
        CausalGraph("genotype -> smoking; genotype -> cancer", latent="genotyp")
    with pytest.raises(SpecError, match="Duplicated latent node 'u'"):
        CausalGraph("u -> a", latent=["u", "u"])
    g = CausalGraph(CHURN)
    with pytest.raises(SpecError, match=r"Unknown node 'Churn'.*Did you mean 'churn'"):
        g.parents("Churn")
    with pytest.raises(SpecError, match=r"Unknown treatment 'suport_tickets'.*'support_tickets'"):
        g.identify("suport_tickets", "churn")
    with pytest.raises(SpecError, match="must be a node name"):
        g.check_node(3)
    latent = CausalGraph("u -> x; u -> y; x -> y", latent="u")
    with pytest.raises(SpecError, match="latent"):
        latent.identify("u", "y")
