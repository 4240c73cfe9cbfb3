"""Self-contained HTML for results: one file with the text, tables and plots embedded (no external assets)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd

from ..checks.base import CheckResult
from .plots import figure_to_png_base64

_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:#1b1b1b;
max-width:980px;margin:2rem auto;padding:0 1rem;line-height:1.5}
h1{font-size:1.55rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e5e7eb}
.meta{color:#6b7280;font-size:.85rem}
.verdict{padding:.7rem 1rem;border-radius:6px;margin:1rem 0;font-weight:600}
.ok{background:#ecfdf5;border:1px solid #10b981}.bad{background:#fef2f2;border:1px solid #ef4444}
.warn{background:#fffbeb;border:1px solid #f59e0b}
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0}
th,td{padding:.3rem .7rem;border-bottom:1px solid #e5e7eb;text-align:right}
th:first-child,td:first-child{text-align:left} td.msg{text-align:left;max-width:520px}
.passed{color:#047857;font-weight:600}.FAILED{color:#b91c1c;font-weight:700}.notrun{color:#b45309}
img{max-width:100%}
"""


def _table(df: pd.DataFrame, float_format: str = "{:,.4g}") -> str:
    def cell(v):
        if isinstance(v, float):
            return html.escape(float_format.format(v))
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [df.index.name or ""] + list(df.columns))
    rows = []
    for idx, row in df.iterrows():
        cells = "".join(f"<td>{cell(v)}</td>" for v in row.values)
        rows.append(f"<tr><td>{html.escape(str(idx))}</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def checks_table(checks: Sequence[CheckResult]) -> str:
    rows = []
    for c in checks:
        css = "notrun" if c.passed is None else c.verdict
        stat = "" if c.statistic is None else f"{c.statistic:.4g}"
        rows.append(
            f"<tr><td>{html.escape(c.name)}</td><td class='{css}'>{c.verdict}</td><td>{stat}</td>"
            f"<td>{html.escape(str(c.threshold or ''))}</td><td class='msg'>{html.escape(c.message)}</td></tr>"
        )
    return ("<table><thead><tr><th>check</th><th>verdict</th><th>statistic</th><th>threshold</th>"
            f"<th>what it found</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def verdict_banner(checks: Sequence[CheckResult]) -> str:
    if any(c.passed is False for c in checks):
        return "<div class='verdict bad'>At least one check failed: do not rest a causal claim on this fit.</div>"
    if not checks or any(c.passed is None for c in checks):
        return "<div class='verdict warn'>Not every check ran: this fit is not fully vetted.</div>"
    return "<div class='verdict ok'>Every check passed.</div>"


def render_page(title: str, paragraphs: Sequence[str], summary: pd.DataFrame, checks: Sequence[CheckResult],
                figures: Sequence = (), extra_tables: Mapping[str, pd.DataFrame] | None = None,
                meta: Mapping[str, object] | None = None) -> str:
    """The full HTML document as a string."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    if meta:
        parts.append("<div class='meta'>" + " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}"
                                                      for k, v in meta.items()) + "</div>")
    parts.append(verdict_banner(checks))
    parts += [f"<p>{html.escape(p)}</p>" for p in paragraphs if p]
    parts.append("<h2>Summary</h2>" + _table(summary))
    for fig in figures:
        parts.append(f"<img alt='figure' src='data:image/png;base64,{figure_to_png_base64(fig)}'>")
    parts.append("<h2>Checks</h2>" + checks_table(checks))
    for name, df in (extra_tables or {}).items():
        parts.append(f"<h2>{html.escape(name)}</h2>" + _table(df))
    parts.append("</body></html>")
    return "\n".join(parts)


def notebook_card(title: str, headline: str, summary: pd.DataFrame, checks: Sequence[CheckResult]) -> str:
    """Compact HTML for ``_repr_html_``: verdict, headline, summary and checks (no plots: fast)."""
    return (f"<div style='max-width:900px'><style>{_CSS}</style><h3>{html.escape(title)}</h3>"
            f"{verdict_banner(checks)}<p>{html.escape(headline)}</p>{_table(summary)}{checks_table(checks)}</div>")
