"""A finer-mesh reference for activation on a real heart.

Without an analytic solution, a heart's activation is checked against the
same problem solved on a finer mesh of the same heart and interpolated
linearly onto the coarse nodes. The finer mesh takes the coarse fibres
(nearest cell centroid), its own fast endocardial layers (cells with a face
on the endocardium of a working bundle) and the sources nearest the coarse
ones: the same tissue and protocol at a finer resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from simulators.ep.conduction import metric_tensors
from simulators.ep.eikonal import EikonalSolver
from simulators.ep.protocols import PacingPlan, TissueParams
from simulators.ep.ventricles import Ventricles
from simulators.errors import FieldError
from simulators.mesh.interpolate import barycentric_matrix
from simulators.mesh.tetmesh import TetMesh


@dataclass(frozen=True, eq=False)
class RefinedProblem:
    """The fine problem and its solution mapped back to the coarse nodes.

    Attributes
    ----------
    metric : ndarray of shape (n_fine_cells, 3, 3)
    nodes, times : ndarray
        Fine source nodes and their onsets, ms.
    t_fine_ms : ndarray of shape (n_fine_points,)
    reference_ms : ndarray of shape (n_coarse_points,)
        The fine solution interpolated onto the coarse nodes.
    extrapolated : ndarray of shape (n_coarse_points,), bool
        Coarse nodes outside the fine mesh (nearest-face values).
    """

    metric: np.ndarray
    nodes: np.ndarray
    times: np.ndarray
    t_fine_ms: np.ndarray
    reference_ms: np.ndarray
    extrapolated: np.ndarray


def refined_reference(
    heart: Ventricles,
    fine: TetMesh,
    plan: PacingPlan,
    tissue: TissueParams | None = None,
) -> RefinedProblem:
    """Solve `plan` on `fine` with the heart's tissue; map it to the heart.

    Parameters
    ----------
    heart : Ventricles
        The coarse heart (fibres, sources).
    fine : TetMesh
        A finer mesh of the same heart with node sets ``surface_lv_endo``,
        ``surface_rv_endo`` and ``surface_rv_septum``.
    plan : PacingPlan
        A fast-endocardium plan.
    tissue : TissueParams, optional

    Returns
    -------
    RefinedProblem
    """
    tissue = TissueParams() if tissue is None else tissue
    if plan.system != "fast-endocardium":
        raise FieldError("the refined reference supports the fast-endocardium system")
    coarse = heart.mesh

    # the coarse fibres and fast layers on the fine cells
    centroid = coarse.points[coarse.cells].mean(axis=1)
    fine_centroid = fine.points[fine.cells].mean(axis=1)
    _, nearest = cKDTree(centroid).query(fine_centroid)
    left, right = plan.working_bundles()
    lv_endo = fine.point_data["surface_lv_endo"]
    rv_endo = fine.point_data["surface_rv_endo"] | fine.point_data["surface_rv_septum"]
    fast = (left & (lv_endo[fine.cells].sum(axis=1) >= 3)) | (
        right & (rv_endo[fine.cells].sum(axis=1) >= 3)
    )
    v_f = np.where(fast, tissue.v_endo, tissue.v_fibre * tissue.cv_scale)
    v_c = np.where(fast, tissue.v_endo, tissue.v_cross * tissue.cv_scale)
    metric = metric_tensors(heart.fibres[nearest], v_f, v_c)

    # the same sources, solved and mapped back
    nodes, times = heart.sources(plan)
    _, fine_nodes = cKDTree(fine.points).query(coarse.points[nodes])
    t_fine = EikonalSolver(fine.points, fine.cells).solve(metric, fine_nodes, times)
    t_fine = t_fine - np.nanmin(t_fine)
    interp, outside = barycentric_matrix(fine, coarse.points)
    return RefinedProblem(
        metric=metric,
        nodes=fine_nodes,
        times=times,
        t_fine_ms=t_fine,
        reference_ms=interp @ t_fine,
        extrapolated=outside,
    )
