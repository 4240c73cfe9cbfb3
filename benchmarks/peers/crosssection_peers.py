#!/usr/bin/env python
"""Peer benchmark for the cross-sectional AIPW (``benchmarks/recovery_crosssection.py``, ``benchmarks/speed_aipw.py``).

Runs in ``.venv-bench`` (versions in ``benchmarks/requirements-peers-crosssection.txt``), on CSV files written by our
scripts (columns ``age, income, region, visits, offer, spend``):

* ``recovery``: DoubleML's interactive regression model (``DoubleMLIRM``, Chernozhukov et al. 2018, "Double/debiased
  machine learning", Econometrics J. 21:C1): the AIPW score with cross-fitted (5 folds) gradient-boosted nuisance
  models, for the ATE and the ATT (score ``"ATTE"``), with its 95% Wald intervals. One JSON line: one row per file.
* ``speed``: on one file, the time of DoWhy's doubly robust estimator, ``backdoor.econml.dr.LinearDRLearner`` (DoWhy
  0.14 has no native doubly robust estimator; it delegates to EconML's ``DRLearner`` with a linear final stage),
  with logistic-regression propensity and linear-regression outcome models, and the time of DoubleML's IRM with the
  same linear nuisance learners. One JSON line.

Usage: ``python crosssection_peers.py recovery file1.csv file2.csv ...`` or ``python crosssection_peers.py speed
file.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _peer_common import emit, peak_rss_mb, versions  # noqa: E402

COVARIATES = ["age", "income", "region", "visits"]


def _design(df: pd.DataFrame) -> pd.DataFrame:
    X = df[COVARIATES].copy()
    return pd.get_dummies(X, columns=["region"], drop_first=True, dtype=float).astype(float)


def doubleml_irm(df: pd.DataFrame, treatment: str, outcome: str, score: str, learners: str, seed: int = 0) -> dict:
    """DoubleML IRM with cross-fitting; ``learners`` "boosting" (flexible) or "linear"."""
    import doubleml as dml
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X = _design(df)
    data = dml.DoubleMLData(pd.concat([X, df[[outcome, treatment]]], axis=1), y_col=outcome, d_cols=treatment,
                            x_cols=list(X.columns))
    if learners == "boosting":
        ml_g = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=seed)
        ml_m = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
    else:
        ml_g, ml_m = LinearRegression(), LogisticRegression(max_iter=1000)
    np.random.seed(seed)
    t0 = time.perf_counter()
    irm = dml.DoubleMLIRM(data, ml_g=ml_g, ml_m=ml_m, score=score, n_folds=5)
    irm.fit()
    seconds = time.perf_counter() - t0
    ci = irm.confint(level=0.95).to_numpy().ravel()
    return {"estimate": float(irm.coef[0]), "se": float(irm.se[0]), "lower": float(ci[0]), "upper": float(ci[1]),
            "seconds": round(seconds, 3)}


def dowhy_dr(df: pd.DataFrame, treatment: str, outcome: str) -> dict:
    """DoWhy's doubly robust estimator (EconML's LinearDRLearner behind DoWhy's API), with its interval."""
    from dowhy import CausalModel
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X = _design(df)
    data = pd.concat([X, df[[outcome, treatment]]], axis=1)
    data[treatment] = data[treatment].astype(bool)
    t0 = time.perf_counter()
    model = CausalModel(data=data, treatment=treatment, outcome=outcome, common_causes=list(X.columns))
    estimand = model.identify_effect(proceed_when_unidentifiable=True)
    est = model.estimate_effect(
        estimand, method_name="backdoor.econml.dr.LinearDRLearner", confidence_intervals=True,
        method_params={"init_params": {"model_propensity": LogisticRegression(max_iter=1000),
                                       "model_regression": LinearRegression(), "cv": 2},
                       "fit_params": {}})
    seconds = time.perf_counter() - t0
    lo, hi = (float(v) for v in np.ravel(est.get_confidence_intervals())[:2])
    return {"estimate": float(est.value), "lower": lo, "upper": hi, "seconds": round(seconds, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["recovery", "speed"])
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--treatment", default="offer")
    ap.add_argument("--outcome", default="spend")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.mode == "recovery":
        rows = []
        for path in args.csv:
            df = pd.read_csv(path)
            rows.append({"file": os.path.basename(path),
                         "ATE": doubleml_irm(df, args.treatment, args.outcome, "ATE", "boosting", args.seed),
                         "ATT": doubleml_irm(df, args.treatment, args.outcome, "ATTE", "boosting", args.seed)})
        emit({"peer": "doubleml-irm (gradient boosting, 5-fold cross-fitting)", "rows": rows,
              "peak_rss_mb": peak_rss_mb(), "versions": versions("doubleml", "scikit-learn")})
        return
    df = pd.read_csv(args.csv[0])
    out = {"peer": "speed", "rows": len(df)}
    out["dowhy_dr"] = dowhy_dr(df, args.treatment, args.outcome)
    out["doubleml_irm_linear"] = doubleml_irm(df, args.treatment, args.outcome, "ATE", "linear", args.seed)
    out.update(peak_rss_mb=peak_rss_mb(), versions=versions("dowhy", "econml", "doubleml", "scikit-learn"))
    emit(out)


if __name__ == "__main__":
    main()
