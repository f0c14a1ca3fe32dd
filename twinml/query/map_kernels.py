"""Compiled statistics of a population query's maps (arrays in and out).

A refined query holds every member's activation map on every mesh node,
shape (M, B, n_points), and reads from them the members' mean and spread
per node, the mean map's extremes (TAT, LVAT) and every member's TAT. On a
50,000-node heart each numpy pass over the maps costs about 0.1 ms; the
kernel makes one pass, without the GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["interp_rows", "map_statistics", "refined_statistics"]


@njit(cache=True, nogil=True)
def map_statistics(t, live, lv):  # pragma: no cover
    """Members' mean and SD per node, and the extremes the answers read.

    Parameters
    ----------
    t : ndarray of shape (M, B, n_nodes)
        Members' maps, ms.
    live, lv : ndarray of bool, shape (n_nodes,)
        Nodes outside scar, and LV nodes: the extremes read live nodes only
        (and skip NaN).

    Returns
    -------
    mean, sd : ndarray of shape (B, n_nodes)
        Over the members (population SD, as numpy's ``std``), ms.
    extremes : ndarray of shape (B, 3)
        Earliest, latest and latest LV time of the mean map, ms (NaN when
        no live node has a time).
    member_tat : ndarray of shape (M, B)
        Each member's total activation time over the live nodes, ms.
    """
    n_members, n_queries, n_nodes = t.shape
    mean = np.empty((n_queries, n_nodes))
    sd = np.empty((n_queries, n_nodes))
    extremes = np.full((n_queries, 3), np.nan)
    member_tat = np.full((n_members, n_queries), np.nan)
    lo, hi = np.empty(n_members), np.empty(n_members)
    for b in range(n_queries):
        first, last, last_lv = np.inf, -np.inf, -np.inf
        lo[:], hi[:] = np.inf, -np.inf
        for i in range(n_nodes):
            # mean and SD over the members
            s = 0.0
            for m in range(n_members):
                s += t[m, b, i]
            mu = s / n_members
            v = 0.0
            for m in range(n_members):
                v += (t[m, b, i] - mu) ** 2
            mean[b, i], sd[b, i] = mu, np.sqrt(v / n_members)
            if not live[i] or np.isnan(mu):
                continue

            # extremes of the mean map and of every member's map
            first, last = min(first, mu), max(last, mu)
            if lv[i]:
                last_lv = max(last_lv, mu)
            for m in range(n_members):
                lo[m], hi[m] = min(lo[m], t[m, b, i]), max(hi[m], t[m, b, i])
        if first < np.inf:
            extremes[b, 0], extremes[b, 1] = first, last
            member_tat[:, b] = hi - lo
        if last_lv > -np.inf:
            extremes[b, 2] = last_lv
    return mean, sd, extremes, member_tat


def interp_rows(interp) -> tuple[np.ndarray, np.ndarray]:
    """A CSR interpolation as fixed-width rows: coarse node ids (n_nodes, K)
    and weights (n_nodes, K), K the most entries of a row, shorter rows
    padded with weight 0 (adding 0.0 leaves every sum as it was). The
    kernel's inner loop then has a fixed length and no row pointers: about
    a fifth faster on the real heart."""
    count = np.diff(interp.indptr)
    rows = np.repeat(np.arange(interp.shape[0]), count)
    slot = np.arange(interp.nnz) - np.repeat(interp.indptr[:-1], count)
    width = int(count.max(initial=1))
    index = np.zeros((interp.shape[0], width), dtype=np.int32)
    weight = np.zeros((interp.shape[0], width))
    index[rows, slot], weight[rows, slot] = interp.indices, interp.data
    return index, weight


def refined_statistics(base, k, corr, rows, live, lv, pool=None):
    """`map_statistics` of the members' refined maps, without forming them.

    Member m's map is ``k[m] base + I corr[m]`` on every node, NaN in scar
    (``~live``) and where ``base`` is NaN, with I the coarse-to-mesh
    interpolation; the kernel interpolates each node's members'
    corrections and reduces them in the same pass.

    Parameters
    ----------
    base : ndarray of shape (B, n_nodes)
        Shortest-path times of the leads over the mesh, ms (NaN: no path).
    k : ndarray of shape (M,)
        Members' factors on it.
    corr : ndarray of shape (M, B, n_coarse)
        Members' corrections at the coarse nodes, ms.
    rows : tuple of ndarray
        I (`CoarseGraph.interp`) as `interp_rows`.
    live, lv : ndarray of bool, shape (n_nodes,)
    pool : concurrent.futures.Executor, optional
        Where the second half of the nodes is reduced, beside this thread
        (the kernel runs without the GIL); the answer is the same.

    Returns
    -------
    Same as `map_statistics`.
    """
    # members side by side per coarse node, padded to a multiple of three:
    # the kernel interpolates three members at a time in registers
    m, b, n_coarse = corr.shape
    padded = np.zeros((b, n_coarse, -(-m // 3) * 3))
    padded[..., :m] = corr.transpose(1, 2, 0)
    base = np.ascontiguousarray(base, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    n = base.shape[1]
    mean, sd = np.empty((b, n)), np.empty((b, n))
    args = (base, k, padded, *rows, live, lv)

    # each part fills its nodes' mean and SD and returns its extremes
    cuts = [0, n // 2, n] if pool is not None else [0, n]
    other = None
    if pool is not None:
        other = pool.submit(_refined_range, *args, cuts[1], n, mean, sd)
    parts = [_refined_range(*args, 0, cuts[1], mean, sd)]
    if other is not None:
        parts.append(other.result())
    ext = np.stack([p[0] for p in parts])  # (parts, B, 3)
    first, last, last_lv = ext[..., 0].min(0), ext[..., 1].max(0), ext[..., 2].max(0)
    lo = np.min([p[1] for p in parts], axis=0)  # (M, B)
    hi = np.max([p[2] for p in parts], axis=0)

    # no live node with a time: NaN extremes (as `map_statistics`)
    extremes = np.column_stack([first, last, last_lv])
    extremes[~np.isfinite(first), :2] = np.nan
    extremes[~np.isfinite(last_lv), 2] = np.nan
    member_tat = np.where(np.isfinite(first), hi - lo, np.nan)
    return mean, sd, extremes, member_tat


@njit(cache=True, nogil=True)
def _refined_range(
    base, k, corr, index, weight, live, lv, i0, i1, mean, sd
):  # pragma: no cover
    """`refined_statistics` of nodes i0..i1 on arrays (``corr`` of shape
    (B, n_coarse, 3 J) with the M members first, I as `interp_rows`): fills
    their mean and SD, returns their extremes (B, 3) (first, last, last LV;
    +-inf where none) and each member's earliest and latest times (M, B).

    The SD sums squares of the members' offsets from the first member's
    time (no cancellation: offsets are of the order of the spread).
    """
    n_queries = base.shape[0]
    n_members = k.size
    ext = np.empty((n_queries, 3))
    lo = np.full((n_members, n_queries), np.inf)
    hi = np.full((n_members, n_queries), -np.inf)
    for b in range(n_queries):
        cb = corr[b]
        first, last, last_lv = np.inf, -np.inf, -np.inf
        for i in range(i0, i1):
            x = base[b, i]
            if not live[i] or np.isnan(x):
                mean[b, i], sd[b, i] = np.nan, np.nan
                continue

            # three members at a time: their interpolated corrections, their
            # times, extremes and sums of offsets
            s1, s2, ref = 0.0, 0.0, 0.0
            for g in range(0, corr.shape[2], 3):
                c0, c1, c2 = 0.0, 0.0, 0.0
                for j in range(index.shape[1]):
                    w, c = weight[i, j], index[i, j]
                    c0 += w * cb[c, g]
                    c1 += w * cb[c, g + 1]
                    c2 += w * cb[c, g + 2]
                for m, cm in ((g, c0), (g + 1, c1), (g + 2, c2)):
                    if m >= n_members:
                        break
                    t = k[m] * x + cm
                    if m == 0:
                        ref = t
                    lo[m, b], hi[m, b] = min(lo[m, b], t), max(hi[m, b], t)
                    s1 += t - ref
                    s2 += (t - ref) ** 2

            # the members' mean and SD, and the mean map's extremes
            offset = s1 / n_members
            mu = ref + offset
            mean[b, i] = mu
            sd[b, i] = np.sqrt(max(s2 / n_members - offset**2, 0.0))
            first, last = min(first, mu), max(last, mu)
            if lv[i]:
                last_lv = max(last_lv, mu)
        ext[b, 0], ext[b, 1], ext[b, 2] = first, last, last_lv
    return ext, lo, hi
