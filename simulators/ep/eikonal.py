"""Anisotropic Eikonal activation times on linear tetrahedral meshes.

The activation time t (ms) solves

    sqrt(∇tᵀ D ∇t) = 1  in the tissue,   t = t_k  at the source nodes,

with D = M⁻¹ the per-cell velocity tensor (see `simulators.ep.conduction`).
Its viscosity solution is the earliest arrival over all paths,
t(x) = min_k [t_k + d_M(x_k, x)], with the travel time of a straight piece v
inside a cell equal to ‖v‖_M = sqrt(vᵀ M v).

Discretisation. t is linear on each tetrahedron, and a node takes the earliest
time reachable through the opposite face of any of its cells, with the exact
local solver of `simulators.ep.eikonal_kernels` (the minimum over the face of
the interpolated time plus the metric travel time).

Marching. A label-correcting method with a binary heap: pop the earliest node,
recompute every node that shares a cell with it from that cell's opposite
face, and re-queue each node whose time drops. Because improved nodes are
re-queued, the iteration reaches the same fixed point as the Fast Iterative
Method, also where anisotropy makes the upwind direction differ from the
front normal. The local solver is monotone in the face times, so the result
does not depend on the visiting order.

References
----------
W.-K. Jeong, R. T. Whitaker, "A fast iterative method for eikonal equations",
SIAM J. Sci. Comput. 30 (2008). Z. Fu, R. M. Kirby, R. T. Whitaker, "A fast
iterative method for solving the eikonal equation on tetrahedral domains",
SIAM J. Sci. Comput. 35 (2013). D. P. Bertsekas, "A simple and fast label
correcting algorithm for shortest paths", Networks 23 (1993).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from simulators.ep.eikonal_kernels import (
    EDGES,
    cell_geometry,
    march,
    metric_defects,
    tet_local_update,
)
from simulators.errors import FieldError, MeshError, SiteError
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

__all__ = ["EDGES", "RTOL", "EikonalSolver", "solve_eikonal", "tet_local_update"]

#: Default relative drop below which a node is not re-queued (plus 1e-14 ms);
#: it keeps round-off from cycling the queue. Where anisotropy couples nodes
#: non-causally (cells obtuse in the metric) the march converges them
#: geometrically, about one extra pop per node there for each factor 100 in
#: tolerance; 1e-12 keeps plane waves exact to ~1e-12 at <= 4 pops per node.
RTOL = 1e-12

#: Relative tolerance on symmetry of the metric tensors.
_SYM_RTOL = 1e-8


# --------------------------------------------------------------------------
# validation and adjacency
# --------------------------------------------------------------------------


def _node_cells(cells: np.ndarray, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Node-to-cell adjacency in CSR form.

    Returns
    -------
    cell_ptr : ndarray of shape (n_points + 1,)
        Cells of node i are ``cell_ids[cell_ptr[i]:cell_ptr[i + 1]]``.
    cell_ids : ndarray of shape (4 * n_cells,)
        Cell ids grouped by node.
    """
    flat = cells.ravel()
    order = np.argsort(flat, kind="stable")
    cell_ids = (order // 4).astype(np.int64)
    counts = np.bincount(flat, minlength=n_points)
    cell_ptr = np.zeros(n_points + 1, dtype=np.int64)
    np.cumsum(counts, out=cell_ptr[1:])
    return cell_ptr, cell_ids


def _list_ids(ids: np.ndarray, k: int = 5) -> str:
    """'N (first ids [...])' for error and warning messages."""
    more = " ..." if len(ids) > k else ""
    return f"{len(ids)} (first ids {ids[:k].tolist()}{more})"


def _check_metric(metric: np.ndarray, n_cells: int) -> np.ndarray:
    """Validate metric tensors; returns float64 of shape (n_cells or 1, 3, 3)."""
    m = np.asarray(metric, dtype=np.float64)
    if m.shape == (3, 3):
        m = m[None]
    if m.ndim != 3 or m.shape[1:] != (3, 3) or len(m) not in (n_cells, 1):
        raise FieldError(
            f"metric must have shape (n_cells, 3, 3) = ({n_cells}, 3, 3) or "
            f"(3, 3) for one shared tensor, got {np.shape(metric)}"
        )
    if len(m) > 1 and m.strides[0] == 0:
        m = m[:1]  # a broadcast single tensor: check and use it once
    m = np.ascontiguousarray(m)

    # one pass in numba, then a message for the first kind of defect found
    code = np.empty(len(m), dtype=np.int8)
    metric_defects(m, _SYM_RTOL, code)
    messages = {
        1: "metric is not finite",
        2: "metric must be symmetric, it is not",
        3: "metric must be positive definite (ms²/mm², e.g. from metric_tensors), "
        "it is not",
    }
    for kind, text in messages.items():
        bad = np.flatnonzero(code == kind)
        if len(bad):
            raise FieldError(f"{text} in cells {_list_ids(bad)}")
    return m


def _check_sources(
    source_nodes: np.ndarray, source_times: np.ndarray | float, n_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate sources; returns int64 node ids and float64 times, shape (k,)."""
    nodes = np.atleast_1d(np.asarray(source_nodes))
    if nodes.ndim != 1 or nodes.size == 0:
        raise SiteError(
            f"source_nodes must be a non-empty 1-D array of node ids, got shape "
            f"{nodes.shape}"
        )
    if not np.issubdtype(nodes.dtype, np.integer):
        raise SiteError(f"source_nodes must be integer node ids, got {nodes.dtype}")
    nodes = nodes.astype(np.int64)
    out = (nodes < 0) | (nodes >= n_points)
    if out.any():
        raise SiteError(
            f"source_nodes must be in 0..{n_points - 1}, got "
            f"{nodes[out][:5].tolist()} ({out.sum()} out of range)"
        )

    # one time per node, or one time for all
    times = np.asarray(source_times, dtype=np.float64)
    if times.ndim == 0:
        times = np.full(len(nodes), float(times))
    if times.shape != nodes.shape:
        raise SiteError(
            f"source_times must be a scalar or have one entry per source node "
            f"({len(nodes)}), got shape {times.shape}"
        )
    bad = ~np.isfinite(times)
    if bad.any():
        raise SiteError(
            f"source_times must be finite (ms), got {times[bad][:5].tolist()} at "
            f"source nodes {nodes[bad][:5].tolist()}"
        )
    return nodes, times


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


class EikonalSolver:
    """Anisotropic Eikonal solver bound to one tetrahedral mesh.

    The node-to-cell adjacency is built once here; each `solve` then takes a
    metric field and sources. The object holds plain numpy arrays only, so it
    pickles cheaply to Dask workers.

    Parameters
    ----------
    points : array_like of shape (n_points, 3)
        Node coordinates in mm.
    cells : array_like of shape (n_cells, 4)
        Point ids of the linear tetrahedra.

    Attributes
    ----------
    points : ndarray of shape (n_points, 3)
        Node coordinates (float64), mm.
    cells : ndarray of shape (n_cells, 4)
        Point ids (int64).
    cell_ptr : ndarray of shape (n_points + 1,)
        CSR offsets of the node-to-cell adjacency.
    cell_ids : ndarray of shape (4 * n_cells,)
        Cells around each node, grouped by node.

    Examples
    --------
    >>> from simulators.mesh.structured import unit_cube_mesh
    >>> mesh = unit_cube_mesh(4)
    >>> solver = EikonalSolver(mesh.points, mesh.cells)
    >>> x0 = mesh.surface_nodes("xmin")
    >>> t = solver.solve(np.eye(3) / 0.5**2, x0, 0.0)   # 0.5 mm/ms
    >>> bool(np.allclose(t, mesh.points[:, 0] / 0.5))
    True
    """

    def __init__(self, points: np.ndarray, cells: np.ndarray) -> None:
        # TetMesh coerces dtypes and checks shapes and id ranges
        mesh = TetMesh(points, cells)
        bad = ~np.isfinite(mesh.points).all(axis=1)
        if bad.any():
            raise MeshError(
                f"points must be finite (mm), got non-finite coordinates at "
                f"points {_list_ids(np.flatnonzero(bad))}"
            )
        self.points = mesh.points
        self.cells = mesh.cells
        self.cell_ptr, self.cell_ids = _node_cells(self.cells, len(self.points))

    @classmethod
    def from_mesh(cls, mesh: TetMesh) -> EikonalSolver:
        """Solver for the points and cells of a `TetMesh`."""
        return cls(mesh.points, mesh.cells)

    @property
    def n_points(self) -> int:
        """Number of nodes."""
        return len(self.points)

    @property
    def n_cells(self) -> int:
        """Number of tetrahedra."""
        return len(self.cells)

    def solve(
        self,
        metric: np.ndarray,
        source_nodes: np.ndarray,
        source_times: np.ndarray | float,
        *,
        rtol: float = RTOL,
    ) -> np.ndarray:
        """Activation times from point sources.

        Parameters
        ----------
        metric : array_like of shape (n_cells, 3, 3) or (3, 3)
            Symmetric positive definite metric M = D⁻¹ per cell, ms²/mm²
            (see `metric_tensors`); a single (3, 3) tensor is shared.
        source_nodes : array_like of shape (n_sources,)
            Integer node ids where the wave starts; duplicates allowed.
        source_times : float or array_like of shape (n_sources,)
            Onset time at each source, ms; may be negative. A duplicate id
            keeps its earliest time, and a source reached earlier by the wave
            from another source takes that earlier time.
        rtol : float, optional
            A node is re-queued only when its time drops by more than
            ``rtol * |t|`` (plus 1e-14 ms). Smaller values converge the
            non-causal (strongly anisotropic) couplings further at the cost
            of more re-queues; see `RTOL`.

        Returns
        -------
        ndarray of shape (n_points,)
            Activation times in ms; NaN at nodes no source can reach, which
            also raises a RuntimeWarning.

        Raises
        ------
        FieldError
            If the metric is mis-shaped, non-finite, asymmetric or not
            positive definite; the message names the cells.
        SiteError
            If a source id is not an integer in 0..n_points-1, or the times
            are mis-sized or non-finite.
        """
        if not (np.isfinite(rtol) and rtol >= 0):
            raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
        m = _check_metric(metric, self.n_cells)
        nodes, times = _check_sources(source_nodes, source_times, self.n_points)

        # cell geometry in the metric, then the march; the kernels allocate
        # nothing themselves, so tracemalloc sees the whole footprint
        geom = np.empty((self.n_cells, 10))
        cell_geometry(self.points, self.cells, m, geom)
        t = np.empty(self.n_points)
        heap = np.empty(self.n_points, dtype=np.int64)
        pos = np.empty(self.n_points, dtype=np.int64)
        n_pops, n_solves = march(
            self.cells, geom, self.cell_ptr, self.cell_ids,
            nodes, times, t, heap, pos, rtol,
        )  # fmt: skip
        logger.debug(
            "eikonal: %d nodes, %d pops (%.2f per node), %d local solves",
            self.n_points, n_pops, n_pops / max(self.n_points, 1), n_solves,
        )  # fmt: skip

        # unreachable nodes become NaN, never a sentinel number
        unreached = np.flatnonzero(np.isinf(t))
        if len(unreached):
            t[unreached] = np.nan
            warnings.warn(
                f"{_list_ids(unreached)} of {self.n_points} nodes cannot be "
                "reached from the sources and are NaN; add a source to every "
                "connected part of the mesh or remove the disconnected cells",
                RuntimeWarning,
                stacklevel=2,
            )
        return t


def solve_eikonal(
    points: np.ndarray,
    cells: np.ndarray,
    metric: np.ndarray,
    source_nodes: np.ndarray,
    source_times: np.ndarray | float,
) -> np.ndarray:
    """Activation times in one call; see `EikonalSolver.solve`.

    Build an `EikonalSolver` once instead when solving repeatedly on the
    same mesh.

    Parameters
    ----------
    points : array_like of shape (n_points, 3)
        Node coordinates in mm.
    cells : array_like of shape (n_cells, 4)
        Point ids of the linear tetrahedra.
    metric : array_like of shape (n_cells, 3, 3) or (3, 3)
        Metric M = D⁻¹ per cell, ms²/mm².
    source_nodes : array_like of shape (n_sources,)
        Node ids where the wave starts.
    source_times : float or array_like of shape (n_sources,)
        Onset times, ms.

    Returns
    -------
    ndarray of shape (n_points,)
        Activation times in ms, NaN where unreachable.
    """
    return EikonalSolver(points, cells).solve(metric, source_nodes, source_times)
