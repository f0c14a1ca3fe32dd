"""Tetrahedron quality: dihedral angles, slivers and connected parts.

Two measures of a mesh that a solver runs on, but worse when they are poor:

- `tet_min_dihedral_deg`, the smallest dihedral angle of each tetrahedron; a
  tet is a sliver below `SLIVER_MIN_DIHEDRAL_DEG`;
- `connected_parts`, the parts whose cells share no node with the rest,
  numbered largest first.

The mesh checker (`simulators.mesh.validate`) reports both, and the BiV
mesher (`simulators.mesh.biv`) keeps its snapped tets clear of slivers.

References
----------
Shewchuk JR. What is a good linear finite element? Interpolation,
conditioning, anisotropy, and quality measures. 2002.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from simulators.mesh.tetmesh import TetMesh

__all__ = ["SLIVER_MIN_DIHEDRAL_DEG", "connected_parts", "tet_min_dihedral_deg"]

#: A tet is a sliver when its smallest dihedral angle is below this (degrees).
#: A regular tet has 70.5 deg everywhere, a Kuhn cube tet 45 deg at least, and
#: the Rodero 2 mm heart 8.6 deg at worst; angles near 0 make the stiffness
#: matrix ill-conditioned (Shewchuk 2002), so 5 deg flags only clear defects.
SLIVER_MIN_DIHEDRAL_DEG = 5.0

# local edges of a tetrahedron, as pairs of local vertex numbers
_TET_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])

# local faces, face k opposite vertex k
_TET_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


def _no_ids() -> np.ndarray:
    """An empty id array, the default of the optional report attributes."""
    return np.empty(0, dtype=np.int64)


def tet_min_dihedral_deg(corners: np.ndarray) -> np.ndarray:
    """Smallest dihedral angle of each tetrahedron, in degrees.

    The dihedral angle at an edge is the angle between the two faces that
    meet there: with outward unit normals n_a and n_b of those faces,
    cos(theta) = -n_a . n_b. A sliver has four well-spread vertices that
    are nearly coplanar, so its edges look fine but some angle tends to 0.

    Parameters
    ----------
    corners : ndarray of shape (n_cells, 4, 3)
        Vertex coordinates of each tet in mm; the orientation does not
        matter.

    Returns
    -------
    ndarray of shape (n_cells,)
        Smallest of the six dihedral angles, in degrees (NaN for a tet of
        zero volume).

    References
    ----------
    J. R. Shewchuk, "What is a good linear finite element? Interpolation,
    conditioning, anisotropy, and quality measures", 2002.

    Examples
    --------
    >>> corners = np.vstack([np.zeros(3), np.eye(3)])[None]
    >>> np.round(tet_min_dihedral_deg(corners), 2)  # arccos(1 / sqrt(3))
    array([54.74])
    """
    corners = np.asarray(corners, dtype=np.float64)

    # outward unit normal of the face opposite each vertex
    normals = []
    for k, (a, b, c) in enumerate(_TET_FACES):
        pa = corners[:, a]
        n = np.cross(corners[:, b] - pa, corners[:, c] - pa)
        away = np.einsum("ij,ij->i", n, pa - corners[:, k])
        with np.errstate(invalid="ignore", divide="ignore"):
            n = n * (np.sign(away) / np.linalg.norm(n, axis=1))[:, None]
        normals.append(n)

    # faces k and l meet at the edge of the two other vertices
    cosines = [-np.einsum("ij,ij->i", normals[k], normals[m]) for k, m in _TET_EDGES]
    angles = np.degrees(np.arccos(np.clip(np.stack(cosines, axis=1), -1.0, 1.0)))
    return angles.min(axis=1)


def connected_parts(mesh: TetMesh) -> np.ndarray:
    """Label the connected parts of a mesh, cells linked by shared nodes.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with cells of shape (n_cells, 4).

    Returns
    -------
    ndarray of shape (n_cells,)
        Part of each cell: 0 for the part with the most cells, then by
        decreasing size (ties in order of their first cell).

    Examples
    --------
    >>> points = np.vstack([np.zeros(3), np.eye(3)])
    >>> two = np.vstack([points, points + 5.0])
    >>> connected_parts(TetMesh(two, [[4, 5, 6, 7], [0, 1, 2, 3]])).tolist()
    [0, 1]
    """
    if not mesh.n_cells:
        return _no_ids()

    # a star from vertex 0 links the four nodes of a cell
    cells = mesh.cells
    rows = np.repeat(cells[:, 0], 3)
    graph = coo_matrix(
        (np.ones(rows.size, dtype=np.int8), (rows, cells[:, 1:].ravel())),
        shape=(mesh.n_points, mesh.n_points),
    )
    _, node_part = connected_components(graph, directed=False)

    # renumber the parts by size, largest first
    _, first, cell_part, sizes = np.unique(
        node_part[cells[:, 0]],
        return_index=True,
        return_inverse=True,
        return_counts=True,
    )
    order = np.lexsort((first, -sizes))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[cell_part]
