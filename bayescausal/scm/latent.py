"""Latent nodes of a fitted SCM: which are supported, how they enter the model, and whether it is identified.

Scope. A latent node must be a root (no parents) and its observed children must all be linear-Gaussian.
Such a node is represented by what it does to the observed data: its children's structural errors are
jointly Gaussian with a free covariance (a bidirected edge between each pair of its children: the acyclic
directed mixed graph, or semi-Markovian, representation, Pearl 2009, ch. 3.5; linear SEMs with correlated
errors, Drton, Foygel & Sullivant 2011). Integrating the latent out of the model gives exactly this, whatever
its loadings and its own distribution, as long as it is Gaussian or its children's errors are taken as
Gaussian. Children of different latent nodes that overlap are merged into one block with *all* error
covariances free: a weaker, more general model than the graph states (the graph would also fix to zero the
covariance of two nodes that share no latent parent). A latent node with a single observed child only adds to
that child's noise and needs no block (its child keeps whatever mechanism it has); one without observed
children is ignored.

Identification ("only where identified"). The fitted model is a parametric model, so the rule is generic
local identifiability (Rothenberg 1971, "Identification in parametric models", Econometrica 39): every observed
node is treated as a node of a linear-Gaussian SEM (one coefficient per directed edge between observed nodes,
one error variance per node, and the free error covariances within each latent block), and the map from those
parameters to the implied covariance matrix of the observed nodes, ``(I - B)^-1 Omega (I - B)^-T``, must have a
Jacobian of full column rank at random parameter values (a property that holds at almost every point or at
none: the Jacobian's entries are rational functions of the parameters). Treating non-Gaussian observed nodes as
Gaussian is conservative: non-Gaussianity only adds information. Examples: the bow (u -> x, u -> y, x -> y)
has 4 parameters against 3 moments and is not identified; the frontdoor graph (u -> x, u -> y, x -> m -> y)
and the instrument graph (z -> x -> y, u -> x, u -> y) are.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ..errors import SpecError
from .graph import CausalGraph

RANK_RTOL = 1e-9  # a singular value below this share of the largest counts as zero (float64 Jacobians)
RANK_POINTS = 3  # random parameter points; the generic rank is the largest rank seen
NULL_TOL = 1e-6  # a parameter with a null-space component above this is reported as not identified


@dataclass(frozen=True)
class LatentBlock:
    """Observed ``nodes`` (in topological order) whose structural errors are correlated through ``latents``.

    ``name`` is the name of the block's sites (``{name}__corr_chol``): the latent node's name, or the names of
    merged latent nodes joined by ``+``.
    """

    name: str
    latents: tuple[str, ...]
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class SEMIdentification:
    """Generic local identifiability of the linear-Gaussian SEM over the observed nodes (see the module doc)."""

    identified: bool
    n_params: int
    n_moments: int
    rank: int
    params: tuple[str, ...]
    unidentified: tuple[str, ...]  # parameters with a component in the Jacobian's null space
    touched: frozenset[str] = frozenset()  # the observed nodes those parameters belong to

    @property
    def deficit(self) -> int:
        return self.n_params - self.rank


def latent_blocks(graph: CausalGraph) -> tuple[LatentBlock, ...]:
    """The latent blocks of the graph (see the module doc); SpecError for a latent node with parents."""
    order = [n for n in graph.topological_order() if n not in graph.latent]
    groups: list[tuple[set[str], set[str]]] = []  # (latents, observed children), merged when children overlap
    for u in sorted(graph.latent):
        parents = sorted(graph.parents(u))
        if parents:
            raise SpecError(
                f"latent node {u!r} has parent(s) {parents}: only latent root nodes (unobserved common causes "
                "without parents in the graph) are supported, whose children are linear-Gaussian. Measure "
                f"{u!r} (drop it from latent=), or drop its incoming edges if it is an exogenous confounder.")
        kids = set(graph.children(u))
        if len(kids) < 2:
            continue
        merged_l, merged_k = {u}, set(kids)
        rest = []
        for lats, ks in groups:
            if ks & merged_k:
                merged_l |= lats
                merged_k |= ks
            else:
                rest.append((lats, ks))
        groups = rest + [(merged_l, merged_k)]
    taken = set(graph.nodes)
    out = []
    for lats, ks in groups:
        name = "+".join(sorted(lats))
        while name in taken and len(lats) > 1:
            name += "_block"
        taken.add(name)
        out.append(LatentBlock(name, tuple(sorted(lats)), tuple(n for n in order if n in ks)))
    return tuple(sorted(out, key=lambda b: order.index(b.nodes[0])))


def check_families(blocks: tuple[LatentBlock, ...], families: Mapping[str, str]) -> None:
    """SpecError unless every node of a latent block has a linear-Gaussian mechanism."""
    for b in blocks:
        for node in b.nodes:
            fam = families[node]
            if fam != "linear_gaussian":
                lat = ", ".join(repr(u) for u in b.latents)
                raise SpecError(
                    f"node {node!r} is a child of the latent node {lat} and has a {fam} mechanism; a latent "
                    "confounder is supported only when all its children are linear-Gaussian (their errors are "
                    f"then jointly Gaussian, which integrates the latent out exactly). Give {node!r} a "
                    "'linear_gaussian' mechanism if that fits it, or measure the latent node (drop it from "
                    "latent=), or drop it from the graph and say in the report that it confounds "
                    f"{', '.join(b.nodes)}.")


def _sem_setup(graph: CausalGraph, blocks: tuple[LatentBlock, ...]):
    """Parameter names and index arrays of the linear SEM over the observed nodes."""
    obs = [n for n in graph.topological_order() if n not in graph.latent]
    pos = {n: i for i, n in enumerate(obs)}
    edges = [(a, b) for a, b in graph.edges if a in pos and b in pos]
    covs = [(b.nodes[i], b.nodes[j]) for b in blocks for i in range(len(b.nodes)) for j in range(i)]
    names = tuple([f"{a} -> {b}" for a, b in edges] + [f"var({n})" for n in obs] +
                  [f"cov({a}, {b})" for a, b in covs])
    owners = [frozenset(e) for e in edges] + [frozenset([n]) for n in obs] + [frozenset(c) for c in covs]
    e_idx = (np.array([pos[b] for _, b in edges], int), np.array([pos[a] for a, _ in edges], int))
    c_idx = (np.array([pos[a] for a, _ in covs], int), np.array([pos[b] for _, b in covs], int))
    return obs, edges, names, owners, e_idx, c_idx


def implied_covariance(theta, p: int, n_edges: int, e_idx, c_idx):
    """``(I - B)^-1 Omega (I - B)^-T`` of a linear SEM; ``theta = [edge coefs, variances, covariances]``."""
    B = jnp.zeros((p, p)).at[e_idx].set(theta[:n_edges])
    omega = jnp.diag(theta[n_edges:n_edges + p])
    cov = theta[n_edges + p:]
    omega = omega.at[c_idx].set(cov).at[(c_idx[1], c_idx[0])].set(cov)
    # B is strictly lower triangular in topological order, so I - B is unit lower triangular
    A = solve_triangular(jnp.eye(p) - B, jnp.eye(p), lower=True, unit_diagonal=True)
    return A @ omega @ A.T


def _random_point(rng: np.random.Generator, p: int, n_edges: int, blocks_idx, c_idx) -> np.ndarray:
    coefs = rng.choice([-1.0, 1.0], n_edges) * rng.uniform(0.3, 1.5, n_edges)
    omega = np.diag(rng.uniform(0.5, 1.5, p))
    for idx in blocks_idx:  # a random positive definite covariance within each block
        g = rng.normal(size=(len(idx), len(idx)))
        omega[np.ix_(idx, idx)] += g @ g.T / len(idx)
    return np.concatenate([coefs, np.diag(omega), omega[c_idx]])


@functools.lru_cache(maxsize=64)
def sem_identification(graph: CausalGraph, seed: int = 0) -> SEMIdentification:
    """Generic local identifiability of the linear SEM with the graph's latent blocks (see the module doc).

    The Jacobian of the distinct entries of the implied covariance (``p (p + 1) / 2`` moments) with respect to
    the parameters is taken with ``jax.jacfwd`` at ``RANK_POINTS`` random points; its numerical rank counts the
    singular values above ``RANK_RTOL`` times the largest. Identified when the largest rank seen equals the
    number of parameters.
    """
    blocks = latent_blocks(graph)
    obs, edges, names, owners, e_idx, c_idx = _sem_setup(graph, blocks)
    p, q = len(obs), len(names)
    tri = np.tril_indices(p)
    n_moments = len(tri[0])
    pos = {n: i for i, n in enumerate(obs)}
    blocks_idx = [np.array([pos[n] for n in b.nodes], int) for b in blocks]
    jac = jax.jit(jax.jacfwd(lambda th: implied_covariance(th, p, len(edges), e_idx, c_idx)[tri]))
    rng = np.random.default_rng(seed)
    best_rank, null = -1, None
    for _ in range(RANK_POINTS):
        J = np.asarray(jac(jnp.asarray(_random_point(rng, p, len(edges), blocks_idx, c_idx))))
        _, s, vt = np.linalg.svd(J, full_matrices=True)
        rank = int(np.sum(s > RANK_RTOL * s[0])) if s.size else 0
        if rank > best_rank:
            best_rank, null = rank, vt[rank:]
    bad = [j for j in range(q) if null is not None and null.size and np.max(np.abs(null[:, j])) > NULL_TOL]
    touched = frozenset().union(*(owners[j] for j in bad)) if bad else frozenset()
    return SEMIdentification(best_rank == q, q, n_moments, best_rank, names, tuple(names[j] for j in bad), touched)


def require_identified(graph: CausalGraph) -> tuple[LatentBlock, ...]:
    """The graph's latent blocks, or a SpecError naming the latent node(s) that make the model unidentified."""
    blocks = latent_blocks(graph)
    if not blocks:
        return blocks
    res = sem_identification(graph)
    if res.identified:
        return blocks
    culprits = [b for b in blocks if res.touched & set(b.nodes)] or list(blocks)
    b = culprits[0]
    lat = " and ".join(repr(u) for u in b.latents)
    kids = ", ".join(b.nodes)
    edges_in = [f"{a} -> {c}" for a, c in graph.edges if a in b.nodes and c in b.nodes]
    hint = (f"an instrument for {edges_in[0].split(' -> ')[0]} (an observed cause of it that is not a child of "
            f"{lat} and reaches {edges_in[0].split(' -> ')[1]} only through it), or a mediator that carries its "
            "whole effect (frontdoor)") if edges_in else "another observed child of the latent node"
    trade = f" The parameters {', '.join(res.unidentified)} cannot be told apart." if res.unidentified else ""
    raise SpecError(
        f"the latent node {lat} (a common cause of {kids}) makes the model unidentified: treating every observed "
        f"node as linear-Gaussian, the model has {res.n_params} free parameters (edge coefficients, error "
        f"variances and the error covariances among {kids}) against {res.n_moments} distinct moments of the "
        f"observed covariance matrix, and the Jacobian from parameters to moments has rank {res.rank} (rank "
        f"deficit {res.deficit}; Rothenberg 1971).{trade} Measure the latent node (drop it from latent=), or add "
        f"what would identify it: {hint}.")
