"""Bayesian marketing mix models: adstock, saturation, calibration by lift tests, budget optimisation."""
