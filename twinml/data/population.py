"""Inputs of the population emulator: a twin on its coarse graph, and queries.

The per-heart demo emulator (`twinml.data.features`) sees one heart; the
population emulator sees many, so nothing it reads may depend on where a
heart sits in space or how its fibres are signed:

- per coarse node: ventricular coordinates (apicobasal, transmural, angle
  from the septum as sin/cos), LV/RV membership, the fast layer, the
  fibre's squared components along the local long axis and across the
  wall (``(f . e_ab)^2``, ``(f . e_tm)^2``, sign-free, in the heart's own
  frame), scar and border-zone fractions, the shortest-path LBBB
  activation over the mesh edges (ms / `T_SCALE_MS`,
  `twinml.data.lead_paths`), and the twin's tissue and mechanics
  (broadcast);
- per coarse edge: length, travel time in the twin's tissue, fast-layer
  flag, fibre alignment (`twinml.data.features`);
- per query: graph travel times from the LV and RV leads and their
  earliest, the velocity scaling and the VV delay (`query_features`);
  and, for the activation decoder, the shortest-path CRT activation over
  the mesh's edges at the coarse nodes (`twinml.data.lead_paths`), which
  that decoder corrects.

The travel time of a coarse pair is a straight segment through the
twin's layered fibres, slowed in the border zone and `SCAR_COST` times
longer through scar (`_straight_costs`): cheap, and only the coarse
decoder (ranking) reads it; the activation map comes from the mesh's own
shortest paths, corrected.

Coarse nodes are pooled into `N_BINS` regional bins for the response head:
the 17 AHA segments of the LV and the RV free wall (bin 0).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from simulators.ep.ecg import lead_field
from simulators.ep.protocols import TissueParams
from simulators.ep.scar import Scar
from simulators.ep.ventricles import Ventricles
from simulators.mesh.laplace import barycentric_gradients
from twinml.data.coarse import CoarseGraph, build_coarse_graph
from twinml.data.features import (
    T_SCALE_MS,
    HeartFeatures,
    TravelRows,
    _cluster_mean,
    coarse_travel_graph,
    heart_features,
)
from twinml.data.lead_paths import LeadPaths, lead_paths
from twinml.data.markers import TwinMarkers

logger = logging.getLogger(__name__)

__all__ = [
    "GLOBAL_RANGES",
    "N_BINS",
    "TwinGraph",
    "coarse_baseline",
    "pool_matrix",
    "twin_globals",
    "twin_graph",
]

#: Regional bins of the response head: RV free wall (0), AHA 1-17.
N_BINS = 18
#: Voxel side of the coarse graph, mm: a few hundred to a thousand nodes
#: on a human heart, so a training step stays near 0.1 s on a CPU core.
SPACING_MM = 7.0
#: Travel-cost factor of pairs touching a coarse node mostly in scar: slow
#: enough that paths go round it, small enough that the scar's own nodes
#: keep times of the order of their surroundings' (inputs stay O(1)).
SCAR_COST = 4.0
#: Twin-level inputs and the ranges they are scaled from (to 0..1).
GLOBAL_RANGES = {
    "v_fibre_mm_ms": (0.3, 1.0),
    "v_cross_mm_ms": (0.1, 0.5),
    "v_endo_mm_ms": (1.0, 5.0),
    "contractility": (0.5, 1.5),
    "stiffness": (0.5, 4.0),
}


@dataclass(frozen=True, eq=False)
class TwinGraph:
    """Static inputs of one twin (heart, tissue, scar, mechanics).

    Attributes
    ----------
    coarse : CoarseGraph
    features : HeartFeatures
        Node features (invariant, see the module), edges, travel graph.
    bins : ndarray of shape (n_coarse,), int
        Regional bin of each coarse node (`N_BINS`).
    globals_ : ndarray of shape (len(GLOBAL_RANGES),), float32
        Twin-level inputs scaled to 0..1.
    tissue : TissueParams
    rv_lead : int
        Mesh node of the RV lead (the RV apex).
    lv_candidates : ndarray of int
        Mesh nodes where an LV lead may go.
    live : ndarray of shape (n_points,), bool
        Nodes outside scar (their activation is defined).
    lv_mask : ndarray of shape (n_points,), bool
        LV free wall and septum nodes (LVAT).
    paths : LeadPaths
        Shortest-path CRT activation over the mesh edges, per LV lead.
    lead_rows : ndarray of shape (9, n_points)
        Lead field of the pseudo-ECG (`simulators.ep.ecg`).
    """

    coarse: CoarseGraph
    features: HeartFeatures
    bins: np.ndarray
    globals_: np.ndarray
    tissue: TissueParams
    rv_lead: int
    lv_candidates: np.ndarray
    live: np.ndarray
    lv_mask: np.ndarray
    paths: LeadPaths
    lead_rows: np.ndarray

    @property
    def n_coarse(self) -> int:
        return self.coarse.n_coarse

    @cached_property
    def travel(self) -> TravelRows:
        """Coarse graph of travel times, ms, built once per twin, with its
        Dijkstra rows memoised (`TravelRows`): room for every LV candidate's
        cluster and the RV lead's."""
        graph = coarse_travel_graph(self.features, self.tissue, self.n_coarse)
        return TravelRows(graph, max_rows=max(256, self.lead_clusters.size))

    @cached_property
    def lead_clusters(self) -> np.ndarray:
        """Coarse clusters of the RV lead and of every LV candidate site."""
        leads = np.append(self.lv_candidates, self.rv_lead)
        return np.unique(self.coarse.cluster[leads])


def pool_matrix(bins: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin-mean matrix of shape (n_nodes, n_bins); empty bins are zero columns."""
    pool = np.zeros((len(bins), n_bins), dtype=np.float32)
    pool[np.arange(len(bins)), bins] = 1.0
    count = pool.sum(axis=0)
    return pool / np.maximum(count, 1.0)


def twin_graph(
    heart: Ventricles,
    tissue: TissueParams,
    scar: Scar | None = None,
    contractility: float = 1.0,
    stiffness: float = 1.0,
    spacing_mm: float = SPACING_MM,
) -> TwinGraph:
    """Build a twin's coarse graph and invariant inputs.

    The tissue-free parts (coarse graph, fibre alignment) are computed once
    per heart and reused for its other twins.

    Parameters
    ----------
    heart : Ventricles
        The heart (mesh with ventricular coordinates, fibres).
    tissue : TissueParams
        The twin's conduction velocities (mm/ms) and border factor.
    scar : Scar, optional
    contractility, stiffness : float
        The twin's mechanics, relative to the healthy heart.
    spacing_mm : float
        Voxel side of the coarse graph, mm.
    """
    mesh = heart.mesh
    coarse, (f_ab, f_tm), rows = _heart_parts(heart, spacing_mm)
    cl, n = coarse.cluster, coarse.n_coarse
    base = heart_features(heart, coarse, tissue, prune=False, layered=True)

    # travel costs: straight segments through the layered fibres, with scar
    # (blocked) and border zone (slowed)
    scar_frac, border_frac = _node_fractions(heart, scar, cl, n)
    cost = _straight_costs(base, tissue, scar_frac, border_frac)
    src, dst = coarse.edge_index
    edge_cost = sp.csr_matrix((cost, tuple(base.travel_index)), shape=(n, n))[src, dst]
    edge_attr = base.edge_attr.copy()
    edge_attr[:, 1] = np.asarray(edge_cost).ravel() / 20.0
    feats = replace(base, travel_cost=cost, edge_attr=edge_attr.astype(np.float32))

    # LBBB estimate: shortest paths over the mesh edges from the right
    # bundle's exit at 0 ms; a representative inside scar takes the
    # coarse graph's estimate
    paths = lead_paths(heart, tissue, scar)
    t_lbbb = paths.t_lbbb_ms[coarse.rep]
    if not np.isfinite(t_lbbb).all():
        graph = coarse_travel_graph(feats, tissue, n)
        roots = np.unique(cl[np.atleast_1d(heart.rv_roots)])
        coarse_lbbb = dijkstra(graph, directed=True, indices=roots).min(axis=0)
        t_lbbb = np.where(np.isfinite(t_lbbb), t_lbbb, coarse_lbbb)

    # invariant node features
    rep = coarse.rep
    phi = np.deg2rad(heart.phi_deg[rep])
    globals_ = twin_globals(tissue, contractility, stiffness)
    x = np.column_stack(
        [
            heart.mesh.point_data["apico_basal"][rep],
            np.clip(heart.mesh.point_data["transmural"][rep], 0, 1),
            np.sin(phi),
            np.cos(phi),
            _cluster_mean(heart.lv_mask.astype(float), cl, n),
            heart.rv_endo_mask[rep].astype(float),
            _cluster_mean(f_ab, cl, n),
            _cluster_mean(f_tm, cl, n),
            scar_frac,
            border_frac,
            t_lbbb / T_SCALE_MS,
            np.broadcast_to(globals_, (n, globals_.size)),
        ]
    )
    bins = np.where(heart.lv_mask[rep], heart.aha[rep], 0).astype(np.int64)
    live = np.ones(mesh.n_points, dtype=bool)
    if scar is not None:
        # a node conducts when some cell around it is outside the scar
        live[:] = False
        live[mesh.cells[~scar.cells].ravel()] = True
    lv_cand = heart.lv_candidates
    if scar is not None:
        lv_cand = lv_cand[live[lv_cand] & (scar_frac[cl[lv_cand]] <= 0.5)]
    return TwinGraph(
        coarse=coarse,
        features=replace(feats, x=x.astype(np.float32)),
        bins=bins,
        globals_=globals_,
        tissue=tissue,
        rv_lead=int(heart.rv_apex),
        lv_candidates=lv_cand,
        live=live,
        lv_mask=heart.lv_mask,
        paths=paths,
        lead_rows=rows,
    )


def twin_globals(
    tissue: TissueParams, contractility: float, stiffness: float
) -> np.ndarray:
    """Twin-level inputs scaled to 0..1 (`GLOBAL_RANGES`), float32 (5,)."""
    values = {
        "v_fibre_mm_ms": tissue.v_fibre * tissue.cv_scale,
        "v_cross_mm_ms": tissue.v_cross * tissue.cv_scale,
        "v_endo_mm_ms": tissue.v_endo,
        "contractility": contractility,
        "stiffness": stiffness,
    }
    values = np.array([values[k] for k in GLOBAL_RANGES])
    lo, hi = np.array(list(GLOBAL_RANGES.values())).T
    return ((values - lo) / (hi - lo)).astype(np.float32)


_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _heart_parts(heart: Ventricles, spacing_mm: float) -> tuple:
    """Coarse graph, fibre alignment and ECG lead field, cached per heart."""
    key = float(spacing_mm)
    cache = _PARTS.setdefault(heart, {})
    if key not in cache:
        fast = np.flatnonzero(heart.rv_endo_mask)
        cache[key] = (
            build_coarse_graph(heart.mesh, spacing_mm, fast_nodes=fast),
            _fibre_alignment(heart),
            # Fortran order: the binned pseudo-ECG reads it node-major
            np.asfortranarray(lead_field(heart.mesh, heart.electrodes())),
        )
    return cache[key]


def _straight_costs(
    base: HeartFeatures,
    tissue: TissueParams,
    scar_frac: np.ndarray,
    border_frac: np.ndarray,
) -> np.ndarray:
    """Straight-segment pair costs, scar pairs `SCAR_COST` x, border slowed."""
    cost = base.travel_cost.copy()
    src, dst = base.travel_index
    blocked = (scar_frac[src] > 0.5) | (scar_frac[dst] > 0.5)
    slowed = (border_frac[src] > 0.5) | (border_frac[dst] > 0.5)
    cost[slowed & ~blocked] /= tissue.border_factor
    cost[blocked] *= SCAR_COST
    return cost


def _node_fractions(
    heart: Ventricles, scar: Scar | None, cluster: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scar and border-zone fractions of each coarse node (by mesh nodes)."""
    if scar is None:
        return np.zeros(n), np.zeros(n)
    mesh = heart.mesh
    in_scar = np.zeros(mesh.n_points)
    in_border = np.zeros(mesh.n_points)
    # a node is in scar when every cell around it is (it cannot conduct)
    count = np.bincount(mesh.cells.ravel(), minlength=mesh.n_points)
    s = np.bincount(mesh.cells[scar.cells].ravel(), minlength=mesh.n_points)
    b = np.bincount(mesh.cells[scar.border].ravel(), minlength=mesh.n_points)
    in_scar[:] = s == count
    in_border[:] = (b > 0) & (s < count)
    return _cluster_mean(in_scar, cluster, n), _cluster_mean(in_border, cluster, n)


def _fibre_alignment(heart: Ventricles) -> tuple[np.ndarray, np.ndarray]:
    """Squared fibre components along the long axis and across the wall, per node.

    The local axes are the normalised gradients of the apicobasal and
    transmural coordinates in each cell; the squares are sign-free and do
    not change when the heart is moved or rotated.
    """
    mesh = heart.mesh
    grad = barycentric_gradients(mesh.points, mesh.cells)
    out = []
    for name in ("apico_basal", "transmural"):
        g = np.einsum("ck,ckj->cj", mesh.point_data[name][mesh.cells], grad)
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        out.append(np.einsum("cj,cj->c", g, heart.fibres) ** 2)
    count = np.bincount(mesh.cells.ravel(), minlength=mesh.n_points)
    return tuple(
        np.bincount(mesh.cells.ravel(), np.repeat(v, 4), mesh.n_points) / count
        for v in out
    )


# --------------------------------------------------------------- examples
#: Response targets of the head, in order (names of the sweep's scalars).
TARGETS = (
    "qrs_crt_ms",
    "ef_crt_acute_pct",
    "d_dpdt_max_pct",
    "d_work_diff_pct",
    "d_lvesv_pct",
    "d_lvedv_pct",
)


@dataclass(frozen=True, eq=False)
class Example:
    """One sample of a response sweep on its twin's coarse graph.

    Attributes
    ----------
    graph : TwinGraph
    lead : int
        Coarse node of the LV lead.
    lead_node : int
        Mesh node of the LV lead.
    q : ndarray of shape (n_coarse, N_QUERY_FEATURES), float32
    b_ms : ndarray of shape (n_coarse,), float32
        Shortest-path CRT activation at the coarse nodes, ms
        (`coarse_baseline`).
    vv_delay_ms : float
    t_ms : ndarray of shape (n_points,)
        Reference CRT activation, ms (NaN in scar).
    targets : ndarray of shape (len(TARGETS),)
        Reference response scalars (NaN where the sweep has none).
    sample : dict
        The sample's parameters.
    markers : TwinMarkers, optional
        The twin's marker-head inputs (`twinml.data.markers`).
    """

    graph: TwinGraph
    lead: int
    lead_node: int
    q: np.ndarray
    b_ms: np.ndarray
    vv_delay_ms: float
    t_ms: np.ndarray
    targets: np.ndarray
    sample: dict
    markers: TwinMarkers | None = None


def example(
    heart: Ventricles,
    sample: dict,
    scalars: dict,
    t_crt_ms: np.ndarray,
    scar: Scar | None,
    spacing_mm: float = SPACING_MM,
    graph: TwinGraph | None = None,
) -> Example:
    """An `Example` from a response-sweep entry (`twinml.data.response_sweep`).

    `graph`, the twin's graph from an earlier sample of the same twin
    (heart, tissue, scar and mechanics), is reused instead of rebuilt.
    """
    from twinml.data.features import query_features

    tissue = TissueParams(
        v_fibre=sample["v_fibre_mm_ms"],
        v_cross=sample["v_cross_mm_ms"],
        v_endo=sample["v_endo_mm_ms"],
    )
    if graph is None:
        graph = twin_graph(
            heart,
            tissue,
            scar,
            sample.get("contractility", 1.0),
            sample.get("stiffness", 1.0),
            spacing_mm,
        )
    lead = int(scalars["lv_lead_node"])
    vv = float(sample.get("vv_delay_ms", 0.0))
    q = query_features(graph.features, graph.coarse, tissue, [lead], graph.rv_lead, vv)
    targets = np.array(
        [np.nan if scalars.get(k) is None else float(scalars[k]) for k in TARGETS]
    )
    return Example(
        graph=graph,
        lead=int(graph.coarse.cluster[lead]),
        lead_node=lead,
        q=q[0],
        b_ms=coarse_baseline(graph, graph.paths.times([lead], vv), q)[0],
        vv_delay_ms=vv,
        t_ms=np.asarray(t_crt_ms, dtype=float),
        targets=targets,
        sample=dict(sample),
    )


def coarse_baseline(graph: TwinGraph, t_ms: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Shortest-path times at the coarse nodes, ms, finite everywhere.

    Parameters
    ----------
    graph : TwinGraph
    t_ms : ndarray of shape (B, n_points)
        `LeadPaths.times` of B leads (NaN where no path exists).
    q : ndarray of shape (B, n_coarse, N_QUERY_FEATURES)
        The leads' query features; a coarse node whose representative has
        no path (inside scar) takes its earliest coarse travel time.

    Returns
    -------
    ndarray of shape (B, n_coarse), float32
    """
    b = t_ms[:, graph.coarse.rep]
    b = np.where(np.isfinite(b), b, q[..., 2] * T_SCALE_MS)
    return b.astype(np.float32)
