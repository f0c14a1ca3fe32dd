"""Structured tetrahedral meshes of boxes, for analytic tests and benchmarks.

Each box cell (a small cuboid) is split into six tetrahedra that share its main
diagonal, from the corner with the smallest coordinates to the opposite one
(the Kuhn or Freudenthal triangulation). Neighbouring cuboids are split the
same way, so the faces match and the mesh is conforming.

References
----------
H. W. Kuhn, "Some combinatorial lemmas in topology", IBM J. Res. Dev. 4 (1960).
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from simulators.errors import MeshError
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

__all__ = ["box_mesh", "unit_cube_mesh"]


def _kuhn_corners() -> np.ndarray:
    """Corner offsets of the six Kuhn tetrahedra of a unit cube.

    Returns
    -------
    ndarray of shape (6, 4, 3)
        Integer offsets (0 or 1) of the four vertices of each tetrahedron,
        ordered so that every tetrahedron has a positive volume.
    """
    # walk from (0,0,0) to (1,1,1) adding one unit vector per step, in every
    # order of the three axes: each order is one tetrahedron
    tets = []
    for order in itertools.permutations(range(3)):
        corner = np.zeros(3, dtype=np.int64)
        verts = [corner.copy()]
        for axis in order:
            corner[axis] = 1
            verts.append(corner.copy())
        verts = np.array(verts)

        # an odd permutation gives a left-handed tetrahedron: swap two vertices
        if np.linalg.det((verts[1:] - verts[0]).astype(float)) < 0:
            verts[[1, 2]] = verts[[2, 1]]
        tets.append(verts)
    return np.array(tets)


def box_mesh(
    lengths_mm: tuple[float, float, float],
    shape: tuple[int, int, int],
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> TetMesh:
    """Structured Kuhn tetrahedral mesh of an axis-aligned box.

    Parameters
    ----------
    lengths_mm : tuple of 3 floats
        Edge lengths of the box along x, y and z, in mm.
    shape : tuple of 3 ints
        Number of cuboid cells along x, y and z; each becomes six tetrahedra.
    origin_mm : tuple of 3 floats, optional
        Corner of the box with the smallest coordinates, in mm.

    Returns
    -------
    TetMesh
        A mesh with ``prod(shape + 1)`` points and ``6 * prod(shape)`` positively
        oriented cells. Its point data holds the six boundary node sets
        ``surface_xmin``, ``surface_xmax``, ``surface_ymin`` ... (booleans).
        Point ``(i, j, k)`` of the grid has id ``(i * (ny + 1) + j) * (nz + 1) + k``.

    Raises
    ------
    MeshError
        If a length is not positive and finite or a cell count is below one.

    Examples
    --------
    >>> m = box_mesh((2.0, 1.0, 1.0), (2, 1, 1))
    >>> m.n_points, m.n_cells
    (12, 12)
    """
    # check the request before allocating anything
    lengths = np.asarray(lengths_mm, dtype=np.float64)
    origin = np.asarray(origin_mm, dtype=np.float64)
    counts = np.asarray(shape)
    if lengths.shape != (3,) or not np.all(np.isfinite(lengths) & (lengths > 0)):
        raise MeshError(
            f"lengths_mm must be three positive finite lengths, got {lengths_mm!r}"
        )
    if origin.shape != (3,) or not np.all(np.isfinite(origin)):
        raise MeshError(f"origin_mm must be three finite numbers, got {origin_mm!r}")
    if (
        counts.shape != (3,)
        or not np.issubdtype(counts.dtype, np.integer)
        or np.any(counts < 1)
    ):
        raise MeshError(f"shape must be three integers >= 1, got {shape!r}")
    nx, ny, nz = (int(c) for c in counts)

    # grid points, x slowest and z fastest
    axes = [origin[d] + np.linspace(0.0, lengths[d], counts[d] + 1) for d in range(3)]
    grid = np.meshgrid(*axes, indexing="ij")
    points = np.stack([g.ravel() for g in grid], axis=1)

    # point id of the lower corner of every cuboid, then of its Kuhn tetrahedra
    ii, jj, kk = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    base = (ii.ravel() * (ny + 1) + jj.ravel()) * (nz + 1) + kk.ravel()
    off = _kuhn_corners()
    off_id = (off[..., 0] * (ny + 1) + off[..., 1]) * (nz + 1) + off[..., 2]
    cells = (base[:, None, None] + off_id[None]).reshape(-1, 4)

    # boundary node sets, on the exact grid indices to avoid float compares
    ip, jp, kp = np.meshgrid(
        np.arange(nx + 1), np.arange(ny + 1), np.arange(nz + 1), indexing="ij"
    )
    surfaces = {}
    for name, idx, last in (("x", ip, nx), ("y", jp, ny), ("z", kp, nz)):
        surfaces[f"surface_{name}min"] = (idx == 0).ravel()
        surfaces[f"surface_{name}max"] = (idx == last).ravel()
    logger.debug("box mesh %s: %d points, %d cells", shape, len(points), len(cells))
    return TetMesh(points, cells, point_data=surfaces, meta={"source": "box_mesh"})


def unit_cube_mesh(n: int) -> TetMesh:
    """Structured Kuhn tetrahedral mesh of the unit cube [0, 1]³ mm.

    Parameters
    ----------
    n : int
        Number of cuboid cells per side; the mesh size is h = 1 / n mm.

    Returns
    -------
    TetMesh
        ``(n + 1)³`` points and ``6 n³`` positively oriented cells, with the
        boundary node sets of :func:`box_mesh`.

    Examples
    --------
    >>> m = unit_cube_mesh(2)
    >>> m.n_points, m.n_cells, bool((m.signed_volumes() > 0).all())
    (27, 48, True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise MeshError(f"n must be an integer >= 1 (cells per side), got {n!r}")
    return box_mesh((1.0, 1.0, 1.0), (n, n, n))
