"""Tests of the panel estimators."""
