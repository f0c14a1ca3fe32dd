"""Inputs of the marker head: a twin's scalars, its LBBB markers, the lead.

The population emulator's GNN head reads the twin's encoding pooled per
AHA segment; on a heart of a shape family it never saw (the real heart)
that encoding carries over less well than a few global markers do. The
marker head (`twinml.models.marker_head`) reads, per query,

- the twin: tissue and mechanics (scaled as `TwinGraph.globals_`), scar
  (present, radius, transmurality, border, centre as height and angle),
  and its LBBB markers (QRS, TAT, LVAT; `simulators.ep.markers`) from
  the reference pipeline's LBBB activation and pseudo-ECG, computed once
  per twin (`lbbb_baseline`);
- the lead: its height and angle (cosine, sine) in the heart's
  ventricular coordinates, its QLV (LBBB activation time at the lead,
  the clinical marker of a good site; Gold et al. 2011, Eur Heart J
  32:2516), whether it lies in scar, and the VV delay.

Training reads the same LBBB markers from the sweep's stored reference
results (`TwinMarkers.from_reference`), so the inputs of training and
query come from the same solver and the same function (`TwinMarkers.rows`).

The regional markers (mean LVAT, septal-to-lateral delay) are left out:
they rest on the AHA segments' place, which differs between the
parametric shapes of training and real hearts, and with them the head
fitted the parametric hearts better and the real heart far worse.

Units: ms, mm, mm/ms as everywhere; angles enter as cosine and sine.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from simulators.ep.ecg import pseudo_ecg
from simulators.ep.markers import activation_markers
from simulators.ep.protocols import PacingPlan
from simulators.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["MARKER_INPUTS", "TwinMarkers", "lbbb_baseline"]

#: Twin-level inputs after the scaled tissue and mechanics (`GLOBAL_RANGES`).
TWIN_INPUTS = (
    "scar",
    "scar_radius_mm",
    "scar_transmurality",
    "scar_border_mm",
    "scar_apicobasal",
    "scar_cos",
    "scar_sin",
    "qrs_lbbb_ms",
    "tat_lbbb_ms",
    "lvat_lbbb_ms",
)
#: Per-query inputs.
QUERY_INPUTS = (
    "lead_apicobasal",
    "lead_cos",
    "lead_sin",
    "qlv_ms",
    "lead_in_scar",
    "vv_delay_ms",
)
#: Every input of the marker head, in order (the scaled globals first).
MARKER_INPUTS = (
    "v_fibre",
    "v_cross",
    "v_endo",
    "contractility",
    "stiffness",
    *TWIN_INPUTS,
    *QUERY_INPUTS,
)


@dataclass(frozen=True, eq=False)
class TwinMarkers:
    """A twin's marker-head inputs that no query changes.

    Attributes
    ----------
    twin : ndarray of shape (len(MARKER_INPUTS) - len(QUERY_INPUTS),)
        Scaled tissue and mechanics, scar, LBBB markers.
    t_lbbb_ms : ndarray of shape (n_points,)
        LBBB activation, ms (NaN in scar): the QLV of any site.
    z_long, phi_deg : ndarray of shape (n_points,)
        Apicobasal height (0 apex, 1 base) and angle from the septum, deg.
    """

    twin: np.ndarray
    t_lbbb_ms: np.ndarray
    z_long: np.ndarray
    phi_deg: np.ndarray

    @classmethod
    def from_reference(
        cls,
        heart,
        globals_: np.ndarray,
        scar: dict | None,
        qrs_lbbb_ms: float,
        t_lbbb_ms: np.ndarray,
    ) -> TwinMarkers:
        """Inputs from a twin and its reference LBBB activation and QRS.

        Parameters
        ----------
        heart : Ventricles
        globals_ : ndarray of shape (5,)
            `TwinGraph.globals_` (tissue and mechanics scaled to 0..1).
        scar : dict or None
            ``radius_mm``, ``transmurality``, ``border_mm``,
            ``apicobasal``, ``rotational_deg`` (a twin's ``scar`` group).
        qrs_lbbb_ms : float
            QRS of the LBBB pseudo-ECG, ms.
        t_lbbb_ms : ndarray of shape (n_points,)
            LBBB activation, ms (NaN where no path exists).
        """
        t = np.asarray(t_lbbb_ms, dtype=float)
        if t.shape != (heart.mesh.n_points,) or not np.isfinite(t).any():
            raise DataError(
                f"LBBB activation of shape {t.shape} with "
                f"{int(np.isfinite(t).sum())} finite times: expected "
                f"({heart.mesh.n_points},) with times outside scar"
            )
        if not np.isfinite(qrs_lbbb_ms):
            raise DataError(f"LBBB QRS is {qrs_lbbb_ms}: expected a duration in ms")

        # LBBB markers as the reference pipeline reads them
        t = t - np.nanmin(t)
        m = activation_markers(t, heart.lv_mask, heart.septal_mask, heart.lateral_mask)
        if scar:
            phi = np.deg2rad(float(scar["rotational_deg"]))
            scar_row = [
                1.0,
                float(scar["radius_mm"]),
                float(scar["transmurality"]),
                float(scar["border_mm"]),
                float(scar["apicobasal"]),
                np.cos(phi),
                np.sin(phi),
            ]
        else:
            scar_row = [0.0] * 7
        twin = np.concatenate(
            [
                np.asarray(globals_, dtype=float),
                scar_row,
                [qrs_lbbb_ms, m.tat_ms, m.lvat_ms],
            ]
        )
        return cls(twin, t, heart.z_long, heart.phi_deg)

    def named(self) -> dict[str, float]:
        """The twin's LBBB markers by name, ms (the model card's names)."""
        names = ("qrs_lbbb_ms", "tat_lbbb_ms", "lvat_lbbb_ms")
        return {k: float(self.twin[MARKER_INPUTS.index(k)]) for k in names}

    def rows(self, leads, vv_delay_ms: float) -> np.ndarray:
        """Marker-head inputs of B lead sites, shape (B, len(MARKER_INPUTS)).

        Parameters
        ----------
        leads : array of int, shape (B,)
            Mesh nodes of the LV leads.
        vv_delay_ms : float
            LV lead ahead of the RV lead, ms.
        """
        leads = np.atleast_1d(np.asarray(leads, dtype=np.int64))
        phi = np.deg2rad(self.phi_deg[leads])
        qlv = self.t_lbbb_ms[leads]
        # a lead in scar has no QLV: it reads 0 with its flag set
        in_scar = ~np.isfinite(qlv)
        query = np.column_stack(
            [
                self.z_long[leads],
                np.cos(phi),
                np.sin(phi),
                np.where(in_scar, 0.0, qlv),
                in_scar.astype(float),
                np.full(leads.size, float(vv_delay_ms)),
            ]
        )
        twin = np.broadcast_to(self.twin, (leads.size, self.twin.size))
        return np.hstack([twin, query]).astype(np.float32)


def lbbb_baseline(
    heart, tissue, scar=None, lead_rows: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """The twin's LBBB activation and QRS by the reference pipeline.

    One Eikonal solve and one pseudo-ECG (about 1 s on a 50,000-node
    heart), once per twin: the same as the response sweep's LBBB step
    (`twinml.data.response_sweep.simulate_sample`).

    Parameters
    ----------
    heart : Ventricles
    tissue : TissueParams
    scar : ScarRegion, optional
    lead_rows : ndarray of shape (9, n_points), optional
        The heart's ECG lead field where the caller has it already
        (`TwinGraph.lead_rows`); otherwise the heart computes its own.

    Returns
    -------
    qrs_ms : float
    t_ms : ndarray of shape (n_points,)
        Activation times, ms (NaN in scar).
    """
    # one BLAS thread: OpenBLAS's second thread keeps spinning after the
    # pseudo-ECG's products (for about 0.1 s), which slows the twin's first
    # queries by a third on two cores
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        if scar is not None:
            # nodes locked inside the scar never activate: expected, not news
            warnings.filterwarnings("ignore", ".*cannot be reached.*", RuntimeWarning)
        act = heart.activate(PacingPlan("lbbb"), tissue, scar)
        ecg = heart.ecg(act) if lead_rows is None else pseudo_ecg(lead_rows, act.t_ms)
    return float(ecg.qrs_ms), act.t_ms
