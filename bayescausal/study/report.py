"""The study's HTML report: one self-contained file (jinja2 template, figures embedded as PNG).

Sections, in the order a reader asks: the question; the verdict of the checks; the estimate in plain words; the
design (cohorts, the pseudo-exposure rule, every feature's window drawn on a timeline around exposure); the method
and why (the recommendation, its reasons, the override if any); the result's plots; the checks table;
sensitivity; the run history of this study from the registry; and the modelling table's provenance (engine,
fingerprints, compiled SQL).
"""

from __future__ import annotations

import html
import os

import pandas as pd

from ..report import html as html_report
from ..report.plots import STYLE, figure_to_png_base64, plt
from ..report.text import fmt
from .config import format_duration

_TEMPLATE = """<!DOCTYPE html><html><head><meta charset='utf-8'><title>{{ title }}</title>
<style>{{ css }} .lead{font-size:1.1rem} pre{background:#f3f4f6;padding:.6rem;overflow:auto;font-size:.78rem}
ul.reasons li{margin:.2rem 0}</style></head><body>
<h1>{{ title }}</h1>
<div class='meta'>{{ meta }}</div>
<p class='lead'><b>Question.</b> {{ question }}</p>
{{ banner }}
<h2>Answer</h2>
<p>{{ answer }}</p>
{% for p in paragraphs %}<p>{{ p }}</p>{% endfor %}
{{ summary }}
<h2>Design</h2>
<p>{{ design }}</p>
<ul>{% for w in windows %}<li>{{ w }}</li>{% endfor %}</ul>
<img alt='timeline of the windows' src='data:image/png;base64,{{ timeline }}'>
<h2>Method and why</h2>
<p>{{ method }}</p>
<ul class='reasons'>{% for r in reasons %}<li>{{ r }}</li>{% endfor %}</ul>
{% for n in rec_notes %}<p class='meta'>{{ n }}</p>{% endfor %}
<h2>Plots</h2>
{% for f in figures %}<img alt='figure' src='data:image/png;base64,{{ f }}'>{% endfor %}
<h2>Checks</h2>
{{ checks }}
<h2>Sensitivity</h2>
{% for p in sensitivity_text %}<p>{{ p }}</p>{% endfor %}
{% for t in sensitivity_tables %}<h3>{{ t[0] }}</h3>{{ t[1] }}{% endfor %}
<h2>Run history</h2>
<p>{{ history_text }}</p>
{{ history }}
<h2>Data</h2>
<p>{{ data_text }}</p>
{{ preview }}
<details><summary>Compiled query (Ibis)</summary><pre>{{ sql }}</pre></details>
</body></html>"""


def _table(df: pd.DataFrame) -> str:
    return html_report._table(df)


def timeline_figure(run):
    """Each feature's window as a bar around exposure (0): covariates before it, the outcome after it."""
    table = run.table
    fws = [table.outcome, *table.covariates]
    if table.kind == "marketing":
        with plt.rc_context(STYLE):
            fig, ax = plt.subplots(figsize=(8.5, 2.4))
            df = table.frame
            for c in table.columns["channels"]:
                ax.plot(df["week"], df[c], lw=1.2, label=c)
            ax.set_ylabel("spend per week")
            ax2 = ax.twinx()
            ax2.plot(df["week"], df[table.outcome.column], color="#111827", lw=1.5, label=table.outcome.column)
            ax2.set_ylabel(table.outcome.column)
            ax.legend(loc="upper left", fontsize=7)
            fig.tight_layout()
        return fig
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.5, 0.6 + 0.45 * len(fws)))
        for i, fw in enumerate(reversed(fws)):
            a, b = fw.window.start / 86400, fw.window.end / 86400
            color = "#f59e0b" if fw.role == "outcome" else "#3b82f6"
            ax.barh(i, b - a, left=a, color=color, alpha=0.8, height=0.55)
            ax.text(b if fw.role == "outcome" else a, i, f"  {fw.column}  " if fw.role == "outcome"
                    else f"{fw.column}  ", va="center", ha="left" if fw.role == "outcome" else "right", fontsize=8)
        ax.axvline(0, color="#111827", lw=1.5)
        lo = min(fw.window.start for fw in fws) / 86400
        hi = max(fw.window.end for fw in fws) / 86400
        span = hi - lo
        ax.set_xlim(lo - 0.45 * span, hi + 0.35 * span)
        ax.set_yticks([])
        label = "exposure (treated) / pseudo-exposure (controls)" if table.kind != "series" else "intervention date"
        ax.text(0, len(fws) - 0.4, label, ha="center", va="bottom", fontsize=8)
        ax.set_ylim(-0.6, len(fws) + 0.2)
        ax.set_xlabel("days relative to exposure (covariates: blue, before; outcome: orange, from exposure)")
        fig.tight_layout()
    return fig


def _design_text(run) -> str:
    cfg, t = run.config, run.table
    if t.kind == "marketing":
        c = t.columns
        return (f"One weekly series of {len(t.frame)} weeks from {cfg.weeks.start:%Y-%m-%d}: {t.outcome.column} "
                f"summed over the population {cfg.population.table!r}, spend per channel ({', '.join(c['channels'])})"
                f" summed over every row of its table" + (f", controls {', '.join(c['controls'])}" if c["controls"]
                                                          else "") + ".")
    if t.kind == "series":
        c = t.columns
        return (f"One aggregate daily series: {t.outcome.column} summed over the treated cohort ({t.n_treated} "
                f"units), intervention on {cfg.treatment.date:%Y-%m-%d}; pre-period {c['pre_period'][0]} to "
                f"{c['pre_period'][1]}, post-period {c['post_period'][0]} to {c['post_period'][1]}; control "
                f"series: {', '.join(c['controls']) or 'none'}.")
    rule = {"treated_times": "the treated units' exposure times in turn (controls sorted by unit id take the "
                             "i mod n-th earliest treated time)",
            "median": "the median treated exposure time",
            "date": f"the date {cfg.control.date}"}[cfg.control.pseudo_exposure]
    lo, hi = t.exposure_range
    text = (f"{t.n_treated} treated units (exposure times from table {cfg.treatment.table!r}, {lo} to {hi}) and "
            f"{t.n_control} control units from population {cfg.population.table!r} without a treatment row; each "
            f"control's pseudo-exposure time is {rule}. Every feature is aggregated in the {t.engine} engine over "
            "its own window relative to each unit's (pseudo-)exposure: covariates strictly before it, the outcome "
            "from it on.")
    if t.kind == "panel":
        text += f" Panel: one row per unit and {t.columns['period']} period."
    if t.kind == "cem_strata":
        text += (f" The engine also coarsened the covariates by CEM's default rule ({t.columns['bins']} "
                 f"equal-frequency bins each, cutpoints computed there) and returned {len(t.frame):,} strata with "
                 f"each arm's count, outcome sum and sum of squares instead of {t.columns['units']:,} unit rows "
                 f"({t.aggregation_reason}).")
    elif t.aggregation_reason and t.kind == "cross_section":
        text += f" One row per unit reached the model ({t.aggregation_reason})."
    return text


def _history(run):
    hist = run.registry.history(run.config.name)
    text = (f"This study has had {hist['runs']} run(s): {hist['finished']} finished, {hist['failed']} failed, "
            f"{hist['no_end']} with no end recorded (killed or still running); {hist['failed_checks']} failed "
            "check(s) across its finished runs.")
    rows = [{"run": r.run_id, "status": r.status, "started": r.started[:19], "method": r.method or "",
             "estimate": r.estimate or "", "failed checks": r.failed_checks, "config": r.config_hash or ""}
            for r in hist["table"]][-30:]
    df = pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()
    return text, (_table(df) if rows else "")


def _sensitivity(result):
    texts, tables = [], []
    if getattr(result, "sensitivity_text", ""):
        texts.append(result.sensitivity_text)
    fn = getattr(result, "_sensitivity_tables", None)
    if callable(fn):
        try:
            for name, df in fn().items():
                tables.append((name, _table(df)))
        except Exception as exc:  # the analysis is optional for a result; say why it is missing
            texts.append(f"The sensitivity analysis could not be computed: {exc}")
    if not texts and not tables:
        texts.append(f"{result.method} has no confounding-sensitivity analysis; its placebo check (in the checks "
                     "table) is the test of the design's assumption.")
    return texts, tables


def write_report(run, path) -> str:
    """Write the study report for ``run`` (a :class:`~bayescausal.study.runner.StudyRun`) to ``path``."""
    import jinja2

    res, rec, cfg, t = run.result, run.recommendation, run.config, run.table
    figures = []
    try:
        figs = res._figures()
    except Exception:  # a result's plots are optional for the study report
        figs = []
    timeline = timeline_figure(run)
    try:
        figures = [figure_to_png_base64(f) for f in figs]
        timeline_png = figure_to_png_base64(timeline)
    finally:
        for f in [*figs, timeline]:
            plt.close(f)
    summary = res.summary()
    row = summary.iloc[0]
    answer = (f"{res.estimand[:1].upper()}{res.estimand[1:]}: about {fmt(row['mean'])}, with 95% probability "
              f"between {fmt(row['lower'])} and {fmt(row['upper'])}; the probability that the effect is positive is "
              f"{row['p_positive']:.0%}.")
    if not res.trustworthy:
        answer += " Not every check passed, so this number should not be read as a causal effect yet (see Checks)."
    method = f"Recommended: {rec.label}."
    if rec.overridden:
        method += f" The config overrode it: {rec.chosen!r} ran instead, and this report is about that fit."
    else:
        method += " The config asked for 'auto', so the recommended method ran."
    windows = [fw.describe() + (f" ({fw.spec.description})" if fw.spec.description else "")
               for fw in [t.outcome, *t.covariates]]
    hist_text, hist_table = _history(run)
    s_text, s_tables = _sensitivity(res)
    meta = " · ".join(f"{k}: {v}" for k, v in {
        "run": run.run_id, "config hash": cfg.config_hash(), "data": t.fingerprint(), "engine": t.engine,
        "method": rec.chosen, "seed": cfg.seed}.items())
    period = t.columns.get("period")
    data_text = (f"Modelling table: {len(t.frame):,} rows × {t.frame.shape[1]} columns, built in {t.seconds:.2f} s on "
                 f"{t.engine}" + (f" (period {period})" if period else "") + "; first rows below.")
    env = jinja2.Environment(autoescape=True)
    page = env.from_string(_TEMPLATE).render(
        title=f"Study {cfg.name}", css=html_report._CSS, meta=meta, question=cfg.question,
        banner=_markup(html_report.verdict_banner(res.checks)), answer=answer,
        paragraphs=[p for p in res.report().split("\n\n") if p], summary=_markup(_table(summary)),
        design=_design_text(run), windows=windows, timeline=timeline_png, method=method, reasons=list(rec.reasons),
        rec_notes=list(rec.notes), figures=figures, checks=_markup(html_report.checks_table(res.checks)),
        sensitivity_text=s_text, sensitivity_tables=[(n, _markup(h)) for n, h in s_tables],
        history_text=hist_text, history=_markup(hist_table), data_text=data_text,
        preview=_markup(_table(t.frame.head(8).set_index(t.frame.columns[0]))), sql=t.sql or "(not recorded)")
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return path


def _markup(text: str):
    """HTML that the toolkit built itself (every value in it already escaped) passes the template unescaped."""
    import markupsafe

    return markupsafe.Markup(text)


__all__ = ["write_report", "timeline_figure", "format_duration", "html"]
