"""The regional price example: the event study and CausalImpact both find the known effect, and agree."""

import contextlib
import importlib.util
import io
from pathlib import Path

import pytest

from bayescausal.inference import Sampler

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "regional_price_panel.py"


@pytest.mark.filterwarnings("ignore::bayescausal.ConvergenceWarning")
def test_event_study_and_causal_impact_agree_on_the_price_change(tmp_path):
    spec = importlib.util.spec_from_file_location("example_regional_price_panel", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        out = module.main(n_regions=6, n_weeks=60, n_post=16, seed=0, checks="fast", out=str(tmp_path / "p.html"),
                          sampler=Sampler(chains=2, draws=500, warmup=300, progress=False,
                                                  chain_method="vectorized"))
    truth = out["study"].true_effect
    table = out["table"]
    for name in ("event study (panel)", "CausalImpact (BSTS)"):
        assert table.loc["lower", name] <= truth <= table.loc["upper", name], name
    assert out["overlap"] and all(out["covers_truth"].values())
    assert "agree" in printed.getvalue() and Path(out["html"]).exists()
    es = out["event_study"]
    assert es.info["errors"] == "ar1" and list(es.cohort_effects["cohort"].values) == [out["study"].change_week]
