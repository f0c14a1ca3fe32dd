"""Parametric ventricles: dimensions, mesh soundness, volumes, tags, errors.

Reference shapes: the Land et al. 2015 benchmark LV (endocardium 7/17 mm,
epicardium 10/20 mm, base plane z = 5 mm) and its 3.6x human scaling; the
truncated-ellipsoid volume is V = pi R^2 [(z_b + L) - (z_b^3 + L^3) / (3 L^2)].
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simulators.errors import FieldError, ParameterError
from simulators.mesh.boundary import boundary_faces, cavity_volume_ml
from simulators.mesh.parametric import PRESETS, biv_ellipsoid, lv_ellipsoid
from simulators.mesh.quality import tet_min_dihedral_deg
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM
from simulators.mesh.validate import MeshQualityWarning, validate_mesh


def _truncated_ml(r_short: float, r_long: float, base_z: float) -> float:
    """Volume of an ellipsoid of revolution below z = base_z, mL."""
    cap = (base_z + r_long) - (base_z**3 + r_long**3) / (3.0 * r_long**2)
    return np.pi * r_short**2 * cap / 1000.0


def _validate_quietly(mesh) -> None:
    """validate_mesh, with its quality warnings (slivers, parts) as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", MeshQualityWarning)
        validate_mesh(mesh)


@pytest.fixture(scope="module")
def biv():
    return biv_ellipsoid()


# ------------------------------------------------------------------ LV
def test_land2015_surfaces_lie_on_the_benchmark_ellipsoids():
    mesh = lv_ellipsoid("land2015")
    x, y, z = mesh.points.T
    rho = np.hypot(x, y)
    endo = mesh.point_data["surface_lv_endo"]
    epi = mesh.point_data["surface_lv_epi"]
    base = mesh.point_data["surface_base"]

    # nodes are placed on the surfaces exactly: round-off tolerances
    level_endo = (rho[endo] / 7) ** 2 + (z[endo] / 17) ** 2
    level_epi = (rho[epi] / 10) ** 2 + (z[epi] / 20) ** 2
    np.testing.assert_allclose(level_endo, 1.0, atol=1e-12)
    np.testing.assert_allclose(level_epi, 1.0, atol=1e-12)
    np.testing.assert_allclose(z[base], 5.0, atol=1e-12)
    assert z.min() == pytest.approx(-20.0) and z[endo].min() == pytest.approx(-17.0)
    assert z.max() == pytest.approx(5.0)


@pytest.mark.parametrize("preset", ["land2015", "human"])
def test_lv_mesh_is_valid_conforming_and_sliver_free(preset):
    mesh = lv_ellipsoid(preset)
    _validate_quietly(mesh)
    assert (mesh.signed_volumes() > 0).all()

    # prisms cut by the Dompierre rule, apex fan of near-equilateral
    # triangles: the worst angle measured is 27.7 deg, far from a sliver
    assert tet_min_dihedral_deg(mesh.points[mesh.cells]).min() > 20.0

    # conforming: every boundary face lies on the endocardium, epicardium or
    # base, so no face is left unmatched inside the wall
    faces, _ = boundary_faces(mesh.cells)
    on_a_surface = np.zeros(len(faces), dtype=bool)
    for name in ("lv_endo", "lv_epi", "base"):
        on_a_surface |= mesh.point_data[f"surface_{name}"][faces].all(axis=1)
    assert on_a_surface.all()
    assert (mesh.cell_data["region"] == REGION_LV).all()


def test_lv_volumes_match_the_truncated_ellipsoids():
    mesh = lv_ellipsoid("human")
    s = PRESETS["human"]
    cavity = _truncated_ml(s["r_short_endo"], s["r_long_endo"], s["base_z"])
    outer = _truncated_ml(s["r_short_epi"], s["r_long_epi"], s["base_z"])

    # inscribed polygons lose a relative area of order (2 pi / n)^2 / 6,
    # 0.3 % at n = 48: 1 % bounds it
    assert mesh.meta["lv_cavity_ml"] == pytest.approx(cavity, rel=0.01)
    assert mesh.meta["wall_volume_ml"] == pytest.approx(outer - cavity, rel=0.01)
    assert 110.0 < mesh.meta["lv_cavity_ml"] < 125.0  # a human LV, ~120 mL
    assert cavity_volume_ml(mesh, "lv_endo") == mesh.meta["lv_cavity_ml"]


def test_cavity_volume_converges_at_second_order():
    s = PRESETS["land2015"]
    exact = _truncated_ml(s["r_short_endo"], s["r_long_endo"], s["base_z"])
    sizes = np.array([12, 24, 48])
    errors = []
    for n in sizes:
        mesh = lv_ellipsoid("land2015", n_circ=2 * n, n_long=n, n_trans=1)
        errors.append(abs(mesh.meta["lv_cavity_ml"] - exact))

    # chords of a smooth surface: error ~ h^2; a fitted order above 1.8
    order = -np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert order > 1.8, f"fitted order {order:.2f}, errors {errors}"


def test_human_preset_is_the_land_shape_scaled():
    land = lv_ellipsoid("land2015", n_circ=24, n_long=12, n_trans=2)
    human = lv_ellipsoid("human", n_circ=24, n_long=12, n_trans=2)
    np.testing.assert_allclose(human.points, 3.6 * land.points, atol=1e-9)
    np.testing.assert_array_equal(human.cells, land.cells)


def test_lv_arguments_override_the_preset():
    mesh = lv_ellipsoid("land2015", r_short_epi_mm=12.0, base_z_mm=0.0, n_trans=2)
    epi = mesh.point_data["surface_lv_epi"]
    rho = np.hypot(mesh.points[epi, 0], mesh.points[epi, 1])
    assert rho.max() == pytest.approx(12.0, rel=1e-3)
    assert mesh.points[:, 2].max() == pytest.approx(0.0, abs=1e-12)
    assert mesh.meta["r_short_epi_mm"] == 12.0 and mesh.meta["r_long_endo_mm"] == 17.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"preset": "dog"}, "preset must be one of"),
        ({"r_short_epi_mm": 6.0}, "r_short_epi_mm .* must exceed r_short_endo_mm"),
        ({"r_long_endo_mm": -1.0}, "r_long_endo_mm must be positive"),
        ({"base_z_mm": 18.0}, "base_z_mm must lie strictly between"),
        ({"n_circ": 4}, "n_circ must be at least 6, got 4"),
        ({"n_trans": True}, "n_trans must be an integer"),
    ],
)
def test_bad_lv_parameters_are_refused(kwargs, match):
    kwargs = {"preset": "land2015", **kwargs}
    with pytest.raises(ParameterError, match=match):
        lv_ellipsoid(**kwargs)


# ------------------------------------------------------------------ BiV
def test_biv_mesh_is_valid_and_sized(biv):
    _validate_quietly(biv)
    assert 3_000 < biv.n_points < 50_000
    # snapping backs off below 10 deg, twice the sliver threshold
    assert tet_min_dihedral_deg(biv.points[biv.cells]).min() >= 10.0 - 1e-9


def test_biv_tags_every_boundary_face_and_region(biv):
    names = ("lv_endo", "rv_endo", "rv_septum", "lv_epi", "rv_epi", "base")
    for name in names:
        assert biv.point_data[f"surface_{name}"].sum() > 100, name

    # every boundary face has its three nodes in one node set
    faces, _ = boundary_faces(biv.cells)
    tagged = np.zeros(len(faces), dtype=bool)
    for name in names:
        tagged |= biv.point_data[f"surface_{name}"][faces].all(axis=1)
    assert tagged.all()

    # regions: RV free wall outside the LV epicardium, septum on the RV side
    region = biv.cell_data["region"]
    assert set(np.unique(region).tolist()) == {REGION_LV, REGION_RV, REGION_SEPTUM}
    centre = biv.points[biv.cells].mean(axis=1)
    epi_level = np.hypot(centre[:, 0], centre[:, 1]) ** 2 / 36.0**2
    epi_level += centre[:, 2] ** 2 / 72.0**2
    assert (epi_level[region == REGION_RV] > 0.9).all()
    assert (centre[region == REGION_SEPTUM, 0] > 0).all()
    # the RV septal surface sits on septum cells (a few junction nodes
    # touch only free-wall cells)
    on_septum = np.isin(biv.surface_nodes("rv_septum"), biv.region_nodes(REGION_SEPTUM))
    assert on_septum.mean() > 0.98


def test_biv_cavities_have_human_volumes(biv):
    # LV: the human preset's truncated ellipsoid (116.3 mL); surface snapping
    # is held back at a few nodes, so 2 % rather than the LV mesh's 1 %
    lv = _truncated_ml(25.2, 61.2, 18.0)
    assert biv.meta["lv_cavity_ml"] == pytest.approx(lv, rel=0.02)

    # RV a little larger than the LV, as in healthy adults (RV/LV 1.1-1.2)
    ratio = biv.meta["rv_cavity_ml"] / biv.meta["lv_cavity_ml"]
    assert 1.0 < ratio < 1.3


def test_biv_shape_follows_its_parameters():
    small = biv_ellipsoid(rv_depth_mm=12.0, rv_radius_mm=40.0, rv_wall_mm=6.0, h_mm=3.0)
    large = biv_ellipsoid(rv_depth_mm=24.0, rv_radius_mm=48.0, rv_wall_mm=6.0, h_mm=3.0)
    assert small.meta["rv_cavity_ml"] < 0.8 * large.meta["rv_cavity_ml"]
    x_max = [m.points[:, 0].max() for m in (small, large)]
    # RV free wall at x = a + w + depth + rv wall (+ one grid step at most)
    assert x_max[0] == pytest.approx(36.0 + 12.0 + 6.0, abs=3.0)
    assert x_max[1] == pytest.approx(36.0 + 24.0 + 6.0, abs=3.0)


def test_biv_wall_asymmetry_thins_the_septum_and_thickens_the_lateral_wall():
    # f = 0.3 of the 10.8 mm wall: septum 7.56 mm, lateral wall 14.04 mm at
    # the equator; the LV endocardium and the RV's depth beyond the septum
    # stay as they were
    f, a, w, depth, w_rv = 0.3, 25.2, 10.8, 20.0, 4.0
    mesh = biv_ellipsoid(lv_wall_asymmetry=f)
    _validate_quietly(mesh)
    p = mesh.points
    equator = (np.abs(p[:, 1]) < 2.0) & (np.abs(p[:, 2]) < 2.0)
    lateral = p[mesh.point_data["surface_lv_epi"] & equator & (p[:, 0] < 0), 0]
    septal = p[mesh.point_data["surface_rv_septum"] & equator, 0]
    # snapped boundary nodes lie on their ellipsoid to within a grid step (2 mm)
    assert -lateral.min() - a == pytest.approx((1 + f) * w, abs=1.0)
    assert septal.max() - a == pytest.approx((1 - f) * w, abs=1.0)
    assert p[:, 0].max() == pytest.approx(a + (1 - f) * w + depth + w_rv, abs=2.0)
    lv = _truncated_ml(25.2, 61.2, 18.0)
    assert mesh.meta["lv_cavity_ml"] == pytest.approx(lv, rel=0.02)
    assert mesh.meta["lv_wall_asymmetry"] == f


def test_symmetric_biv_meta_is_unchanged(biv):
    # sweeps and twins key hearts by their parameters: a symmetric heart
    # must read as it did before the asymmetry existed
    assert "lv_wall_asymmetry" not in biv.meta


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"lv_wall_asymmetry": 1.0},
            r"lv_wall_asymmetry must be a fraction .* \[0, 1\)",
        ),
        ({"lv_wall_asymmetry": -0.1}, "lv_wall_asymmetry must be a fraction"),
        ({"lv_wall_asymmetry": float("nan")}, "lv_wall_asymmetry must be a fraction"),
        (
            {"lv_wall_asymmetry": 0.9, "rv_wall_mm": 6.0},
            r"h_mm \(2\) must not exceed the thinnest wall \(the septum, lv_wall_mm x "
            r"\(1 - lv_wall_asymmetry\) = 1.08 mm\)",
        ),
        ({"rv_wall_mm": 0.0}, "rv_wall_mm must be a positive length"),
        ({"h_mm": float("nan")}, "h_mm must be a positive length"),
        ({"base_z_mm": 70.0}, "base_z_mm must lie between"),
        (
            {"h_mm": 5.0},
            r"h_mm \(5\) must not exceed the thinnest wall \(the RV wall, 4",
        ),
        ({"lv_wall_asymmetry": "abc"}, "lv_wall_asymmetry must be a number, got str"),
        ({"lv_wall_asymmetry": [0.2]}, "lv_wall_asymmetry must be a number, got list"),
        ({"lv_wall_asymmetry": None}, "lv_wall_asymmetry must be a number, got None"),
        ({"h_mm": True}, "h_mm must be a number, got bool"),
        ({"lv_wall_mm": "nan"}, "lv_wall_mm must be a number, got str 'nan'"),
        ({"base_z_mm": True}, "base_z_mm must be a number, got bool"),
    ],
)
def test_bad_biv_parameters_are_refused(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        biv_ellipsoid(**kwargs)


def test_coarse_grid_warns_with_the_fix():
    with pytest.warns(UserWarning, match="lower h_mm to 2 or less"):
        biv_ellipsoid(h_mm=3.0)


def test_cavity_volume_needs_a_surface():
    mesh = lv_ellipsoid("land2015", n_circ=12, n_long=6, n_trans=1)
    with pytest.raises(FieldError, match="name at least one node set"):
        cavity_volume_ml(mesh)
    with pytest.raises(FieldError, match="no node set 'rv_endo'"):
        cavity_volume_ml(mesh, "rv_endo")
