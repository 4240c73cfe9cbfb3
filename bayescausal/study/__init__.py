"""Studies from config files: a feature catalogue, a time-correct Ibis pipeline (DuckDB or Spark), a method
recommender, an append-only run registry, and an HTML report.

Importing this package is cheap; Ibis, DuckDB and PySpark load only when a pipeline runs.

>>> from bayescausal.study import run_study, load_study, recommend
>>> run = run_study("study.yaml")            # doctest: +SKIP
>>> print(run.report_path)                   # doctest: +SKIP
"""

from .catalogue import Catalogue, Feature, load_catalogue
from .config import StudyConfig, Window, load_study
from .recommend import Recommendation, recommend
from .registry import Registry, diff_runs

__all__ = ["Catalogue", "Feature", "Recommendation", "Registry", "StudyConfig", "Window", "build_table",
           "diff_runs", "load_catalogue", "load_study", "recommend", "run_study"]


def run_study(*args, **kwargs):
    """See :func:`bayescausal.study.runner.run_study`."""
    from .runner import run_study as _run

    return _run(*args, **kwargs)


def build_table(config, spark=None, con=None):
    """The modelling table of a study (a path, YAML text, dict or StudyConfig) without fitting anything."""
    from .engine import connect
    from .pipeline import build

    cfg = config if isinstance(config, StudyConfig) else load_study(config)
    return build(cfg, load_catalogue(cfg.catalogue), connect(cfg.data, spark=spark, con=con))
