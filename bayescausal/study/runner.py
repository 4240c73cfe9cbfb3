"""Run a study end to end: config → pipeline → recommendation → fit → report, each run logged in the registry.

The registry gets a ``started`` event before any data is read (config, its hash, the sources' fingerprint,
package version, git revision, seed, engine) and a ``finished`` event (the modelling table's fingerprint, the
method recommended and the one run, the estimate, each check's verdict, the report's path) or a ``failed`` event
(the error) at the end. A process killed in between leaves its ``started`` row.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BayesCausalError, SpecError
from . import pipeline
from .catalogue import Catalogue, load_catalogue
from .config import StudyConfig, load_study, safe_load_yaml
from .recommend import Recommendation, recommend
from .registry import Registry

STAGES = ("config", "pipeline", "recommend", "fit", "report")


@dataclass
class StudyRun:
    """What a run produced."""

    config: StudyConfig
    catalogue: Catalogue
    table: pipeline.ModellingTable
    recommendation: Recommendation
    result: object
    run_id: str
    registry: Registry
    report_path: str | None
    seconds: dict


def git_revision() -> str | None:
    """The git commit of the installed package's source tree, when it is a checkout (else None)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here.parent, capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def source_fingerprint(cfg: StudyConfig) -> str:
    """A hash of every source file: content for files up to 64 MiB, else size, modification time and the first and
    last MiB (cheap on 100M-row files, still changes when they are rewritten)."""
    import glob

    h = hashlib.sha256()
    for name in sorted(cfg.data.sources):
        src = cfg.data.sources[name]
        h.update(name.encode())
        if src.table is not None:
            h.update(f"table:{src.table}".encode())
            continue
        for path in sorted(glob.glob(src.path)):
            st = os.stat(path)
            h.update(f"{os.path.basename(path)}:{st.st_size}".encode())
            with open(path, "rb") as fh:
                if st.st_size <= 64 * 2**20:
                    for block in iter(lambda: fh.read(2**20), b""):
                        h.update(block)
                else:
                    h.update(str(st.st_mtime_ns).encode())
                    h.update(fh.read(2**20))
                    fh.seek(-(2**20), os.SEEK_END)
                    h.update(fh.read(2**20))
    return h.hexdigest()[:16]


def _version() -> str:
    from .. import __version__

    return __version__


def _progress(enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=len(STAGES), desc="study", unit="stage", disable=not enabled, leave=True)


def _sampler(cfg: StudyConfig, progress: bool):
    from ..inference import Sampler

    s = cfg.sampler
    return Sampler(draws=s.draws, warmup=s.warmup, chains=s.chains, progress=progress)


def fit_method(method: str, cfg: StudyConfig, table: pipeline.ModellingTable, progress: bool = False):
    """Fit ``method`` to the modelling table with the study's sampler, seed and checks."""
    import bayescausal as bc

    checks = False if cfg.checks == "none" else cfg.checks
    sampler = _sampler(cfg, progress)
    df, cols = table.frame, table.columns
    if method != "mmm" and table.kind == "marketing":
        raise SpecError(f"method: {method!r} does not fit a marketing-spend design (spend channels over weeks); "
                        "use 'mmm' or 'auto'.")
    if table.kind == "cem_strata":
        if method != "cem":
            raise SpecError(f"method: {method!r} needs one row per unit, but the pipeline returned CEM's stratum "
                            f"statistics ({table.aggregation_reason}); set aggregate: units, or method: cem.")
        return bc.CEM().fit_strata(df, cols["keys"], outcome=cols["outcome"], treatment="treated",
                                   covariates=cols["covariates"], sampler=sampler, seed=cfg.seed, checks=checks)
    if method in ("cem", "aipw", "iv") and table.kind != "cross_section":
        raise SpecError(f"method: {method!r} needs a cross-section of units (a treatment table), but this study "
                        f"is a {table.kind.replace('_', '-')} design.")
    if method == "cem":
        return bc.CEM().fit(df, treatment="treated", outcome=cols["outcome"], covariates=cols["covariates"],
                            sampler=sampler, seed=cfg.seed, checks=checks)
    if method == "aipw":
        return bc.AIPW().fit(df, treatment="treated", outcome=cols["outcome"], covariates=cols["covariates"],
                             sampler=sampler, seed=cfg.seed, checks=checks)
    if method == "iv":
        if not cfg.instrument:
            raise SpecError("instrument: method 'iv' needs an instrument column (a column of the population table).")
        return bc.BayesianIV().fit(df, outcome=cols["outcome"], treatment="treated", instruments=[cfg.instrument],
                                   covariates=cols["covariates"] or None, sampler=sampler, seed=cfg.seed,
                                   checks=checks)
    if method == "causal_impact":
        if table.kind != "series":
            raise SpecError("method: 'causal_impact' needs one aggregate series (treatment.date), not a "
                            f"{table.kind.replace('_', '-')} design.")
        est = bc.CausalImpact(pre_period=cols["pre_period"], post_period=cols["post_period"], seasonality=[7])
        return est.fit(df, outcome=cols["outcome"], controls=cols["controls"] or None, sampler=sampler,
                       seed=cfg.seed, checks=checks)
    if method in ("panel_fe", "event_study"):
        if table.kind != "panel":
            raise SpecError(f"method: {method!r} needs a panel design (a 'panel' section), not a "
                            f"{table.kind.replace('_', '-')} design.")
        est = bc.PanelFE() if method == "panel_fe" else bc.EventStudy()
        return est.fit(df, unit="unit", time="period", outcome=cols["outcome"], treatment="treated",
                       sampler=sampler, seed=cfg.seed, checks=checks)
    if method == "mmm":
        if not hasattr(bc, "MMM"):
            raise SpecError("method: the marketing mix model (bc.MMM) is not available in this version of "
                            "bayescausal; choose another method or wait for it.")
        if table.kind != "marketing":
            raise SpecError("method: 'mmm' needs a marketing-spend design ('spend' channels and 'weeks').")
        return bc.MMM(channels=tuple(cols["channels"])).fit(df, date=cols["date"], outcome=cols["outcome"],
                                                             controls=cols["controls"] or None, sampler=sampler,
                                                             seed=cfg.seed, checks=checks)
    raise SpecError(f"method: unknown method {method!r}.")


def result_payload(result) -> dict:
    """What the registry keeps of a result: the headline numbers, the sentence, each check's verdict."""
    out = {"checks": {c.name: c.verdict for c in result.checks}, "trustworthy": bool(result.trustworthy),
           "estimand": result.estimand}
    try:
        row = result.summary().iloc[0]
        out.update(mean=float(row["mean"]), sd=float(row["sd"]), lower=float(row["lower"]),
                   upper=float(row["upper"]), p_positive=float(row["p_positive"]))
        out["estimate_text"] = f"{row['mean']:.4g} [{row['lower']:.4g}, {row['upper']:.4g}]"
        out["headline"] = result._headline()
    except Exception as exc:  # a result without a summary still records its checks
        out["summary_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _raw_name(source) -> str:
    """The study's name before validation (for the registry when the config itself is bad)."""
    try:
        raw = source if isinstance(source, dict) else safe_load_yaml(source)
        name = raw.get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()[:80]
    except Exception:
        pass
    return Path(str(source)).stem if not isinstance(source, dict) else "unnamed"


def run_study(source, registry=None, spark=None, con=None, method: str | None = None, out: str | None = None,
              note: str | None = None, progress: bool = False, report: bool = True) -> StudyRun:
    """Run a study from a YAML path, YAML text, dict or :class:`StudyConfig`.

    ``registry``: a :class:`Registry`, a path, or None (``$BAYESCAUSAL_REGISTRY``, else ``./.bayescausal/``).
    ``spark``: a SparkSession (any cluster) to run the pipeline on Spark; ``con``: an Ibis connection to use.
    ``method``: override the config's method. ``out``: the report's path (default ``<name>-<run id>.html`` beside
    the registry). Every failure is appended to the registry as a ``failed`` event, then raised.
    """
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    bar = _progress(progress)
    seconds: dict = {}
    t0 = time.perf_counter()
    name = source.name if isinstance(source, StudyConfig) else _raw_name(source)
    run_id = None
    try:
        try:
            cfg = source if isinstance(source, StudyConfig) else load_study(source)
        except BayesCausalError as exc:
            run_id = reg.start(name, {"config_source": str(source)[:2000], "version": _version(),
                                      "git_revision": git_revision(), "note": note})
            raise exc
        name = cfg.name
        if method:
            cfg = cfg.model_copy(update={"method": method})
            cfg = StudyConfig.model_validate(cfg.canonical())
        run_id = reg.start(cfg.name, {
            "config": cfg.canonical(), "config_hash": cfg.config_hash(), "source_fingerprint": source_fingerprint(cfg),
            "version": _version(), "git_revision": git_revision(), "seed": cfg.seed, "method": cfg.method,
            "engine": "spark" if spark is not None else cfg.data.engine, "note": note or cfg.note,
            "config_path": None if isinstance(source, (dict, StudyConfig)) else str(source)})
        seconds["config"] = round(time.perf_counter() - t0, 3)
        bar.set_postfix_str("pipeline")
        bar.update(1)

        t = time.perf_counter()
        cat = load_catalogue(cfg.catalogue)
        from .engine import connect

        eng = connect(cfg.data, spark=spark, con=con)
        table = pipeline.build(cfg, cat, eng)
        seconds["pipeline"] = round(time.perf_counter() - t, 3)
        bar.set_postfix_str("recommend")
        bar.update(1)

        rec = recommend(cfg, table)
        bar.set_postfix_str(f"fit {rec.chosen}")
        bar.update(1)
        if not rec.available:
            raise SpecError("method: " + " ".join(rec.notes))

        t = time.perf_counter()
        result = fit_method(rec.chosen, cfg, table, progress=progress)
        seconds["fit"] = round(time.perf_counter() - t, 3)
        bar.set_postfix_str("report")
        bar.update(1)

        report_path = None
        if report:
            report_path = str(Path(out) if out else reg.path.parent / f"{cfg.name}-{run_id}.html")
        payload = {"method": rec.chosen, "recommended": rec.method, "overridden": rec.overridden,
                   "reasons": list(rec.reasons), "data_fingerprint": table.fingerprint(), "n_rows": len(table.frame),
                   "aggregation": table.aggregation, "aggregation_reason": table.aggregation_reason,
                   "n_treated": table.n_treated, "n_control": table.n_control, "kind": table.kind,
                   "seconds": seconds, "report": report_path, **result_payload(result)}
        reg.finish(run_id, cfg.name, payload)
        run = StudyRun(cfg, cat, table, rec, result, run_id, reg, report_path, seconds)
        if report:
            from .report import write_report

            t = time.perf_counter()
            write_report(run, report_path)
            seconds["report"] = round(time.perf_counter() - t, 3)
        bar.update(1)
        return run
    except BaseException as exc:
        if run_id is None:
            run_id = reg.start(name, {"config_source": str(source)[:2000], "version": _version(), "note": note})
        kind = "killed" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
        reg.fail(run_id, name, {"error_type": kind, "error": str(exc)[:4000],
                                "seconds": round(time.perf_counter() - t0, 3)})
        raise
    finally:
        bar.close()
