"""Ventricular activation under intrinsic and paced protocols on a tagged mesh.

A `Ventricles` object holds what does not change between protocols: the mesh,
its fibres, the fast endocardial layers, AHA segments, named sites, the
Eikonal solver and the ECG lead field. `activate` takes a `PacingPlan`
(`simulators.ep.protocols`), tissue parameters and an optional scar, and
returns activation times and markers; `ecg` reads the 12-lead pseudo-ECG.

Conduction system: cells with a face on the LV endocardium (left bundle) or
on the RV endocardium and the RV side of the septum (right bundle) conduct
isotropically at `v_endo` when their bundle works (Lee et al. 2019, Front
Physiol 10:1131). Roots (Durrer et al. 1970): three LV septal endocardial
sites (anterior, mid and posterior paraseptal) and one RV mid-septal site at
the exit of the right bundle. Times are measured from the first activation.

Meshes without an RV (an LV ellipsoid) work too: they have no right bundle,
no RV sites, and their septum and anterior directions come from the mesh's
``meta["septum_direction"]`` and ``meta["anterior_direction"]`` (defaults -x
and +y).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from simulators.ep.conduction import metric_tensors
from simulators.ep.ecg import (
    ECG,
    body_frame,
    electrode_positions,
    lead_field,
    pseudo_ecg,
)
from simulators.ep.eikonal import EikonalSolver
from simulators.ep.markers import ActivationMarkers, activation_markers
from simulators.ep.protocols import (
    RV_ROOT_DELAY_SINUS_MS,
    PacingPlan,
    TissueParams,
)
from simulators.ep.purkinje import PurkinjeTree, terminal_sources
from simulators.ep.scar import Scar
from simulators.errors import FieldError, SiteError
from simulators.mesh.aha import (
    LATERAL_SEGMENTS,
    LV_LEAD_SEGMENTS,
    SEPTAL_SEGMENTS,
    aha_segments,
    long_axis_coordinates,
)
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh

logger = logging.getLogger(__name__)

#: LV root sites (long-axis height, angle from the septum in degrees).
LV_ROOTS = ((0.6, 35.0), (0.5, 0.0), (0.35, -40.0))
#: RV root site: the right bundle's exit on the mid septum.
RV_ROOT = (0.5, 0.0)

__all__ = ["Activation", "PacingPlan", "TissueParams", "Ventricles"]


@dataclass(frozen=True)
class Activation:
    """Activation times (ms from the first activation, NaN in scar) and markers."""

    t_ms: np.ndarray
    markers: ActivationMarkers
    plan: PacingPlan
    tissue: TissueParams = field(default_factory=TissueParams)


class Ventricles:
    """A heart ready for Eikonal activation.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with cell field `region` (1 LV, 2 RV, 7 septum), point field
        `apico_basal`, and node sets `surface_lv_endo`, `surface_lv_epi`,
        `surface_base`; with an RV also `surface_rv_endo`,
        `surface_rv_septum`, `surface_rv_epi` and, optionally,
        `surface_pulmonary_valve` (marks the anterior side).
    fibres : ndarray of shape (n_cells, 3)
        Fibre direction per cell.
    purkinje : dict of str to PurkinjeTree, optional
        ``left`` and/or ``right`` trees, used by plans with
        ``system="purkinje"``.
    """

    def __init__(
        self,
        mesh: TetMesh,
        fibres: np.ndarray,
        purkinje: dict[str, PurkinjeTree] | None = None,
    ) -> None:
        if fibres.shape != (mesh.n_cells, 3):
            hint = " (per point?)" if len(fibres) == mesh.n_points else ""
            raise FieldError(
                f"fibres must be per cell, shape ({mesh.n_cells}, 3); got "
                f"{fibres.shape}{hint}"
            )
        self.mesh = mesh
        self.fibres = fibres
        self.purkinje = dict(purkinje or {})
        self.solver = EikonalSolver(mesh.points, mesh.cells)
        self.has_rv = "surface_rv_endo" in mesh.point_data
        region = mesh.cell_data["region"]

        # fast endocardial layers: cells with a face on each endocardium
        self.lv_endo_mask = self._node_mask("lv_endo")
        self.rv_endo_mask = self._node_mask("rv_endo") | self._node_mask("rv_septum")
        self.lv_fast_cells = self.lv_endo_mask[mesh.cells].sum(axis=1) >= 3
        self.rv_fast_cells = self.rv_endo_mask[mesh.cells].sum(axis=1) >= 3

        # LV myocardium (free wall and septum) and AHA segments
        self.lv_mask = np.zeros(mesh.n_points, dtype=bool)
        self.lv_mask[mesh.region_nodes(REGION_LV, REGION_SEPTUM)] = True
        septum = np.zeros(mesh.n_points, dtype=bool)
        septum[mesh.cells[region == REGION_SEPTUM]] = True
        self._frame_points = self._frame(septum)
        self.z_long, self.phi_deg = long_axis_coordinates(
            mesh.points, *self._frame_points
        )
        self.aha = np.where(self.lv_mask, aha_segments(self.z_long, self.phi_deg), 0)
        self.septal_mask = np.isin(self.aha, SEPTAL_SEGMENTS)
        self.lateral_mask = np.isin(self.aha, LATERAL_SEGMENTS) & ~septum

        # named sites
        self.lv_roots = self._surface_site("lv_endo", LV_ROOTS)
        self.rv_roots = (
            self._surface_site("rv_septum", (RV_ROOT,)) if self.has_rv else None
        )
        self.rv_septum = None if self.rv_roots is None else int(self.rv_roots[0])
        self.rv_apex = self._rv_apex()
        self.epicardial_nodes = np.flatnonzero(
            self._node_mask("lv_epi") | self._node_mask("rv_epi")
        )
        self.lv_candidates = self._lv_candidates()
        self._lead_rows: np.ndarray | None = None
        logger.info(
            "ventricles: %d nodes, %d cells, %d LV lead candidates, RV %s",
            mesh.n_points, mesh.n_cells, self.lv_candidates.size, self.has_rv,
        )  # fmt: skip

    # ------------------------------------------------------------- geometry
    def _node_mask(self, name: str) -> np.ndarray:
        """Boolean node set `surface_<name>`, all False when absent."""
        key = f"surface_{name}"
        if key in self.mesh.point_data:
            return np.asarray(self.mesh.point_data[key], dtype=bool)
        return np.zeros(self.mesh.n_points, dtype=bool)

    def _frame(self, septum: np.ndarray) -> tuple[np.ndarray, ...]:
        """Apex, base centre, septal and anterior points of the LV.

        The apex is the LV epicardial node lowest in `apico_basal`, the base
        the centre of the LV's base nodes; the septum is the septal
        centroid, the anterior side the pulmonary valve (or the mesh's
        stated directions when it has neither).
        """
        mesh, pts = self.mesh, self.mesh.points
        epi = mesh.surface_nodes("lv_epi")
        apex = pts[epi[np.argmin(mesh.point_data["apico_basal"][epi])]]
        base_nodes = np.intersect1d(
            mesh.surface_nodes("base"), np.flatnonzero(self.lv_mask)
        )
        if base_nodes.size == 0:
            raise FieldError("the LV has no node in 'surface_base': no long axis")
        base = pts[base_nodes].mean(axis=0)
        length = np.linalg.norm(base - apex)
        sep_dir = np.asarray(mesh.meta.get("septum_direction", (-1.0, 0.0, 0.0)))
        ant_dir = np.asarray(mesh.meta.get("anterior_direction", (0.0, 1.0, 0.0)))
        centre = 0.5 * (apex + base)
        sept = pts[septum].mean(axis=0) if septum.any() else centre + length * sep_dir
        pulm = self._node_mask("pulmonary_valve")
        ant = pts[pulm].mean(axis=0) if pulm.any() else centre + length * ant_dir
        return apex, base, sept, ant

    def _surface_site(self, name: str, targets: tuple) -> np.ndarray:
        """Nodes of a surface closest to (height, angle) targets."""
        nodes = self.mesh.surface_nodes(name)
        out = []
        for z, phi in targets:
            dphi = np.abs((self.phi_deg[nodes] - phi + 180.0) % 360.0 - 180.0)
            out.append(nodes[np.argmin(np.abs(self.z_long[nodes] - z) + dphi / 180.0)])
        return np.unique(out)

    def _rv_apex(self) -> int | None:
        """RV endocardial node closest to the apex (lowest long-axis height)."""
        if not self.has_rv:
            return None
        rv_free = self.mesh.surface_nodes("rv_endo")
        return int(rv_free[np.argmin(self.z_long[rv_free])])

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
        if not np.isin(node, self.lv_candidates):
            seg = int(self.aha[node])
            if seg == 0:
                where = "it lies outside the LV (in the RV wall)"
            elif not self._node_mask("lv_epi")[node]:
                where = "it is not on the LV epicardium"
            elif seg in LV_LEAD_SEGMENTS:
                where = f"it lies in segment {seg} but touches the RV wall"
            else:
                where = f"it lies in segment {seg}"
            raise SiteError(
                f"LV lead node:{node} is outside the candidate region (LV free-wall "
                f"epicardium in AHA segments {list(LV_LEAD_SEGMENTS)}); {where}"
            )
        return int(node)

    def check_rv_lead(self, node: int) -> int:
        """Return `node` if an RV lead may sit there (RV endocardium), else raise."""
        if not self.has_rv:
            raise SiteError("this mesh has no RV: RV pacing and CRT need one")
        if not 0 <= node < self.mesh.n_points:
            raise SiteError(
                f"RV lead node:{node} is not a node of this mesh "
                f"(ids 0..{self.mesh.n_points - 1})"
            )
        if not self.rv_endo_mask[node]:
            raise SiteError(
                f"RV lead node:{node} is not on the RV endocardium (free wall or "
                "septal side), where a transvenous RV lead sits"
            )
        return int(node)

    # ------------------------------------------------------------- activation
    def metric(
        self,
        tissue: TissueParams,
        plan: PacingPlan | None = None,
        scar: Scar | None = None,
    ) -> np.ndarray:
        """Inverse squared-velocity tensor per cell, shape (n_cells, 3, 3).

        Without a plan the LBBB conduction system is assumed (right bundle
        only), the setting of the CRT demo.
        """
        left, right = (False, True) if plan is None else plan.working_bundles()
        if plan is not None and plan.system == "purkinje":
            left = right = False
        v_f = np.full(self.mesh.n_cells, tissue.v_fibre * tissue.cv_scale)
        v_c = np.full(self.mesh.n_cells, tissue.v_cross * tissue.cv_scale)
        if scar is not None:
            v_f[scar.border] *= tissue.border_factor
            v_c[scar.border] *= tissue.border_factor
        fast = (self.lv_fast_cells & left) | (self.rv_fast_cells & right)
        if scar is not None:
            fast &= ~scar.border
        v_f[fast] = tissue.v_endo
        v_c[fast] = tissue.v_endo
        return metric_tensors(self.fibres, v_f, v_c)

    def sources(self, plan: PacingPlan) -> tuple[np.ndarray, np.ndarray]:
        """Source node ids and onset times (ms) of a pacing plan."""
        left, right = plan.working_bundles()
        nodes: list[np.ndarray] = []
        times: list[np.ndarray] = []

        def add(ids, t) -> None:
            ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
            nodes.append(ids)
            times.append(np.broadcast_to(np.asarray(t, dtype=float), ids.shape))

        # leads first, then intrinsic roots of the working bundles
        if plan.paced:
            intrinsic = plan.pr_intrinsic_ms - plan.av_delay_ms
            if plan.protocol in ("crt", "rv-pacing"):
                add(self._rv_lead(plan), 0.0)
            if plan.protocol in ("crt", "lv-pacing"):
                lv_onset = -plan.vv_delay_ms if plan.protocol == "crt" else 0.0
                add(self.check_lv_lead(int(plan.lv_lead)), lv_onset)
        else:
            intrinsic = 0.0
        rv_delay = RV_ROOT_DELAY_SINUS_MS if plan.protocol == "sinus" else 0.0
        if plan.system == "purkinje":
            for side, works, onset in (
                ("left", left, intrinsic),
                ("right", right, intrinsic + rv_delay),
            ):
                if works:
                    add(*self._purkinje_sources(side, onset))
        else:
            if left:
                add(self.lv_roots, intrinsic)
            if right and self.rv_roots is not None:
                add(self.rv_roots, intrinsic + rv_delay)
        if not nodes:
            raise SiteError(
                f"{plan.protocol} on this mesh has no source of activation (an LV-only "
                "mesh has no right bundle: LBBB needs an RV)"
            )
        return np.concatenate(nodes), np.concatenate(times)

    def _purkinje_sources(self, side: str, onset_ms: float) -> tuple:
        """Endocardial nodes and times excited by one Purkinje tree."""
        if side not in self.purkinje:
            raise SiteError(
                f"the plan uses Purkinje trees but this heart has no {side} tree; "
                "pass purkinje={'left': ..., 'right': ...} to Ventricles"
            )
        endo = self.lv_endo_mask if side == "left" else self.rv_endo_mask
        return terminal_sources(
            self.purkinje[side],
            self.mesh.points,
            np.flatnonzero(endo),
            onset_ms=onset_ms,
        )

    def _rv_lead(self, plan: PacingPlan) -> int:
        if not self.has_rv:
            raise SiteError("this mesh has no RV: RV pacing and CRT need one")
        return self.check_rv_lead(
            self.rv_apex if plan.rv_lead is None else plan.rv_lead
        )

    def activate(
        self,
        plan: PacingPlan,
        tissue: TissueParams | None = None,
        scar: Scar | None = None,
    ) -> Activation:
        """Solve the Eikonal equation for a plan and read the markers."""
        tissue = TissueParams() if tissue is None else tissue
        nodes, times = self.sources(plan)
        metric = self.metric(tissue, plan, scar)
        if scar is None or not scar.cells.any():
            t = self.solver.solve(metric, nodes, times)
        else:
            t = self._solve_with_scar(metric, nodes, times, scar)
        t = t - np.nanmin(t)
        markers = activation_markers(
            t, self.lv_mask, self.septal_mask, self.lateral_mask
        )
        return Activation(t_ms=t, markers=markers, plan=plan, tissue=tissue)

    def _solve_with_scar(self, metric, nodes, times, scar: Scar) -> np.ndarray:
        """Solve on the cells outside the scar; scar-locked nodes are NaN."""
        if scar.cells.shape != (self.mesh.n_cells,):
            raise FieldError(
                f"scar mask has {scar.cells.shape[0]} cells, the mesh "
                f"{self.mesh.n_cells}"
            )
        live = ~scar.cells
        solver = EikonalSolver(self.mesh.points, self.mesh.cells[live])
        keep = np.isin(nodes, np.unique(self.mesh.cells[live]))
        if not keep.any():
            raise SiteError("every source lies inside the scar")
        return solver.solve(metric[live], nodes[keep], times[keep])

    def qlv_ms(self, lbbb: Activation, node: int) -> float:
        """QLV of a lead site: its activation time under LBBB, ms."""
        if lbbb.plan.protocol != "lbbb":
            raise SiteError("QLV is read from an LBBB activation map")
        return float(lbbb.t_ms[node])

    # -------------------------------------------------------------------- ECG
    def electrodes(self) -> dict[str, np.ndarray]:
        """The nine ECG electrodes placed from the heart's axes, mm."""
        apex, base, sept, ant = self._frame_points
        centre = self.mesh.points.mean(axis=0)
        return electrode_positions(centre, body_frame(apex, base, sept, ant))

    def ecg(self, activation: Activation) -> ECG:
        """Twelve-lead pseudo-ECG and QRS duration of an activation."""
        if self._lead_rows is None:
            self._lead_rows = lead_field(self.mesh, self.electrodes())
        return pseudo_ecg(self._lead_rows, activation.t_ms)
