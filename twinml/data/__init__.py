"""Sampling, sweeps of the reference solver, graph features and datasets."""
