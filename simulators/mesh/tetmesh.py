"""The `TetMesh` value: a linear tetrahedral mesh in millimetres.

A mesh is points of shape (n_points, 3) in mm and cells of shape (n_cells, 4)
holding point ids. Fields live either on points or on cells, and the location is
part of a field's definition: `point_data[name]` has n_points rows and
`cell_data[name]` has n_cells rows. Node sets (surfaces, sites) are stored as
boolean point fields named ``surface_<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from simulators.errors import FieldError, MeshError

#: Region ids of the ventricular myocardium, as tagged in the Rodero meshes.
REGION_LV = 1
REGION_RV = 2
REGION_SEPTUM = 7


@dataclass(frozen=True, eq=False)
class TetMesh:
    """A tetrahedral mesh with point and cell fields.

    Parameters
    ----------
    points : ndarray of shape (n_points, 3)
        Node coordinates in mm.
    cells : ndarray of shape (n_cells, 4)
        Point ids of each tetrahedron.
    point_data : dict of str to ndarray of shape (n_points, ...)
        Fields defined on nodes (coordinates, node sets, activation times).
    cell_data : dict of str to ndarray of shape (n_cells, ...)
        Fields defined on cells (region ids, fibres).
    meta : dict
        Small JSON-serialisable metadata (source, axes, provenance).

    Examples
    --------
    >>> import numpy as np
    >>> m = TetMesh(np.eye(4, 3), np.array([[0, 1, 2, 3]]))
    >>> m.n_points, m.n_cells
    (4, 1)
    """

    points: np.ndarray
    cells: np.ndarray
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    cell_data: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # coerce dtypes once so every consumer can rely on them
        points = np.ascontiguousarray(self.points, dtype=np.float64)
        cells = np.ascontiguousarray(self.cells, dtype=np.int64)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "cells", cells)

        # shapes and index range
        if points.ndim != 2 or points.shape[1] != 3:
            raise MeshError(f"points must have shape (n_points, 3), got {points.shape}")
        if cells.ndim != 2 or cells.shape[1] != 4:
            raise MeshError(
                f"cells must have shape (n_cells, 4) (linear tets), got {cells.shape}"
            )
        if cells.size and (cells.min() < 0 or cells.max() >= len(points)):
            bad = np.flatnonzero((cells < 0).any(1) | (cells >= len(points)).any(1))
            raise MeshError(
                f"cells {bad[:5].tolist()} reference point ids outside "
                f"0..{len(points) - 1}"
            )

        # every field has one row per point or per cell
        for where, data, n in (
            ("point_data", self.point_data, len(points)),
            ("cell_data", self.cell_data, len(cells)),
        ):
            for name, arr in data.items():
                if len(arr) != n:
                    raise FieldError(
                        f"{where}[{name!r}] has {len(arr)} rows, expected {n} "
                        f"(one per {'point' if where == 'point_data' else 'cell'})"
                    )

    @property
    def n_points(self) -> int:
        """Number of nodes."""
        return len(self.points)

    @property
    def n_cells(self) -> int:
        """Number of tetrahedra."""
        return len(self.cells)

    def with_fields(
        self,
        point_data: dict[str, np.ndarray] | None = None,
        cell_data: dict[str, np.ndarray] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> TetMesh:
        """Return a copy with fields added or replaced (the original is kept)."""
        return replace(
            self,
            point_data={**self.point_data, **(point_data or {})},
            cell_data={**self.cell_data, **(cell_data or {})},
            meta={**self.meta, **(meta or {})},
        )

    def signed_volumes(self) -> np.ndarray:
        """Signed tetrahedron volumes, shape (n_cells,), in mm³.

        Positive for the right-handed ordering where (p1-p0, p2-p0, p3-p0)
        has a positive determinant.
        """
        p = self.points[self.cells]
        e = p[:, 1:] - p[:, :1]
        return np.linalg.det(e) / 6.0

    def edges(self) -> np.ndarray:
        """Unique undirected edges, shape (n_edges, 2), with i < j."""
        pairs = self.cells[:, [0, 0, 0, 1, 1, 2, 1, 2, 3, 2, 3, 3]]
        pairs = pairs.reshape(-1, 2, 6).transpose(0, 2, 1).reshape(-1, 2)
        return unique_pairs(np.sort(pairs, axis=1), self.n_points)

    def surface_nodes(self, name: str) -> np.ndarray:
        """Point ids of the node set ``surface_<name>``."""
        key = f"surface_{name}"
        if key not in self.point_data:
            have = sorted(k[8:] for k in self.point_data if k.startswith("surface_"))
            raise FieldError(f"mesh has no node set {name!r}; it has {have}")
        return np.flatnonzero(self.point_data[key])

    def region_nodes(self, *regions: int) -> np.ndarray:
        """Point ids of the cells whose ``region`` id is among `regions`."""
        if "region" not in self.cell_data:
            raise FieldError("mesh has no cell field 'region'")
        mask = np.isin(self.cell_data["region"], regions)
        return np.unique(self.cells[mask])


def unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """The distinct rows of an integer array of pairs, sorted.

    The same as ``np.unique(pairs, axis=0)`` for entries in ``0..n - 1``,
    several times faster: each pair becomes one int64 key ``i n + j``,
    which sorts like the row ``(i, j)``.

    Parameters
    ----------
    pairs : ndarray of shape (m, 2)
        Integer pairs, each entry in ``0..n - 1``.
    n : int
        Bound on the entries (e.g. the number of nodes).

    Returns
    -------
    ndarray of shape (k, 2)
        The distinct pairs, lexicographically sorted, in `pairs`' dtype.
    """
    n = np.int64(max(n, 1))
    key = np.unique(pairs[:, 0].astype(np.int64) * n + pairs[:, 1])
    return np.stack([key // n, key % n], axis=1).astype(pairs.dtype)
