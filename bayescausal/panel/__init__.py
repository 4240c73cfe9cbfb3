"""Panel data: fixed-effects and hierarchical panels from sufficient statistics (``PanelFE``) and the core that
fits any Gaussian two-way panel design (``core.fit_panel_design``), shared with the event study."""

from .core import PanelDesign, PanelFit, PanelSpec, fit_panel_batch, fit_panel_design
from .event_result import EventStudyResult
from .event_study import EventStudy
from .fe import PanelFE
from .priors import PanelPriors
from .result import PanelResult

__all__ = ["EventStudy", "EventStudyResult",
           "PanelDesign", "PanelFE", "PanelFit", "PanelPriors", "PanelResult", "PanelSpec", "fit_panel_batch",
           "fit_panel_design"]
