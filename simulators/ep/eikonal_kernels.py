"""Numba kernels of the Eikonal solver: arrays and scalars in and out.

The local solver works on one tetrahedron described by the squared M-lengths
of its six edges, d²_pq = (x_p − x_q)ᵀ M (x_p − x_q) in ms², stored in the
order of `EDGES`. Every M-inner product it needs follows by polarisation,

    (x_p − x_c)ᵀ M (x_q − x_c) = (d²_pc + d²_qc − d²_pq) / 2,

so no coordinates or tensors reach the inner loop. For a target vertex x and
its opposite face (a, b, c) with times t_a, t_b, t_c it minimises

    f(λ) = t_c + λ·δ + ‖w − E λ‖_M,   λ ≥ 0, λ1 + λ2 ≤ 1,

with E = [x_a − x_c, x_b − x_c], w = x − x_c, δ = (t_a − t_c, t_b − t_c).
With G = EᵀME, g = EᵀMw, q = δᵀG⁻¹δ and h the M-distance of x to the face
plane, the stationary point (when q < 1) is n = h / sqrt(1 − q),
λ = G⁻¹(g − n δ), and f = t_c + λ·δ + n there. f is convex, so that point is
the minimum when it lies in the triangle; otherwise the minimum is on an edge
(the same formula in one dimension) or at a vertex.

The march (`march`) is a label-correcting method on an indexed binary heap,
see `simulators.ep.eikonal`. The kernels allocate nothing: callers pass the
output and work arrays.
"""

import numpy as np
from numba import njit

__all__ = ["EDGES", "cell_geometry", "march", "metric_defects", "tet_local_update"]

#: Local vertex pairs of the six edges of a tetrahedron, in storage order.
EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]], dtype=np.int64)

#: Absolute part of the re-queue threshold, ms (see `march`).
ATOL_MS = 1e-14


@njit(cache=True)
def _edge_update(g_pp, d_jo, d_jp, t_p, t_o):
    """Best time through the inside of edge o→p (inf when not attained there).

    Squared M-lengths: g_pp = |p − o|², d_jo = |j − o|², d_jp = |j − p|².
    """
    inf = np.inf
    if g_pp <= 0.0 or t_p == inf or t_o == inf:
        return inf
    delta = t_p - t_o

    # a front faster than the edge itself has no stationary point inside
    q = delta * delta / g_pp
    if q >= 1.0:
        return inf
    g = 0.5 * (g_pp + d_jo - d_jp)
    r2 = max(d_jo - g * g / g_pp, 0.0)
    n = np.sqrt(r2 / (1.0 - q))
    lam = (g - n * delta) / g_pp
    if lam <= 0.0 or lam >= 1.0:
        return inf
    return t_o + lam * delta + n


@njit(cache=True)
def _interior_update(d_ja, d_jb, d_jc, d_ab, d_ac, d_bc, t_a, t_b, t_c):
    """Stationary point of f inside face (a, b, c); inf when not inside.

    Arguments as in `_face_update`, with all three times finite.
    """
    inf = np.inf

    # G = EᵀME and g = EᵀMw by polarisation; skip a degenerate face
    g11, g22 = d_ac, d_bc
    g12 = 0.5 * (d_ac + d_bc - d_ab)
    det = g11 * g22 - g12 * g12
    if not det > 1e-12 * g11 * g22:
        return inf
    g1 = 0.5 * (d_ac + d_jc - d_ja)
    g2 = 0.5 * (d_bc + d_jc - d_jb)

    # y = G⁻¹g, z = G⁻¹δ and q = δᵀG⁻¹δ; q >= 1: the face times outrun the front
    inv = 1.0 / det
    y1 = (g22 * g1 - g12 * g2) * inv
    y2 = (g11 * g2 - g12 * g1) * inv
    e1, e2 = t_a - t_c, t_b - t_c
    z1 = (g22 * e1 - g12 * e2) * inv
    z2 = (g11 * e2 - g12 * e1) * inv
    q = e1 * z1 + e2 * z2
    if q >= 1.0:
        return inf

    # squared height of j over the face plane, then the optimal point
    r2 = max(d_jc - (g1 * y1 + g2 * y2), 0.0)
    n = np.sqrt(r2 / (1.0 - q))
    l1, l2 = y1 - n * z1, y2 - n * z2
    if l1 < 0.0 or l2 < 0.0 or l1 + l2 > 1.0:
        return inf
    return t_c + l1 * e1 + l2 * e2 + n


@njit(cache=True)
def _face_update(d_ja, d_jb, d_jc, d_ab, d_ac, d_bc, t_a, t_b, t_c):
    """Earliest time at node j through the face (a, b, c) of one cell.

    Arguments are the six squared M-lengths of the cell's edges (ms²) and the
    three face times (ms, inf when not yet reached). Returns inf when no face
    vertex has a time.
    """
    inf = np.inf

    # f is convex: a stationary point inside the triangle is its minimum
    if t_a < inf and t_b < inf and t_c < inf:
        best = _interior_update(d_ja, d_jb, d_jc, d_ab, d_ac, d_bc, t_a, t_b, t_c)
        if best < inf:
            return best

    # otherwise the minimum lies on an edge or at a vertex
    best = min(
        _edge_update(d_ac, d_jc, d_ja, t_a, t_c),
        _edge_update(d_bc, d_jc, d_jb, t_b, t_c),
        _edge_update(d_ab, d_jb, d_ja, t_a, t_b),
    )
    if t_a < inf:
        best = min(best, t_a + np.sqrt(d_ja))
    if t_b < inf:
        best = min(best, t_b + np.sqrt(d_jb))
    if t_c < inf:
        best = min(best, t_c + np.sqrt(d_jc))
    return best


@njit(cache=True)
def _cell_update(target, d01, d02, d03, d12, d13, d23, t0, t1, t2, t3):
    """Time at local vertex `target` (0..3) of a cell from its opposite face."""
    if target == 0:
        return _face_update(d01, d02, d03, d12, d13, d23, t1, t2, t3)
    if target == 1:
        return _face_update(d01, d12, d13, d02, d03, d23, t0, t2, t3)
    if target == 2:
        return _face_update(d02, d12, d23, d01, d03, d13, t0, t1, t3)
    return _face_update(d03, d13, d23, d01, d02, d12, t0, t1, t2)


@njit(cache=True)
def tet_local_update(edge_len2, times, target):
    """Exact local Eikonal solve at one vertex of one tetrahedron.

    Parameters
    ----------
    edge_len2 : ndarray of shape (6,)
        Squared M-lengths ‖x_p − x_q‖²_M of the edges in `EDGES` order, ms².
    times : ndarray of shape (4,)
        Vertex times in ms; inf marks a vertex not yet reached.
    target : int
        Local vertex (0..3) to update; its own entry of `times` is ignored.

    Returns
    -------
    float
        min over λ of t_c + λ·δ + ‖w − E λ‖_M over the opposite face, in ms
        (inf when the face has no finite time).

    Examples
    --------
    >>> d2 = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])  # unit corner tet, M = I
    >>> t = tet_local_update(d2, np.array([np.inf, 0.0, 0.0, 0.0]), 0)
    >>> round(float(t), 12)  # distance 1/√3 to the opposite face
    0.57735026919
    """
    d = edge_len2
    return _cell_update(
        target, d[0], d[1], d[2], d[3], d[4], d[5],
        times[0], times[1], times[2], times[3],
    )  # fmt: skip


@njit(cache=True)
def _height(d_ja, d_jb, d_jc, d_ab, d_ac, d_bc):
    """M-distance from vertex j to the plane of face (a, b, c), 0 if degenerate.

    Arguments are squared M-lengths; it is ‖v0‖_M of the local solver.
    """
    g11, g22 = d_ac, d_bc
    g12 = 0.5 * (d_ac + d_bc - d_ab)
    det = g11 * g22 - g12 * g12
    if not det > 1e-12 * g11 * g22:
        return 0.0
    g1 = 0.5 * (d_ac + d_jc - d_ja)
    g2 = 0.5 * (d_bc + d_jc - d_jb)
    proj = (g22 * g1 * g1 - 2.0 * g12 * g1 * g2 + g11 * g2 * g2) / det
    return np.sqrt(max(d_jc - proj, 0.0))


@njit(cache=True)
def cell_geometry(points, cells, metric, out):
    """Fill `out` of shape (n_cells, 10) with the local solver's cell data.

    Columns 0-5 hold the squared M-lengths of the edges in `EDGES` order
    (ms²); columns 6-9 the M-heights of vertices 0-3 over their opposite
    faces (ms), shrunk by a relative 1e-9 so that round-off cannot lift them
    above the true heights, which bound the local solve from below.
    `metric` has shape (n_cells, 3, 3), or (1, 3, 3) for one shared tensor.
    """
    shared = metric.shape[0] == 1
    for c in range(cells.shape[0]):
        m = metric[0] if shared else metric[c]

        # squared edge lengths ‖x_q − x_p‖²_M
        for e in range(6):
            i, j = cells[c, EDGES[e, 0]], cells[c, EDGES[e, 1]]
            px = points[j, 0] - points[i, 0]
            py = points[j, 1] - points[i, 1]
            pz = points[j, 2] - points[i, 2]
            out[c, e] = (
                m[0, 0] * px * px + m[1, 1] * py * py + m[2, 2] * pz * pz
                + 2.0 * (m[0, 1] * px * py + m[0, 2] * px * pz + m[1, 2] * py * pz)
            )  # fmt: skip

        # heights, with the face vertex order of `_cell_update`
        d01, d02, d03 = out[c, 0], out[c, 1], out[c, 2]
        d12, d13, d23 = out[c, 3], out[c, 4], out[c, 5]
        shrink = 1.0 - 1e-9
        out[c, 6] = shrink * _height(d01, d02, d03, d12, d13, d23)
        out[c, 7] = shrink * _height(d01, d12, d13, d02, d03, d23)
        out[c, 8] = shrink * _height(d02, d12, d23, d01, d03, d13)
        out[c, 9] = shrink * _height(d03, d13, d23, d01, d02, d12)


@njit(cache=True)
def metric_defects(metric, sym_rtol, code):
    """Fill `code` of shape (n,) with one defect code per 3x3 tensor.

    0 fine, 1 non-finite, 2 asymmetric beyond `sym_rtol` times its largest
    entry, 3 not positive definite (Sylvester's leading minors).
    """
    code[:] = 0
    for c in range(metric.shape[0]):
        m = metric[c]
        scale = 0.0
        finite = True
        for a in range(3):
            for b in range(3):
                finite = finite and np.isfinite(m[a, b])
                scale = max(scale, abs(m[a, b]))
        if not finite:
            code[c] = 1
            continue
        tol = sym_rtol * scale
        if (
            abs(m[0, 1] - m[1, 0]) > tol
            or abs(m[0, 2] - m[2, 0]) > tol
            or abs(m[1, 2] - m[2, 1]) > tol
        ):
            code[c] = 2
            continue
        minor2 = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
        det = (
            m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
            - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
            + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
        )
        if not (m[0, 0] > 0.0 and minor2 > 0.0 and det > 0.0):
            code[c] = 3


@njit(cache=True)
def _sift_up(heap, pos, t, k):
    """Move heap entry k towards the root until its parent is earlier."""
    node = heap[k]
    key = t[node]
    while k > 0:
        parent = (k - 1) >> 1
        if t[heap[parent]] <= key:
            break
        heap[k] = heap[parent]
        pos[heap[k]] = k
        k = parent
    heap[k] = node
    pos[node] = k


@njit(cache=True)
def _sift_down(heap, pos, t, k, size):
    """Move heap entry k towards the leaves until its children are later."""
    node = heap[k]
    key = t[node]
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        if child + 1 < size and t[heap[child + 1]] < t[heap[child]]:
            child += 1
        if key <= t[heap[child]]:
            break
        heap[k] = heap[child]
        pos[heap[k]] = k
        k = child
    heap[k] = node
    pos[node] = k


@njit(cache=True)
def _push(heap, pos, t, size, j):
    """Queue node j, or move it up after its time dropped; returns the size."""
    if pos[j] < 0:
        heap[size] = j
        pos[j] = size
        size += 1
    _sift_up(heap, pos, t, pos[j])
    return size


@njit(cache=True)
def _pop(heap, pos, t, size):
    """Remove the earliest node; returns (node, new size)."""
    i = heap[0]
    pos[i] = -1
    size -= 1
    if size > 0:
        heap[0] = heap[size]
        pos[heap[0]] = 0
        _sift_down(heap, pos, t, 0, size)
    return i, size


@njit(cache=True)
def _relax_cell(c, i, cells, geom, t, heap, pos, size, rtol):
    """Recompute the vertices of cell c other than i; returns (size, solves)."""
    inf = np.inf
    v0, v1, v2, v3 = cells[c, 0], cells[c, 1], cells[c, 2], cells[c, 3]
    t0, t1, t2, t3 = t[v0], t[v1], t[v2], t[v3]
    d01, d02, d03 = geom[c, 0], geom[c, 1], geom[c, 2]
    d12, d13, d23 = geom[c, 3], geom[c, 4], geom[c, 5]
    n_solves = 0
    for loc in range(4):
        j = cells[c, loc]
        if j == i:
            continue

        # the update is a mean of the face times plus at least the height
        # of j over the face: skip j when it is already earlier than that
        if loc == 0:
            tj, face_min = t0, min(t1, t2, t3)
        elif loc == 1:
            tj, face_min = t1, min(t0, t2, t3)
        elif loc == 2:
            tj, face_min = t2, min(t0, t1, t3)
        else:
            tj, face_min = t3, min(t0, t1, t2)
        if tj <= face_min + geom[c, 6 + loc]:
            continue
        tnew = _cell_update(loc, d01, d02, d03, d12, d13, d23, t0, t1, t2, t3)
        n_solves += 1

        # accept only a real drop, then (re-)queue j
        if not tnew < tj:
            continue
        if tj < inf and tj - tnew <= rtol * abs(tj) + ATOL_MS:
            continue
        t[j] = tnew
        if loc == 0:
            t0 = tnew
        elif loc == 1:
            t1 = tnew
        elif loc == 2:
            t2 = tnew
        else:
            t3 = tnew
        size = _push(heap, pos, t, size, j)
    return size, n_solves


@njit(cache=True)
def march(cells, geom, cell_ptr, cell_ids, src_nodes, src_times, t, heap, pos, rtol):
    """Label-correcting march; fills `t` (inf = unreached) in place.

    `geom` comes from `cell_geometry`. `heap` and `pos` are work arrays of
    shape (n_points,); pos[i] is node i's heap slot or -1. A node is at most
    once in the heap, so the kernel allocates nothing. Returns the number of
    pops and of local solves.
    """
    t[:] = np.inf
    pos[:] = -1
    size = 0

    # seed: duplicate source ids keep their earliest time
    for s in range(src_nodes.shape[0]):
        i = src_nodes[s]
        if src_times[s] < t[i]:
            t[i] = src_times[s]
            size = _push(heap, pos, t, size, i)

    # pop the earliest node and relax every cell around it
    n_pops = 0
    n_solves = 0
    while size > 0:
        i, size = _pop(heap, pos, t, size)
        n_pops += 1
        for k in range(cell_ptr[i], cell_ptr[i + 1]):
            size, n = _relax_cell(cell_ids[k], i, cells, geom, t, heap, pos, size, rtol)
            n_solves += n
    return n_pops, n_solves
