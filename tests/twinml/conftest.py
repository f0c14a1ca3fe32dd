"""Fixtures shared by the twinml tests."""

import warnings

import pytest

from simulators.mesh.biv import biv_ellipsoid
from simulators.mesh.io import write_vtu


@pytest.fixture(scope="session")
def coarse_mesh(tmp_path_factory):
    """A coarse BiV ellipsoid (4 mm grid, about 4,000 nodes) as a VTU file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mesh = biv_ellipsoid(h_mm=4.0, rv_wall_mm=4.0)
    path = tmp_path_factory.mktemp("mesh") / "biv4.vtu"
    write_vtu(mesh, path)
    return path
