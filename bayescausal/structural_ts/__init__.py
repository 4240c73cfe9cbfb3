"""Structural time series: BSTS impact analysis (CausalImpact) and Bayesian synthetic control."""
