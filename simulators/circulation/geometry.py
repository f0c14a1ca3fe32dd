"""Wall patches of a heart mesh: wall volumes, midwall areas, cavities, onsets.

Patches are the 17 AHA segments of the LV (Cerqueira et al. 2002) and the
RV free wall. The septal segments 2, 3, 8, 9 and 14 form the septum wall,
the other LV segments the LV free wall (`simulators.circulation.walls`).
A cell belongs to the patch most of its nodes are labelled with (region 2,
the RV free wall, to the RV patch); a patch's wall volume is the sum of its
cells' volumes. Its midwall area is the mean of its inner and outer
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
[1.0, 20.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.errors import FieldError
from simulators.mesh.boundary import boundary_faces, cavity_volume_ml
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh

__all__ = [
    "PATCH_NAMES",
    "RV_LV_SINUS_RATIO",
    "SEPTAL_PATCH_SEGMENTS",
    "HeartGeometry",
    "heart_geometry",
    "patch_onsets",
]

#: AHA segments of the septum wall.
SEPTAL_PATCH_SEGMENTS = (2, 3, 8, 9, 14)
#: Patch names: AHA segments 1-17, then the RV free wall.
PATCH_NAMES = tuple(f"aha{k}" for k in range(1, 18)) + ("rv_free",)
#: RV/LV cavity ratio of the RV sinus; the excess is the outflow tract.
RV_LV_SINUS_RATIO = 1.15
_INNER = ("lv_endo", "rv_endo")
_OUTER = ("lv_epi", "rv_epi", "rv_septum")


@dataclass(frozen=True)
class HeartGeometry:
    """Patch and cavity sizes of one heart.

    Attributes
    ----------
    v_wall_ml : ndarray of shape (18,)
        Wall volume of each patch (`PATCH_NAMES`), mL.
    a_mid_mm2 : ndarray of shape (18,)
        Midwall area of each patch in the mesh's state, mm^2.
    wall : ndarray of shape (18,)
        Wall of each patch: 0 LV free wall, 1 septum, 2 RV free wall.
    v_lv_ml, v_rv_ml : float
        LV cavity and RV sinus cavity in the mesh's state, mL.
    v_rvot_ml : float
        RV outflow tract volume kept as a rigid conduit, mL.
    """

    v_wall_ml: np.ndarray
    a_mid_mm2: np.ndarray
    wall: np.ndarray
    v_lv_ml: float
    v_rv_ml: float
    v_rvot_ml: float = 0.0

    @property
    def n_patches(self) -> int:
        return len(self.v_wall_ml)


def patch_of_nodes(aha: np.ndarray) -> np.ndarray:
    """Patch index of each node: AHA segment - 1, or 17 (RV) for label 0.

    Parameters
    ----------
    aha : ndarray of shape (n_points,)
        AHA segment per node, 0 outside the LV.
    """
    return np.where(aha > 0, aha - 1, 17).astype(np.int64)


def heart_geometry(mesh: TetMesh, aha: np.ndarray) -> HeartGeometry:
    """Patch wall volumes, midwall areas and cavities of a biventricular mesh.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with cell field ``region`` (1 LV, 2 RV, 7 septum) and node sets
        ``surface_lv_endo``, ``surface_lv_epi``, ``surface_rv_endo``,
        ``surface_rv_epi``, ``surface_rv_septum``.
    aha : ndarray of shape (n_points,)
        AHA segment of each node, 0 outside the LV (``Ventricles.aha``).
    """
    if aha.shape != (mesh.n_points,):
        raise FieldError(f"aha must have shape ({mesh.n_points},), got {aha.shape}")
    missing = [s for s in _INNER + _OUTER if f"surface_{s}" not in mesh.point_data]
    if missing:
        raise FieldError(f"a biventricular mesh needs the node sets {missing}")
    region = mesh.cell_data["region"]

    # cells to patches: majority label of their nodes; RV free wall cells
    labels = patch_of_nodes(aha)[mesh.cells]
    votes = np.stack([(labels == k).sum(axis=1) for k in range(18)], axis=1)
    cell_patch = np.argmax(votes, axis=1)
    cell_patch[region == REGION_RV] = 17
    lv_cells = np.isin(region, (REGION_LV, REGION_SEPTUM))
    cell_patch[lv_cells & (cell_patch == 17)] = 16
    v_wall = np.bincount(cell_patch, mesh.signed_volumes(), 18) / 1000.0

    # midwall area: half the inner plus outer triangle areas of each patch
    faces, owner = boundary_faces(mesh.cells)
    p = mesh.points[faces]
    tri = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    on = np.zeros(len(faces), dtype=bool)
    for name in _INNER + _OUTER:
        on |= mesh.point_data[f"surface_{name}"][faces].all(axis=1)
    a_mid = 0.5 * np.bincount(cell_patch[owner[on]], tri[on], 18)

    # cavities; the RV sinus is capped at RV_LV_SINUS_RATIO times the LV
    v_lv = cavity_volume_ml(mesh, "lv_endo")
    v_rv_all = cavity_volume_ml(mesh, "rv_endo", "rv_septum")
    v_rv = min(v_rv_all, RV_LV_SINUS_RATIO * v_lv)
    wall = np.zeros(18, dtype=np.int64)
    wall[np.array(SEPTAL_PATCH_SEGMENTS) - 1] = 1
    wall[17] = 2
    return HeartGeometry(v_wall, a_mid, wall, v_lv, v_rv, v_rv_all - v_rv)


def patch_onsets(
    t_ms: np.ndarray, node_patch: np.ndarray, n_patches: int, quantile: float = 0.1
) -> np.ndarray:
    """Activation onset of each patch: a low quantile of its nodes' times, ms.

    The 10th percentile marks when a patch's contraction starts in earnest
    (its earliest nodes alone would let one early node set a late patch).

    Parameters
    ----------
    t_ms : ndarray of shape (n_points,)
        Activation time per node, ms; NaN (scar) is ignored.
    node_patch : ndarray of shape (n_points,)
        Patch index of each node, from `patch_of_nodes`.
    n_patches : int
        Number of patches.
    quantile : float
        Quantile of the node times, 0 to 1.

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
