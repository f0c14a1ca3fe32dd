"""Ventricular activation under LBBB and CRT pacing on a tagged heart mesh.

A `Ventricles` object holds what does not change between protocols: the mesh,
its fibres, the fast endocardial layer, AHA segments, named sites and the
Eikonal solver. `activate` takes a pacing plan and tissue parameters and
returns activation times and markers.

Conduction system (Lee et al. 2019, Front Physiol 10:1131 for the
fast-endocardium approximation): cells with a face on the RV endocardium
(free wall and septal side) conduct isotropically at `v_endo`. Under LBBB
the right bundle works: the wave starts at its root sites on the RV septum
and spreads through the fast layer; the LV has no conduction system and is
reached across the septum. Under CRT the leads fire (RV lead at 0 ms, LV lead
at -VV) before intrinsic conduction arrives (paced AV delay shorter than the
intrinsic one), and the RV fast layer is engaged wherever the paced wave
reaches it. Times are measured from the first ventricular activation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from simulators.ep.conduction import metric_tensors
from simulators.ep.eikonal import EikonalSolver
from simulators.ep.markers import ActivationMarkers, activation_markers
from simulators.errors import FieldError, ParameterError, SiteError
from simulators.mesh.aha import (
    LATERAL_SEGMENTS,
    LV_LEAD_SEGMENTS,
    SEPTAL_SEGMENTS,
    aha_segments,
    long_axis_coordinates,
)
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh

logger = logging.getLogger(__name__)

PROTOCOLS = ("lbbb", "crt")


@dataclass(frozen=True)
class TissueParams:
    """Conduction velocities, mm/ms (= m/s).

    Defaults: transversely isotropic myocardium 0.6 along and 0.24 across the
    fibre, and a fast endocardial layer at 2.0 mm/ms, inside the ranges of
    Caldwell et al. 2009 (Circ Arrhythm Electrophysiol 2:433) and the
    2-4 mm/ms of Purkinje-like layers. `cv_scale` multiplies the myocardial
    velocities only (a what-if on slowed conduction), not the fast layer.
    """

    v_fibre: float = 0.6
    v_cross: float = 0.24
    v_endo: float = 2.0
    cv_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("v_fibre", "v_cross", "v_endo", "cv_scale"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ParameterError(f"{name} must be a positive number, got {value}")
        if self.v_cross > self.v_fibre:
            raise ParameterError(
                f"v_cross ({self.v_cross} mm/ms) must not exceed v_fibre "
                f"({self.v_fibre} mm/ms)"
            )


@dataclass(frozen=True)
class PacingPlan:
    """What starts the activation.

    Parameters
    ----------
    protocol : {"lbbb", "crt"}
    lv_lead : int or None
        Node id of the LV lead (CRT only).
    rv_lead : int or None
        Node id of the RV lead (CRT only; None takes the RV apex).
    vv_delay_ms : float
        LV lead fires this much before the RV lead (negative: after), ms.
    """

    protocol: str = "lbbb"
    lv_lead: int | None = None
    rv_lead: int | None = None
    vv_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ParameterError(
                f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}"
            )
        if self.protocol == "crt" and self.lv_lead is None:
            raise SiteError("CRT needs an LV lead site")
        if not np.isfinite(self.vv_delay_ms) or abs(self.vv_delay_ms) > 80:
            raise ParameterError(
                f"vv_delay_ms must lie in [-80, 80] ms, got {self.vv_delay_ms}"
            )


@dataclass(frozen=True)
class Activation:
    """Activation times (ms from the first activation) and their markers."""

    t_ms: np.ndarray
    markers: ActivationMarkers
    plan: PacingPlan
    tissue: TissueParams = field(default_factory=TissueParams)


class Ventricles:
    """A biventricular heart ready for Eikonal activation.

    Parameters
    ----------
    mesh : TetMesh
        Ventricles-only mesh with cell field `region` (1 LV, 2 RV, 7 septum),
        point fields `apico_basal`, `rotational`, and node sets
        `surface_rv_endo`, `surface_rv_septum`, `surface_lv_epi`,
        `surface_pulmonary_valve`.
    fibres : ndarray of shape (n_cells, 3)
        Fibre direction per cell.
    """

    def __init__(self, mesh: TetMesh, fibres: np.ndarray) -> None:
        if fibres.shape != (mesh.n_cells, 3):
            raise FieldError(
                f"fibres must be per cell, shape ({mesh.n_cells}, 3); got "
                f"{fibres.shape}"
                + (" (per point?)" if len(fibres) == mesh.n_points else "")
            )
        self.mesh = mesh
        self.fibres = fibres
        self.solver = EikonalSolver(mesh.points, mesh.cells)

        # fast endocardial layer: cells with a face on the RV endocardium
        rv_endo = np.zeros(mesh.n_points, dtype=bool)
        rv_endo[mesh.surface_nodes("rv_endo")] = True
        rv_endo[mesh.surface_nodes("rv_septum")] = True
        self.rv_endo_mask = rv_endo
        self.fast_cells = rv_endo[mesh.cells].sum(axis=1) >= 3

        # LV myocardium (free wall and septum) and AHA segments
        region = mesh.cell_data["region"]
        self.lv_mask = np.zeros(mesh.n_points, dtype=bool)
        self.lv_mask[mesh.region_nodes(REGION_LV, REGION_SEPTUM)] = True
        septum = np.zeros(mesh.n_points, dtype=bool)
        septum[mesh.cells[region == REGION_SEPTUM]] = True
        self.z_long, self.phi_deg = self._long_axis(septum)
        self.aha = np.where(self.lv_mask, aha_segments(self.z_long, self.phi_deg), 0)
        self.septal_mask = np.isin(self.aha, SEPTAL_SEGMENTS)
        self.lateral_mask = np.isin(self.aha, LATERAL_SEGMENTS) & ~septum

        # named sites
        self.rv_apex = self._rv_apex()
        self.rv_roots = self._rv_roots()
        self.lv_candidates = self._lv_candidates()
        logger.info(
            "ventricles: %d nodes, %d cells (%d fast), %d LV lead candidates",
            mesh.n_points,
            mesh.n_cells,
            int(self.fast_cells.sum()),
            self.lv_candidates.size,
        )

    def _long_axis(self, septum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Geometric long-axis height and septum-relative angle of every node.

        The apex is the LV epicardial node lowest in the shipped apicobasal
        coordinate, the base the centre of the LV's valve-plane nodes; the
        angle's sense puts the pulmonary valve (anterior) at positive phi.
        Laplace apicobasal fields rise steeply near the apex, so the AHA
        rings are cut on this geometric height instead.
        """
        mesh = self.mesh
        pts = mesh.points
        epi = mesh.surface_nodes("lv_epi")
        apex = pts[epi[np.argmin(mesh.point_data["apico_basal"][epi])]]
        base_nodes = np.intersect1d(
            mesh.surface_nodes("base"), np.flatnonzero(self.lv_mask)
        )
        pulmonary = pts[mesh.surface_nodes("pulmonary_valve")].mean(axis=0)
        return long_axis_coordinates(
            pts,
            apex,
            pts[base_nodes].mean(axis=0),
            pts[septum].mean(axis=0),
            pulmonary,
        )

    # ------------------------------------------------------------------ sites
    def _rv_apex(self) -> int:
        """RV endocardial node closest to the apex (lowest apicobasal value)."""
        rv_free = self.mesh.surface_nodes("rv_endo")
        ab = self.z_long[rv_free]
        return int(rv_free[np.argmin(ab)])

    def _rv_roots(self) -> np.ndarray:
        """Root of the right bundle: mid-septal RV endocardium.

        The right bundle branch runs down the septum and emerges near the
        base of the anterior papillary muscle (mid-septum); one root at
        apicobasal 0.5 on the septal centre line stands for it.
        """
        nodes = self.mesh.surface_nodes("rv_septum")
        ab = self.z_long[nodes]
        phi = self.phi_deg[nodes]
        score = np.abs(ab - 0.5) + np.abs(phi) / 180.0
        return nodes[[np.argmin(score)]]

    def _lv_candidates(self) -> np.ndarray:
        """LV free-wall epicardial nodes in the segments an LV lead may take."""
        epi = self.mesh.surface_nodes("lv_epi")
        region = self.mesh.cell_data["region"]
        rv_touch = np.zeros(self.mesh.n_points, dtype=bool)
        rv_touch[self.mesh.cells[region == REGION_RV]] = True
        ok = np.isin(self.aha[epi], LV_LEAD_SEGMENTS) & ~rv_touch[epi]
        return np.sort(epi[ok])

    def check_lv_lead(self, node: int) -> int:
        """Return `node` if an LV lead may sit there, else raise SiteError."""
        if not 0 <= node < self.mesh.n_points:
            raise SiteError(
                f"LV lead node:{node} is not a node of this mesh "
                f"(ids 0..{self.mesh.n_points - 1})"
            )
        if node not in set(self.lv_candidates.tolist()):
            seg = int(self.aha[node])
            raise SiteError(
                f"LV lead node:{node} is outside the candidate region (LV free-wall "
                f"epicardium in AHA segments {list(LV_LEAD_SEGMENTS)}); it lies in "
                f"segment {seg if seg else 'none (not LV)'}"
            )
        return int(node)

    # ------------------------------------------------------------- activation
    def metric(self, tissue: TissueParams) -> np.ndarray:
        """Inverse squared-velocity tensor per cell, shape (n_cells, 3, 3)."""
        v_f = np.full(self.mesh.n_cells, tissue.v_fibre * tissue.cv_scale)
        v_c = np.full(self.mesh.n_cells, tissue.v_cross * tissue.cv_scale)
        v_f[self.fast_cells] = tissue.v_endo
        v_c[self.fast_cells] = tissue.v_endo
        return metric_tensors(self.fibres, v_f, v_c)

    def sources(self, plan: PacingPlan) -> tuple[np.ndarray, np.ndarray]:
        """Source node ids and onset times (ms) of a pacing plan."""
        if plan.protocol == "lbbb":
            return self.rv_roots, np.zeros(len(self.rv_roots))
        lv = self.check_lv_lead(int(plan.lv_lead))
        rv = self.rv_apex if plan.rv_lead is None else int(plan.rv_lead)
        if not 0 <= rv < self.mesh.n_points:
            raise SiteError(f"RV lead node:{rv} is not a node of this mesh")
        return np.array([rv, lv]), np.array([0.0, -plan.vv_delay_ms])

    def activate(
        self, plan: PacingPlan, tissue: TissueParams | None = None
    ) -> Activation:
        """Solve the Eikonal equation for a plan and read the markers."""
        tissue = TissueParams() if tissue is None else tissue
        nodes, times = self.sources(plan)
        t = self.solver.solve(self.metric(tissue), nodes, times)
        t = t - np.nanmin(t)
        markers = activation_markers(
            t, self.lv_mask, self.septal_mask, self.lateral_mask
        )
        return Activation(t_ms=t, markers=markers, plan=plan, tissue=tissue)

    def qlv_ms(self, lbbb: Activation, node: int) -> float:
        """QLV of a lead site: its activation time under LBBB, ms."""
        if lbbb.plan.protocol != "lbbb":
            raise ParameterError("QLV is read from an LBBB activation map")
        return float(lbbb.t_ms[node])
