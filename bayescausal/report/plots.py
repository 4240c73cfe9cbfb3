"""Plots shared by all results: one restrained style, intervals as bands, the intervention marked."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use(matplotlib.get_backend())  # never force an interactive backend
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

OBSERVED = "#1b1b1b"
MODEL = "#2a6fdb"
EFFECT = "#c2410c"
BAND_ALPHA = 0.22

STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "axes.titleweight": "bold",
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "figure.dpi": 110,
}


def effect_histogram(ax, draws: np.ndarray, lower: float, upper: float, interval_label: str = "95% interval"):
    """Draw an effect's posterior histogram on ``ax``: its interval shaded, the posterior mean and zero marked
    (the first panel of the AIPW, CEM, IV and panel figures)."""
    ax.hist(draws, bins=60, color=MODEL, alpha=0.55, density=True)
    ax.axvspan(lower, upper, color=MODEL, alpha=0.12, label=interval_label)
    ax.axvline(float(np.mean(draws)), color=EFFECT, lw=1.6, label="posterior mean")
    ax.axvline(0, color=OBSERVED, lw=1, ls="--")
    ax.set_yticks([])


def effect_density(draws: np.ndarray, lower: float, upper: float, title: str, xlabel: str):
    """Posterior histogram of an effect with its interval and zero marked."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(draws, bins=60, color=MODEL, alpha=0.55, density=True)
        ax.axvspan(lower, upper, color=MODEL, alpha=0.12, label="interval")
        ax.axvline(0, color=OBSERVED, lw=1, ls="--", label="no effect")
        ax.axvline(float(np.mean(draws)), color=EFFECT, lw=1.6, label="posterior mean")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_yticks([])
        ax.legend(loc="upper right")
        fig.tight_layout()
    return fig


def impact_panels(time, observed, cf_mean, cf_lower, cf_upper, point_mean, point_lower, point_upper,
                  cum_time, cum_mean, cum_lower, cum_upper, intervention, outcome_label: str,
                  counterfactual_label: str = "counterfactual", extra_lines: Sequence = ()):
    """Three stacked panels: observed vs counterfactual, pointwise effect, cumulative effect."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 1, figsize=(10, 8.2), sharex=True,
                                 gridspec_kw={"height_ratios": [1.6, 1, 1]})
        ax = axes[0]
        ax.fill_between(time, cf_lower, cf_upper, color=MODEL, alpha=BAND_ALPHA, lw=0)
        ax.plot(time, cf_mean, color=MODEL, lw=1.3, ls="--", label=counterfactual_label)
        ax.plot(time, observed, color=OBSERVED, lw=1.1, label="observed")
        for t, y, label in extra_lines:
            ax.plot(t, y, lw=0.8, alpha=0.6, label=label)
        ax.set_title(f"{outcome_label}: observed and counterfactual")
        ax.legend(loc="upper left", ncols=2)
        ax = axes[1]
        ax.axhline(0, color=OBSERVED, lw=0.8)
        ax.fill_between(time, point_lower, point_upper, color=EFFECT, alpha=BAND_ALPHA, lw=0)
        ax.plot(time, point_mean, color=EFFECT, lw=1.2)
        ax.set_title("Pointwise effect (observed minus counterfactual)")
        ax = axes[2]
        ax.axhline(0, color=OBSERVED, lw=0.8)
        ax.fill_between(cum_time, cum_lower, cum_upper, color=EFFECT, alpha=BAND_ALPHA, lw=0)
        ax.plot(cum_time, cum_mean, color=EFFECT, lw=1.4)
        ax.set_title("Cumulative effect since the intervention")
        for a in axes:
            a.axvline(intervention, color="#6b7280", lw=1, ls=":")
        fig.align_ylabels(axes)
        fig.tight_layout()
    return fig


def figure_to_svg(fig) -> str:
    """Inline SVG text of a figure (for self-contained HTML)."""
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    svg = buf.getvalue()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def figure_to_png_base64(fig, dpi: int = 110) -> str:
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")
