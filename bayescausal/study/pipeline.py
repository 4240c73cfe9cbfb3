"""The time-correct pipeline: one Ibis definition of the modelling table, run on DuckDB or Spark.

Time rule (the reason this module exists): for a unit exposed at time ``e``,
- a covariate over window ``[a, b)`` (``b <= 0``) uses only events with ``e + a <= t < e + b``: strictly before
  exposure, so nothing the treatment caused can leak into an adjustment variable;
- the outcome over window ``[c, d)`` (``c >= 0``) uses only events with ``e + c <= t < e + d``.
The two windows may not overlap (a SpecError otherwise). Controls have no exposure, so each gets a
pseudo-exposure time by the rule in :class:`~bayescausal.study.config.Control` (by default the treated units'
exposure times in turn), and their windows are drawn around it the same way.

Every aggregation runs in the engine (one join of each event table with the exposures and one grouped,
filtered aggregation per table), so only compact data reaches the model:
- cross-section (CEM, AIPW, IV): one row per unit: exposure, treated, outcome, covariates;
- CEM's strata (``aggregate: strata``, or ``auto`` above ``STRATA_AUTO_UNITS`` units): the covariates coarsened in
  the engine by ``bc.CEM``'s default rule, one row per stratum with each arm's count, outcome sum and sum of
  squared deviations (``cem_strata``; fitted by ``bc.CEM.fit_strata``);
- series (CausalImpact): one row per day: the outcome summed over the treated cohort, and control series;
- panel (PanelFE): one row per unit and period: the feature per unit-period, treated from the exposure on.

Identifiers come from validated configs and reach the engine only as Ibis column and table references
(quoted by Ibis' compiler); filters are built from the whitelist in ``config.Filter``: no SQL text is made here.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, SpecError
from .catalogue import ZERO_WHEN_EMPTY, Catalogue, Feature
from .config import FeatureUse, Filter, StudyConfig, Window, design_kind, format_duration
from .engine import Engine

STRATA_AUTO_UNITS = 1_000_000  # aggregate: auto returns CEM's strata instead of unit rows above this many units


# -- resolved windows ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureWindow:
    """A feature as used in the study: its catalogue entry, its column in the table, its window and role."""

    column: str
    feature: str
    spec: Feature
    window: Window
    role: str  # "outcome" | "covariate"
    path: str  # the config path, for error messages

    def describe(self) -> str:
        return f"{self.column} = {self.spec.agg}({self.spec.column or '*'}) over {self.window.describe()}"


def resolve_windows(cfg: StudyConfig, cat: Catalogue) -> tuple[FeatureWindow, list[FeatureWindow]]:
    """Apply the catalogue's default windows and check the time rule: covariates end at or before exposure,
    the outcome starts at or after it, and the two never overlap."""
    out_spec = cat.feature(cfg.outcome.feature, "outcome.feature")
    out_w = cfg.outcome.window or out_spec.outcome_window()
    outcome = FeatureWindow(cfg.outcome.column, cfg.outcome.feature, out_spec, out_w, "outcome", "outcome")
    covs = []
    for i, use in enumerate(cfg.covariates):
        path = f"covariates[{i}]"
        spec = cat.feature(use.feature, f"{path}.feature")
        w = use.window or spec.covariate_window()
        if w.end > 0 or w.end > out_w.start:
            raise SpecError(f"{path}.window: {w.describe()} overlaps the outcome window {out_w.describe()}: a "
                            "covariate must end at or before exposure (end <= 0) and before the outcome window "
                            "starts, or events caused by the treatment leak into it.")
        covs.append(FeatureWindow(use.column, use.feature, spec, w, "covariate", path))
    for fw in [outcome, *covs]:
        if fw.spec.agg not in ZERO_WHEN_EMPTY and fw.spec.fill is None and fw.role == "covariate":
            pass  # checked after execution (a unit without rows in the window), see _fill
    return outcome, covs


# -- expressions ---------------------------------------------------------------------------------------------------
def _column(table, name: str, path: str):
    if name not in table.columns:
        raise SpecError(f"{path}: unknown column {name!r}; the table has {list(table.columns)}.")
    return table[name]


def filter_expr(table, filters: tuple[Filter, ...], path: str):
    """The conjunction of declarative filters as one Ibis boolean expression (None when there are none)."""
    import ibis

    cond = None
    for i, f in enumerate(filters):
        col = _column(table, f.column, f"{path}[{i}].column")
        value = f.value
        if f.op in ("==", "!=", "<", "<=", ">", ">=", "in", "not_in"):
            values = value if isinstance(value, list) else [value]
            for v in values:
                if col.type().is_numeric() and (isinstance(v, str) or isinstance(v, bool)):
                    raise SpecError(f"{path}[{i}].value: {v!r} is not a number but column {f.column!r} is "
                                    f"{col.type()}.")
                if col.type().is_string() and not isinstance(v, str):
                    raise SpecError(f"{path}[{i}].value: {v!r} is not a string but column {f.column!r} is text; "
                                    "quote it in the YAML.")
        e = _compare(col, f.op, value, ibis)
        cond = e if cond is None else cond & e
    return cond


def _compare(col, op: str, value, ibis):
    """One whitelisted comparison as an Ibis expression (values become literals, never SQL text)."""
    if op == "in":
        return col.isin(value)
    if op == "not_in":
        return ~col.isin(value)
    if op == "is_null":
        return col.isnull()
    if op == "not_null":
        return col.notnull()
    lit = ibis.literal(value)
    if op == "==":
        return col == lit
    if op == "!=":
        return col != lit
    if op == "<":
        return col < lit
    if op == "<=":
        return col <= lit
    if op == ">":
        return col > lit
    if op == ">=":
        return col >= lit
    raise SpecError(f"filter op {op!r} is not allowed")


def _shift(ts, seconds: int):
    import ibis

    if seconds >= 0:
        return ts + ibis.interval(seconds=int(seconds))
    return ts - ibis.interval(seconds=int(-seconds))


def _agg(fw: FeatureWindow, j, cond):
    spec = fw.spec
    if spec.agg == "count":
        return j.unit.count(where=cond)
    if spec.agg == "any":
        return j.unit.count(where=cond) > 0
    col = j[f"c_{spec.column}"]
    return getattr(col, spec.agg)(where=cond)


def _events(eng: Engine, cat: Catalogue, table_name: str, fws: list[FeatureWindow]):
    """One event table with uniform names: ``unit``, ``t`` (timestamp), ``c_<column>`` for aggregated columns and
    one boolean ``f_<feature column>`` per feature filter."""
    spec = cat.tables[table_name]
    ev = eng.table(table_name, f"catalogue.features.{fws[0].feature}.table")
    path = f"catalogue.tables.{table_name}"
    cols = {"unit": _column(ev, spec.unit, f"{path}.unit"),
            "t": _column(ev, spec.time, f"{path}.time").cast("timestamp")}
    for fw in fws:
        if fw.spec.column is not None:
            cols[f"c_{fw.spec.column}"] = _column(ev, fw.spec.column, f"catalogue.features.{fw.feature}.column")
        cond = filter_expr(ev, fw.spec.filter, f"catalogue.features.{fw.feature}.filter")
        if cond is not None:
            cols[f"f_{fw.column}"] = cond
    return ev.select(**cols)


def _units(eng: Engine, cfg: StudyConfig):
    """The population table's units (after its filter) as ``unit``; the table itself for further columns."""
    pop = eng.table(cfg.population.table, "population.table")
    ucol = cfg.population.unit or cfg.unit
    _column(pop, ucol, "population.unit" if cfg.population.unit else "unit")
    cond = filter_expr(pop, cfg.population.filter, "population.filter")
    pop_f = pop.filter(cond) if cond is not None else pop
    return pop, pop_f, ucol


def _count(eng: Engine, expr) -> int:
    return int(eng.execute(expr.aggregate(n=expr.count()))["n"].iloc[0])


def exposures(eng: Engine, cfg: StudyConfig):
    """``unit, exposure, treated`` for every unit in the study (Ibis expression), with DataErrors for a treatment
    table with duplicated or unknown units and for an empty treated or control cohort."""
    import ibis

    pop, pop_f, ucol = _units(eng, cfg)
    units = pop_f.select(unit=pop_f[ucol]).distinct()
    if cfg.treatment.date is not None:
        when = ibis.literal(pd.Timestamp(cfg.treatment.date)).cast("timestamp")
        treated = units.mutate(exposure=when, treated=ibis.literal(1))
        if _count(eng, treated) == 0:
            raise DataError("population.filter: the treated cohort is empty (no unit passes the population filter).")
        parts = [treated]
        if cfg.control.filter:
            ccond = filter_expr(pop, cfg.control.filter, "control.filter")
            cunits = pop.filter(ccond).select(unit=pop[ucol]).distinct().anti_join(units, "unit")
            if _count(eng, cunits) == 0:
                raise DataError("control.filter: the control cohort is empty (no unit outside the treated cohort "
                                "passes it).")
            parts.append(cunits.mutate(exposure=when, treated=ibis.literal(0)))
        return ibis.union(*parts) if len(parts) > 1 else parts[0]

    tr_tab = eng.table(cfg.treatment.table, "treatment.table")
    tu = cfg.treatment.unit or cfg.unit
    tr = tr_tab.select(unit=_column(tr_tab, tu, "treatment.unit" if cfg.treatment.unit else "unit"),
                       exposure=_column(tr_tab, cfg.treatment.time, "treatment.time").cast("timestamp"))
    all_units = pop.select(unit=pop[ucol]).distinct()
    missing = tr.anti_join(all_units, "unit")
    tr_in = tr.semi_join(units, "unit")
    cpop = pop_f
    ccond = filter_expr(pop, cfg.control.filter, "control.filter")
    if ccond is not None:
        cpop = pop_f.filter(ccond)
    controls = cpop.select(unit=cpop[ucol]).distinct().anti_join(tr, "unit")
    # every count the checks need in one query (each engine job costs seconds on Spark)
    stats = eng.execute(tr.aggregate(n=tr.count(), n_units=tr.unit.nunique(), n_null=tr.exposure.isnull().sum(),
                                     n_missing=missing.count().as_scalar(), n_in=tr_in.count().as_scalar(),
                                     n_c=controls.count().as_scalar()))
    n, n_units, n_null, n_missing, n_t, n_c = (int(stats[c].fillna(0).iloc[0]) for c in
                                               ("n", "n_units", "n_null", "n_missing", "n_in", "n_c"))
    if n == 0:
        raise DataError(f"treatment.table: {cfg.treatment.table!r} has no rows: the treated cohort is empty.")
    if n_null:
        raise DataError(f"treatment.time: {n_null} treated unit(s) have no exposure time ({cfg.treatment.time!r} "
                        "is null).")
    if n_units != n:
        dup = eng.execute(tr.group_by("unit").aggregate(k=tr.count()).filter(lambda s: s.k > 1).limit(5))
        raise DataError(f"treatment.table: {n - n_units} duplicated unit row(s) in {cfg.treatment.table!r} "
                        f"(e.g. {dup['unit'].tolist()}): give one exposure time per unit (the first exposure).")
    if n_missing:
        ex = eng.execute(missing.select("unit").order_by("unit").limit(5))["unit"].tolist()
        raise DataError(f"treatment.table: {n_missing} treated unit(s) are not in the population table "
                        f"{cfg.population.table!r} (e.g. {ex}): add them to the population or drop them.")
    if n_t == 0:
        raise DataError("population.filter: no treated unit passes the population filter: the treated cohort is "
                        "empty.")
    if n_c == 0:
        raise DataError("control: the control cohort is empty: every unit of the population (after its and the "
                        "control's filters) is treated. Widen the population or the control filter.")
    rule = cfg.control.pseudo_exposure
    if rule == "date":
        ctrl = controls.mutate(exposure=ibis.literal(pd.Timestamp(cfg.control.date)).cast("timestamp"))
    elif rule == "median":
        times = tr_in.select("exposure").order_by("exposure")
        med = eng.execute(times.limit(1, offset=(n_t - 1) // 2))["exposure"].iloc[0]
        ctrl = controls.mutate(exposure=ibis.literal(pd.Timestamp(med)).cast("timestamp"))
    else:  # treated_times: control i (by unit id) gets the (i mod n_treated)-th earliest treated exposure time
        tt = tr_in.mutate(k=ibis.row_number().over(order_by=[tr_in.exposure, tr_in.unit])).select("k", "exposure")
        ci = controls.mutate(k=ibis.row_number().over(order_by=controls.unit) % n_t)
        ctrl = ci.join(tt, "k").select("unit", "exposure")
    return ibis.union(tr_in.mutate(treated=ibis.literal(1)), ctrl.mutate(treated=ibis.literal(0)))


def feature_table(eng: Engine, cfg: StudyConfig, cat: Catalogue, expo, features: list[FeatureWindow]):
    """``expo`` with one column per feature, each aggregated in the engine over its own window."""
    import ibis

    by_table: dict[str, list[FeatureWindow]] = {}
    for fw in features:
        by_table.setdefault(fw.spec.table, []).append(fw)
    out = expo
    for tname, fws in by_table.items():
        ev = _events(eng, cat, tname, fws)
        j = ev.join(expo.select("unit", "exposure"), "unit")
        lo = min(fw.window.start for fw in fws)
        hi = max(fw.window.end for fw in fws)
        j = j.filter((j.t >= _shift(j.exposure, lo)) & (j.t < _shift(j.exposure, hi)))
        aggs = {}
        for fw in fws:
            cond = (j.t >= _shift(j.exposure, fw.window.start)) & (j.t < _shift(j.exposure, fw.window.end))
            if f"f_{fw.column}" in j.columns:
                cond = cond & j[f"f_{fw.column}"]
            aggs[fw.column] = _agg(fw, j, cond)
        g = j.group_by("unit").aggregate(**aggs)
        joined = out.left_join(g, out.unit == g.unit)
        sel = {c: joined[c] for c in out.columns}
        for fw in fws:
            col = joined[fw.column]
            if fw.spec.agg == "any":
                sel[fw.column] = ibis.coalesce(col.cast("int64"), 0)
            elif fw.spec.agg in ZERO_WHEN_EMPTY:
                sel[fw.column] = ibis.coalesce(col, 0)
            elif fw.spec.fill is not None:
                sel[fw.column] = ibis.coalesce(col, float(fw.spec.fill))
            else:
                sel[fw.column] = col
        out = joined.select(**sel)
    return out


def _fill_check(df: pd.DataFrame, features: list[FeatureWindow]) -> None:
    for fw in features:
        n_null = int(df[fw.column].isna().sum())
        if n_null:
            raise DataError(f"{fw.path}: feature {fw.feature!r} ({fw.spec.agg}) is undefined for {n_null} unit(s) "
                            f"with no {fw.spec.table!r} row in {fw.window.describe()}; give the catalogue entry a "
                            "'fill' value or use a count or sum.")


# -- the modelling table ---------------------------------------------------------------------------------------------
@dataclass
class ModellingTable:
    """What the pipeline hands to the model: a compact pandas frame and what each column means."""

    kind: str  # "cross_section" | "cem_strata" | "series" | "panel" | "marketing"
    frame: pd.DataFrame
    outcome: FeatureWindow
    covariates: list[FeatureWindow]
    engine: str
    seconds: float
    n_treated: int
    n_control: int
    columns: dict = field(default_factory=dict)  # role -> column name(s)
    exposure_range: tuple = (None, None)
    sql: str = ""
    aggregation: str = "units"  # "units" (one row per unit) | "strata" (CEM's stratum statistics, kind "cem_strata")
    aggregation_reason: str = ""

    def fingerprint(self) -> str:
        """A content hash of the modelling table (engine-independent: rows sorted, values hashed by pandas)."""
        frame = self.frame.reset_index(drop=False if self.kind == "series" else True)
        for c in frame.columns:  # floats to 1e-6: engines sum in different orders (last-bit differences)
            if pd.api.types.is_float_dtype(frame[c]):
                frame[c] = frame[c].round(6)
        h = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        return hashlib.sha256(h.tobytes() + ",".join(map(str, self.frame.columns)).encode()).hexdigest()[:16]


def build(cfg: StudyConfig, cat: Catalogue, eng: Engine) -> ModellingTable:
    """Compile and run the study's pipeline on ``eng``; returns the modelling table."""
    start = time.perf_counter()
    outcome, covs = resolve_windows(cfg, cat)
    kind = design_kind(cfg)
    if kind == "marketing":
        return _weekly(cfg, cat, eng, outcome, covs, start)
    expo = exposures(eng, cfg)
    if kind == "series":
        return _series(cfg, cat, eng, expo, outcome, covs, start)
    if kind == "panel":
        return _panel(cfg, cat, eng, expo, outcome, start)
    table = feature_table(eng, cfg, cat, expo, [outcome, *covs])
    aggregate, reason = aggregation(cfg, eng, expo)
    if aggregate == "strata":
        return cem_strata(eng, table, outcome, covs, start, reason)
    if cfg.instrument:
        pop, _, ucol = _units(eng, cfg)
        _column(pop, cfg.instrument, "instrument")
        inst = pop.select(unit=pop[ucol], **{cfg.instrument: pop[cfg.instrument]}).distinct()
        joined = table.left_join(inst, table.unit == inst.unit)
        table = joined.select(*[joined[c] for c in table.columns], joined[cfg.instrument])
    table = table.order_by("unit")
    try:
        import ibis

        sql = str(ibis.to_sql(table))
    except Exception:  # display only
        sql = ""
    df = eng.execute(table)
    df = _normalise(df)
    _fill_check(df, [outcome, *covs])
    n_t = int(df["treated"].sum())
    return ModellingTable("cross_section", df, outcome, covs, eng.name, time.perf_counter() - start, n_t,
                          len(df) - n_t, {"unit": "unit", "treatment": "treated", "outcome": outcome.column,
                                          "covariates": [c.column for c in covs], "instrument": cfg.instrument},
                          (df["exposure"].min(), df["exposure"].max()), sql, "units", reason)


# -- CEM's strata in the engine --------------------------------------------------------------------------------------
def aggregation(cfg: StudyConfig, eng: Engine, expo) -> tuple[str, str]:
    """``("units" | "strata", why)``: whether the cross-section reaches Python as one row per unit or as CEM's
    stratum statistics. ``aggregate: strata`` asks for the strata; ``auto`` takes them when the method is CEM
    (named, or recommended: no instrument and few covariates) and the study has more than
    ``STRATA_AUTO_UNITS`` units (one count of the exposures in the engine), else the unit rows, which every
    method and every check of CEM can use."""
    from .recommend import MAX_CEM_COVARIATES

    if cfg.aggregate == "units":
        return "units", "aggregate: units (one row per unit)"
    if cfg.aggregate == "strata":
        if not cfg.covariates or len(cfg.covariates) > MAX_CEM_COVARIATES and cfg.method == "auto":
            raise SpecError(f"aggregate: 'strata' needs method CEM, but with {len(cfg.covariates)} covariates the "
                            f"recommended method is not CEM (it matches on 1 to {MAX_CEM_COVARIATES}); set "
                            "method: cem or aggregate: units.")
        return "strata", "aggregate: strata"
    cem = cfg.method == "cem" or (cfg.method == "auto" and not cfg.instrument
                                  and 0 < len(cfg.covariates) <= MAX_CEM_COVARIATES)
    if not cem:
        return "units", "aggregate: auto, and the method is not CEM"
    n = _count(eng, expo)
    if n > STRATA_AUTO_UNITS:
        return "strata", (f"aggregate: auto, method CEM and {n:,} units (more than {STRATA_AUTO_UNITS:,}): stratum "
                          "statistics computed in the engine")
    return "units", f"aggregate: auto, {n:,} units (at most {STRATA_AUTO_UNITS:,}): one row per unit"


def strata_cutpoints(eng: Engine, table, covs: list[FeatureWindow]) -> tuple[int, dict[str, np.ndarray]]:
    """``(n, cuts)``: the units and each covariate's CEM cutpoints, computed in the engine by ``bc.CEM``'s default
    rule (``coarsening="auto"``): :func:`~bayescausal.crosssection._cem_math.auto_bin_count` equal-frequency bins
    from the number of units, interior quantiles at ``k / bins`` with linear interpolation (DuckDB
    ``quantile_cont``, Spark's exact ``percentile``: NumPy's default), duplicates merged and a cut at the maximum
    dropped. DataError when a covariate or the outcome is undefined for some unit, as for the unit rows."""
    from ..crosssection import _cem_math as cm

    cols = [fw.column for fw in covs]
    counts = eng.execute(table.aggregate(n=table.count(), **{f"k_{c}": table[c].count() for c in cols}))
    n = int(counts["n"].iloc[0])
    bins = cm.auto_bin_count(n, len(cols), 1)
    probs = [k / bins for k in range(1, bins)]
    aggs = {}
    for c in cols:
        x = table[c].cast("float64")
        aggs[f"max_{c}"] = x.max()
        if probs:  # one multi-quantile per column: one sorted copy of it in the engine, not one per cutpoint
            aggs[f"q_{c}"] = x.quantile(probs)
    q = eng.execute(table.aggregate(**aggs)).iloc[0]
    cuts = {}
    for fw in covs:
        c = fw.column
        missing = n - int(counts[f"k_{c}"].iloc[0])
        if missing:
            raise DataError(f"{fw.path}: feature {fw.feature!r} ({fw.spec.agg}) is undefined for {missing} unit(s) "
                            f"with no {fw.spec.table!r} row in {fw.window.describe()}; give the catalogue entry a "
                            "'fill' value or use a count or sum.")
        values = np.unique(np.asarray(q[f"q_{c}"] if probs else [], dtype=float))
        cuts[c] = values[values < float(q[f"max_{c}"])]
    return n, cuts


def cem_strata(eng: Engine, table, outcome: FeatureWindow, covs: list[FeatureWindow], start: float,
               reason: str) -> ModellingTable:
    """CEM's stratum statistics, computed in the engine: each covariate coarsened by :func:`strata_cutpoints`
    (bin ``j`` holds ``cut[j-1] < x <= cut[j]``, as ``bc.CEM`` bins), the units grouped by stratum and arm, and
    per group the count, the outcome's sum and its within sum of squared deviations (``var_pop * n``: no
    cancellation). Only O(strata) rows reach Python: one per stratum, the frame ``bc.CEM.fit_strata`` takes.
    The covariates and the outcome are the same windowed features as the unit rows', so the time rule holds."""
    import ibis

    from ..crosssection import _cem_math as cm

    if not covs:
        raise SpecError("covariates: CEM's strata need at least one pre-exposure covariate to coarsen.")
    try:
        cached = table.cache()  # one evaluation of the windowed features for the two passes below
    except Exception:  # a backend without caching evaluates the features twice
        cached = table
    n, cuts = strata_cutpoints(eng, cached, covs)
    keys = [f"bin_{fw.column}" for fw in covs]
    codes = {}
    for fw, key in zip(covs, keys, strict=True):
        x = cached[fw.column].cast("float64")
        code = ibis.literal(0)
        for cut in cuts[fw.column]:
            code = code + (x > float(cut)).cast("int64")
        codes[key] = code.cast("int64")
    y = cached[outcome.column].cast("float64")
    coded = cached.mutate(**codes, bc_y=y)
    grouped = coded.group_by([*keys, "treated"]).aggregate(
        n=coded.count(), s=coded.bc_y.sum(), ss=coded.bc_y.var(how="pop"), missing=coded.bc_y.isnull().sum(),
        lo=coded.exposure.min(), hi=coded.exposure.max())
    grouped = grouped.order_by([*keys, "treated"])
    try:
        sql = str(ibis.to_sql(grouped))
    except Exception:  # display only
        sql = ""
    g = _normalise(eng.execute(grouped))
    if cached is not table:
        try:
            cached.release()
        except Exception:
            pass
    missing = int(g["missing"].sum())
    if missing:
        raise DataError(f"outcome: feature {outcome.feature!r} is undefined for {missing} unit(s) in "
                        f"{outcome.window.describe()}; give the catalogue entry a 'fill' value or use a count or sum.")
    frame = strata_frame(g, keys, cuts, [fw.column for fw in covs])
    n_t, n_c = int(frame["n_treated"].sum()), int(frame["n_control"].sum())
    return ModellingTable("cem_strata", frame, outcome, covs, eng.name, time.perf_counter() - start, n_t, n_c,
                          {"unit": "unit", "treatment": "treated", "outcome": outcome.column,
                           "covariates": [c.column for c in covs], "keys": keys,
                           "cutpoints": {c: [float(v) for v in cuts[c]] for c in cuts},
                           "bins": cm.auto_bin_count(n, len(covs), 1), "units": n},
                          (g["lo"].min(), g["hi"].max()), sql, "strata", reason)


def strata_frame(g: pd.DataFrame, keys: list[str], cuts: dict, columns: list[str]) -> pd.DataFrame:
    """One row per stratum from the engine's rows per stratum and arm: the keys as categoricals labelled with
    ``bc.CEM``'s bin labels, ``n_*``, ``sum_*`` and ``ss_*`` of both arms (0 for an empty arm)."""
    from ..crosssection import _cem_math as cm

    g = g.assign(ss=g["ss"].fillna(0.0) * g["n"])
    wide = g.pivot_table(index=keys, columns="treated", values=["n", "s", "ss"], aggfunc="sum", fill_value=0,
                         observed=True)
    out = pd.DataFrame(index=wide.index)
    for arm, label in ((1, "treated"), (0, "control")):
        for stat, name in (("n", "n"), ("s", "sum"), ("ss", "ss")):
            col = (stat, arm)
            out[f"{name}_{label}"] = wide[col].to_numpy() if col in wide.columns else 0
    out = out.reset_index()
    out["n_treated"] = out["n_treated"].astype("int64")
    out["n_control"] = out["n_control"].astype("int64")
    for key, c in zip(keys, columns, strict=True):
        labels = cm.bin_labels(np.asarray(cuts[c]))
        out[key] = pd.Categorical.from_codes(out[key].to_numpy().astype(np.int64), categories=labels)
    return out


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Same dtypes whichever engine ran: timestamps at microseconds without zone, integers as int64, floats as
    float64, and a fresh index."""
    df = df.reset_index(drop=True).copy()
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            df[c] = s.astype("datetime64[us]")
        elif pd.api.types.is_bool_dtype(s):
            df[c] = s.astype("int64")
        elif pd.api.types.is_integer_dtype(s):
            df[c] = s.astype("int64")
        elif pd.api.types.is_float_dtype(s):
            df[c] = s.astype("float64")
    return df


def _daily(eng: Engine, cat: Catalogue, fw: FeatureWindow, units, lo, hi, bucket: str = "D"):
    """Daily (``bucket="W"``: weekly, from ``lo``) aggregate of a feature over ``units`` (an expression with
    ``unit``; None: every row of the table) for times in [lo, hi)."""
    import ibis

    ev = _events(eng, cat, fw.spec.table, [fw])
    if units is not None:
        ev = ev.semi_join(units, "unit")
    cond = (ev.t >= ibis.literal(lo).cast("timestamp")) & (ev.t < ibis.literal(hi).cast("timestamp"))
    if f"f_{fw.column}" in ev.columns:
        cond = cond & ev[f"f_{fw.column}"]
    ev = ev.filter(cond)
    if bucket == "D":
        ev = ev.mutate(day=ev.t.truncate("D"))
    else:  # weeks counted from lo (engine-independent: no calendar-week convention involved)
        ev = ev.mutate(day=((ev.t.epoch_seconds() - int(pd.Timestamp(lo).timestamp())) // (7 * 86400))
                       .cast("int64"))
    if fw.spec.agg in ("count", "any"):
        agg = ev.unit.count()
    else:
        col = ev[f"c_{fw.spec.column}"]
        agg = {"sum": col.sum, "mean": col.mean, "min": col.min, "max": col.max, "nunique": col.nunique}[fw.spec.agg]()
    return ev.group_by("day").aggregate(value=agg).order_by("day")


def _series(cfg, cat, eng, expo, outcome, covs, start) -> ModellingTable:
    """A daily series: the outcome feature over the treated cohort (and, with a control cohort, over it), the
    covariate features as control series (over the control cohort when there is one), from the earliest
    covariate window (or 3 outcome windows when there is none) to the end of the outcome window."""
    date = pd.Timestamp(cfg.treatment.date)
    lo_off = min([c.window.start for c in covs], default=-3 * (outcome.window.end - outcome.window.start))
    lo = date + pd.Timedelta(seconds=lo_off)
    hi = date + pd.Timedelta(seconds=outcome.window.end)
    treated_units = expo.filter(expo.treated == 1).select("unit")
    control_units = expo.filter(expo.treated == 0).select("unit")
    n_t = _count(eng, treated_units)
    n_c = _count(eng, control_units)
    days = pd.date_range(lo.normalize(), (hi - pd.Timedelta(microseconds=1)).normalize(), freq="D")
    series = {}

    def put(name, expr, fw):
        d = eng.execute(expr)
        d = _normalise(d)
        s = pd.Series(d["value"].to_numpy(float), index=pd.DatetimeIndex(d["day"]).astype("datetime64[ns]"))
        fill = 0.0 if fw.spec.agg in ZERO_WHEN_EMPTY else (fw.spec.fill if fw.spec.fill is not None else np.nan)
        series[name] = s.reindex(days, fill_value=fill)

    put(outcome.column, _daily(eng, cat, outcome, treated_units, lo, hi), outcome)
    if n_c:
        put(f"{outcome.column}_control", _daily(eng, cat, outcome, control_units, lo, hi), outcome)
    for c in covs:
        put(c.column, _daily(eng, cat, c, control_units if n_c else treated_units, lo, hi), c)
    df = pd.DataFrame(series, index=days)
    df.index.name = "date"
    df.index.freq = "D"
    if df.isna().any().any():
        bad = df.columns[df.isna().any()].tolist()
        raise DataError(f"series feature(s) {bad} have days without rows and no 'fill' in the catalogue.")
    controls = [c for c in df.columns if c != outcome.column]
    pre = (str(days[0].date()), str((date - pd.Timedelta(days=1)).date()))
    post = (str(date.date()), str(days[-1].date()))
    return ModellingTable("series", df, outcome, covs, eng.name, time.perf_counter() - start, n_t, n_c,
                          {"outcome": outcome.column, "controls": controls, "pre_period": pre, "post_period": post},
                          (date, date))


def _weekly(cfg, cat, eng, outcome, covs, start) -> ModellingTable:
    """A weekly table for a marketing mix model: the outcome feature summed over the population's units per week,
    one column per spend feature (every row of its table) and the covariate features as weekly controls."""
    _, pop_f, ucol = _units(eng, cfg)
    units = pop_f.select(unit=pop_f[ucol]).distinct()
    n_units = _count(eng, units)
    if n_units == 0:
        raise DataError("population.filter: no unit passes the population filter: the population is empty.")
    lo, hi = pd.Timestamp(cfg.weeks.start), pd.Timestamp(cfg.weeks.end)
    n_weeks = int(np.ceil((hi - lo).total_seconds() / (7 * 86400)))
    hi = lo + pd.Timedelta(weeks=n_weeks)
    weeks = pd.date_range(lo, periods=n_weeks, freq="7D")
    cols = {}
    spend = []
    for i, name in enumerate(cfg.spend):
        spec = cat.feature(name, f"spend[{i}]")
        spend.append(FeatureWindow(name, name, spec, Window.of_seconds(0, 7 * 86400), "spend", f"spend[{i}]"))
    for fw, who in [(outcome, units), *[(c, None) for c in spend], *[(c, units) for c in covs]]:
        d = _normalise(eng.execute(_daily(eng, cat, fw, who, lo, hi, bucket="W")))
        fill = 0.0 if fw.spec.agg in ZERO_WHEN_EMPTY else (fw.spec.fill if fw.spec.fill is not None else np.nan)
        s = pd.Series(d["value"].to_numpy(float), index=d["day"].to_numpy(int))
        cols[fw.column] = s.reindex(np.arange(n_weeks), fill_value=fill).to_numpy()
    df = pd.DataFrame({"week": weeks, **cols})
    bad = [c for c in cols if df[c].isna().any()]
    if bad:
        raise DataError(f"weekly feature(s) {bad} have weeks without rows and no 'fill' in the catalogue.")
    return ModellingTable("marketing", df, outcome, covs, eng.name, time.perf_counter() - start, 0, 0,
                          {"date": "week", "outcome": outcome.column, "channels": [c.column for c in spend],
                           "controls": [c.column for c in covs]}, (lo, hi))


def _panel(cfg, cat, eng, expo, outcome, start) -> ModellingTable:
    """Unit-period table: the outcome feature per unit and period bucket (``panel.period`` from ``panel.start``),
    aggregated in the engine; ``treated`` is 1 from the period containing the unit's exposure on (controls 0)."""
    import ibis

    p = cfg.panel
    p0 = pd.Timestamp(p.start)
    n_periods = int(np.ceil((pd.Timestamp(p.end) - p0).total_seconds() / p.period))
    ev = _events(eng, cat, outcome.spec.table, [outcome])
    ev = ev.semi_join(expo.select("unit"), "unit")
    lo = ibis.literal(p0).cast("timestamp")
    cond = (ev.t >= lo) & (ev.t < ibis.literal(p0 + pd.Timedelta(seconds=n_periods * p.period)).cast("timestamp"))
    if f"f_{outcome.column}" in ev.columns:
        cond = cond & ev[f"f_{outcome.column}"]
    ev = ev.filter(cond)
    ev = ev.mutate(period=((ev.t.epoch_seconds() - int(p0.timestamp())) // p.period).cast("int64"))
    fw = outcome
    if fw.spec.agg in ("count", "any"):
        agg = ev.unit.count()
    else:
        col = ev[f"c_{fw.spec.column}"]
        agg = {"sum": col.sum, "mean": col.mean, "min": col.min, "max": col.max, "nunique": col.nunique}[fw.spec.agg]()
    g = ev.group_by(["unit", "period"]).aggregate(value=agg)
    periods = ibis.memtable(pd.DataFrame({"period": np.arange(n_periods, dtype="int64")}))
    grid = expo.cross_join(periods)
    j = grid.left_join(g, [grid.unit == g.unit, grid.period == g.period])
    fill = 0 if fw.spec.agg in ZERO_WHEN_EMPTY else fw.spec.fill
    value = ibis.coalesce(j.value, fill) if fill is not None else j.value
    expo_period = ((j.exposure.epoch_seconds() - int(p0.timestamp())) // p.period).cast("int64")
    out = j.select(unit=j.unit, period=j.period, exposure=j.exposure,
                   treated=ibis.ifelse((j.treated == 1) & (j.period >= expo_period), 1, 0),
                   **{outcome.column: value}).order_by(["unit", "period"])
    df = _normalise(eng.execute(out))
    _fill_check(df, [outcome])
    n_t = int(df.loc[df["treated"] == 1, "unit"].nunique())
    n_units = int(df["unit"].nunique())
    return ModellingTable("panel", df, outcome, [], eng.name, time.perf_counter() - start, n_t, n_units - n_t,
                          {"unit": "unit", "time": "period", "treatment": "treated", "outcome": outcome.column,
                           "period": format_duration(p.period)}, (df["exposure"].min(), df["exposure"].max()))


def use_of(fw: FeatureUse) -> str:
    return fw.column
