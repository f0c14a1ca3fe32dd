"""Helix fibres from ventricular coordinates: the rule, unit length, errors."""

import numpy as np
import pytest

from simulators.errors import FieldError
from simulators.fibres.rule_based import cell_gradients, helix_fibres
from simulators.mesh.structured import unit_cube_mesh


def _slab(n: int = 4):
    """Unit cube with transmural = x (endo at x=0) and apicobasal = z."""
    mesh = unit_cube_mesh(n)
    x, z = mesh.points[:, 0], mesh.points[:, 2]
    return mesh.with_fields(point_data={"transmural": x, "apico_basal": z})


def test_gradients_of_linear_field_are_exact():
    mesh = unit_cube_mesh(3)
    u = mesh.points @ np.array([1.0, -2.0, 0.5])
    grad = cell_gradients(mesh.points, mesh.cells, u)
    # exact for P1 fields up to round-off
    np.testing.assert_allclose(
        grad, np.tile([1.0, -2.0, 0.5], (mesh.n_cells, 1)), atol=1e-12
    )


def test_helix_angle_follows_the_linear_rule():
    mesh = _slab()
    fibres = helix_fibres(mesh, 60.0, -60.0)
    np.testing.assert_allclose(np.linalg.norm(fibres, axis=1), 1.0, atol=1e-12)

    # e_t = x, e_l = z, e_c = z x x = y: alpha = atan2(f.z, f.y), mod 180
    alpha = np.rad2deg(np.arctan2(fibres[:, 2], fibres[:, 1]))
    alpha = (alpha + 90.0) % 180.0 - 90.0
    t_cell = mesh.points[mesh.cells, 0].mean(axis=1)
    expected = 60.0 - 120.0 * t_cell
    # linear coordinates on a structured grid: the rule holds to round-off
    np.testing.assert_allclose(alpha, expected, atol=1e-8)


def test_constant_coordinate_is_refused():
    mesh = _slab()
    flat = mesh.with_fields(point_data={"transmural": np.zeros(mesh.n_points)})
    with pytest.raises(FieldError, match="transmural gradient"):
        helix_fibres(flat)


def test_nan_coordinate_names_the_nodes():
    mesh = _slab()
    t = mesh.point_data["transmural"].copy()
    t[[3, 7]] = np.nan
    with pytest.raises(FieldError, match=r"'transmural'.*\[3, 7\]"):
        helix_fibres(mesh.with_fields(point_data={"transmural": t}))


def test_missing_coordinate_is_named():
    mesh = unit_cube_mesh(2)
    with pytest.raises(FieldError, match="transmural"):
        helix_fibres(mesh)
