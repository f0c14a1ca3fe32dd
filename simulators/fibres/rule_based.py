"""Rule-based fibres from ventricular coordinates (helix angle only).

The fibre direction in each cell is the circumferential direction rotated
towards the apex-to-base direction by a helix angle that varies linearly
across the wall:

    alpha(t) = alpha_endo + (alpha_epi - alpha_endo) * t,    t in [0, 1]
    f = cos(alpha) e_c + sin(alpha) e_l

where e_t is the unit gradient of the transmural coordinate (endo to epi), e_l
the unit gradient of the apicobasal coordinate made orthogonal to e_t, and
e_c = e_l x e_t, so that (e_c, e_l, e_t) is right-handed and a positive
angle turns counter-clockwise seen from the epicardium (Streeter 1969; the
convention of Bayer et al. 2012, Ann Biomed Eng 40:2243). This is the
coordinate-based shortcut; the Laplace-Dirichlet method of Bayer et al. comes
later in `simulators.fibres`.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp

from simulators.errors import FieldError
from simulators.mesh.laplace import barycentric_gradients
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)


def cell_gradients(points: np.ndarray, cells: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Gradient of a piecewise-linear point field in every tetrahedron.

    Parameters
    ----------
    points : ndarray of shape (n_points, 3)
        Node coordinates, mm.
    cells : ndarray of shape (n_cells, 4)
        Tetrahedra.
    u : ndarray of shape (n_points,)
        Nodal values.

    Returns
    -------
    ndarray of shape (n_cells, 3)
        Constant gradient per cell, units of `u` per mm.
    """
    return np.einsum("ck,cki->ci", u[cells], barycentric_gradients(points, cells))


def smooth_cell_vectors(
    points: np.ndarray, cells: np.ndarray, vec_cell: np.ndarray
) -> np.ndarray:
    """Average cell vectors to nodes (volume-weighted) and back to cells.

    One pass of this smoothing removes the cell-to-cell jitter of P1
    gradients on unstructured meshes without moving the field's large-scale
    direction.
    """
    p = points[cells]
    vol = np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / 6.0
    n_cells = len(cells)

    # cell -> node: volume-weighted mean over the cells around each node
    rows = cells.ravel()
    cols = np.repeat(np.arange(n_cells), 4)
    weights = np.repeat(vol, 4)
    to_nodes = sp.csr_matrix((weights, (rows, cols)), shape=(len(points), n_cells))
    norm = np.asarray(to_nodes.sum(axis=1)).ravel()
    norm[norm == 0] = 1.0
    vec_node = (to_nodes @ vec_cell) / norm[:, None]

    # node -> cell: plain mean of the four vertices
    return vec_node[cells].mean(axis=1)


def helix_fibres(
    mesh: TetMesh,
    alpha_endo_deg: float = 60.0,
    alpha_epi_deg: float = -60.0,
    transmural: str = "transmural",
    apicobasal: str = "apico_basal",
) -> np.ndarray:
    """Fibre directions per cell from the transmural and apicobasal coordinates.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with point fields `transmural` (0 endocardium, 1 epicardium) and
        `apicobasal` (0 apex, 1 base).
    alpha_endo_deg, alpha_epi_deg : float
        Helix angle at the endocardium and the epicardium, degrees.
    transmural, apicobasal : str
        Names of the point fields to use.

    Returns
    -------
    ndarray of shape (n_cells, 3)
        Unit fibre vectors (their sign carries no meaning).

    Examples
    --------
    >>> from simulators.mesh.structured import unit_cube_mesh
    >>> m = unit_cube_mesh(2)
    >>> x, z = m.points[:, 0], m.points[:, 2]
    >>> m = m.with_fields(point_data={"transmural": x, "apico_basal": z})
    >>> f = helix_fibres(m, 0.0, 0.0)
    >>> bool(np.allclose(np.abs(f[:, 1]), 1.0))
    True
    """
    for name in (transmural, apicobasal):
        if name not in mesh.point_data:
            raise FieldError(
                f"helix fibres need the point field {name!r}; the mesh has "
                f"{sorted(mesh.point_data)}"
            )
        values = mesh.point_data[name]
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise FieldError(
                f"point field {name!r} is not finite at {bad.size} nodes, "
                f"first ids {bad[:10].tolist()}"
            )
    t_node = np.clip(mesh.point_data[transmural], 0.0, 1.0)
    ab_node = mesh.point_data[apicobasal]

    # smoothed unit gradients of both coordinates
    grad_t = smooth_cell_vectors(
        mesh.points, mesh.cells, cell_gradients(mesh.points, mesh.cells, t_node)
    )
    grad_l = smooth_cell_vectors(
        mesh.points, mesh.cells, cell_gradients(mesh.points, mesh.cells, ab_node)
    )
    e_t = _unit(grad_t, "transmural gradient")
    e_l = grad_l - (grad_l * e_t).sum(1, keepdims=True) * e_t
    e_l = _unit(e_l, "apicobasal gradient (orthogonal to the transmural)")
    e_c = np.cross(e_l, e_t)

    # helix angle varies linearly across the wall
    t_cell = t_node[mesh.cells].mean(axis=1)
    alpha = np.deg2rad(alpha_endo_deg + (alpha_epi_deg - alpha_endo_deg) * t_cell)
    fibres = np.cos(alpha)[:, None] * e_c + np.sin(alpha)[:, None] * e_l
    logger.info(
        "helix fibres: %d cells, alpha %.0f to %.0f deg",
        mesh.n_cells,
        alpha_endo_deg,
        alpha_epi_deg,
    )
    return fibres / np.linalg.norm(fibres, axis=1, keepdims=True)


def _unit(vec: np.ndarray, what: str) -> np.ndarray:
    """Normalise rows; rows without a direction take the mean direction."""
    norm = np.linalg.norm(vec, axis=1)
    scale = np.median(norm[norm > 0]) if np.any(norm > 0) else 0.0
    flat = norm <= 1e-6 * scale
    if flat.all():
        raise FieldError(f"{what} vanishes in every cell: the coordinate is constant")
    if flat.any():
        ids = np.flatnonzero(flat)
        warnings.warn(
            f"{what} vanishes in {ids.size} cells (first ids {ids[:10].tolist()}); "
            "they take the mean direction of the mesh",
            RuntimeWarning,
            stacklevel=3,
        )
        mean = vec[~flat].mean(axis=0)
        vec = vec.copy()
        vec[flat] = mean
        norm = np.linalg.norm(vec, axis=1)
    return vec / norm[:, None]
