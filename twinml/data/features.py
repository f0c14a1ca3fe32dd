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
    edge_len_mm : ndarray of shape (n_edges,)
    myo_cost : ndarray of shape (n_edges,)
        Travel time along each edge at unit velocity scaling without the
        fast layer, ms.
    fast_edge : ndarray of shape (n_edges,), bool
        Edges inside the fast endocardial layer.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    edge_len_mm: np.ndarray
    myo_cost: np.ndarray
    fast_edge: np.ndarray


def heart_features(
    heart: Ventricles, coarse: CoarseGraph, tissue: TissueParams
) -> HeartFeatures:
    """Node and edge features of a heart on its coarse graph."""
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

    # edge features: length, myocardial travel time, fibre alignment
    src, dst = coarse.edge_index
    vec = mesh.points[rep[dst]] - mesh.points[rep[src]]
    length = np.linalg.norm(vec, axis=1)
    t_edge = 0.5 * (tensor[src] + tensor[dst])
    metric = t_edge / tissue.v_fibre**2 + (np.eye(3) - t_edge) / tissue.v_cross**2
    myo_cost = np.sqrt(np.einsum("ei,eij,ej->e", vec, metric, vec))
    along = np.sqrt(np.clip(np.einsum("ei,eij,ej->e", vec, t_edge, vec), 0, None))
    fast_edge = heart.rv_endo_mask[rep[src]] & heart.rv_endo_mask[rep[dst]]
    edge_attr = np.column_stack(
        [length / 10.0, myo_cost / 50.0, fast_edge.astype(float), along / length]
    )
    return HeartFeatures(
        x=x.astype(np.float32),
        edge_index=coarse.edge_index.astype(np.int64),
        edge_attr=edge_attr.astype(np.float32),
        edge_len_mm=length,
        myo_cost=myo_cost,
        fast_edge=fast_edge,
    )


def coarse_travel_graph(
    feats: HeartFeatures, tissue: TissueParams, n_coarse: int
) -> sp.csr_matrix:
    """Coarse graph of edge travel times for given tissue parameters, ms."""
    cost = np.where(
        feats.fast_edge, feats.edge_len_mm / tissue.v_endo, feats.myo_cost / tissue.cv_scale
    )
    src, dst = feats.edge_index
    return sp.csr_matrix((cost, (src, dst)), shape=(n_coarse, n_coarse))


def query_features(
    feats: HeartFeatures,
    coarse: CoarseGraph,
    tissue: TissueParams,
    lv_leads: np.ndarray,
    rv_lead: int,
    vv_delay_ms: float = 0.0,
) -> np.ndarray:
    """Physics inputs of many LV lead sites sharing tissue and RV lead.

    Parameters
    ----------
    lv_leads : ndarray of shape (n_queries,), int
        Mesh node ids of the LV leads.
    rv_lead : int
        Mesh node id of the RV lead.

    Returns
    -------
    ndarray of shape (n_queries, n_coarse, N_QUERY_FEATURES), float32
        Travel time from the LV lead, from the RV lead, their earliest (all
        shifted to the first activation and divided by `T_SCALE_MS`), the
        velocity scaling and the VV delay / `T_SCALE_MS`.
    """
    graph = coarse_travel_graph(feats, tissue, coarse.n_coarse)
    starts = coarse.cluster[np.concatenate([[rv_lead], np.asarray(lv_leads)])]
    dist = dijkstra(graph, directed=True, indices=starts)
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
