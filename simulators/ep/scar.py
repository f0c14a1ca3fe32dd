"""Scar (non-conducting) and border zone (slowed) as cell regions.

Any shape works: a `Scar` is two boolean cell masks. `spherical_scar` builds
the common ischaemic pattern: a ball of given radius whose extent across the
wall grows from the endocardium (subendocardial at low transmurality,
transmural at 1), wrapped in a border zone of given width. Scar cells are
removed from the Eikonal domain, so nodes surrounded by scar are unreachable
and come back NaN; border-zone cells conduct at `TissueParams.border_factor`
times the myocardial velocities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from simulators.errors import FieldError, ParameterError
from simulators.mesh.tetmesh import TetMesh


@dataclass(frozen=True, eq=False)
class Scar:
    """Cell masks of scar and border zone, each of shape (n_cells,), bool."""

    cells: np.ndarray
    border: np.ndarray

    def __post_init__(self) -> None:
        cells = np.asarray(self.cells, dtype=bool)
        border = np.asarray(self.border, dtype=bool)
        if cells.shape != border.shape or cells.ndim != 1:
            raise FieldError(
                f"scar and border masks must be 1-D and alike, got {cells.shape} "
                f"and {border.shape}"
            )
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "border", border & ~cells)


def spherical_scar(
    mesh: TetMesh,
    centre_mm: np.ndarray,
    radius_mm: float,
    transmurality: float = 1.0,
    border_mm: float = 3.0,
    transmural: str = "transmural",
) -> Scar:
    """A ball-shaped scar from the endocardium outwards, with a border zone.

    Parameters
    ----------
    mesh : TetMesh
        Heart with the point field `transmural` (0 endocardium, 1 epicardium).
    centre_mm : ndarray of shape (3,)
        Centre of the ball, mm.
    radius_mm : float
        Radius of the ball, mm.
    transmurality : float
        Fraction of the wall, from the endocardium, that the scar spans
        (0 < transmurality <= 1).
    border_mm : float
        Width of the border zone around the scar, mm (0 for none).

    Returns
    -------
    Scar
    """
    if radius_mm <= 0 or border_mm < 0:
        raise ParameterError(
            f"need radius_mm > 0 and border_mm >= 0, got {radius_mm}, {border_mm}"
        )
    if not 0 < transmurality <= 1:
        raise ParameterError(f"transmurality must lie in (0, 1], got {transmurality}")
    if transmural not in mesh.point_data:
        raise FieldError(f"a scar needs the point field {transmural!r}")

    # scar: cells inside the ball and within the scarred part of the wall
    centroid = mesh.points[mesh.cells].mean(axis=1)
    depth = mesh.point_data[transmural][mesh.cells].mean(axis=1)
    inside = np.linalg.norm(centroid - np.asarray(centre_mm), axis=1) <= radius_mm
    scar = inside & (depth <= transmurality + 1e-9)
    if not scar.any():
        raise ParameterError(
            f"the scar at {np.asarray(centre_mm).tolist()} mm with radius "
            f"{radius_mm} mm holds no cell of the mesh"
        )

    # border zone: cells within border_mm of a scar cell
    border = np.zeros(mesh.n_cells, dtype=bool)
    if border_mm > 0:
        dist, _ = cKDTree(centroid[scar]).query(
            centroid, distance_upper_bound=border_mm
        )
        border = np.isfinite(dist) & ~scar
    return Scar(cells=scar, border=border)
