"""Pandas side of the SCM: validate the frame against the graph and the mechanisms, and encode each node.

Every failure names the node and says what to do. Encoded values: continuous and count nodes as floats in
their own units, binary nodes as 0.0/1.0, categorical nodes as integer codes into their sorted observed
levels (or the order of a pandas Categorical's categories that occur).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, SpecError
from ._latent_math import block_suffstats
from ._math import Encoding, compress_rows, count_tail, features, gaussian_suffstats
from .graph import CausalGraph
from .latent import LatentBlock, check_families, latent_blocks, require_identified
from .mechanisms import MAX_CATEGORIES, Custom, Mechanism, choose_mechanism
from .model import NodeLayout


@dataclass
class SCMData:
    """The encoded data: ``values[node]`` (n,) arrays, ``levels[node]`` the labels of categorical nodes.

    Only observed nodes have values and layouts; ``blocks`` are the latent blocks (``latent.py``).
    """

    values: dict[str, np.ndarray]
    levels: dict[str, tuple]
    layouts: tuple[NodeLayout, ...]
    index: pd.Index
    columns: tuple
    extra: dict = field(default_factory=dict)  # the data's other columns (for effect(where=...)), as arrays
    blocks: tuple[LatentBlock, ...] = ()
    choices: dict = field(default_factory=dict)  # node -> why its mechanism is the one it is (given or inferred)

    @property
    def n(self) -> int:
        return len(self.index)

    def layout(self, node: str) -> NodeLayout:
        for lay in self.layouts:
            if lay.name == node:
                return lay
        latent = [u for b in self.blocks for u in b.latents]
        raise SpecError(f"node {node!r} has no data{' (it is latent)' if node in latent else ''}: treatments, "
                        "outcomes and intervened nodes must be observed nodes of the fitted graph "
                        f"({[lay.name for lay in self.layouts]}). Measure it and drop it from latent=, or ask "
                        "about an observed node.")


def check_frame(df, graph: CausalGraph) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"fit() needs a pandas DataFrame with one column per node, got {type(df).__name__}.")
    missing = [n for n in graph.observed if n not in df.columns]
    if missing:
        raise DataError(f"node(s) {missing} of the graph are not columns of the data; the data's columns are "
                        f"{list(df.columns)}. Rename the columns or the nodes so that they match, or mark "
                        "unmeasured common causes as latent (CausalGraph(..., latent=...)).")
    if len(df) < 3:
        raise DataError(f"the data have {len(df)} rows; an SCM needs at least 3.")


def _first_bad(index: pd.Index, bad: np.ndarray):
    return index[int(np.argmax(bad))]


def encode_node(series: pd.Series, node: str, mech: Mechanism) -> tuple[np.ndarray, tuple, Encoding, tuple, float,
                                                                           float]:
    """Validate and encode one column: ``(values, levels, encoding, center, mean, sd)``."""
    idx = series.index
    na = series.isna().to_numpy()
    if na.any():
        raise DataError(f"node {node!r} has {int(na.sum())} missing value(s) (NaN), the first at row "
                        f"{_first_bad(idx, na)!r}; an SCM needs every node observed in every row: drop or impute "
                        "those rows first.")
    kind = mech.kind
    if kind == "categorical":
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = set(series.unique())
            levels = tuple(c for c in series.cat.categories if c in present)
        else:
            try:
                levels = tuple(sorted(series.unique()))
            except TypeError:
                levels = tuple(sorted(series.unique(), key=str))
        if len(levels) < 2:
            raise DataError(f"node {node!r} (categorical) takes a single value {levels[0]!r}; a node without "
                            "variation has no mechanism to fit: drop it from the graph.")
        if len(levels) > MAX_CATEGORIES:
            raise DataError(f"node {node!r} has {len(levels)} categories (more than {MAX_CATEGORIES}); a categorical "
                            "mechanism over so many levels is not supported: group rare levels, or if it is a "
                            "number, convert the column to a numeric dtype.")
        codes = pd.Categorical(series, categories=list(levels)).codes.astype(np.int64)
        shares = np.bincount(codes, minlength=len(levels)) / len(codes)
        center = tuple(np.log(shares[1:] / shares[0]))
        return codes, levels, Encoding("categorical", levels=len(levels)), center, 0.0, 1.0
    if pd.api.types.is_bool_dtype(series):
        x = series.to_numpy(dtype=float)
    elif pd.api.types.is_numeric_dtype(series):
        x = series.to_numpy(dtype=float)
    else:
        raise DataError(f"node {node!r} has a {mech.family} mechanism but holds non-numeric values "
                        f"(dtype {series.dtype}); convert it to numbers, or give it a categorical mechanism.")
    inf = ~np.isfinite(x)
    if inf.any():
        raise DataError(f"node {node!r} is infinite at row {_first_bad(idx, inf)!r}; fix or drop those rows.")
    if kind == "binary":
        bad = (x != 0) & (x != 1)
        if bad.any():
            shown = sorted(set(np.unique(x[bad]).tolist()))[:5]
            raise DataError(f"node {node!r} has a logistic (binary) mechanism but takes values other than 0 and 1, "
                            f"e.g. {shown} (first at row {_first_bad(idx, bad)!r}); code it as 0/1 or bool, or "
                            "choose another mechanism for it.")
        share = x.mean()
        if share in (0.0, 1.0):
            raise DataError(f"node {node!r} (binary) is {int(share)} in every row; a node without variation has "
                            "no mechanism to fit: drop it from the graph.")
        return x, (), Encoding("binary"), (float(np.log(share / (1 - share))),), 0.0, 1.0
    if kind == "count":
        bad = (x < 0) | (x != np.round(x))
        if bad.any():
            raise DataError(f"node {node!r} has a count mechanism ({mech.family}) but holds a value that is not a "
                            f"non-negative integer ({x[bad][0]!r} at row {_first_bad(idx, bad)!r}); use a continuous "
                            "mechanism ('linear_gaussian') or fix the column.")
        mean, sd = float(x.mean()), float(x.std())
        if sd == 0 or mean == 0:
            raise DataError(f"node {node!r} (count) is constant ({x[0]:g}); a node without variation has no "
                            "mechanism to fit: drop it from the graph.")
        return x, (), Encoding("count", mean, sd), (float(np.log(mean)),), mean, sd
    mean, sd = float(x.mean()), float(x.std())
    if sd == 0:
        raise DataError(f"node {node!r} is constant ({x[0]:g}); a node without variation has no mechanism to fit: "
                        "drop it from the graph.")
    return x, (), Encoding("continuous", mean, sd), (0.0,), mean, sd


def prepare(graph: CausalGraph, mechanisms: dict[str, Mechanism], df: pd.DataFrame,
            priors: dict[str, dict] | None = None) -> SCMData:
    """Validate ``df`` against the graph and encode every observed node; build the :class:`NodeLayout` of each.

    A node without a given mechanism gets :func:`mechanisms.choose_mechanism` of its column and its parents'
    features (so a count node's family is chosen by its dispersion given its parents), then its ``priors``
    overrides. ``SCMData.choices`` keeps why each node has its mechanism.

    Latent nodes get no layout: a latent root with two or more linear-Gaussian children becomes a block of
    correlated errors (``latent.py``); the model must then be identified (``latent.require_identified``).
    """
    blocks = latent_blocks(graph)  # SpecError for a latent node with parents
    given = sorted(set(mechanisms) & graph.latent)
    if given:
        raise SpecError(f"mechanism(s) given for the latent node(s) {given}: a latent node has no data and no "
                        "mechanism of its own (it enters the model as correlated errors of its children). Drop it "
                        "from mechanisms=, or drop it from latent= if it is measured.")
    check_frame(df, graph)
    block_of = {node: b.name for b in blocks for node in b.nodes}
    values, levels, encodings, layouts, choices = {}, {}, {}, [], {}
    for node in graph.topological_order():
        if node in graph.latent:
            continue
        series = df[node]
        parents = tuple(sorted(graph.parents(node) - graph.latent))
        mech = mechanisms.get(node)
        if mech is None:
            # the parents' features are built only if the column holds counts
            parent_features = functools.partial(features, [values[p] for p in parents],
                                                [encodings[p] for p in parents], len(series))
            mech, choices[node] = choose_mechanism(series, parent_features)
            mech = _with_priors(mech, (priors or {}).get(node), node)
        else:
            choices[node] = "given"
        x, lv, enc, center, mean, sd = encode_node(series, node, mech)
        values[node], levels[node], encodings[node] = x, lv, enc
        layouts.append(NodeLayout(node, mech, parents, tuple(encodings[p] for p in parents), enc, center, mean, sd,
                                  enc.levels, block_of.get(node)))
    check_families(blocks, {lay.name: lay.family for lay in layouts})
    require_identified(graph)
    extra = {c: df[c].to_numpy() for c in df.columns if c not in values}
    return SCMData(values, levels, tuple(layouts), df.index, tuple(df.columns), extra, blocks, choices)


def _with_priors(mech: Mechanism, overrides: dict | None, node: str) -> Mechanism:
    """An inferred mechanism with the user's prior overrides; a name it lacks raises SpecError saying that the
    family was inferred (the user may have expected another one)."""
    if not overrides:
        return mech
    try:
        return mech.with_priors(dict(overrides))
    except SpecError as err:
        raise SpecError(f"priors[{node!r}]: {err} The family of {node!r} was inferred from the data as "
                        f"{mech.family}; to use another, name it in mechanisms={{{node!r}: ...}}.") from None


def fit_inputs(data: SCMData, rows: np.ndarray | None = None) -> dict:
    """The inputs of :func:`model.scm_model` for every node (sufficient statistics, compressed rows, ...)."""
    out, stacked = {}, {}
    vals = data.values if rows is None else {k: v[rows] for k, v in data.values.items()}
    n = len(next(iter(vals.values())))
    for lay in data.layouts:
        y = vals[lay.name]
        if isinstance(lay.mechanism, Custom):
            out[lay.name] = {"parents": {p: vals[p] for p in lay.parents}, "obs": y}
            continue
        X = np.asarray(features([vals[p] for p in lay.parents], list(lay.parent_encodings), n))
        if lay.block is not None:  # a latent block: one cross-product matrix over its nodes (below)
            stacked.setdefault(lay.block, ([], []))
            stacked[lay.block][0].append(X)
            stacked[lay.block][1].append((y - lay.mean) / lay.sd)
            continue
        if lay.family in ("linear_gaussian", "student_t"):
            z = (y - lay.mean) / lay.sd
            if lay.family == "linear_gaussian":
                out[lay.name] = gaussian_suffstats(X, z)
                continue
            y = z
        Xu, yu, w = compress_rows(X, y)
        out[lay.name] = {"X": Xu, "y": yu, "w": w}
        if lay.family == "negative_binomial":
            out[lay.name]["tail"] = count_tail(yu, w)
    for block, (designs, zs) in stacked.items():
        out[block] = block_suffstats(designs, zs)
    return out
