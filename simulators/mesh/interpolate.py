"""Linear (barycentric) interpolation from a tetrahedral mesh to points.

Each target point is located in a containing tetrahedron among the cells
whose centroids are nearest; its barycentric coordinates there are the
interpolation weights. Points outside every candidate cell (on a curved
boundary the two meshes disagree by a fraction of an element) take the cell
with the least negative barycentric coordinate, clipped and renormalised,
which is nearest-face extrapolation.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from simulators.mesh.tetmesh import TetMesh


def barycentric_matrix(
    mesh: TetMesh, targets: np.ndarray, k: int = 24
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse map from values on `mesh` nodes to `targets`.

    Parameters
    ----------
    mesh : TetMesh
        Source mesh, mm.
    targets : ndarray of shape (n_targets, 3)
        Points to interpolate to, mm.
    k : int
        Candidate cells per point (nearest centroids).

    Returns
    -------
    matrix : scipy.sparse.csr_matrix of shape (n_targets, n_points)
    outside : ndarray of shape (n_targets,), bool
        Points found in no candidate cell (extrapolated).

    Examples
    --------
    >>> from simulators.mesh.structured import unit_cube_mesh
    >>> m = unit_cube_mesh(2)
    >>> A, out = barycentric_matrix(m, np.array([[0.3, 0.2, 0.7]]))
    >>> round(float((A @ (m.points @ [1.0, 2.0, 3.0]))[0]), 9)
    2.8
    """
    p = mesh.points[mesh.cells]
    centroid = p.mean(axis=1)
    k = min(k, mesh.n_cells)
    _, cand = cKDTree(centroid).query(targets, k=k)
    cand = cand.reshape(len(targets), k)

    # barycentric coordinates of every target in each candidate cell
    origin = p[cand, 0]
    edges = (p[cand, 1:] - origin[..., None, :]).transpose(0, 1, 3, 2)
    lam123 = np.linalg.solve(edges, (targets[:, None, :] - origin)[..., None])[..., 0]
    lam = np.concatenate([1.0 - lam123.sum(axis=-1, keepdims=True), lam123], axis=-1)

    # the first containing cell, else the least outside one
    worst = lam.min(axis=-1)
    best = np.argmax(worst, axis=1)
    rows = np.arange(len(targets))
    weights = np.clip(lam[rows, best], 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    cells = mesh.cells[cand[rows, best]]
    outside = worst[rows, best] < -1e-9
    matrix = sp.csr_matrix(
        (weights.ravel(), (np.repeat(rows, 4), cells.ravel())),
        shape=(len(targets), mesh.n_points),
    )
    return matrix, outside
