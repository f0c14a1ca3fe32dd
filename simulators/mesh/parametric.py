"""Parametric ventricles: a truncated-ellipsoid LV and a biventricular shape.

`lv_ellipsoid` meshes the wall between two coaxial truncated ellipsoids in
ellipsoidal coordinates, following Land et al. (2015):

    x = R(t) sin(theta) cos(phi),  y = R(t) sin(theta) sin(phi),
    z = -L(t) cos(theta),

with R and L (short and long radii, mm) linear in the transmural parameter t
(0 endocardium, 1 epicardium), theta from 0 at the apex (z = -L, pointing to
-z) to theta_b(t) = arccos(-z_b / L(t)) where the wall meets the base plane
z = z_b. The surface is covered by rings of constant theta, equally spaced
in mid-wall arc length, whose node counts shrink towards the apex so that
the triangles stay near equilateral (an apex fan, no needles); the surface
triangulation is extruded through the wall in layers of constant t and each
prism is cut into three tetrahedra by the rule of Dompierre et al. (1999),
which makes neighbouring prisms agree on their shared faces.

`biv_ellipsoid` takes the LV wall and an RV shell outside it, both bounded by
ellipsoids, cuts them out of a Kuhn-tetrahedral grid by cell centroid, tags
the boundary faces, and snaps the boundary nodes onto the ellipsoids and the
base plane, backing off where a tetrahedron would degrade.

References
----------
Land S, Gurev V, Arens S, et al. Verification of cardiac mechanics software:
benchmark problems and solutions for testing active and passive material
behaviour. Proc R Soc A 2015;471:20150641.
Dompierre J, Labbe P, Vallet MG, Camarero R. How to subdivide pyramids,
prisms and hexahedra into tetrahedra. Proc 8th Int Meshing Roundtable, 1999.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from simulators.errors import FieldError, MeshError, ParameterError
from simulators.mesh.structured import box_mesh
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh
from simulators.mesh.validate import SLIVER_MIN_DIHEDRAL_DEG, tet_min_dihedral_deg

logger = logging.getLogger(__name__)

__all__ = [
    "PRESETS",
    "biv_ellipsoid",
    "boundary_faces",
    "cavity_volume_ml",
    "lv_ellipsoid",
]

#: Land et al. 2015 benchmark LV, mm: endocardial short and long radii 7 and
#: 17, epicardial 10 and 20, base plane z = 5.
LAND2015 = {
    "r_short_endo": 7.0,
    "r_long_endo": 17.0,
    "r_short_epi": 10.0,
    "r_long_epi": 20.0,
    "base_z": 5.0,
}

#: Scale from the Land LV to a human LV: cavity 116 mL, wall 150 mL, near
#: the Rodero heart's 120 mL and 164 mL (LV wall with septum).
HUMAN_SCALE = 3.6

#: Shapes by name, in mm.
PRESETS = {
    "land2015": LAND2015,
    "human": {key: HUMAN_SCALE * value for key, value in LAND2015.items()},
}

#: Smallest dihedral angle a snapped BiV tetrahedron may keep, degrees: twice
#: the sliver threshold of `simulators.mesh.validate` (a Kuhn tet has 45).
MIN_DIHEDRAL_DEG = 2.0 * SLIVER_MIN_DIHEDRAL_DEG

#: Passes that peel staircase steps off the BiV before snapping; the few
#: steps left after them are snapped only as far as quality allows.
PEEL_SWEEPS = 4

#: Jacobi sweeps that spread the boundary moves into the BiV's interior.
SMOOTHING_SWEEPS = 8

# where the septum (the RV) and the anterior wall lie, for the rotational
# coordinate and `simulators.ep.ventricles`: right-handed about +z
_DIRECTIONS = {
    "septum_direction": [1.0, 0.0, 0.0],
    "anterior_direction": [0.0, 1.0, 0.0],
}

# outward faces of a positive tetrahedron, as local vertex numbers
_FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])

# Dompierre et al. 1999, table 2: vertex permutations of a prism (bottom
# 0 1 2, top 3 4 5 above them) that bring vertex i to position 0
_PRISM_TURNS = np.array(
    [
        [0, 1, 2, 3, 4, 5],
        [1, 2, 0, 4, 5, 3],
        [2, 0, 1, 5, 3, 4],
        [3, 5, 4, 0, 2, 1],
        [4, 3, 5, 1, 0, 2],
        [5, 4, 3, 2, 1, 0],
    ]
)


def lv_ellipsoid(
    preset: str = "human",
    *,
    r_short_endo_mm: float | None = None,
    r_long_endo_mm: float | None = None,
    r_short_epi_mm: float | None = None,
    r_long_epi_mm: float | None = None,
    base_z_mm: float | None = None,
    n_circ: int = 48,
    n_long: int = 24,
    n_trans: int = 4,
) -> TetMesh:
    """Tetrahedral mesh of a truncated ellipsoidal LV, apex towards -z.

    Parameters
    ----------
    preset : {"human", "land2015"}, default "human"
        Shape whose radii and base height are used where the arguments
        below are None: "land2015" is the Land et al. (2015) benchmark
        (7/17 mm endocardium, 10/20 mm epicardium, base z = 5 mm), "human"
        the same shape scaled by 3.6 (cavity about 116 mL).
    r_short_endo_mm, r_long_endo_mm : float or None
        Endocardial short (equatorial) and long (apical) radii, mm.
    r_short_epi_mm, r_long_epi_mm : float or None
        Epicardial radii, mm; each larger than its endocardial one.
    base_z_mm : float or None
        Height of the base plane, mm, with ``|z_b| < r_long_endo_mm``.
    n_circ : int, default 48
        Nodes on the widest ring of constant theta (at least 6).
    n_long : int, default 24
        Rings from the apex to the base (at least 2).
    n_trans : int, default 4
        Element layers through the wall (at least 1).

    Returns
    -------
    TetMesh
        Points (n_points, 3) in mm and positively oriented cells
        (n_cells, 4); ``cell_data["region"]`` = 1 (LV) everywhere; node
        sets ``surface_lv_endo``, ``surface_lv_epi``, ``surface_base``;
        ``meta`` holds the shape, the counts, the cavity and wall volumes
        in mL, and the directions ``septum_direction`` (+x, where the RV of
        `biv_ellipsoid` lies) and ``anterior_direction`` (+y).

    Raises
    ------
    ParameterError
        If a radius is not positive, an epicardial radius does not exceed
        its endocardial one, the base plane misses the cavity, or a count
        is too small.

    Examples
    --------
    >>> m = lv_ellipsoid("land2015", n_circ=12, n_long=6, n_trans=2)
    >>> bool((m.signed_volumes() > 0).all()), m.meta["preset"]
    (True, 'land2015')
    """
    shape = _lv_shape(
        preset,
        r_short_endo_mm,
        r_long_endo_mm,
        r_short_epi_mm,
        r_long_epi_mm,
        base_z_mm,
    )
    _check_counts(n_circ=n_circ, n_long=n_long, n_trans=n_trans)

    # the mid-wall surface: rings of constant theta, triangulated
    sigma, counts = _rings(shape, n_circ, n_long)
    ring, phi, triangles = _ring_triangulation(counts)

    # layers of constant t, extruded into prisms and cut into tets
    points = _lv_points(shape, sigma[ring], phi, n_trans)
    n_surf = len(ring)
    layer = np.arange(n_trans)[:, None, None] * n_surf
    prisms = np.concatenate(
        [triangles[None] + layer, triangles[None] + layer + n_surf], axis=2
    )
    cells = _orient(points, _split_prisms(prisms.reshape(-1, 6)))
    _check_cells(points, cells)

    # node sets and volumes
    layer_id = np.repeat(np.arange(n_trans + 1), n_surf)
    point_data = {
        "surface_lv_endo": layer_id == 0,
        "surface_lv_epi": layer_id == n_trans,
        "surface_base": np.tile(ring == n_long, n_trans + 1),
    }
    mesh = TetMesh(
        points,
        cells,
        point_data=point_data,
        cell_data={"region": np.full(len(cells), REGION_LV, dtype=np.int32)},
    )
    meta = {
        "name": "lv_ellipsoid",
        "source": __name__,
        "preset": preset,
        **{f"{key}_mm": float(value) for key, value in shape.items()},
        "n_circ": int(n_circ),
        "n_long": int(n_long),
        "n_trans": int(n_trans),
        "lv_cavity_ml": cavity_volume_ml(mesh, "lv_endo"),
        "wall_volume_ml": float(mesh.signed_volumes().sum() / 1000.0),
        **_DIRECTIONS,
    }
    logger.info(
        "LV ellipsoid (%s): %d nodes, %d tets, cavity %.1f mL, wall %.1f mL",
        preset,
        mesh.n_points,
        mesh.n_cells,
        meta["lv_cavity_ml"],
        meta["wall_volume_ml"],
    )
    return mesh.with_fields(meta=meta)


def biv_ellipsoid(
    *,
    lv_endo_radius_mm: float = 25.2,
    lv_endo_length_mm: float = 61.2,
    lv_wall_mm: float = 10.8,
    rv_depth_mm: float = 20.0,
    rv_radius_mm: float = 48.0,
    rv_length_mm: float = 58.0,
    rv_wall_mm: float = 4.0,
    base_z_mm: float = 18.0,
    h_mm: float = 2.0,
) -> TetMesh:
    """Tetrahedral mesh of an idealised biventricular heart, apex towards -z.

    The LV wall lies between the LV endocardial ellipsoid E0 (centre 0,
    radii a, a, c) and the epicardial E1 (radii a + w, a + w, c + w). The RV
    cavity is the RV endocardial ellipsoid E2 outside E1; E2 is centred at
    (x_c, 0, 0) with radii (x_c, r, l) and x_c = (a + w + depth) / 2, so it
    spans from the LV axis to the RV free wall at x = a + w + depth. The RV
    free wall lies between E2 and the RV epicardial E3 (E2's radii plus the
    RV wall) outside E1. Everything is cut at the base plane z = z_b. The
    septum (part of the LV wall) faces the RV cavity on the +x side; the
    +y side is anterior in the sense of `simulators.mesh.coordinates`.

    Parameters
    ----------
    lv_endo_radius_mm, lv_endo_length_mm : float
        LV cavity short radius a and long radius c (centre to apex), mm.
    lv_wall_mm : float
        LV wall and septum thickness w, mm.
    rv_depth_mm : float
        RV cavity depth at the equator, from the septum to the free wall, mm.
    rv_radius_mm : float
        RV cavity half-width r across the septum (along y), mm.
    rv_length_mm : float
        RV cavity long radius l, mm (RV apex at z = -l).
    rv_wall_mm : float
        RV free-wall thickness, mm.
    base_z_mm : float
        Base plane height z_b, mm, below both long radii.
    h_mm : float
        Grid spacing, mm, at most half the thinnest wall for a faithful
        shape (about 31,000 nodes at the default 2 mm).

    Returns
    -------
    TetMesh
        Positively oriented tetrahedra with ``cell_data["region"]`` 1 (LV
        free wall), 2 (RV free wall), 7 (septum); node sets
        ``surface_lv_endo``, ``surface_rv_endo`` (RV free-wall
        endocardium), ``surface_rv_septum`` (RV side of the septum),
        ``surface_lv_epi``, ``surface_rv_epi``, ``surface_base``; ``meta``
        holds the parameters, the LV and RV cavity volumes in mL, and
        ``septum_direction`` (+x) and ``anterior_direction`` (+y).

    Raises
    ------
    ParameterError
        If a length is not positive, the base plane misses a cavity, or
        `h_mm` exceeds the thinnest wall.

    Warns
    -----
    UserWarning
        If `h_mm` exceeds half the thinnest wall (volumes come out small).

    Examples
    --------
    >>> m = biv_ellipsoid(rv_wall_mm=8.0, h_mm=4.0)
    >>> sorted(set(m.cell_data["region"].tolist()))
    [1, 2, 7]
    """
    params = {
        "lv_endo_radius_mm": lv_endo_radius_mm,
        "lv_endo_length_mm": lv_endo_length_mm,
        "lv_wall_mm": lv_wall_mm,
        "rv_depth_mm": rv_depth_mm,
        "rv_radius_mm": rv_radius_mm,
        "rv_length_mm": rv_length_mm,
        "rv_wall_mm": rv_wall_mm,
        "h_mm": h_mm,
    }
    for name, value in params.items():
        if not np.isfinite(value) or value <= 0:
            raise ParameterError(f"{name} must be a positive length, got {value}")
    if not -lv_endo_length_mm < base_z_mm < min(lv_endo_length_mm, rv_length_mm):
        raise ParameterError(
            f"base_z_mm must lie between -{lv_endo_length_mm} and "
            f"{min(lv_endo_length_mm, rv_length_mm)} mm (below both cavities' long "
            f"radii) to open them, got {base_z_mm}"
        )
    _check_grid_step(h_mm, min(lv_wall_mm, rv_wall_mm))
    params["base_z_mm"] = base_z_mm
    shells = _biv_shells(params)

    # Kuhn grid cut to the myocardium, peeled, its boundary snapped
    points, cells = _cut_grid(shells, base_z_mm, h_mm)
    points, cells, faces, tags = _peel(points, cells, shells, base_z_mm, h_mm)
    points = _snap(points, cells, faces, tags, shells, base_z_mm, h_mm)

    # node sets from the tagged faces, regions from the cell centroids
    point_data = {}
    for name, tag in _TAGS.items():
        mask = np.zeros(len(points), dtype=bool)
        mask[faces[tags == tag]] = True
        point_data[f"surface_{name}"] = mask
    region = _regions(points[cells].mean(axis=1), shells)
    mesh = TetMesh(points, cells, point_data=point_data, cell_data={"region": region})
    meta = {
        "name": "biv_ellipsoid",
        "source": __name__,
        **{key: float(value) for key, value in params.items()},
        "lv_cavity_ml": cavity_volume_ml(mesh, "lv_endo"),
        "rv_cavity_ml": cavity_volume_ml(mesh, "rv_endo", "rv_septum"),
        "wall_volume_ml": float(mesh.signed_volumes().sum() / 1000.0),
        **_DIRECTIONS,
    }
    logger.info(
        "BiV ellipsoid: %d nodes, %d tets, LV %.1f mL, RV %.1f mL",
        mesh.n_points,
        mesh.n_cells,
        meta["lv_cavity_ml"],
        meta["rv_cavity_ml"],
    )
    return mesh.with_fields(meta=meta)


def boundary_faces(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces held by one tetrahedron only, oriented outwards.

    Parameters
    ----------
    cells : ndarray of shape (n_cells, 4)
        Positively oriented tetrahedra.

    Returns
    -------
    faces : ndarray of shape (n_faces, 3)
        Point ids of each boundary triangle, ordered so that the normal
        (p1 - p0) x (p2 - p0) points out of the mesh.
    owner : ndarray of shape (n_faces,)
        Cell id holding each face.
    """
    faces = cells[:, _FACES].reshape(-1, 3)
    keys = _face_keys(faces, int(cells.max()) + 1 if cells.size else 1)
    _, inverse, count = np.unique(keys, return_inverse=True, return_counts=True)
    once = count[inverse] == 1
    return faces[once], np.flatnonzero(once) // 4


def cavity_volume_ml(mesh: TetMesh, *surfaces: str) -> float:
    """Volume enclosed by endocardial node sets and a flat lid, mL.

    The boundary triangles whose three nodes lie in the named node sets
    bound the cavity together with a lid over their open rim. By the
    divergence theorem the volume is the sum of the signed tetrahedra
    (o, a, b, c) over those triangles, o the rim centroid; the lid adds
    nothing when it is flat (o lies in its plane).

    Parameters
    ----------
    mesh : TetMesh
        Mesh with positively oriented cells, mm.
    *surfaces : str
        Node set names without the ``surface_`` prefix, e.g. "lv_endo".

    Returns
    -------
    float
        Cavity volume, mL (1 mL = 1000 mm^3).
    """
    if not surfaces:
        raise FieldError("name at least one node set bounding the cavity")
    inside = np.zeros(mesh.n_points, dtype=bool)
    for name in surfaces:
        inside[mesh.surface_nodes(name)] = True
    faces, _ = boundary_faces(mesh.cells)
    faces = faces[inside[faces].all(axis=1)]
    if not len(faces):
        raise FieldError(f"no boundary triangle lies on the node sets {list(surfaces)}")

    # rim: edges of the patch used by one of its triangles only
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    rim = np.unique(uniq[count == 1])
    lid = mesh.points[rim].mean(axis=0) if rim.size else mesh.points[faces[0, 0]]

    # myocardial outward normals point into the cavity: flip the sign
    p = mesh.points[faces] - lid
    volume = -np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0
    return float(volume / 1000.0)


# ----------------------------------------------------------------- LV rings
def _lv_shape(preset: str, *values: float | None) -> dict[str, float]:
    """Radii and base height of the LV, the preset filling what is None."""
    if preset not in PRESETS:
        raise ParameterError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    keys = ("r_short_endo", "r_long_endo", "r_short_epi", "r_long_epi", "base_z")
    shape = {
        key: float(PRESETS[preset][key] if value is None else value)
        for key, value in zip(keys, values, strict=True)
    }
    for key in keys[:4]:
        if not np.isfinite(shape[key]) or shape[key] <= 0:
            raise ParameterError(f"{key}_mm must be positive, got {shape[key]}")
    for kind in ("r_short", "r_long"):
        if shape[f"{kind}_epi"] <= shape[f"{kind}_endo"]:
            raise ParameterError(
                f"{kind}_epi_mm ({shape[f'{kind}_epi']}) must exceed "
                f"{kind}_endo_mm ({shape[f'{kind}_endo']}): the wall needs a thickness"
            )
    if not abs(shape["base_z"]) < shape["r_long_endo"]:
        raise ParameterError(
            f"base_z_mm must lie strictly between -{shape['r_long_endo']} and "
            f"{shape['r_long_endo']} mm (r_long_endo_mm) to cut the cavity, got "
            f"{shape['base_z']}"
        )
    return shape


def _check_counts(**counts: int) -> None:
    """Raise unless each count is an integer at or above its least value."""
    least = {"n_circ": 6, "n_long": 2, "n_trans": 1}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ParameterError(f"{name} must be an integer, got {value!r}")
        if value < least[name]:
            raise ParameterError(f"{name} must be at least {least[name]}, got {value}")


def _rings(shape: dict, n_circ: int, n_long: int) -> tuple[np.ndarray, np.ndarray]:
    """Theta fractions of the rings and their node counts, apex ring first.

    Rings are equally spaced in mid-wall meridian arc length; each holds
    nodes in proportion to its radius, the widest `n_circ`, at least 3.
    """
    r_short = 0.5 * (shape["r_short_endo"] + shape["r_short_epi"])
    r_long = 0.5 * (shape["r_long_endo"] + shape["r_long_epi"])
    sigma = _equal_arc_fractions(r_short, r_long, shape["base_z"], n_long)
    radius = np.sin(sigma * _theta_base(r_long, shape["base_z"]))
    counts = np.maximum(3, np.rint(n_circ * radius / radius.max())).astype(int)
    counts[0] = 1
    return sigma, counts


def _lv_points(
    shape: dict, sigma: np.ndarray, phi: np.ndarray, n_trans: int
) -> np.ndarray:
    """Nodes of every layer: radii linear in t, theta scaled to each base.

    Returns an array of shape ((n_trans + 1) * n_surf, 3), layer by layer.
    """
    t = np.linspace(0.0, 1.0, n_trans + 1)[:, None]
    r_short = shape["r_short_endo"] + t * (shape["r_short_epi"] - shape["r_short_endo"])
    r_long = shape["r_long_endo"] + t * (shape["r_long_epi"] - shape["r_long_endo"])
    theta = sigma[None, :] * _theta_base(r_long, shape["base_z"])
    x = r_short * np.sin(theta) * np.cos(phi)
    y = r_short * np.sin(theta) * np.sin(phi)
    return np.stack([x, y, -r_long * np.cos(theta)], axis=-1).reshape(-1, 3)


def _theta_base(r_long: np.ndarray | float, base_z: float) -> np.ndarray:
    """Polar angle theta (from the apex) where z = -L cos(theta) = z_b."""
    return np.arccos(-base_z / np.asarray(r_long, dtype=float))


def _equal_arc_fractions(
    r_short: float, r_long: float, base_z: float, n: int
) -> np.ndarray:
    """Fractions of theta_b at n + 1 rings equally spaced in meridian arc length.

    Along the meridian x = R sin(theta), z = -L cos(theta) the arc length
    grows as ds = sqrt(R^2 cos^2 theta + L^2 sin^2 theta) dtheta.
    """
    theta = np.linspace(0.0, _theta_base(r_long, base_z), 2049)
    speed = np.hypot(r_short * np.cos(theta), r_long * np.sin(theta))
    arc = np.concatenate(
        [[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(theta))]
    )
    target = np.linspace(0.0, arc[-1], n + 1)
    return np.interp(target, arc, theta) / theta[-1]


def _ring_triangulation(
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangulate concentric rings of nodes, ring 0 being one apex node.

    Parameters
    ----------
    counts : ndarray of shape (n_rings,)
        Nodes per ring, ``counts[0] == 1``.

    Returns
    -------
    ring : ndarray of shape (n_nodes,)
        Ring of each node.
    phi : ndarray of shape (n_nodes,)
        Angle of each node, radians; odd rings are turned by half a step.
    triangles : ndarray of shape (n_triangles, 3)
        Node ids, all turning the same way round.
    """
    start = np.concatenate([[0], np.cumsum(counts)])
    ring = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(len(ring)) - start[ring]
    phi = 2.0 * np.pi * (local + 0.5 * (ring % 2)) / counts[ring]

    # zip each pair of rings: advance on whichever ring's next node comes
    # first in angle; each advance closes one triangle
    triangles = []
    for k in range(len(counts) - 1):
        na, nb, a0 = counts[k], counts[k + 1], phi[start[k]]
        b = phi[start[k + 1] : start[k + 2]]
        gap = np.angle(np.exp(1j * (b - a0)))  # wrapped to [-pi, pi)
        j0 = int(np.argmin(np.abs(gap)))
        a_steps = a0 + 2.0 * np.pi * np.arange(1, na + 1) / na
        b_steps = a0 + gap[j0] + 2.0 * np.pi * np.arange(1, nb + 1) / nb
        events = np.concatenate([a_steps, b_steps])
        is_a = np.concatenate([np.ones(na, bool), np.zeros(nb, bool)])
        order = np.argsort(events, kind="stable")
        is_a = is_a[order]
        i = np.cumsum(is_a) - is_a
        j = np.cumsum(~is_a) - ~is_a
        ia = start[k] + i % na
        ia_next = start[k] + (i + 1) % na
        jb = start[k + 1] + (j0 + j) % nb
        jb_next = start[k + 1] + (j0 + j + 1) % nb
        tri = np.where(
            is_a[:, None],
            np.stack([ia, jb, ia_next], axis=1),
            np.stack([ia, jb, jb_next], axis=1),
        )
        triangles.append(tri[(tri[:, 0] != tri[:, 2]) & (tri[:, 1] != tri[:, 2])])
    return ring, phi, np.concatenate(triangles)


def _split_prisms(prisms: np.ndarray) -> np.ndarray:
    """Cut prisms into three tetrahedra each, conformingly (Dompierre 1999).

    Every quadrilateral face is cut along the diagonal through its
    smallest point id, so two prisms sharing a face cut it the same way.

    Parameters
    ----------
    prisms : ndarray of shape (n, 6)
        Bottom triangle (0, 1, 2) and the top (3, 4, 5) above it.

    Returns
    -------
    ndarray of shape (3 n, 4)
        Tetrahedra, not yet oriented.
    """
    turn = _PRISM_TURNS[np.argmin(prisms, axis=1)]
    v = np.take_along_axis(prisms, turn, axis=1)

    # the quadrilateral (1, 2, 5, 4) opposite vertex 0 decides the cut
    cut_15 = np.minimum(v[:, 1], v[:, 5]) < np.minimum(v[:, 2], v[:, 4])
    first = np.where(cut_15[:, None], v[:, [0, 1, 2, 5]], v[:, [0, 1, 2, 4]])
    second = np.where(cut_15[:, None], v[:, [0, 1, 5, 4]], v[:, [0, 4, 2, 5]])
    third = v[:, [0, 4, 5, 3]]
    return np.concatenate([first, second, third])


def _orient(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Swap two vertices of every negatively oriented tetrahedron."""
    p = points[cells]
    negative = np.linalg.det(p[:, 1:] - p[:, :1]) < 0
    cells = cells.copy()
    cells[negative] = cells[negative][:, [0, 2, 1, 3]]
    return cells


def _face_keys(faces: np.ndarray, n_points: int) -> np.ndarray:
    """One integer per unordered triangle, equal for equal vertex sets."""
    f = np.sort(faces, axis=1).astype(np.int64)
    if n_points < 2**21:
        return (f[:, 0] * n_points + f[:, 1]) * n_points + f[:, 2]
    _, keys = np.unique(f, axis=0, return_inverse=True)
    return keys.ravel()


# ------------------------------------------------------------------ BiV
# face tags of the biventricular boundary, and the node sets they make
_TAGS = {
    "base": 0,
    "lv_endo": 1,
    "lv_epi": 2,
    "rv_endo": 3,
    "rv_epi": 4,
    "rv_septum": 5,
}

# ellipsoid each tag lies on (-1: the base plane): 0 LV endo, 1 LV epi,
# 2 RV endo, 3 RV epi
_TAG_SURFACE = np.array([-1, 0, 1, 2, 3, 1])


def _check_grid_step(h: float, wall: float) -> None:
    """Refuse a grid step above the thinnest wall, warn above half of it."""
    if h > wall:
        raise ParameterError(
            f"h_mm ({h:g}) must not exceed the thinnest wall ({wall:g} mm), or "
            "the wall breaks apart on the grid; lower h_mm"
        )
    if h > 0.5 * wall:
        warnings.warn(
            f"h_mm = {h:g} leaves the thinnest wall ({wall:g} mm) under two grid "
            "steps: the RV cavity and wall come out too small (by 10 % at 3 mm "
            f"for a 4 mm wall); lower h_mm to {0.5 * wall:g} or less",
            UserWarning,
            stacklevel=3,
        )


def _biv_shells(params: dict[str, float]) -> np.ndarray:
    """Centres and radii of the four ellipsoids, shape (4, 2, 3), mm."""
    a, c = params["lv_endo_radius_mm"], params["lv_endo_length_mm"]
    w, w_rv = params["lv_wall_mm"], params["rv_wall_mm"]
    x_c = 0.5 * (a + w + params["rv_depth_mm"])
    rv = np.array([x_c, params["rv_radius_mm"], params["rv_length_mm"]])
    origin, shift = np.zeros(3), np.array([x_c, 0.0, 0.0])
    return np.array(
        [
            [origin, [a, a, c]],
            [origin, [a + w, a + w, c + w]],
            [shift, rv],
            [shift, rv + w_rv],
        ]
    )


def _level(x: np.ndarray, shell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Implicit ellipsoid f = |(x - c) / r|^2 - 1 (negative inside) and grad f."""
    q = (x - shell[0]) / shell[1]
    return (q**2).sum(axis=-1) - 1.0, 2.0 * q / shell[1]


def _distance(x: np.ndarray, shell: np.ndarray) -> np.ndarray:
    """First-order distance |f| / |grad f| to an ellipsoid, mm."""
    f, g = _level(x, shell)
    return np.abs(f) / np.maximum(np.linalg.norm(g, axis=-1), 1e-12)


def _myocardium(x: np.ndarray, shells: np.ndarray) -> np.ndarray:
    """True where x lies in the LV wall or the RV free wall (below no plane)."""
    f = [_level(x, s)[0] for s in shells]
    lv_wall = (f[1] < 0) & (f[0] > 0)
    rv_wall = (f[3] < 0) & (f[2] > 0) & (f[1] >= 0)
    return lv_wall | rv_wall


def _cut_grid(
    shells: np.ndarray, base_z: float, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """Kuhn tets of a box whose centroids lie in the myocardium, one piece."""
    low = np.minimum(shells[:, 0] - shells[:, 1], 0.0).min(axis=0) - h
    high = (shells[:, 0] + shells[:, 1]).max(axis=0) + h
    counts = np.ceil((high - low) / h).astype(int)
    counts[2] = int(np.ceil((base_z - low[2]) / h))
    origin = np.array([low[0], low[1], base_z - counts[2] * h])
    box = box_mesh(tuple(counts * h), tuple(int(n) for n in counts), tuple(origin))
    keep = _myocardium(box.points[box.cells].mean(axis=1), shells)
    return _largest_piece(box.points, box.cells[keep])


def _largest_piece(
    points: np.ndarray, cells: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The largest face-connected set of cells, its nodes renumbered."""
    keys = _face_keys(cells[:, _FACES].reshape(-1, 3), len(points))
    order = np.argsort(keys, kind="stable")
    twin = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    a, b = order[twin] // 4, order[twin + 1] // 4
    adjacency = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(cells),) * 2)
    _, label = connected_components(adjacency, directed=False)
    cells = cells[label == np.bincount(label).argmax()]
    used, cells = np.unique(cells, return_inverse=True)
    return points[used], cells.reshape(-1, 4)


def _peel(
    points: np.ndarray,
    cells: np.ndarray,
    shells: np.ndarray,
    base_z: float,
    h: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drop boundary tets whose four nodes would snap onto one surface.

    Such a tet (a step of the staircase) would be flattened by the snap;
    dropping it smooths the staircase instead. Repeated `PEEL_SWEEPS` times
    at most (each pass may expose a few new steps).

    Returns
    -------
    points, cells : the peeled mesh
    faces, tags : its boundary faces and their tags
    """
    for sweep in range(PEEL_SWEEPS + 1):
        faces, _ = boundary_faces(cells)
        tags = _tag_faces(points, faces, shells, base_z, h)
        on = _surface_membership(faces, tags, len(points))
        flat = on[cells].all(axis=1).any(axis=1)
        if not flat.any() or sweep == PEEL_SWEEPS:
            break
        logger.debug("peeling %d of %d tets", int(flat.sum()), len(cells))
        points, cells = _largest_piece(points, cells[~flat])
    return points, cells, faces, tags


def _surface_membership(faces: np.ndarray, tags: np.ndarray, n: int) -> np.ndarray:
    """Which of the four shells and the base plane each node lies on, (n, 5)."""
    on = np.zeros((n, 5), dtype=bool)
    for tag, surface in enumerate(_TAG_SURFACE):
        on[faces[tags == tag].ravel(), surface] = True
    return on


def _tag_faces(
    points: np.ndarray,
    faces: np.ndarray,
    shells: np.ndarray,
    base_z: float,
    h: float,
) -> np.ndarray:
    """Tag each boundary face by the nearest shell it may lie on.

    The LV endocardium lies inside the LV epicardium, the RV shells outside
    it (within a grid step, for the staircase); the LV epicardium is the RV
    septal surface where it bounds the RV cavity.
    """
    p = points[faces]
    centre = p.mean(axis=1)
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    dist = np.stack([_distance(centre, s) for s in shells], axis=1)

    # rule out the shells a face cannot lie on, then take the nearest
    f1, g1 = _level(centre, shells[1])
    depth = f1 / np.linalg.norm(g1, axis=1)  # signed distance to E1, mm
    dist[depth >= -h, 0] = np.inf
    dist[depth <= -h, 2:] = np.inf
    nearest = np.argmin(dist, axis=1)
    facing_rv = _level(centre, shells[2])[0] < 0
    tags = np.array(
        [_TAGS["lv_endo"], _TAGS["lv_epi"], _TAGS["rv_endo"], _TAGS["rv_epi"]]
    )
    tags = np.where((nearest == 1) & facing_rv, _TAGS["rv_septum"], tags[nearest])
    on_base = (centre[:, 2] > base_z - 1e-6 * h) & (normal[:, 2] > 0.99)
    return np.where(on_base, _TAGS["base"], tags)


def _snap(
    points: np.ndarray,
    cells: np.ndarray,
    faces: np.ndarray,
    tags: np.ndarray,
    shells: np.ndarray,
    base_z: float,
    h: float,
) -> np.ndarray:
    """Move boundary nodes onto their surfaces, backing off to keep quality."""
    on = _surface_membership(faces, tags, len(points))
    boundary = on.any(axis=1)
    move = _projection(points, on, shells, base_z, h)
    move = _spread(cells, move, boundary)
    scale = _back_off(points, cells, move)
    logger.debug(
        "snapped %d boundary nodes: %d fully, %d part way or not at all",
        int(boundary.sum()),
        int((boundary & (scale == 1) & move.any(axis=1)).sum()),
        int((boundary & ((scale < 1) | ~move.any(axis=1))).sum()),
    )
    return points + scale[:, None] * move


def _projection(
    points: np.ndarray,
    on: np.ndarray,
    shells: np.ndarray,
    base_z: float,
    h: float,
) -> np.ndarray:
    """Moves that put each boundary node on its surfaces, (n, 3) mm.

    Alternating projections (Newton steps onto each level set in turn) find
    a node's surface, or the intersection curve of two or three. A move is
    dropped when it does not converge, leaves the grid cell, or brings two
    nodes together (the two sides of the RV cavity's thin tips).
    """
    x = points.copy()
    for _ in range(30):
        for k in range(4):
            sel = on[:, k]
            f, g = _level(x[sel], shells[k])
            x[sel] -= (f / np.maximum((g**2).sum(axis=1), 1e-12))[:, None] * g
        x[on[:, 4], 2] = base_z

    # convergence and reach
    residual = np.zeros(len(points))
    for k in range(4):
        dist = _distance(x, shells[k])
        residual = np.where(on[:, k], np.maximum(residual, dist), residual)
    ok = on.any(axis=1) & (residual < 0.05 * h)
    ok &= np.linalg.norm(x - points, axis=1) < 1.5 * h

    # nodes that would meet another node stay where they are
    x = np.where(ok[:, None], x, points)
    pairs = cKDTree(x).query_pairs(0.25 * h, output_type="ndarray")
    ok[pairs.ravel()] = False
    return np.where(ok[:, None], x - points, 0.0)


def _spread(cells: np.ndarray, move: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Carry boundary moves a few layers inwards (Jacobi sweeps of the graph
    Laplacian), so that the first layer of tets is not squashed."""
    n = len(move)
    edges = cells[:, [0, 0, 0, 1, 1, 2, 1, 2, 3, 2, 3, 3]].reshape(-1, 2, 6)
    edges = edges.transpose(0, 2, 1).reshape(-1, 2)
    ones = np.ones(len(edges))
    adjacency = sp.coo_matrix((ones, (edges[:, 0], edges[:, 1])), shape=(n, n))
    adjacency = ((adjacency + adjacency.T) > 0).astype(float).tocsr()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    for _ in range(SMOOTHING_SWEEPS):
        mean = (adjacency @ move) / degree[:, None]
        move = np.where(boundary[:, None], move, mean)
    return move


def _back_off(points: np.ndarray, cells: np.ndarray, move: np.ndarray) -> np.ndarray:
    """Fraction of its move each node may take, (n,), keeping every tet sound.

    Nodes of tets that would invert or fall below `MIN_DIHEDRAL_DEG` have
    their moves halved, up to ten times, then cancelled until no such tet
    is left; with every move cancelled the grid's Kuhn tets return, so this
    ends.
    """
    scale = np.ones(len(points))
    for step in range(len(points)):
        corners = (points + scale[:, None] * move)[cells]
        volume = np.linalg.det(corners[:, 1:] - corners[:, :1])
        bad = (volume <= 0) | ~(tet_min_dihedral_deg(corners) >= MIN_DIHEDRAL_DEG)
        if not bad.any():
            break
        scale[cells[bad].ravel()] *= 0.5 if step < 10 else 0.0
    return scale


def _regions(centroid: np.ndarray, shells: np.ndarray) -> np.ndarray:
    """Region per cell: RV free wall, septum (LV wall facing the RV) or LV."""
    outside_lv = _level(centroid, shells[1])[0] >= 0

    # septum: the LV wall whose radial projection onto E1 is in the RV cavity
    q = (centroid - shells[1, 0]) / shells[1, 1]
    foot = shells[1, 0] + shells[1, 1] * q / np.linalg.norm(q, axis=1, keepdims=True)
    facing_rv = _level(foot, shells[2])[0] < 0
    region = np.where(facing_rv, REGION_SEPTUM, REGION_LV)
    return np.where(outside_lv, REGION_RV, region).astype(np.int32)


def _check_cells(points: np.ndarray, cells: np.ndarray) -> None:
    """Raise if a generated mesh has a flat or inverted tetrahedron."""
    volume = np.linalg.det(points[cells[:, 1:]] - points[cells[:, :1]])
    bad = np.flatnonzero(volume <= 0)
    if bad.size:
        raise MeshError(
            f"generated {bad.size} flat or inverted tetrahedra: cells "
            f"{bad[:10].tolist()} (a bug in the mesher: please report it)"
        )
