"""Wall patches of a heart mesh: wall volumes, midwall areas, cavities, onsets.

Walls are the mesh's regions: region 1 the LV free wall, region 7 the
septum (about 38 mL on the real heart), region 2 the RV free wall
(`simulators.circulation.walls`). Each LV wall is split into patches by
the AHA segment of its cells (Cerqueira et al. 2002; a cell takes the
segment most of its nodes carry), so a segment on the septal border gives
a free-wall patch and a septal patch; the RV free wall is one patch. A
patch's wall volume is the sum of its cells' volumes. Its midwall area
is the mean of its inner and outer
surface areas (endocardial triangles on one side, epicardial or RV septal
triangles on the other) owned by its cells.

Cavities are closed by flat lids over the valve rims
(`simulators.mesh.boundary.cavity_volume_ml`). The RV cavity of the
Rodero meshes includes the outflow tract (infundibulum) up to the
pulmonary valve, which lifts the RV/LV volume ratio to about 1.55 against
1.1-1.2 in the sinus portion alone. The model keeps the tract as a rigid
conduit: the part of the RV cavity above `RV_LV_SINUS_RATIO` times the LV
cavity is a constant volume ``v_rvot_ml`` that holds blood but neither
contracts nor changes the wall geometry; RV volumes and EF are those of
the sinus portion.

Examples
--------
>>> import numpy as np
>>> onsets = patch_onsets(np.array([0.0, 10.0, 20.0]), np.array([0, 0, 1]), 2)
>>> onsets.tolist()
[5.0, 20.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.errors import FieldError
from simulators.mesh.boundary import boundary_faces, cavity_volume_ml
from simulators.mesh.tetmesh import REGION_RV, REGION_SEPTUM, TetMesh

__all__ = [
    "RV_LV_SINUS_RATIO",
    "HeartGeometry",
    "heart_geometry",
    "patch_fractions",
    "patch_onsets",
]

#: RV/LV cavity ratio of the RV sinus; the excess is the outflow tract.
RV_LV_SINUS_RATIO = 1.15
_INNER = ("lv_endo", "rv_endo")
_OUTER = ("lv_epi", "rv_epi", "rv_septum")


@dataclass(frozen=True)
class HeartGeometry:
    """Patch and cavity sizes of one heart.

    Attributes
    ----------
    v_wall_ml : ndarray of shape (n_patches,)
        Wall volume of each patch, mL.
    a_mid_mm2 : ndarray of shape (n_patches,)
        Midwall area of each patch in the mesh's state, mm^2.
    wall : ndarray of shape (n_patches,)
        Wall of each patch: 0 LV free wall, 1 septum, 2 RV free wall.
    v_lv_ml, v_rv_ml : float
        LV cavity and RV sinus cavity in the mesh's state, mL.
    v_rvot_ml : float
        RV outflow tract volume kept as a rigid conduit, mL.
    segment : ndarray of shape (n_patches,)
        AHA segment of each patch, 0 for the RV free wall.
    names : tuple of str
        Patch names: ``aha5`` (free wall), ``aha8_septum``, ``rv_free``.
    node_patch : ndarray of shape (n_points,)
        Patch of each mesh node, for `patch_onsets`.
    cell_patch : ndarray of shape (n_cells,)
        Patch of each mesh cell (scar fractions, `patch_fractions`).
    """

    v_wall_ml: np.ndarray
    a_mid_mm2: np.ndarray
    wall: np.ndarray
    v_lv_ml: float
    v_rv_ml: float
    v_rvot_ml: float = 0.0
    segment: np.ndarray | None = None
    names: tuple[str, ...] = ()
    node_patch: np.ndarray | None = None
    cell_patch: np.ndarray | None = None

    @property
    def n_patches(self) -> int:
        return len(self.v_wall_ml)


def heart_geometry(
    mesh: TetMesh, aha: np.ndarray, min_patch_ml: float = 1.0
) -> HeartGeometry:
    """Patch wall volumes, midwall areas and cavities of a biventricular mesh.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with cell field ``region`` (1 LV, 2 RV, 7 septum) and node sets
        ``surface_lv_endo``, ``surface_lv_epi``, ``surface_rv_endo``,
        ``surface_rv_epi``, ``surface_rv_septum``.
    aha : ndarray of shape (n_points,)
        AHA segment of each node, 0 outside the LV (``Ventricles.aha``).
    min_patch_ml : float
        A segment's free-wall or septal part smaller than this joins the
        segment's other part, mL (a sliver owns almost no surface area).
    """
    if aha.shape != (mesh.n_points,):
        raise FieldError(f"aha must have shape ({mesh.n_points},), got {aha.shape}")
    missing = [s for s in _INNER + _OUTER if f"surface_{s}" not in mesh.point_data]
    if missing:
        raise FieldError(f"a biventricular mesh needs the node sets {missing}")
    region = mesh.cell_data["region"]
    volume = mesh.signed_volumes()

    # cells to AHA segments (majority of their nodes) and walls (mesh region)
    labels = np.where(aha > 0, aha, 17)[mesh.cells]
    votes = np.stack([(labels == k).sum(axis=1) for k in range(1, 18)], axis=1)
    segment = 1 + np.argmax(votes, axis=1)
    cell_wall = np.where(region == REGION_SEPTUM, 1, 0)
    cell_wall[region == REGION_RV] = 2
    segment[cell_wall == 2] = 0

    # one patch per (segment, wall) part; slivers join the other part
    key = segment * 3 + cell_wall
    part_ml = np.bincount(key, volume, 18 * 3) / 1000.0
    small = (part_ml > 0) & (part_ml < min_patch_ml)
    for k in np.flatnonzero(small):
        other = k - k % 3 + (1 - k % 3)
        key[key == k] = other
    keys = np.unique(key)
    cell_patch = np.searchsorted(keys, key)
    n = len(keys)
    v_wall = np.bincount(cell_patch, volume, n) / 1000.0

    # midwall area: half the inner plus outer triangle areas of each patch
    faces, owner = boundary_faces(mesh.cells)
    p = mesh.points[faces]
    tri = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    on = np.zeros(len(faces), dtype=bool)
    for name in _INNER + _OUTER:
        on |= mesh.point_data[f"surface_{name}"][faces].all(axis=1)
    a_mid = 0.5 * np.bincount(cell_patch[owner[on]], tri[on], n)

    # nodes take the patch of a cell they belong to (for the onsets)
    node_patch = np.zeros(mesh.n_points, dtype=np.int64)
    node_patch[mesh.cells.ravel()] = np.repeat(cell_patch, 4)

    # cavities; the RV sinus is capped at RV_LV_SINUS_RATIO times the LV
    v_lv = cavity_volume_ml(mesh, "lv_endo")
    v_rv_all = cavity_volume_ml(mesh, "rv_endo", "rv_septum")
    v_rv = min(v_rv_all, RV_LV_SINUS_RATIO * v_lv)
    seg, wall = keys // 3, keys % 3
    names = tuple(_patch_name(s, w) for s, w in zip(seg, wall, strict=True))
    return HeartGeometry(
        v_wall, a_mid, wall, v_lv, v_rv, v_rv_all - v_rv, seg, names, node_patch,
        cell_patch,
    )  # fmt: skip


def _patch_name(segment: int, wall: int) -> str:
    return ("aha{}", "aha{}_septum", "rv_free")[wall].format(segment)


def patch_onsets(
    t_ms: np.ndarray, node_patch: np.ndarray, n_patches: int, quantile: float = 0.5
) -> np.ndarray:
    """Activation onset of each patch: the median of its nodes' times, ms.

    A patch contracts as one piece, so its onset stands for all its
    tissue: the median (the time by which half of it is activated) keeps
    the delay between early and late regions that drives dyssynchrony,
    where the earliest node alone would let one node set a whole patch.

    Parameters
    ----------
    t_ms : ndarray of shape (n_points,)
        Activation time per node, ms; NaN (scar) is ignored.
    node_patch : ndarray of shape (n_points,)
        Patch index of each node (`HeartGeometry.node_patch`).
    n_patches : int
        Number of patches.
    quantile : float
        Quantile of the node times, 0 to 1 (0.5: the median).

    Returns
    -------
    ndarray of shape (n_patches,)
        Onset per patch, ms; NaN for a patch without an activated node.
    """
    if t_ms.shape != node_patch.shape:
        raise FieldError(
            f"activation times have shape {t_ms.shape}, node patches {node_patch.shape}"
        )
    out = np.full(n_patches, np.nan)
    for k in range(n_patches):
        t = t_ms[(node_patch == k) & np.isfinite(t_ms)]
        if t.size:
            out[k] = np.quantile(t, quantile)
    return out


def patch_fractions(
    cell_mask: np.ndarray, cell_volume: np.ndarray, cell_patch: np.ndarray, n: int
) -> np.ndarray:
    """Volume fraction of each patch inside a cell mask (scar, border zone).

    Parameters
    ----------
    cell_mask : ndarray of shape (n_cells,), bool
    cell_volume : ndarray of shape (n_cells,)
        Cell volumes, mm^3.
    cell_patch : ndarray of shape (n_cells,)
        Patch of each cell (`HeartGeometry.cell_patch`).
    n : int
        Number of patches.

    Returns
    -------
    ndarray of shape (n,)
        Fraction 0 to 1 of each patch's wall volume in the mask.
    """
    if cell_mask.shape != cell_patch.shape:
        raise FieldError(
            f"cell mask has shape {cell_mask.shape}, the mesh's cells "
            f"{cell_patch.shape}"
        )
    inside = np.bincount(cell_patch, np.where(cell_mask, cell_volume, 0.0), n)
    return inside / np.bincount(cell_patch, cell_volume, n)
