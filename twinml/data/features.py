"""Graph features of a heart and of a pacing query, computed in numpy.

The physics the network would otherwise have to learn is handed to it:

- per coarse node: ventricular coordinates (apicobasal, transmural, angle
  from the septum as sin/cos), region, fast-layer membership and the local
  fibre tensor (f f^T, sign-free);
- per coarse edge: length, myocardial travel time along it and its
  alignment with the fibres;
- per query: travel times over the coarse graph from the LV and RV leads
  (Dijkstra with the query's conduction velocities and the VV delay), the
  earliest of the two, and the velocity scaling.

Times are in ms and scaled by `T_SCALE_MS` before reaching the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from simulators.ep.ventricles import TissueParams, Ventricles
from twinml.data.coarse import CoarseGraph
from twinml.data.lead_paths import captured_arrival

#: Time scale of network inputs and outputs, ms.
T_SCALE_MS = 100.0

N_QUERY_FEATURES = 5


@dataclass(frozen=True, eq=False)
class HeartFeatures:
    """Static inputs of one heart on its coarse graph.

    Attributes
    ----------
    x : ndarray of shape (n_coarse, n_node_features)
    edge_index : ndarray of shape (2, n_edges)
    edge_attr : ndarray of shape (n_edges, n_edge_features)
    travel_index : ndarray of shape (2, n_travel)
        Pairs of coarse nodes up to two hops apart: the graph of the
        travel-time feature (two hops cut the zig-zag error of a sparse graph).
    travel_cost : ndarray of shape (n_travel,)
        Travel time of each pair at unit velocity scaling, ms: the shortest
        path between the two representatives on the mesh graph.
    travel_fast : ndarray of shape (n_travel,), bool
        Pairs inside the fast endocardial layer (their cost does not scale).
    travel_needed : ndarray of shape (n_travel,), bool
        Pairs on some shortest path at unit velocity scaling; the others are
        dominated by a path through the rest and can be dropped there.
    offset : ndarray of shape (n_points,)
        Travel time from each node's representative to the node, ms.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    travel_index: np.ndarray
    travel_cost: np.ndarray
    travel_fast: np.ndarray
    travel_needed: np.ndarray
    offset: np.ndarray


def heart_features(
    heart: Ventricles,
    coarse: CoarseGraph,
    tissue: TissueParams,
    prune: bool = True,
    layered: bool = False,
) -> HeartFeatures:
    """Node and edge features of a heart on its coarse graph.

    With ``prune`` the pairs no shortest path needs are marked (one limited
    Dijkstra per coarse node: worth it for a heart queried many times);
    without, every pair is kept (the same travel times, found a little
    more slowly).

    With ``layered`` the travel costs treat a cluster's fibres as the
    layers of a wall whose helix turns through it (`_metric_costs`).
    """
    mesh = heart.mesh
    cl = coarse.cluster
    n_coarse = coarse.n_coarse

    # fibre tensor per node (mean of its cells), then per cluster
    ff = np.einsum("ci,cj->cij", heart.fibres, heart.fibres).reshape(-1, 9)
    node_ff = np.zeros((mesh.n_points, 9))
    np.add.at(node_ff, mesh.cells.ravel(), np.repeat(ff, 4, axis=0))
    node_ff /= np.bincount(mesh.cells.ravel(), minlength=mesh.n_points)[:, None]
    tensor = _cluster_mean(node_ff, cl, n_coarse).reshape(-1, 3, 3)

    # node features: coordinates, regions, fast layer, fibre tensor
    rep = coarse.rep
    phi = np.deg2rad(heart.phi_deg[rep])
    rv_only = ~heart.lv_mask
    x = np.column_stack(
        [
            mesh.point_data["apico_basal"][rep],
            np.clip(mesh.point_data["transmural"][rep], 0, 1),
            np.sin(phi),
            np.cos(phi),
            _cluster_mean(heart.lv_mask.astype(float), cl, n_coarse),
            _cluster_mean(rv_only.astype(float), cl, n_coarse),
            heart.rv_endo_mask[rep].astype(float),
            tensor.reshape(-1, 9)[:, [0, 4, 8, 1, 2, 5]],
        ]
    )

    # edge features: length, travel time, fibre alignment
    src, dst = coarse.edge_index
    vec = mesh.points[rep[dst]] - mesh.points[rep[src]]
    length = np.linalg.norm(vec, axis=1)
    t_edge = 0.5 * (tensor[src] + tensor[dst])
    along = np.sqrt(np.clip(np.einsum("ei,eij,ej->e", vec, t_edge, vec), 0, None))
    fast_edge = heart.rv_endo_mask[rep[src]] & heart.rv_endo_mask[rep[dst]]
    travel_index = _two_hop_pairs(coarse.edge_index, coarse.n_coarse)
    travel_cost, travel_fast, offset = _metric_costs(
        heart, coarse, travel_index, _layered(tensor) if layered else tensor, tissue
    )
    edge_cost = sp.csr_matrix(
        (travel_cost, tuple(travel_index)), shape=(coarse.n_coarse,) * 2
    )[src, dst]
    edge_attr = np.column_stack(
        [
            length / 10.0,
            np.asarray(edge_cost).ravel() / 20.0,
            fast_edge.astype(float),
            along / length,
        ]
    )
    return HeartFeatures(
        x=x.astype(np.float32),
        edge_index=coarse.edge_index.astype(np.int64),
        edge_attr=edge_attr.astype(np.float32),
        travel_index=travel_index,
        travel_cost=travel_cost,
        travel_fast=travel_fast,
        travel_needed=(
            _needed_pairs(travel_index, travel_cost, coarse.n_coarse)
            if prune
            else np.ones(travel_cost.size, dtype=bool)
        ),
        offset=offset,
    )


def _two_hop_pairs(edge_index: np.ndarray, n: int) -> np.ndarray:
    """Directed pairs of distinct nodes at most two edges apart, (2, n_pairs)."""
    adj = sp.csr_matrix((np.ones(edge_index.shape[1]), tuple(edge_index)), shape=(n, n))
    reach = ((adj + adj @ adj) > 0).tocoo()
    keep = reach.row != reach.col
    return np.stack([reach.row[keep], reach.col[keep]]).astype(np.int64)


def _needed_pairs(
    pairs: np.ndarray, cost: np.ndarray, n: int, chunk: int = 512
) -> np.ndarray:
    """Pairs whose cost no other path undercuts, shape (n_pairs,), bool.

    Dropping the others leaves every shortest path unchanged (about 40 % of
    two-hop pairs go, halving the cost of each query's Dijkstra).
    """
    graph = sp.csr_matrix((cost, tuple(pairs)), shape=(n, n))
    needed = np.ones(cost.size, dtype=bool)
    src, dst = pairs
    for lo in range(0, n, chunk):
        rows = np.arange(lo, min(lo + chunk, n))
        dist = dijkstra(graph, directed=True, indices=rows, limit=float(cost.max()))
        sel = (src >= lo) & (src <= rows[-1])
        needed[sel] = cost[sel] <= dist[src[sel] - lo, dst[sel]] * (1 + 1e-12)
    return needed


def _layered(tensor: np.ndarray) -> np.ndarray:
    """Fibre tensors of clusters whose fibres turn through the wall, (n, 3, 3).

    A cluster several millimetres across holds fibres of many helix angles;
    their mean tensor is nearly isotropic in the wall's plane, and its
    metric would make every in-plane path slow. A wave crossing the cluster
    instead runs in the layer whose fibres point its way, so the plane of
    the two largest eigenvectors is taken as fast in every direction
    (Eikonal fronts in rotating-fibre walls travel near the fibre velocity
    along the wall; the transmural direction stays at the cross velocity).
    The trace stays 2 rather than 1; `_metric_costs` uses ``T`` and
    ``I - T`` only as projectors.
    """
    val, vec = np.linalg.eigh(tensor)
    plane = vec[:, :, 1:]
    layered = np.einsum("nik,njk->nij", plane, plane)

    # a cluster whose fibres all point one way has no plane of layers (its
    # two smaller eigenvalues tie, and round-off would pick the plane): it
    # keeps its own fibre tensor
    one_way = val[:, 1] < 0.1
    return np.where(one_way[:, None, None], tensor, layered)


def _metric_costs(
    heart: Ventricles,
    coarse: CoarseGraph,
    pairs: np.ndarray,
    tensor: np.ndarray,
    tissue: TissueParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Straight-line travel times between representatives and to every node.

    A pair's time is its length in the metric of the mean fibre tensor of
    its two clusters, M = T / v_f^2 + (I - T) / v_c^2 (the myocardium), or
    its length over `v_endo` when both ends lie on the fast layer.

    Returns
    -------
    cost : ndarray of shape (n_pairs,), ms
    fast : ndarray of shape (n_pairs,), bool
    offset : ndarray of shape (n_points,), ms
        Time from each node's representative to the node.
    """
    pts = heart.mesh.points
    rep = coarse.rep
    eye = np.eye(3)

    def metric_length(vec: np.ndarray, t: np.ndarray) -> np.ndarray:
        metric = t / tissue.v_fibre**2 + (eye - t) / tissue.v_cross**2
        return np.sqrt(np.einsum("ei,eij,ej->e", vec, metric, vec))

    src, dst = pairs
    vec = pts[rep[dst]] - pts[rep[src]]
    fast = heart.rv_endo_mask[rep[src]] & heart.rv_endo_mask[rep[dst]]
    myo = metric_length(vec, 0.5 * (tensor[src] + tensor[dst]))
    cost = np.where(fast, np.linalg.norm(vec, axis=1) / tissue.v_endo, myo)
    to_rep = pts - pts[rep[coarse.cluster]]
    offset = metric_length(to_rep, tensor[coarse.cluster])
    return cost, fast, offset


def coarse_travel_graph(
    feats: HeartFeatures, tissue: TissueParams, n_coarse: int
) -> sp.csr_matrix:
    """Coarse graph of edge travel times for given tissue parameters, ms."""
    cost = np.where(
        feats.travel_fast, feats.travel_cost, feats.travel_cost / tissue.cv_scale
    )
    index = feats.travel_index

    # dominated pairs are exact to drop only at the scaling they were found at
    if tissue.cv_scale == 1.0:
        cost, index = cost[feats.travel_needed], index[:, feats.travel_needed]
    return sp.csr_matrix((cost, tuple(index)), shape=(n_coarse, n_coarse))


class TravelRows:
    """A coarse travel graph and its single-source Dijkstra rows, memoised.

    A twin's queries share its RV lead, whose row is then solved once; each
    row is a compiled Dijkstra (`captured_arrival` without a bound), which
    skips scipy's per-call validation of the graph (about 1 ms on a
    2,000-node coarse graph). At most `max_rows` rows are kept (oldest
    dropped first).

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix of shape (n, n)
        Directed travel times, ms (`coarse_travel_graph`).
    max_rows : int
    """

    def __init__(self, graph: sp.csr_matrix, max_rows: int = 256) -> None:
        g = sp.csr_matrix(graph)
        self.graph = g
        self._arrays = (
            g.indptr.astype(np.int64),
            g.indices.astype(np.int64),
            g.data.astype(np.float64),
        )
        self._inf = np.full(g.shape[0], np.inf)
        self._rows: dict[int, np.ndarray] = {}
        self.max_rows = max_rows

    def rows(self, starts: np.ndarray) -> np.ndarray:
        """Travel times from each start node, ms, shape (len(starts), n)."""
        out = np.empty((len(starts), self.graph.shape[0]))
        for i, start in enumerate(np.asarray(starts, dtype=np.int64)):
            row = self._rows.get(int(start))
            if row is None:
                row = captured_arrival(*self._arrays, int(start), 0.0, self._inf)
                if len(self._rows) >= self.max_rows:
                    self._rows.pop(next(iter(self._rows)))
                self._rows[int(start)] = row
            out[i] = row
        return out


def query_features(
    feats: HeartFeatures,
    coarse: CoarseGraph,
    tissue: TissueParams,
    lv_leads: np.ndarray,
    rv_lead: int,
    vv_delay_ms: float = 0.0,
    travel: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Physics inputs of many LV lead sites sharing tissue and RV lead.

    Parameters
    ----------
    lv_leads : ndarray of shape (n_queries,), int
        Mesh node ids of the LV leads.
    rv_lead : int
        Mesh node id of the RV lead.
    travel : TravelRows or scipy.sparse.csr_matrix, optional
        `coarse_travel_graph` of these features and tissue, when the caller
        keeps it between queries (built here otherwise); as `TravelRows`,
        its rows are memoised (the RV lead's is solved once per twin).

    Returns
    -------
    ndarray of shape (n_queries, n_coarse, N_QUERY_FEATURES), float32
        Travel time from the LV lead, from the RV lead, their earliest (all
        shifted to the first activation and divided by `T_SCALE_MS`), the
        velocity scaling and the VV delay / `T_SCALE_MS`.
    """
    graph = travel
    if graph is None:
        graph = coarse_travel_graph(feats, tissue, coarse.n_coarse)
    leads = np.concatenate([[rv_lead], np.asarray(lv_leads)])
    starts, which = np.unique(coarse.cluster[leads], return_inverse=True)
    if isinstance(graph, TravelRows):
        dist = graph.rows(starts)[which.ravel()]
    else:
        dist = dijkstra(graph, directed=True, indices=starts)[which.ravel()]
    dist += (feats.offset[leads] / tissue.cv_scale)[:, None]
    t_rv = dist[0][None, :]
    t_lv = dist[1:] - vv_delay_ms
    t0 = min(0.0, -vv_delay_ms)
    t_first = np.minimum(t_rv, t_lv)
    n_q = len(lv_leads)
    out = np.stack(
        [
            (t_lv - t0) / T_SCALE_MS,
            np.broadcast_to((t_rv - t0) / T_SCALE_MS, t_lv.shape),
            (t_first - t0) / T_SCALE_MS,
            np.full(t_lv.shape, tissue.cv_scale),
            np.full(t_lv.shape, vv_delay_ms / T_SCALE_MS),
        ],
        axis=-1,
    )
    if not np.isfinite(out).all():
        raise ValueError("coarse graph is disconnected: some travel times are infinite")
    return out.astype(np.float32).reshape(n_q, coarse.n_coarse, N_QUERY_FEATURES)


def _cluster_mean(values: np.ndarray, cluster: np.ndarray, n: int) -> np.ndarray:
    """Mean of node values per cluster, shape (n,) + values.shape[1:]."""
    total = np.zeros((n,) + values.shape[1:])
    np.add.at(total, cluster, values)
    count = np.bincount(cluster, minlength=n).reshape((n,) + (1,) * (values.ndim - 1))
    return total / count
