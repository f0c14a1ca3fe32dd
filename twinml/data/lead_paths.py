"""Shortest-path CRT activation of one twin for many LV lead sites.

The activation baseline of the population emulator (and the physics its
activation decoder corrects) is the anisotropic shortest path over the
mesh's edges (`simulators.ep.graph_paths`) from the CRT plan's sources:
the RV lead at 0 ms, the LV lead at ``-vv_delay_ms`` and the intrinsic
roots of the working bundle at ``PR - AV``. On a fixed graph the earliest
arrival from several timed sources is the minimum of each source's own
arrival, so everything but the LV lead is solved once per twin
(`LeadPaths.t_fixed_ms`) and a new lead site costs one Dijkstra from that
node.

That Dijkstra stops at the meeting line: a node the fixed sources reach no
later than the lead's wave is not expanded. Nothing is lost, because for a
node v beyond such a node u, t_lead(v) = t_lead(u) + d(u, v) >= t_fixed(u)
+ d(u, v) >= t_fixed(v) (t_fixed is itself a shortest-path field), so the
minimum there is t_fixed(v) either way; only the region the lead captures
is searched (about half the heart).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.sparse.csgraph import reverse_cuthill_mckee

from simulators.ep.graph_paths import graph_activation, metric_edge_graph
from simulators.ep.protocols import PacingPlan, TissueParams
from simulators.ep.scar import Scar
from simulators.ep.ventricles import Ventricles

__all__ = ["LeadPaths", "captured_arrival", "lead_paths"]


@dataclass(frozen=True, eq=False)
class LeadPaths:
    """A twin's edge graph and the arrival from its non-LV sources.

    Attributes
    ----------
    graph : scipy.sparse.csr_matrix of shape (n_points, n_points)
        Edge travel times in the twin's tissue, ms (scar cells removed).
    t_fixed_ms : ndarray of shape (n_points,)
        Earliest arrival from the RV lead (0 ms) and the intrinsic roots,
        ms (inf where no path exists).
    t_lbbb_ms : ndarray of shape (n_points,)
        Shortest-path LBBB activation (the right bundle's exit at 0 ms on
        the same graph: LBBB and CRT share the working bundle), ms (NaN
        where no path exists).
    search : tuple
        The graph renumbered so that neighbours lie close in memory
        (`_renumbered`: CSR arrays, ``t_fixed_ms`` in that order, each
        node's new and old ids), which `times` searches.
    """

    graph: sp.csr_matrix
    t_fixed_ms: np.ndarray
    t_lbbb_ms: np.ndarray
    search: tuple

    def times(self, lv_leads, vv_delay_ms: float = 0.0) -> np.ndarray:
        """Shortest-path CRT activation of each LV lead, ms from the first pace.

        Parameters
        ----------
        lv_leads : array of int, shape (B,)
            Mesh nodes of the LV leads.
        vv_delay_ms : float
            LV lead ahead of the RV lead, ms.

        Returns
        -------
        ndarray of shape (B, n_points)
            Arrival times shifted so the earlier lead paces at 0 ms (the
            reference solver's convention); NaN where no path exists.
        """
        leads = np.atleast_1d(np.asarray(lv_leads, dtype=np.int64))
        indptr, indices, data, t_fixed, new_id, old_id = self.search
        return _crt_times(
            indptr, indices, data, new_id[leads], float(vv_delay_ms), t_fixed, old_id
        )


@njit(cache=True, nogil=True)
def _crt_times(
    indptr, indices, data, leads, vv_delay_ms, t_fixed, old_id
):  # pragma: no cover
    """`LeadPaths.times` on the CSR arrays: each lead's captured arrival,
    the earlier of it and the fixed sources', shifted, NaN where none;
    node i of the arrays is node ``old_id[i]`` of the mesh."""
    shift = min(0.0, -vv_delay_ms)
    out = np.empty((leads.size, t_fixed.size))
    for b in range(leads.size):
        t = captured_arrival(indptr, indices, data, leads[b], -vv_delay_ms, t_fixed)
        for i in range(t_fixed.size):
            v = min(t[i], t_fixed[i])
            out[b, old_id[i]] = v - shift if v < np.inf else np.nan
    return out


def _renumbered(graph: sp.csr_matrix, t_fixed: np.ndarray) -> tuple:
    """`LeadPaths.search`: the graph in reverse Cuthill-McKee order (Cuthill
    and McKee 1969), whose neighbours lie close in memory: the lead's
    Dijkstra runs about a tenth faster on the real heart, with the same
    times (the same sums of the same edges)."""
    old_id = reverse_cuthill_mckee(graph, symmetric_mode=True).astype(np.int64)
    new_id = np.empty_like(old_id)
    new_id[old_id] = np.arange(old_id.size)
    g = sp.csr_matrix(graph[old_id][:, old_id])
    return (
        g.indptr.astype(np.int64),
        g.indices.astype(np.int64),
        g.data,
        np.ascontiguousarray(t_fixed[old_id]),
        new_id,
        old_id,
    )


def lead_paths(
    heart: Ventricles, tissue: TissueParams, scar: Scar | None = None
) -> LeadPaths:
    """Build a twin's `LeadPaths` (one graph and one Dijkstra).

    Parameters
    ----------
    heart : Ventricles
    tissue : TissueParams
        Conduction velocities (mm/ms) and border-zone factor.
    scar : Scar, optional
        Its cells are removed from the graph (no conduction).
    """
    # the CRT plan's metric and sources do not depend on where the LV lead is
    probe = int(heart.lv_candidates[0])
    plan = PacingPlan("crt", lv_lead=probe)
    metric = heart.metric(tissue, plan, scar)
    cells = heart.mesh.cells
    keep = np.ones(len(cells), dtype=bool) if scar is None else ~scar.cells
    graph = metric_edge_graph(heart.mesh.points, cells[keep], metric[keep])
    nodes, times = heart.sources(plan)
    other = nodes != probe
    lbbb_nodes, lbbb_times = heart.sources(PacingPlan("lbbb"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scar-locked nodes
        t_fixed = graph_activation(graph, nodes[other], times[other])
        t_lbbb = graph_activation(graph, lbbb_nodes, lbbb_times)
    t_fixed = np.where(np.isfinite(t_fixed), t_fixed, np.inf)
    # both directions of every edge, 64-bit indices for the compiled search
    graph = sp.csr_matrix(graph.maximum(graph.T))
    graph.indices = graph.indices.astype(np.int64)
    graph.indptr = graph.indptr.astype(np.int64)
    return LeadPaths(graph, t_fixed, t_lbbb, _renumbered(graph, t_fixed))


@njit(cache=True, nogil=True)
def captured_arrival(indptr, indices, data, source, onset, bound):  # pragma: no cover
    """Arrival from one timed source where it beats `bound`, ms (else >= bound).

    Dijkstra over the CSR graph with an indexed binary heap (keys beside
    the nodes, decrease-key in place); a node reached no earlier than its
    `bound` is settled but not expanded (module docstring), so it is not
    queued at all.
    """
    n = indptr.size - 1
    t = np.full(n, np.inf)
    key = np.empty(n)
    node = np.empty(n, dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)  # heap slot; -1 never queued, -2 settled
    t[source], key[0], node[0], pos[source], size = onset, onset, source, 0, 1
    while size > 0:
        # pop the earliest node; the last entry sifts down from the root
        u, d = node[0], key[0]
        pos[u] = -2
        size -= 1
        if size > 0:
            _sift_down(key, node, pos, key[size], node[size], size)
        if d >= bound[u]:
            continue

        # relax its edges; a node that could expand is queued or moved up
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            nd = d + data[k]
            if nd >= t[v]:  # (a settled node has t[v] <= d < nd)
                continue
            t[v] = nd
            if nd < bound[v]:
                i = pos[v]
                if i == -1:
                    i, size = size, size + 1
                _sift_up(key, node, pos, i, nd, v)
    return t


@njit(cache=True, nogil=True)
def _sift_up(key, node, pos, i, k, v):  # pragma: no cover
    """Place node v with key k at heap slot i or above."""
    while i > 0:
        parent = (i - 1) >> 1
        if key[parent] <= k:
            break
        key[i], node[i] = key[parent], node[parent]
        pos[node[i]] = i
        i = parent
    key[i], node[i], pos[v] = k, v, i


@njit(cache=True, nogil=True)
def _sift_down(key, node, pos, k, v, size):  # pragma: no cover
    """Place node v with key k at the root or below (heap of `size`)."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and key[child + 1] < key[child]:
            child += 1
        if key[child] >= k:
            break
        key[i], node[i] = key[child], node[child]
        pos[node[i]] = i
        i = child
    key[i], node[i], pos[v] = k, v, i
