"""Parametric LV: a truncated ellipsoid meshed in ellipsoidal coordinates.

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

The biventricular shape, `biv_ellipsoid`, is meshed in
`simulators.mesh.biv`; it is re-exported here with `boundary_faces` and
`cavity_volume_ml` (`simulators.mesh.boundary`), so that both shapes are
reached from this module.

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

import numpy as np

from simulators.errors import MeshError, ParameterError
from simulators.mesh.biv import _DIRECTIONS, biv_ellipsoid
from simulators.mesh.boundary import boundary_faces, cavity_volume_ml
from simulators.mesh.tetmesh import REGION_LV, TetMesh

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


def _check_cells(points: np.ndarray, cells: np.ndarray) -> None:
    """Raise if a generated mesh has a flat or inverted tetrahedron."""
    volume = np.linalg.det(points[cells[:, 1:]] - points[cells[:, :1]])
    bad = np.flatnonzero(volume <= 0)
    if bad.size:
        raise MeshError(
            f"generated {bad.size} flat or inverted tetrahedra: cells "
            f"{bad[:10].tolist()} (a bug in the mesher: please report it)"
        )
