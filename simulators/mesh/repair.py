"""Mesh repair: fix what `check_mesh` finds that has one right answer.

`repair_mesh` runs four steps, in this order:

1. merge coincident nodes (closer than ``merge_tol_mm``): each group of
   nodes linked by such pairs becomes its lowest id;
2. drop zero-volume tetrahedra, ``|V| <= rel_volume_tol * median |V|``,
   including the tets that step 1 collapsed;
3. fix inverted tetrahedra (V < 0) by swapping their vertices 1 and 2;
4. remove orphan nodes (used by no cell) and renumber the rest, keeping
   their order.

Point and cell fields follow their rows: a merged group keeps the point
fields of its lowest id ("the first"), and a dropped cell takes its cell
fields with it. Directions per cell (fibres) do not depend on the vertex
order, so step 3 leaves them alone.

What it does not touch: non-finite coordinates (an error unless the node is
an orphan), a wrong length unit (never rescaled silently), slivers and
disconnected parts (they need remeshing), and non-finite field values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from simulators.errors import MeshError
from simulators.mesh.tetmesh import TetMesh
from simulators.mesh.validate import format_ids

logger = logging.getLogger(__name__)

__all__ = ["RepairReport", "repair_mesh"]


@dataclass(frozen=True, eq=False)
class RepairReport:
    """What `repair_mesh` changed, with ids in the input numbering.

    Attributes
    ----------
    merged_nodes : ndarray of shape (k, 2)
        ``(node, kept)`` for each node merged into the lower id ``kept``.
    dropped_cells : ndarray of shape (k,)
        Cells removed as zero-volume (after the merge).
    flipped_cells : ndarray of shape (k,)
        Cells whose vertices 1 and 2 were swapped to make V > 0.
    removed_nodes : ndarray of shape (k,)
        Nodes with no counterpart in the output (orphans, merged or not).
    kept_cells : ndarray of shape (n_cells_out,)
        Input id of each output cell, in output order.
    """

    merged_nodes: np.ndarray
    dropped_cells: np.ndarray
    flipped_cells: np.ndarray
    removed_nodes: np.ndarray
    kept_cells: np.ndarray

    @property
    def changed(self) -> bool:
        """True when any step changed the mesh."""
        return bool(
            len(self.merged_nodes)
            or self.dropped_cells.size
            or self.flipped_cells.size
            or self.removed_nodes.size
        )

    def lines(self) -> list[str]:
        """One line per step that changed something, for people."""
        out = []
        if len(self.merged_nodes):
            pairs = [tuple(p) for p in self.merged_nodes.tolist()]
            out.append(
                f"merged {len(pairs)} coincident nodes into lower ids "
                f"(node, kept): {format_ids(pairs)}"
            )
        if self.dropped_cells.size:
            out.append(
                f"dropped {self.dropped_cells.size} zero-volume tetrahedra: "
                f"cell ids {format_ids(self.dropped_cells)}"
            )
        if self.flipped_cells.size:
            out.append(
                f"flipped {self.flipped_cells.size} inverted tetrahedra "
                f"(swapped vertices 1 and 2): cell ids {format_ids(self.flipped_cells)}"
            )
        if self.removed_nodes.size:
            out.append(
                f"removed {self.removed_nodes.size} orphan nodes: node ids "
                f"{format_ids(self.removed_nodes)}"
            )
        return out

    def as_dict(self) -> dict[str, int]:
        """Counts per step, JSON-ready."""
        return {
            "merged_nodes": len(self.merged_nodes),
            "dropped_cells": int(self.dropped_cells.size),
            "flipped_cells": int(self.flipped_cells.size),
            "removed_nodes": int(self.removed_nodes.size),
        }


def repair_mesh(
    mesh: TetMesh,
    *,
    merge_tol_mm: float = 1e-6,
    rel_volume_tol: float = 1e-8,
) -> tuple[TetMesh, np.ndarray, RepairReport]:
    """Merge coincident nodes, drop flat tets, fix orientation, drop orphans.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with points of shape (n_points, 3) in mm and cells of shape
        (n_cells, 4).
    merge_tol_mm : float, default 1e-6
        Nodes closer than this (mm) are merged, as `check_mesh` calls them
        coincident. Merging is transitive: a chain of close nodes becomes
        one node even if its ends are farther apart.
    rel_volume_tol : float, default 1e-8
        A tet is dropped when ``|V| <= rel_volume_tol * median |V|``, the
        `check_mesh` criterion.

    Returns
    -------
    repaired : TetMesh
        The mesh after the four steps, fields aligned with its points and
        cells: point fields taken from each merged group's lowest id, cell
        fields from the kept cells. ``meta["repair"]`` counts each step.
    old_to_new : ndarray of shape (n_points,)
        New id of each input node; a merged node maps to the new id of the
        node it was merged into, and a removed node to -1.
    report : RepairReport
        What was changed, in input ids; ``report.kept_cells`` maps output
        cells to input cells.

    Raises
    ------
    MeshError
        If a node used by a cell has a non-finite coordinate, or if no cell
        is left after dropping the zero-volume ones.

    Examples
    --------
    >>> import numpy as np
    >>> points = np.vstack([np.zeros(3), np.eye(3), [[9.0, 9.0, 9.0]]])
    >>> bad = TetMesh(points, np.array([[0, 2, 1, 3]]))  # inverted, one orphan
    >>> fixed, old_to_new, report = repair_mesh(bad)
    >>> fixed.cells.tolist(), old_to_new.tolist()
    ([[0, 1, 2, 3]], [0, 1, 2, 3, -1])
    >>> report.lines()[0]
    'flipped 1 inverted tetrahedra (swapped vertices 1 and 2): cell ids [0]'
    """
    _refuse_nonfinite(mesh)

    # 1. coincident nodes become the lowest id of their group
    keep_id = _merge_targets(mesh.points, merge_tol_mm)
    merged = np.flatnonzero(keep_id != np.arange(mesh.n_points))
    cells = keep_id[mesh.cells]

    # 2. zero-volume tets go, collapsed ones among them
    volumes = _signed_volumes(mesh.points, cells)
    abs_v = np.abs(volumes)
    zero = abs_v <= rel_volume_tol * (np.median(abs_v) if abs_v.size else 0.0)
    kept_cells = np.flatnonzero(~zero)
    if mesh.n_cells and not kept_cells.size:
        raise MeshError(
            f"all {mesh.n_cells} tetrahedra have zero volume; nothing is left to repair"
        )
    cells, volumes = cells[kept_cells], volumes[kept_cells]

    # 3. inverted tets: swapping two vertices flips the sign of V
    flip = volumes < 0
    cells[flip] = cells[flip][:, [0, 2, 1, 3]]

    # 4. orphans go; the survivors keep their order
    used = np.zeros(mesh.n_points, dtype=bool)
    used[cells.ravel()] = True
    new_id = np.full(mesh.n_points, -1, dtype=np.int64)
    new_id[used] = np.arange(int(used.sum()))
    old_to_new = new_id[keep_id]

    report = RepairReport(
        merged_nodes=np.stack([merged, keep_id[merged]], axis=1),
        dropped_cells=np.flatnonzero(zero),
        flipped_cells=kept_cells[flip],
        removed_nodes=np.flatnonzero(old_to_new < 0),
        kept_cells=kept_cells,
    )
    repaired = _rebuild(mesh, np.flatnonzero(used), new_id[cells], report)
    for line in report.lines():
        logger.info("repair: %s", line)
    return repaired, old_to_new, report


def _refuse_nonfinite(mesh: TetMesh) -> None:
    """Raise when a node used by a cell has a NaN or infinite coordinate."""
    bad = np.flatnonzero(~np.isfinite(mesh.points).all(axis=1))
    used = np.intersect1d(bad, mesh.cells.ravel())
    if used.size:
        raise MeshError(
            f"{used.size} nodes used by cells have non-finite (NaN or inf) "
            f"coordinates: node ids {format_ids(used)}; repair cannot guess "
            "where they belong"
        )


def _merge_targets(points: np.ndarray, tol_mm: float) -> np.ndarray:
    """Lowest node id of each node's coincident group, shape (n_points,)."""
    n = len(points)
    finite = np.flatnonzero(np.isfinite(points).all(axis=1))
    pairs = cKDTree(points[finite]).query_pairs(tol_mm, output_type="ndarray")
    if not len(pairs):
        return np.arange(n)

    # groups are the connected components of the "coincident" graph
    i, j = finite[pairs[:, 0]], finite[pairs[:, 1]]
    graph = coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    lowest = np.full(group.max() + 1, n, dtype=np.int64)
    np.minimum.at(lowest, group, np.arange(n))
    return lowest[group]


def _signed_volumes(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Signed volumes in mm³, shape (n_cells,), as `TetMesh.signed_volumes`."""
    p = points[cells]
    return np.linalg.det(p[:, 1:] - p[:, :1]) / 6.0


def _rebuild(
    mesh: TetMesh, kept_nodes: np.ndarray, cells: np.ndarray, report: RepairReport
) -> TetMesh:
    """The output mesh, every field cut to the kept nodes and cells."""
    point_data = {k: v[kept_nodes] for k, v in mesh.point_data.items()}
    cell_data = {k: v[report.kept_cells] for k, v in mesh.cell_data.items()}
    meta = {**mesh.meta, "repair": report.as_dict()}
    return TetMesh(mesh.points[kept_nodes], cells, point_data, cell_data, meta)
