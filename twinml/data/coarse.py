"""A coarse graph of a heart mesh, and the map back to its nodes.

Message passing over every node of a real heart is too slow on a CPU (about
4 s per 10-layer pass at 20,000 nodes, see shared/SCIENCE.md), so the
surrogate works on a few thousand representative nodes:

1. representatives: one node per cubic voxel of side `spacing_mm`, the RV
   endocardium (the fast conducting layer) sampled on its own so that it
   keeps a connected coarse sub-graph;
2. clusters: every node joins its geodesically nearest representative
   (multi-source Dijkstra along mesh edges), so walls separated by a cavity
   never share a cluster;
3. coarse edges: two clusters are linked when a mesh edge joins them;
4. interpolation: each node takes a moving-least-squares linear fit over
   the nearest representatives of its cluster's neighbourhood, exact for
   linear fields (Lancaster and Salkauskas 1981, Math Comp 37:141).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from simulators.errors import MeshError
from simulators.mesh.tetmesh import TetMesh, unique_pairs

logger = logging.getLogger(__name__)

#: Nodes closer than this are coincident (as `simulators.mesh.validate`), mm.
COINCIDENT_TOL_MM = 1e-6


@dataclass(frozen=True, eq=False)
class CoarseGraph:
    """Representative nodes of a mesh with their graph and interpolation.

    Attributes
    ----------
    rep : ndarray of shape (n_coarse,), int
        Mesh node id of each representative.
    cluster : ndarray of shape (n_points,), int
        Coarse node that each mesh node belongs to.
    edge_index : ndarray of shape (2, n_edges), int
        Directed coarse edges (both directions present).
    interp : scipy.sparse.csr_matrix of shape (n_points, n_coarse)
        Linear map from coarse values to mesh nodes.
    """

    rep: np.ndarray
    cluster: np.ndarray
    edge_index: np.ndarray
    interp: sp.csr_matrix

    @property
    def n_coarse(self) -> int:
        """Number of coarse nodes."""
        return len(self.rep)


def voxel_representatives(
    points: np.ndarray, nodes: np.ndarray, spacing_mm: float
) -> np.ndarray:
    """One node per occupied voxel: the one closest to the voxel's centroid."""
    key = np.floor(points[nodes] / spacing_mm).astype(np.int64)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n_vox = inverse.max() + 1
    centroid = np.zeros((n_vox, 3))
    np.add.at(centroid, inverse, points[nodes])
    centroid /= np.bincount(inverse, minlength=n_vox)[:, None]
    dist = np.linalg.norm(points[nodes] - centroid[inverse], axis=1)
    order = np.lexsort((dist, inverse))
    first = np.unique(inverse[order], return_index=True)[1]
    return nodes[order[first]]


def build_coarse_graph(
    mesh: TetMesh,
    spacing_mm: float = 5.0,
    fast_nodes: np.ndarray | None = None,
    k_interp: int = 8,
) -> CoarseGraph:
    """Coarsen a mesh into clusters with a graph and an interpolation map.

    Parameters
    ----------
    mesh : TetMesh
        The heart, mm.
    spacing_mm : float
        Voxel side used to pick representatives, mm.
    fast_nodes : ndarray of int, optional
        Nodes of a fast conducting layer, sampled separately.
    k_interp : int
        Representatives used by each node's linear fit.

    Returns
    -------
    CoarseGraph
    """
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    _refuse_coincident(mesh.points)
    edges = mesh.edges()
    n = mesh.n_points
    length = np.linalg.norm(mesh.points[edges[:, 0]] - mesh.points[edges[:, 1]], axis=1)
    graph = sp.coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(n, n))
    graph = (graph + graph.T).tocsr()

    # 1. representatives, the fast layer on its own
    all_nodes = np.arange(n)
    if fast_nodes is not None and len(fast_nodes):
        fast = voxel_representatives(mesh.points, np.asarray(fast_nodes), spacing_mm)
        rest = np.setdiff1d(all_nodes, fast_nodes)
        slow = voxel_representatives(mesh.points, rest, spacing_mm)
        rep = np.concatenate([fast, slow])
    else:
        rep = voxel_representatives(mesh.points, all_nodes, spacing_mm)

    # 2. geodesic clusters
    _, _, source = dijkstra(
        graph, directed=False, indices=rep, min_only=True, return_predecessors=True
    )
    if (source < 0).any():
        bad = np.flatnonzero(source < 0)
        raise MeshError(
            f"{bad.size} nodes are not connected to the rest of the mesh "
            f"(first ids {bad[:10].tolist()})"
        )
    rep_index = np.full(n, -1)
    rep_index[rep] = np.arange(len(rep))
    cluster = rep_index[source]

    # 3. coarse edges from mesh edges that cross clusters
    a, b = cluster[edges[:, 0]], cluster[edges[:, 1]]
    cross = a != b
    pairs = unique_pairs(np.sort(np.stack([a[cross], b[cross]], 1), axis=1), len(rep))
    edge_index = np.concatenate([pairs.T, pairs.T[::-1]], axis=1)

    # 4. interpolation back to the mesh
    interp = _mls_interpolation(mesh.points, rep, cluster, edge_index, k_interp)
    logger.info(
        "coarse graph: %d -> %d nodes, %d edges", n, len(rep), edge_index.shape[1]
    )
    return CoarseGraph(rep=rep, cluster=cluster, edge_index=edge_index, interp=interp)


def _refuse_coincident(points: np.ndarray, tol_mm: float = COINCIDENT_TOL_MM) -> None:
    """Raise `MeshError` when two nodes lie within `tol_mm` of each other.

    Coincident nodes give zero-length edges (their direction is 0 / 0) or a
    crack in the mesh, so they are refused before any graph is built.
    """
    from scipy.spatial import cKDTree

    pairs = cKDTree(points).query_pairs(tol_mm, output_type="ndarray")
    if len(pairs):
        raise MeshError(
            f"{len(pairs)} pairs of coincident nodes (closer than {tol_mm:g} mm), "
            f"first {pairs[:5].tolist()}; merge them with `twinml mesh check --fix` "
            "(simulators.mesh.repair.repair_mesh) first"
        )


def _mls_interpolation(
    points: np.ndarray,
    rep: np.ndarray,
    cluster: np.ndarray,
    edge_index: np.ndarray,
    k: int,
) -> sp.csr_matrix:
    """Moving-least-squares linear weights, shape (n_points, n_coarse)."""
    n_coarse = len(rep)
    rep_xyz = points[rep]

    # candidates: own cluster and its coarse neighbours, padded to equal length
    adj = sp.coo_matrix(
        (np.ones(edge_index.shape[1]), (edge_index[0], edge_index[1])),
        shape=(n_coarse, n_coarse),
    ).tocsr()
    adj = (adj + sp.identity(n_coarse, format="csr")).tocsr()
    width = int(np.diff(adj.indptr).max())
    table = np.full((n_coarse, width), -1)
    for row in range(n_coarse):
        nbrs = adj.indices[adj.indptr[row] : adj.indptr[row + 1]]
        table[row, : nbrs.size] = nbrs
    cand = table[cluster]

    # the k nearest candidates of each node
    d = np.linalg.norm(rep_xyz[np.maximum(cand, 0)] - points[:, None], axis=2)
    d[cand < 0] = np.inf
    k = min(k, width)
    near = np.argsort(d, axis=1)[:, :k]
    idx = np.take_along_axis(cand, near, 1)
    dist = np.take_along_axis(d, near, 1)
    valid = np.isfinite(dist)

    # weighted linear fit: w_i = e1^T (A^T W A + reg)^-1 A^T W
    h = np.where(valid, dist, 0).max(axis=1, keepdims=True) + 1e-9
    rel = (rep_xyz[np.maximum(idx, 0)] - points[:, None]) / h[..., None]
    basis = np.concatenate([np.ones(rel.shape[:2] + (1,)), rel], axis=2)
    weight = np.where(valid, 1.0 / (dist / h + 0.1) ** 2, 0.0)
    normal = np.einsum("nki,nk,nkj->nij", basis, weight, basis)
    normal += 1e-3 * np.diag([0.0, 1.0, 1.0, 1.0])
    coef = np.linalg.solve(normal, np.eye(4)[None, :, :1].repeat(len(points), 0))
    w = np.einsum("nki,ni,nk->nk", basis, coef[..., 0], weight)

    rows = np.repeat(np.arange(len(points)), k)
    keep = valid.ravel()
    return sp.csr_matrix(
        (w.ravel()[keep], (rows[keep], idx.ravel()[keep])),
        shape=(len(points), n_coarse),
    )
