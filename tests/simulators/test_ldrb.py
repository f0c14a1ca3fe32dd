"""LDRB fibres: kernels, the linear angle rules on the LV, the real heart.

Angles are measured against the analytic frame of the Land LV: e_c the
circumferential direction about the long axis (right-handed about +z), e_t
the normal of the ellipsoid through the cell (radii interpolated linearly
between endocardium and epicardium), e_l = e_t x e_c. Fibres are lines:
f and -f compare as equal (|cos| = 1).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from simulators.ep.ventricles import PacingPlan, Ventricles
from simulators.errors import FieldError
from simulators.fibres.ldrb import ldrb_fibres, orient, transmural_axis
from simulators.fibres.rule_based import helix_fibres
from simulators.mesh.coordinates import ventricular_coordinates
from simulators.mesh.parametric import biv_ellipsoid, lv_ellipsoid
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh

# Land et al. 2015 LV: (short, long) radii of the endocardium and epicardium
ENDO, EPI = np.array([7.0, 17.0]), np.array([10.0, 20.0])


def _same_line(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|cos| between rows: 1 for parallel or antiparallel directions."""
    return np.abs(np.einsum("ij,ij->i", a, b))


def _analytic_frame(points: np.ndarray) -> tuple[np.ndarray, ...]:
    """Circumferential, longitudinal and wall-normal unit vectors of the LV."""
    rho, z = np.hypot(points[:, 0], points[:, 1]), points[:, 2]

    # the wall parameter t of each point, by bisection on the ellipse family
    low, high = np.zeros(len(points)), np.ones(len(points))
    for _ in range(60):
        t = 0.5 * (low + high)
        r_s, r_l = (ENDO + t[:, None] * (EPI - ENDO)[None]).T
        outside = (rho / r_s) ** 2 + (z / r_l) ** 2 > 1.0
        low, high = np.where(outside, t, low), np.where(outside, high, t)
    r_s, r_l = (ENDO + t[:, None] * (EPI - ENDO)[None]).T
    e_t = np.stack([points[:, 0] / r_s**2, points[:, 1] / r_s**2, z / r_l**2], 1)
    e_t /= np.linalg.norm(e_t, axis=1, keepdims=True)
    phi = np.arctan2(points[:, 1], points[:, 0])
    e_c = np.stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)], axis=1)
    return e_c, np.cross(e_t, e_c), e_t


def _face_neighbours(mesh: TetMesh) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of cells sharing a face."""
    faces = np.sort(mesh.cells[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]], axis=2)
    faces = faces.reshape(-1, 3)
    n = mesh.n_points
    key = (faces[:, 0] * n + faces[:, 1]) * n + faces[:, 2]
    order = np.argsort(key)
    twin = np.flatnonzero(key[order][1:] == key[order][:-1])
    return order[twin] // 4, order[twin + 1] // 4


@pytest.fixture(scope="module")
def lv():
    """Land LV with six layers, its LDRB system and its cell coordinates."""
    mesh = lv_ellipsoid("land2015", n_trans=6)
    coords = ventricular_coordinates(mesh)
    cell = {k: v[mesh.cells].mean(axis=1) for k, v in coords.items()}
    frame = _analytic_frame(mesh.points[mesh.cells].mean(axis=1))
    return mesh, ldrb_fibres(mesh), cell, frame


# ---------------------------------------------------------------- kernels
def test_orient_is_a_rotation_of_the_frame():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((50, 3, 3)))
    q *= np.sign(np.linalg.det(q))[:, None, None]  # right-handed
    e_c, e_l, e_t = q[:, :, 0], q[:, :, 1], q[:, :, 2]
    alpha, beta = rng.uniform(-np.pi, np.pi, (2, 50))
    f, s, n = orient(e_c, e_l, e_t, alpha, beta)

    frame = np.stack([f, s, n], axis=2)
    eye = np.broadcast_to(np.eye(3), frame.shape)
    np.testing.assert_allclose(frame.transpose(0, 2, 1) @ frame, eye, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(frame), 1.0, atol=1e-12)
    # the fibre stays in the (e_c, e_l) plane at the helix angle
    np.testing.assert_allclose(np.einsum("ij,ij->i", f, e_t), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        np.arctan2(np.einsum("ij,ij->i", f, e_l), np.einsum("ij,ij->i", f, e_c)),
        alpha,
        atol=1e-12,
    )
    zero = orient(e_c, e_l, e_t, np.zeros(50), np.zeros(50))
    for got, want in zip(zero, (e_c, e_l, e_t), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-15)


def test_transmural_axis_points_away_from_the_lv():
    x, y = np.eye(3)[:2]
    # LV free wall, septum (g_rv along g_lv), RV free wall (g_rv inwards)
    g_lv = np.array([x, x, x])
    g_rv = np.array([y, x, -x])
    g_epi = np.array([x, y, x])
    d = np.array([0.0, 0.5, 1.0])
    e = np.array([0.5, 0.0, 0.5])
    e_t, s_rv, k = transmural_axis(g_lv, g_rv, g_epi, d, e)
    np.testing.assert_allclose(e_t, [x, x, x], atol=1e-15)
    assert s_rv.tolist() == [1.0, 1.0, -1.0]
    # k: the epicardial direction agrees (1) or is orthogonal (0)
    assert k.tolist() == [1.0, 0.0, 1.0]


def test_defaults_are_bayers():
    params = inspect.signature(ldrb_fibres).parameters
    for wall in ("lv", "rv"):
        assert params[f"alpha_endo_{wall}_deg"].default == 40.0
        assert params[f"alpha_epi_{wall}_deg"].default == -50.0
        assert params[f"beta_endo_{wall}_deg"].default == -65.0
        assert params[f"beta_epi_{wall}_deg"].default == 25.0


# ---------------------------------------------------------------- LV rules
def test_fibres_sheets_normals_are_orthonormal(lv):
    _, fs, _, _ = lv
    frame = np.stack([fs.fibres, fs.sheets, fs.normals], axis=2)
    eye = np.broadcast_to(np.eye(3), frame.shape)
    np.testing.assert_allclose(frame.transpose(0, 2, 1) @ frame, eye, atol=1e-12)


def test_helix_angle_is_linear_across_the_wall(lv, record_property):
    mesh, fs, cell, (e_c, e_l, _) = lv
    f = fs.fibres
    alpha = np.rad2deg(np.arctan2((f * e_l).sum(1), (f * e_c).sum(1)))
    expected = 40.0 + (-50.0 - 40.0) * cell["transmural"]
    error = (alpha - expected + 90.0) % 180.0 - 90.0  # fibres are lines

    # away from the apex, where the long axis leaves e_l undefined
    body = cell["apico_basal"] > 0.2
    mid = body & (np.abs(cell["transmural"] - 0.5) < 0.05)
    line = (
        f"mid-wall helix error: mean {np.abs(error[mid]).mean():.2f} deg, max "
        f"{np.abs(error[mid]).max():.2f} deg over {mid.sum()} cells; whole "
        f"wall mean {np.abs(error[body]).mean():.2f} deg"
    )
    record_property("helix_error", line)
    print(line)

    # the frame is the only source of error (Laplace gradients against the
    # analytic normals, measured 0.1 deg mean, 2.2 deg max at mid-wall)
    assert np.abs(error[mid]).max() < 5.0
    assert np.abs(error[mid]).mean() < 1.0
    assert np.abs(error[body]).mean() < 1.0


def test_sheet_angle_is_linear_across_the_wall(lv):
    _, fs, cell, (_, _, e_t) = lv
    s0 = np.cross(e_t, fs.fibres)  # the sheet at beta = 0
    beta = np.rad2deg(np.arctan2(-(fs.sheets * e_t).sum(1), (fs.sheets * s0).sum(1)))
    expected = -65.0 + (25.0 + 65.0) * cell["transmural"]
    error = (beta - expected + 90.0) % 180.0 - 90.0
    mid = (cell["apico_basal"] > 0.2) & (np.abs(cell["transmural"] - 0.5) < 0.05)
    assert np.abs(error[mid]).max() < 5.0


def test_zero_helix_gives_circumferential_fibres(lv):
    mesh, _, cell, (e_c, _, e_t) = lv
    fs = ldrb_fibres(mesh, alpha_endo_lv_deg=0.0, alpha_epi_lv_deg=0.0)
    body = cell["apico_basal"] > 0.2
    assert _same_line(fs.fibres, e_c)[body].min() > 0.99
    # and the fibres stay in the wall (measured tilt below 3 deg)
    assert _same_line(fs.fibres, e_t)[body].max() < np.sin(np.deg2rad(5.0))


def test_fibres_are_smooth_between_neighbours(lv):
    mesh, fs, _, _ = lv
    a, b = _face_neighbours(mesh)
    cos = _same_line(fs.fibres[a], fs.fibres[b])
    assert cos.mean() > 0.99

    # off the long axis (where the circumferential direction turns through
    # a full circle within a few cells): a 90 deg turn over six layers is
    # 15 deg per layer (cos 0.966) and neighbours are at most a layer apart
    centre = mesh.points[mesh.cells].mean(axis=1)
    off_axis = np.hypot(centre[:, 0], centre[:, 1]) > 2.0
    assert cos[off_axis[a] & off_axis[b]].min() > 0.95


def test_node_numbering_changes_no_fibre_line(lv):
    mesh, fs, _, _ = lv
    rng = np.random.default_rng(3)
    perm = rng.permutation(mesh.n_points)
    renumbered = TetMesh(
        mesh.points[perm],
        np.argsort(perm)[mesh.cells],
        point_data={k: v[perm] for k, v in mesh.point_data.items()},
    )
    again = ldrb_fibres(renumbered)
    # the same lines, whatever sign each comes out with
    np.testing.assert_allclose(_same_line(again.fibres, fs.fibres), 1.0, atol=1e-9)
    np.testing.assert_allclose(_same_line(-again.sheets, fs.sheets), 1.0, atol=1e-9)


# ---------------------------------------------------------------- BiV
def test_rv_angles_apply_to_the_rv_free_wall():
    mesh = biv_ellipsoid(rv_wall_mm=6.0, h_mm=3.0)
    fs = ldrb_fibres(mesh, alpha_endo_rv_deg=70.0, alpha_epi_rv_deg=-20.0)
    region = mesh.cell_data["region"]

    # alpha_deg is in the frame pointing away from the LV cavity: outwards
    # in both free walls, so each shows its own linear rule
    e, d = fs.wall_depth, fs.septal_depth
    rv = (region == REGION_RV) & (d > 0.95)
    lv = (region == REGION_LV) & (d < 0.05)
    rv_rule = 70.0 + (-20.0 - 70.0) * e[rv]
    lv_rule = 40.0 + (-50.0 - 40.0) * e[lv]
    assert np.median(np.abs(fs.alpha_deg[rv] - rv_rule)) < 3.0
    assert np.median(np.abs(fs.alpha_deg[lv] - lv_rule)) < 3.0

    # across the septum the angle turns from +40 (LV side) to -70 (RV side)
    septum = region == REGION_SEPTUM
    assert np.median(fs.alpha_deg[septum & (d < 0.1)]) > 25.0
    assert np.median(fs.alpha_deg[septum & (d > 0.9)]) < -50.0


def test_parametric_heart_drives_the_activation_model():
    # mesh, coordinates and fibres from this issue feed the Eikonal model
    mesh = biv_ellipsoid(rv_wall_mm=6.0, h_mm=3.0)
    mesh = mesh.with_fields(point_data=ventricular_coordinates(mesh))
    heart = Ventricles(mesh, ldrb_fibres(mesh).fibres)
    lbbb = heart.activate(PacingPlan("lbbb"))
    assert np.isfinite(lbbb.t_ms).all()
    # a sanity band around the clinical LBBB QRS of 150-170 ms (measured
    # 151 ms on this idealised heart)
    assert 110.0 < lbbb.markers.tat_ms < 200.0


def test_bad_input_is_named():
    mesh = lv_ellipsoid("land2015", n_circ=12, n_long=6, n_trans=1)
    with pytest.raises(FieldError, match="fibre angles must be finite"):
        ldrb_fibres(mesh, beta_epi_rv_deg=float("nan"))
    del mesh.point_data["surface_lv_epi"]
    with pytest.raises(FieldError, match="no node set 'lv_epi'"):
        ldrb_fibres(mesh)


# ---------------------------------------------------------------- real heart
def test_real_heart_ldrb_agrees_with_the_helix_rule(rodero_mesh, record_property):
    fs = ldrb_fibres(
        rodero_mesh,
        alpha_endo_lv_deg=60.0,
        alpha_epi_lv_deg=-60.0,
        alpha_endo_rv_deg=60.0,
        alpha_epi_rv_deg=-60.0,
    )
    helix = helix_fibres(rodero_mesh, 60.0, -60.0)
    cos = _same_line(fs.fibres, helix)
    region = rodero_mesh.cell_data["region"]
    means = {
        name: float(cos[region == tag].mean())
        for name, tag in (
            ("LV", REGION_LV),
            ("RV", REGION_RV),
            ("septum", REGION_SEPTUM),
        )
    }
    line = ", ".join(f"{k} {v:.3f}" for k, v in means.items())
    record_property("ldrb_vs_helix_mean_abs_cos", line)
    print(f"LDRB vs helix fibres (+60/-60), mean |cos|: {line}")

    # same angle rule on Laplace coordinates of the same definition: only
    # the apicobasal field and the blending at the junctions differ
    # (measured LV 0.970, RV 0.982, septum 0.995)
    assert min(means.values()) > 0.85
    assert means["LV"] > 0.9
