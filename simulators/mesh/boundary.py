"""Boundary of a tetrahedral mesh: its outward faces and the cavities they close.

`boundary_faces` finds the triangles held by one tetrahedron only, oriented
so that their normals point out of the mesh. `cavity_volume_ml` measures the
volume that endocardial node sets enclose under a flat lid over their rim,
by the divergence theorem. Both parametric meshers
(`simulators.mesh.parametric`, `simulators.mesh.biv`) and the ventricular
coordinates (`simulators.mesh.coordinates`) use them.
"""

from __future__ import annotations

import numpy as np

from simulators.errors import FieldError
from simulators.mesh.tetmesh import TetMesh

__all__ = ["boundary_faces", "cavity_volume_ml"]

# outward faces of a positive tetrahedron, as local vertex numbers
_FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])


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


def _face_keys(faces: np.ndarray, n_points: int) -> np.ndarray:
    """One integer per unordered triangle, equal for equal vertex sets."""
    f = np.sort(faces, axis=1).astype(np.int64)
    if n_points < 2**21:
        return (f[:, 0] * n_points + f[:, 1]) * n_points + f[:, 2]
    _, keys = np.unique(f, axis=0, return_inverse=True)
    return keys.ravel()
