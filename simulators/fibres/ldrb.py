"""Laplace-Dirichlet rule-based fibres, sheets and normals (Bayer et al. 2012).

Four harmonic point fields (P1 finite elements, `simulators.mesh.laplace`)
span the ventricles:

- phi_epi: 1 on the epicardium (LV and RV), 0 on both endocardia;
- phi_lv: 1 on the LV endocardium, 0 on the RV endocardium and epicardium;
- phi_rv = 1 - phi_lv - phi_epi: 1 on the RV endocardium (free wall and
  septal side). The three share their Dirichlet nodes and add up to one,
  so phi_rv needs no solve of its own;
- psi: 0 on an apex patch, 1 on the base (the ``apico_basal`` coordinate).

In every cell the septal depth d = phi_rv / (phi_lv + phi_rv) (0 at the LV
endocardium, 1 at the RV one) and the wall depth e = phi_epi (0 endocardium,
1 epicardium) weigh three transmural directions: g_lv = -grad phi_lv (away
from the LV cavity), g_rv = grad phi_rv (towards the RV cavity) and
g_epi = grad phi_epi (towards the epicardium), as unit vectors.

Bayer et al. rotate a frame per direction by its own helix and sheet angles
and blend the rotated frames by quaternion slerp (bislerp), first across the
septum by d, then across the wall by e. Two side effects follow: the angles
are interpolated twice, so the free-wall helix angle is quadratic in depth,
alpha_endo (1 - e^2) + alpha_epi e^2 (+17.5 deg at mid-wall for their
+40/-50 deg, not -5), and slerping frames with different sheet angles tilts
the fibre out of the wall (about 19 deg at mid-wall for their defaults).
Here the directions are blended first and the frame rotated once:

1. transmural axis, oriented away from the LV cavity (outwards in both free
   walls, from LV to RV across the septum)::

       s_rv = sign(g_rv . (g_lv + g_epi))     (+1 septum, -1 RV free wall)
       g_endo = unit((1 - d) g_lv + d s_rv g_rv)
       k = clip(2 g_endo . g_epi, -1, 1)      (a soft sign)
       e_t = unit((1 - e) g_endo + e k g_epi)

2. e_l = unit(grad psi - (grad psi . e_t) e_t), e_c = e_l x e_t, so that
   (e_c, e_l, e_t) is right-handed as in `simulators.fibres.rule_based`;
3. angles in that frame, Bayer's septal rule (the RV endocardial angle
   changes sign where the axis points into the RV cavity) blended with the
   epicardial one::

       a_endo = (1 - d) a_endo_lv - d s_rv a_endo_rv
       a_epi = (1 - d) a_epi_lv + d a_epi_rv
       alpha = ((1 - e) a_endo + e k a_epi) / ((1 - e) + e |k|)

   and the same for beta. In a free wall (k = 1) this is the linear rule
   alpha = alpha_endo (1 - e) + alpha_epi e; across the septum (e small) it
   is Bayer's alpha_endo_lv (1 - d) - alpha_endo_rv d;
4. orient (Bayer's Q A(alpha) B(beta)): with s0 = -sin(alpha) e_c +
   cos(alpha) e_l::

       f = cos(alpha) e_c + sin(alpha) e_l
       s = cos(beta) s0 - sin(beta) e_t
       n = sin(beta) s0 + cos(beta) e_t

f, s and n are orthonormal by construction; their signs carry no meaning.

References
----------
Bayer JD, Blake RC, Plank G, Trayanova NA. A novel rule-based algorithm for
assigning myocardial fiber orientation to computational heart models. Ann
Biomed Eng 2012;40(10):2243-2254.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from simulators.errors import FieldError
from simulators.fibres.rule_based import cell_gradients, smooth_cell_vectors
from simulators.mesh.coordinates import apex_patch
from simulators.mesh.laplace import solve_laplace, stiffness_matrix
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

__all__ = [
    "FibreSystem",
    "laplace_fields",
    "ldrb_fibres",
    "ldrb_kernel",
    "orient",
    "transmural_axis",
]

# gradients shorter than this fraction of their median count as zero
_FLAT = 1e-8


@dataclass(frozen=True, eq=False)
class FibreSystem:
    """Fibre, sheet and sheet-normal directions per cell.

    Attributes
    ----------
    fibres, sheets, normals : ndarray of shape (n_cells, 3)
        Orthonormal unit vectors per cell (signs carry no meaning).
    wall_depth : ndarray of shape (n_cells,)
        e = phi_epi, 0 on the endocardium, 1 on the epicardium.
    septal_depth : ndarray of shape (n_cells,)
        d = phi_rv / (phi_lv + phi_rv), 0 at the LV endocardium, 1 at the RV
        one (0 everywhere on an LV-only mesh).
    alpha_deg, beta_deg : ndarray of shape (n_cells,)
        Helix and sheet angles applied, degrees, in the frame whose
        transmural axis points away from the LV cavity.
    """

    fibres: np.ndarray
    sheets: np.ndarray
    normals: np.ndarray
    wall_depth: np.ndarray
    septal_depth: np.ndarray
    alpha_deg: np.ndarray
    beta_deg: np.ndarray


def ldrb_fibres(
    mesh: TetMesh,
    *,
    alpha_endo_lv_deg: float = 40.0,
    alpha_epi_lv_deg: float = -50.0,
    alpha_endo_rv_deg: float = 40.0,
    alpha_epi_rv_deg: float = -50.0,
    beta_endo_lv_deg: float = -65.0,
    beta_epi_lv_deg: float = 25.0,
    beta_endo_rv_deg: float = -65.0,
    beta_epi_rv_deg: float = 25.0,
    smooth: bool = True,
    apex_radius_mm: float | None = None,
) -> FibreSystem:
    """Laplace-Dirichlet rule-based fibres on a tagged ventricular mesh.

    Parameters
    ----------
    mesh : TetMesh
        Ventricular mesh, mm, with node sets ``surface_lv_endo``,
        ``surface_lv_epi``, ``surface_base`` and, for two ventricles,
        ``surface_rv_endo``, ``surface_rv_epi`` and ``surface_rv_septum``.
    alpha_endo_lv_deg, alpha_epi_lv_deg : float, default 40, -50
        Helix angle on the LV endocardium and epicardium, degrees, positive
        counter-clockwise seen from outside (Bayer et al. 2012 defaults).
    alpha_endo_rv_deg, alpha_epi_rv_deg : float, default 40, -50
        The same on the RV, measured in the RV wall's own frame.
    beta_endo_lv_deg, beta_epi_lv_deg : float, default -65, 25
        Sheet angle on the LV endocardium and epicardium, degrees.
    beta_endo_rv_deg, beta_epi_rv_deg : float, default -65, 25
        The same on the RV.
    smooth : bool, default True
        Average each gradient to the nodes and back once
        (`simulators.fibres.rule_based.smooth_cell_vectors`) to remove the
        cell-to-cell jitter of P1 gradients.
    apex_radius_mm : float or None, default None
        Radius of the apex patch of psi (`simulators.mesh.coordinates`).

    Returns
    -------
    FibreSystem
        Fibres, sheets and normals of shape (n_cells, 3), and the depths and
        angles that made them.

    Raises
    ------
    FieldError
        If a required node set is missing or empty, or an angle is not
        finite.

    Examples
    --------
    >>> from simulators.mesh.parametric import lv_ellipsoid
    >>> m = lv_ellipsoid("land2015", n_circ=12, n_long=6, n_trans=2)
    >>> fs = ldrb_fibres(m)
    >>> fs.fibres.shape == (m.n_cells, 3)
    True
    >>> bool(np.allclose(np.einsum("ij,ij->i", fs.fibres, fs.sheets), 0.0))
    True
    """
    angles = np.array(
        [
            [alpha_endo_lv_deg, alpha_epi_lv_deg, alpha_endo_rv_deg, alpha_epi_rv_deg],
            [beta_endo_lv_deg, beta_epi_lv_deg, beta_endo_rv_deg, beta_epi_rv_deg],
        ],
        dtype=float,
    )
    if not np.isfinite(angles).all():
        raise FieldError(f"fibre angles must be finite degrees, got {angles.tolist()}")
    for name in ("lv_endo", "lv_epi", "base"):
        if mesh.surface_nodes(name).size == 0:
            raise FieldError(f"LDRB fibres need a non-empty node set surface_{name}")
    fields = laplace_fields(mesh, apex_radius_mm)

    # cell values and (smoothed) gradients of the four fields
    cells = mesh.cells
    values = [fields[k][cells].mean(axis=1) for k in ("lv", "rv", "epi")]
    grads = []
    for key in ("lv", "rv", "epi", "psi"):
        grad = cell_gradients(mesh.points, cells, fields[key])
        grads.append(smooth_cell_vectors(mesh.points, cells, grad) if smooth else grad)
    system = ldrb_kernel(*values, *grads, angles)

    length = np.linalg.norm(system.fibres, axis=1)
    flat = np.flatnonzero(~(np.abs(length - 1.0) < 1e-6))
    if flat.size:
        raise FieldError(
            f"fibres undefined in {flat.size} cells (vanishing gradients): cell "
            f"ids {flat[:10].tolist()}; check the node sets"
        )
    logger.info(
        "LDRB fibres: %d cells, alpha %.0f/%.0f (LV) %.0f/%.0f (RV) deg",
        mesh.n_cells,
        *angles[0],
    )
    return system


def ldrb_kernel(
    phi_lv: np.ndarray,
    phi_rv: np.ndarray,
    phi_epi: np.ndarray,
    grad_lv: np.ndarray,
    grad_rv: np.ndarray,
    grad_epi: np.ndarray,
    grad_psi: np.ndarray,
    angles_deg: np.ndarray,
) -> FibreSystem:
    """The LDRB rule on arrays: depths, axes, angles and rotation per cell.

    Parameters
    ----------
    phi_lv, phi_rv, phi_epi : ndarray of shape (n,)
        The three transmural fields at each cell (module docstring).
    grad_lv, grad_rv, grad_epi, grad_psi : ndarray of shape (n, 3)
        Their gradients and that of psi, any length, 1/mm.
    angles_deg : ndarray of shape (2, 4)
        Helix (row 0) and sheet (row 1) angles, degrees, at the LV
        endocardium, LV epicardium, RV endocardium and RV epicardium.

    Returns
    -------
    FibreSystem

    Examples
    --------
    >>> x, y, z = np.eye(3)[:, None, :]
    >>> one, half = np.ones(1), np.full(1, 0.5)
    >>> fs = ldrb_kernel(half, 0 * one, half, -x, 0 * x, x, z, np.zeros((2, 4)))
    >>> fs.fibres.round(12).tolist(), fs.wall_depth.tolist()
    ([[0.0, 1.0, 0.0]], [0.5])
    """
    # depths: across the septum (d) and across the wall (e)
    total = phi_lv + phi_rv
    safe = np.where(total > 1e-12, total, 1.0)
    septal = np.clip(np.where(total > 1e-12, phi_rv / safe, 0.0), 0.0, 1.0)
    wall = np.clip(phi_epi, 0.0, 1.0)

    # the local frame (e_c, e_l, e_t)
    g_lv, g_rv, g_epi, g_psi = (
        _unit_or_zero(g) for g in (grad_lv, grad_rv, grad_epi, grad_psi)
    )
    e_t, s_rv, k = transmural_axis(-g_lv, g_rv, g_epi, septal, wall)
    e_l = _unit_or_zero(g_psi - (g_psi * e_t).sum(axis=1, keepdims=True) * e_t)
    e_c = np.cross(e_l, e_t)

    # blended angles, one rotation
    alpha, beta = (
        _blend_angles(row, septal, wall, s_rv, k) for row in np.deg2rad(angles_deg)
    )
    fibres, sheets, normals = orient(e_c, e_l, e_t, alpha, beta)
    return FibreSystem(
        fibres=fibres,
        sheets=sheets,
        normals=normals,
        wall_depth=wall,
        septal_depth=septal,
        alpha_deg=np.rad2deg(alpha),
        beta_deg=np.rad2deg(beta),
    )


def laplace_fields(
    mesh: TetMesh, apex_radius_mm: float | None = None
) -> dict[str, np.ndarray]:
    """The four harmonic point fields of the LDRB method.

    Parameters
    ----------
    mesh : TetMesh
        Tagged ventricular mesh (see `ldrb_fibres`).
    apex_radius_mm : float or None
        Apex patch radius for psi (None: `simulators.mesh.coordinates`).

    Returns
    -------
    dict of str to ndarray of shape (n_points,)
        ``"epi"``, ``"lv"``, ``"rv"`` (phi_epi, phi_lv, phi_rv) and
        ``"psi"`` (0 apex, 1 base), dimensionless.
    """
    stiffness = stiffness_matrix(mesh.points, mesh.cells)
    lv = _mask(mesh, "lv_endo")
    rv = (_mask(mesh, "rv_endo") | _mask(mesh, "rv_septum")) & ~lv
    epi = (_mask(mesh, "lv_epi") | _mask(mesh, "rv_epi")) & ~(lv | rv)
    fixed = lv | rv | epi
    phi_epi = solve_laplace(stiffness, fixed, epi.astype(float))
    phi_lv = solve_laplace(stiffness, fixed, lv.astype(float))
    phi_rv = np.zeros(mesh.n_points) if not rv.any() else 1.0 - phi_lv - phi_epi

    base = _mask(mesh, "base")
    patch = apex_patch(mesh, apex_radius_mm)
    psi = solve_laplace(stiffness, patch | base, base.astype(float))
    return {"epi": phi_epi, "lv": phi_lv, "rv": phi_rv, "psi": psi}


def transmural_axis(
    g_lv: np.ndarray,
    g_rv: np.ndarray,
    g_epi: np.ndarray,
    septal_depth: np.ndarray,
    wall_depth: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend three transmural directions into one axis, away from the LV.

    Parameters
    ----------
    g_lv, g_rv, g_epi : ndarray of shape (n, 3)
        Unit directions away from the LV cavity, towards the RV cavity and
        towards the epicardium (zero rows where undefined).
    septal_depth, wall_depth : ndarray of shape (n,)
        d and e in [0, 1].

    Returns
    -------
    e_t : ndarray of shape (n, 3)
        Unit transmural axis (module docstring, step 1).
    s_rv : ndarray of shape (n,)
        sign(g_rv . (g_lv + g_epi)): +1 in the septum, where g_rv runs along
        g_lv, -1 in the RV free wall, where it opposes g_epi (there g_lv
        points along the wall, away from the LV, and says nothing).
    k : ndarray of shape (n,)
        Soft sign of g_endo . g_epi in [-1, 1].

    Examples
    --------
    >>> x = np.array([[1.0, 0.0, 0.0]])
    >>> e_t, s_rv, k = transmural_axis(x, -x, x, np.array([1.0]), np.array([0.5]))
    >>> e_t.tolist(), s_rv.tolist(), k.tolist()
    ([[1.0, 0.0, 0.0]], [-1.0], [1.0])
    """
    d, e = septal_depth[:, None], wall_depth[:, None]
    s_rv = np.where((g_rv * (g_lv + g_epi)).sum(axis=1) >= 0.0, 1.0, -1.0)
    g_endo = _unit_or_zero((1.0 - d) * g_lv + d * s_rv[:, None] * g_rv)
    k = np.clip(2.0 * (g_endo * g_epi).sum(axis=1), -1.0, 1.0)
    axis = (1.0 - e) * g_endo + e * k[:, None] * g_epi

    # where the blend cancels (an endocardial and an orthogonal epicardial
    # direction at equal weight) keep the stronger of the two
    weak = np.linalg.norm(axis, axis=1) < 1e-6
    axis[weak] = np.where(e[weak] < 0.5, g_endo[weak], g_epi[weak])
    return _unit_or_zero(axis), s_rv, k


def orient(
    e_c: np.ndarray,
    e_l: np.ndarray,
    e_t: np.ndarray,
    alpha_rad: np.ndarray,
    beta_rad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate a local frame by the helix and sheet angles (Bayer's orient).

    Parameters
    ----------
    e_c, e_l, e_t : ndarray of shape (n, 3)
        Orthonormal circumferential, longitudinal and transmural axes.
    alpha_rad, beta_rad : ndarray of shape (n,)
        Helix angle (about e_t) and sheet angle (about the fibre), radians.

    Returns
    -------
    fibres, sheets, normals : ndarray of shape (n, 3)
        f = cos(a) e_c + sin(a) e_l; with s0 = -sin(a) e_c + cos(a) e_l,
        s = cos(b) s0 - sin(b) e_t and n = sin(b) s0 + cos(b) e_t.

    Examples
    --------
    >>> ex, ey, ez = np.eye(3)[:, None, :]
    >>> f, s, n = orient(ex, ey, ez, np.array([np.pi / 2]), np.array([0.0]))
    >>> np.round(f, 12).tolist(), np.round(s, 12).tolist()
    ([[0.0, 1.0, 0.0]], [[-1.0, 0.0, 0.0]])
    """
    ca, sa = np.cos(alpha_rad)[:, None], np.sin(alpha_rad)[:, None]
    cb, sb = np.cos(beta_rad)[:, None], np.sin(beta_rad)[:, None]
    fibres = ca * e_c + sa * e_l
    s0 = -sa * e_c + ca * e_l
    return fibres, cb * s0 - sb * e_t, sb * s0 + cb * e_t


def _blend_angles(
    row: np.ndarray,
    septal: np.ndarray,
    wall: np.ndarray,
    s_rv: np.ndarray,
    k: np.ndarray,
) -> np.ndarray:
    """Angle per cell from (endo LV, epi LV, endo RV, epi RV), radians."""
    endo_lv, epi_lv, endo_rv, epi_rv = row
    endo = (1.0 - septal) * endo_lv - septal * s_rv * endo_rv
    epi = (1.0 - septal) * epi_lv + septal * epi_rv
    weight = (1.0 - wall) + wall * np.abs(k)
    return ((1.0 - wall) * endo + wall * k * epi) / np.maximum(weight, 1e-12)


def _unit_or_zero(vec: np.ndarray) -> np.ndarray:
    """Normalise rows; rows much shorter than the median become zero."""
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    scale = np.median(norm[norm > 0]) if np.any(norm > 0) else 0.0
    ok = norm > _FLAT * scale
    return np.divide(vec, norm, out=np.zeros_like(vec), where=ok)


def _mask(mesh: TetMesh, name: str) -> np.ndarray:
    """Boolean node set, all False when the mesh lacks it."""
    key = f"surface_{name}"
    if key not in mesh.point_data:
        return np.zeros(mesh.n_points, dtype=bool)
    return np.asarray(mesh.point_data[key], dtype=bool)
