"""Electrophysiology: conduction tensors, Eikonal activation, protocols."""
