"""Fixtures shared by the twinml tests."""

import warnings

import pytest

from simulators.ep.ventricles import Ventricles
from simulators.hearts import mesh_fibres, with_coordinates
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


@pytest.fixture(scope="session")
def coarse_heart():
    """A coarse (4 mm) biventricular heart with coordinates and fibres
    (+-60 degrees), shared by the population and marker tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mesh = with_coordinates(biv_ellipsoid(h_mm=4.0))
    return Ventricles(mesh, mesh_fibres(mesh, 60.0, -60.0))
