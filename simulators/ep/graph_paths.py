"""Anisotropic graph shortest paths: the no-learning activation baseline.

Each mesh edge e = x_j - x_i costs its travel time in the metric of the
cells that hold it, sqrt(e^T M e) with M = D^-1 the inverse squared-velocity
tensor; an edge shared by several cells takes the fastest of them (the
Eikonal front may run along any cell's edge). Dijkstra's algorithm then
gives an upper bound of the Eikonal solution that converges only to the
zig-zag (graph) metric, typically 5-15 % slow on tetrahedral meshes
(Wallman et al. 2012, IEEE TMI 31:1286), hence the one fitted factor.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from simulators.errors import SiteError

_LOCAL_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])


def metric_edge_graph(
    points: np.ndarray, cells: np.ndarray, metric: np.ndarray
) -> sp.csr_matrix:
    """Symmetric sparse graph of edge travel times.

    Parameters
    ----------
    points : ndarray of shape (n_points, 3)
        Node coordinates, mm.
    cells : ndarray of shape (n_cells, 4)
        Tetrahedra.
    metric : ndarray of shape (n_cells, 3, 3)
        Inverse squared-velocity tensor per cell, ms²/mm².

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_points, n_points)
        Travel time along each edge, ms.
    """
    # travel time of every (cell, local edge) pair
    ij = cells[:, _LOCAL_EDGES]
    vec = points[ij[..., 1]] - points[ij[..., 0]]
    cost = np.sqrt(np.einsum("cei,cij,cej->ce", vec, metric, vec))

    # fastest cell per undirected edge
    ij = np.sort(ij.reshape(-1, 2), axis=1)
    key = ij[:, 0].astype(np.int64) * len(points) + ij[:, 1]
    order = np.argsort(key)
    key = key[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    best = np.minimum.reduceat(cost.ravel()[order], start)
    i, j = np.divmod(key[start], len(points))
    n = len(points)
    graph = sp.coo_matrix((best, (i, j)), shape=(n, n))
    return (graph + graph.T).tocsr()


def graph_activation(
    graph: sp.csr_matrix, source_nodes: np.ndarray, source_times: np.ndarray
) -> np.ndarray:
    """Earliest arrival over the graph from timed sources.

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix of shape (n, n)
        Edge travel times, ms.
    source_nodes : ndarray of shape (n_sources,), int
    source_times : ndarray of shape (n_sources,)
        Onset time of each source, ms (may be negative).

    Returns
    -------
    ndarray of shape (n,)
        Arrival time, ms; NaN (with a warning) where no path exists.
    """
    n = graph.shape[0]
    nodes = np.asarray(source_nodes, dtype=np.int64)
    times = np.asarray(source_times, dtype=float)
    if nodes.size == 0 or nodes.shape != times.shape:
        raise SiteError(
            f"need matching, non-empty source nodes and times; got {nodes.shape} "
            f"and {times.shape}"
        )
    if nodes.min() < 0 or nodes.max() >= n:
        raise SiteError(f"source nodes {nodes.tolist()} outside 0..{n - 1}")

    # a virtual node linked to each source by its onset offset
    t0 = times.min()
    link = sp.coo_matrix(
        (times - t0 + 1e-12, (np.full(nodes.size, n), nodes)), shape=(n + 1, n + 1)
    )
    padded = sp.bmat([[graph, None], [None, sp.csr_matrix((1, 1))]]).tocsr()
    dist = dijkstra(padded + link.tocsr(), directed=True, indices=n)[:n]
    dist = dist + t0

    # unreachable nodes are NaN, never a sentinel
    unreachable = ~np.isfinite(dist)
    if unreachable.any():
        ids = np.flatnonzero(unreachable)
        warnings.warn(
            f"{ids.size} nodes cannot be reached from the sources (first ids "
            f"{ids[:10].tolist()}); their times are NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        dist[unreachable] = np.nan
    return dist
