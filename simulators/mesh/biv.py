"""Parametric biventricular heart: an LV and an RV wall bounded by ellipsoids.

`biv_ellipsoid` takes the LV wall and an RV shell outside it, both bounded by
ellipsoids, cuts them out of a Kuhn-tetrahedral grid by cell centroid, tags
the boundary faces, and snaps the boundary nodes onto the ellipsoids and the
base plane, backing off where a tetrahedron would degrade.

The steps, in order: `_cut_grid` keeps the grid cells whose centroids lie in
the myocardium, `_peel` drops the staircase steps that snapping would
flatten, `_tag_faces` names the surface of each boundary face, `_snap` moves
the boundary nodes onto their surfaces (`_projection`, `_spread`,
`_back_off`), and `_regions` labels the cells LV, RV or septum.

The LV ellipsoid and its conventions (septum towards +x, anterior +y) are in
`simulators.mesh.parametric`, which re-exports `biv_ellipsoid`.
"""

from __future__ import annotations

import logging
import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from simulators.errors import ParameterError
from simulators.mesh.boundary import (
    _FACES,
    _face_keys,
    boundary_faces,
    cavity_volume_ml,
)
from simulators.mesh.quality import SLIVER_MIN_DIHEDRAL_DEG, tet_min_dihedral_deg
from simulators.mesh.structured import box_mesh
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh

logger = logging.getLogger(__name__)

__all__ = ["biv_ellipsoid"]

#: Smallest dihedral angle a snapped BiV tetrahedron may keep, degrees: twice
#: the sliver threshold of `simulators.mesh.quality` (a Kuhn tet has 45).
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
    lv_wall_asymmetry: float = 0.0,
    h_mm: float = 2.0,
) -> TetMesh:
    """Tetrahedral mesh of an idealised biventricular heart, apex towards -z.

    The LV wall lies between the LV endocardial ellipsoid E0 (centre 0,
    radii a, a, c) and the epicardial E1 (radii a + w, a + w, c + w, centre
    0, or (-f w, 0, 0) with `lv_wall_asymmetry` f). The RV
    cavity is the RV endocardial ellipsoid E2 outside E1; E2 is centred at
    (x_c, 0, 0) with radii (x_c, r, l) and x_c = (a + (1 - f) w + depth) / 2,
    so it spans from the LV axis to the RV free wall at 2 x_c. The RV
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
    lv_wall_asymmetry : float
        Fraction f, 0 <= f < 1, of the LV wall by which the LV epicardium
        E1 moves away from the septum (its centre to (-f w, 0, 0)): the
        septum thins to (1 - f) w and the lateral wall thickens to
        (1 + f) w at the equator, as in the asymmetric remodelling of
        chronic LBBB (Vernooy et al. 2005, Eur Heart J 26:91); the RV
        depth is then measured from the thinned septum. 0 (the default)
        is the symmetric heart.
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
    numbers_given = {
        **params, "base_z_mm": base_z_mm, "lv_wall_asymmetry": lv_wall_asymmetry
    }  # fmt: skip
    for name, value in numbers_given.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(
                f"{name} must be a number, got {type(value).__name__} {value!r:.40}"
            )
    for name, value in params.items():
        if not np.isfinite(value) or value <= 0:
            raise ParameterError(f"{name} must be a positive length, got {value}")
    if not (np.isfinite(lv_wall_asymmetry) and 0.0 <= lv_wall_asymmetry < 1.0):
        raise ParameterError(
            "lv_wall_asymmetry must be a fraction of the LV wall in [0, 1), got "
            f"{lv_wall_asymmetry}"
        )
    if not -lv_endo_length_mm < base_z_mm < min(lv_endo_length_mm, rv_length_mm):
        raise ParameterError(
            f"base_z_mm must lie between -{lv_endo_length_mm} and "
            f"{min(lv_endo_length_mm, rv_length_mm)} mm (below both cavities' long "
            f"radii) to open them, got {base_z_mm}"
        )
    # the thinnest wall, named with what sets it
    wall = (1.0 - lv_wall_asymmetry) * lv_wall_mm
    which = (
        f"the septum, lv_wall_mm x (1 - lv_wall_asymmetry) = {wall:g} mm"
        if lv_wall_asymmetry
        else f"the LV wall, {wall:g} mm"
    )
    if rv_wall_mm < wall:
        wall, which = rv_wall_mm, f"the RV wall, {rv_wall_mm:g} mm"
    _check_grid_step(h_mm, wall, which)
    params["base_z_mm"] = base_z_mm
    if lv_wall_asymmetry:
        # only where set, so that a symmetric heart's meta is as it was
        params["lv_wall_asymmetry"] = lv_wall_asymmetry
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
        # the public home, as in the meshes made before the BiV moved here
        "source": "simulators.mesh.parametric",
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


def _check_grid_step(h: float, wall: float, which: str) -> None:
    """Refuse a grid step above the thinnest wall, warn above half of it.

    `which` names that wall and how it is set, for the messages.
    """
    if h > wall:
        raise ParameterError(
            f"h_mm ({h:g}) must not exceed the thinnest wall ({which}), or "
            "the wall breaks apart on the grid; lower h_mm or thicken that wall"
        )
    if h > 0.5 * wall:
        warnings.warn(
            f"h_mm = {h:g} leaves the thinnest wall ({which}) under two grid "
            "steps: that wall and the cavities beside it come out too small (the "
            f"RV by 10 % at 3 mm for a 4 mm wall); lower h_mm to {0.5 * wall:g} or "
            "less",
            UserWarning,
            stacklevel=3,
        )


def _biv_shells(params: dict[str, float]) -> np.ndarray:
    """Centres and radii of the four ellipsoids, shape (4, 2, 3), mm."""
    a, c = params["lv_endo_radius_mm"], params["lv_endo_length_mm"]
    w, w_rv = params["lv_wall_mm"], params["rv_wall_mm"]
    lateral = params.get("lv_wall_asymmetry", 0.0) * w  # epicardium's shift

    # the RV spans from the LV axis to `depth` beyond the septum's epicardium
    x_c = 0.5 * (a + w - lateral + params["rv_depth_mm"])
    rv = np.array([x_c, params["rv_radius_mm"], params["rv_length_mm"]])
    origin, shift = np.zeros(3), np.array([x_c, 0.0, 0.0])
    return np.array(
        [
            [origin, [a, a, c]],
            [[-lateral, 0.0, 0.0], [a + w, a + w, c + w]],
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
