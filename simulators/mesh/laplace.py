"""P1 finite-element Laplace solves: the stiffness matrix and Dirichlet problems.

Harmonic functions (Laplace's equation, div grad u = 0, with u fixed on node
sets and zero normal flux elsewhere) on a tetrahedral mesh, with linear (P1)
elements, as the ventricular coordinates (`simulators.mesh.coordinates`)
and the LDRB fibres (`simulators.fibres.ldrb`) need them.

The P1 stiffness matrix is K_ij = sum_e V_e grad(l_i) . grad(l_j) over the
tetrahedra e holding nodes i and j, with l_i the barycentric coordinates.
Dirichlet values enter by lifting, K_ff u_f = -K_fd u_d, solved by conjugate
gradients with a Jacobi preconditioner.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from simulators.errors import FieldError, MeshError
from simulators.mesh.validate import format_ids

logger = logging.getLogger(__name__)

__all__ = ["barycentric_gradients", "jacobi_cg", "solve_laplace", "stiffness_matrix"]

#: Relative residual at which conjugate gradients stop.
CG_RTOL = 1e-10


def barycentric_gradients(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Gradients of the four barycentric coordinates in every tetrahedron.

    Parameters
    ----------
    points : ndarray of shape (n_points, 3)
        Node coordinates, mm.
    cells : ndarray of shape (n_cells, 4)
        Tetrahedra.

    Returns
    -------
    ndarray of shape (n_cells, 4, 3)
        ``grad[c, k]`` is the constant gradient of the hat function of local
        vertex k in cell c, 1/mm. With E the edge matrix whose rows are
        e_k = p_k - p_0 (k = 1, 2, 3), the gradients of l_1..l_3 are the
        columns of E^-1, by cofactors ``(e_2 x e_3, e_3 x e_1, e_1 x e_2) /
        det E`` (several times faster than a batched inverse), and
        grad l_0 = -(grad l_1 + grad l_2 + grad l_3).
    """
    p = points[cells]
    e1, e2, e3 = (p[:, k] - p[:, 0] for k in (1, 2, 3))
    grad = np.empty((len(cells), 4, 3))
    grad[:, 1] = np.cross(e2, e3)
    grad[:, 2] = np.cross(e3, e1)
    grad[:, 3] = np.cross(e1, e2)
    det = np.einsum("ci,ci->c", e1, grad[:, 1])
    grad[:, 1:] /= det[:, None, None]
    grad[:, 0] = -grad[:, 1:].sum(axis=1)
    return grad


def stiffness_matrix(points: np.ndarray, cells: np.ndarray) -> sp.csr_matrix:
    """P1 finite-element stiffness matrix of the Laplacian.

    Parameters
    ----------
    points : ndarray of shape (n_points, 3)
        Node coordinates, mm.
    cells : ndarray of shape (n_cells, 4)
        Positively oriented tetrahedra.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_points, n_points)
        K_ij = sum_e V_e grad(l_i) . grad(l_j), units mm. Symmetric, positive
        semi-definite, rows summing to zero (constants are in its kernel).

    Examples
    --------
    >>> from simulators.mesh.structured import unit_cube_mesh
    >>> m = unit_cube_mesh(2)
    >>> k = stiffness_matrix(m.points, m.cells)
    >>> bool(abs(k @ np.ones(m.n_points)).max() < 1e-12)
    True
    """
    p = points[cells]
    volume = np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / 6.0
    grad = barycentric_gradients(points, cells)
    local = volume[:, None, None] * np.einsum("cid,cjd->cij", grad, grad)

    # scatter the 4 x 4 blocks; duplicate (i, j) entries are summed
    rows = np.repeat(cells, 4, axis=1).ravel()
    cols = np.tile(cells, (1, 4)).ravel()
    n = len(points)
    return sp.csr_matrix((local.ravel(), (rows, cols)), shape=(n, n))


def solve_laplace(
    stiffness: sp.spmatrix,
    fixed: np.ndarray,
    values: np.ndarray,
    *,
    rtol: float = CG_RTOL,
) -> np.ndarray:
    """Solve K u = 0 with u given on the fixed nodes (Dirichlet by lifting).

    Parameters
    ----------
    stiffness : sparse matrix of shape (n_points, n_points)
        From `stiffness_matrix`.
    fixed : ndarray of shape (n_points,), bool
        Nodes where u is prescribed.
    values : ndarray of shape (n_points,)
        Prescribed values on the fixed nodes; the others are ignored.
    rtol : float, default 1e-10
        Relative residual at which conjugate gradients stop.

    Returns
    -------
    ndarray of shape (n_points,)
        The discrete harmonic function: u = values on fixed nodes and
        K_ff u_f = -K_fd u_d on the others. It stays within the fixed
        values (discrete maximum principle) when no dihedral angle is
        obtuse; otherwise it may overshoot a little (the Rodero heart's
        transmural coordinate reaches 1.07, as shipped).

    Raises
    ------
    MeshError
        If a connected part of the mesh holds no fixed node, so that u is
        undetermined there (the message names its nodes).

    Examples
    --------
    >>> from simulators.mesh.structured import unit_cube_mesh
    >>> m = unit_cube_mesh(3)
    >>> k = stiffness_matrix(m.points, m.cells)
    >>> ends = m.point_data["surface_xmin"] | m.point_data["surface_xmax"]
    >>> u = solve_laplace(k, ends, m.points[:, 0])
    >>> bool(np.allclose(u, m.points[:, 0], atol=1e-8))
    True
    """
    fixed = np.asarray(fixed, dtype=bool)
    n = stiffness.shape[0]
    if fixed.shape != (n,) or np.shape(values) != (n,):
        raise FieldError(
            f"fixed and values must have shape ({n},), got {fixed.shape} and "
            f"{np.shape(values)}"
        )
    _check_every_part_is_fixed(stiffness, fixed)

    # lift the Dirichlet values to the right-hand side
    free = ~fixed
    u = np.where(fixed, np.asarray(values, dtype=float), 0.0)
    if not free.any():
        return u
    stiffness = sp.csr_matrix(stiffness)
    k_ff = stiffness[free][:, free]
    rhs = -(stiffness[free][:, fixed] @ u[fixed])

    # conjugate gradients, Jacobi-preconditioned; a direct solve if it stalls
    sol, iterations = jacobi_cg(k_ff, rhs, rtol=rtol, maxiter=10 * k_ff.shape[0])
    if sol is None:
        logger.warning(
            "CG did not converge in %d iterations; solving directly", iterations
        )
        sol = spla.spsolve(k_ff.tocsc(), rhs)
    logger.debug(
        "Laplace solve: %d free nodes, %d CG iterations", free.sum(), iterations
    )
    u[free] = sol
    return u


def jacobi_cg(
    matrix: sp.spmatrix,
    rhs: np.ndarray,
    *,
    rtol: float = CG_RTOL,
    maxiter: int = 10_000,
) -> tuple[np.ndarray | None, int]:
    """Conjugate gradients with a Jacobi (diagonal) preconditioner.

    Solves A x = b for a symmetric positive definite A (Hestenes and
    Stiefel 1952), stopping when ||b - A x|| <= rtol ||b||. Vector products
    are plain numpy reductions, not BLAS calls, so that a busy machine's
    BLAS threads cannot stall them.

    Parameters
    ----------
    matrix : sparse matrix of shape (n, n)
        Symmetric positive definite with a positive diagonal.
    rhs : ndarray of shape (n,)
        Right-hand side b.
    rtol : float, default 1e-10
        Relative residual to reach.
    maxiter : int, default 10000
        Most iterations to run.

    Returns
    -------
    x : ndarray of shape (n,) or None
        The solution, or None if `maxiter` iterations did not reach `rtol`.
    iterations : int
        Iterations run.

    Examples
    --------
    >>> a = sp.csr_matrix(np.array([[4.0, 1.0], [1.0, 3.0]]))
    >>> x, _ = jacobi_cg(a, np.array([1.0, 2.0]))
    >>> np.round(x, 6)
    array([0.090909, 0.636364])
    """
    inv_diag = 1.0 / matrix.diagonal()
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = inv_diag * r
    p = z.copy()
    rz = float((r * z).sum())
    stop = rtol * float(np.sqrt((rhs * rhs).sum()))
    for it in range(maxiter + 1):
        if np.sqrt((r * r).sum()) <= stop:
            return x, it
        ap = matrix @ p
        step = rz / float((p * ap).sum())
        x += step * p
        r -= step * ap
        z = inv_diag * r
        rz, rz_old = float((r * z).sum()), rz
        p = z + (rz / rz_old) * p
    return None, maxiter


def _check_every_part_is_fixed(stiffness: sp.spmatrix, fixed: np.ndarray) -> None:
    """Raise if a connected part of the mesh has no Dirichlet node."""
    graph = sp.csr_matrix(stiffness, copy=True)
    graph.eliminate_zeros()  # a zero coupling does not hold a node
    n_parts, label = connected_components(graph, directed=False)
    held = np.zeros(n_parts, dtype=bool)
    held[label[fixed]] = True
    if held.all():
        return
    loose = np.flatnonzero(~held[label])
    raise MeshError(
        f"{(~held).sum()} connected part(s) of the mesh, {loose.size} nodes in "
        f"all, hold no Dirichlet node, so the Laplace solution is undetermined "
        f"there: node ids {format_ids(loose)}; drop them or tag a surface on them"
    )
