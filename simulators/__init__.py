"""Reference cardiac physics for twinml: meshes, fibres, activation, read-outs.

This package is numpy/scipy/numba only and never imports torch, so that a Dask
worker on a cluster needs nothing but the scientific Python stack.
"""

__version__ = "0.1.0"

#: Version of the reference solver chain, recorded in every dataset's provenance.
SOLVER_VERSION = "twinml-eikonal-0.2.0"
