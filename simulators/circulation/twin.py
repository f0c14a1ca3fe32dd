"""One patient's heart and circulation: activation, beats, remodelling, CRT.

`CirculationTwin` ties the electrophysiology (`simulators.ep`) to the
multi-patch heart: a pacing plan gives an activation map, the map gives
each patch's onset (`patch_onsets`), and the patient's `HeartModel`
beats to its steady state under them. The patient differs from the
calibrated healthy heart of the same mesh by

- ``contractility``: the active stress scale of every patch, times the
  healthy 62 kPa (HFrEF-like below about 0.8);
- ``stiffness``: the passive stress scale, times the healthy 4 kPa
  (HFpEF-like above about 2);
- ``scar``: a patch's scar fraction ``f_s`` and border-zone fraction
  ``f_b`` (by volume) remove active stress, ``(1 - f_s - f_b / 2)``, and
  stiffen it, ``(1 + 9 f_s)``: collagen scar is several times stiffer
  than myocardium and does not contract (Holmes et al. 2005, Annu Rev
  Biomed Eng 7:223; the factors are our choice, in the range of the
  multi-patch studies of Walmsley et al. 2015 and Koopsen et al. 2024).

The set-points of adaptation come from the healthy heart in sinus rhythm
(`set_points`); the patient's ``baseline`` is that heart remodelled under
its own rhythm, contractility and scar for `BASELINE_MAX_STEPS` steps
(one to two years, or until it settles sooner: the chronic LBBB heart a
CRT candidate brings), and `crt` paces it and remodels it again over the
clinical horizon (`adaptation`). The baseline stops at a finite horizon
because peak-stress sensing keeps thickening the septum of a weak,
dilated LBBB heart, which after about 80 steps squeezes the RV empty.

Examples
--------
On the real heart (about 3 s for the LBBB baseline, 1 s per lead site)::

    twin = CirculationTwin(load_heart("rodero01"), contractility=0.9)
    r = twin.crt(lv_lead=twin.heart.lv_candidates[0])
    r.chronic["d_lvesv_pct"]
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import cached_property

import numpy as np

from simulators.circulation.adaptation import (
    Adapted,
    CRTResponse,
    SetPoints,
    adapt,
    crt_response,
    set_points,
)
from simulators.circulation.beats import Beat, simulate
from simulators.circulation.circuit import CircuitParams
from simulators.circulation.geometry import (
    HeartGeometry,
    heart_geometry,
    patch_fractions,
    patch_onsets,
)
from simulators.circulation.heart import HeartModel
from simulators.circulation.metrics import Haemodynamics, haemodynamics
from simulators.ep.protocols import PacingPlan, TissueParams
from simulators.ep.scar import Scar
from simulators.ep.ventricles import Activation, Ventricles
from simulators.errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = ["BASELINE_MAX_STEPS", "HEALTHY_SIGMA_ACT_KPA", "CirculationTwin"]

#: Active stress scale of the calibrated healthy heart on the real mesh, kPa.
HEALTHY_SIGMA_ACT_KPA = 62.0
#: Adaptation steps of the chronic baseline (one to two years of LBBB).
BASELINE_MAX_STEPS = 50
#: Allowed ranges of the patient factors (outside them the model leaves
#: the physiological regime: a heart at 0.5 contractility dilates without
#: bound under the healthy set-points).
RANGES = {"contractility": (0.6, 1.5), "stiffness": (0.5, 6.0)}


class CirculationTwin:
    """A patient's ventricles, patches and circulation.

    Parameters
    ----------
    heart : Ventricles
        The heart (mesh, fibres), from `simulators.hearts.load_heart`.
    tissue : TissueParams, optional
        Conduction velocities of the patient.
    scar : Scar, optional
        Scar and border-zone cells.
    contractility, stiffness : float
        Active and passive stress scales relative to the healthy heart
        (`RANGES`).
    circuit : CircuitParams, optional
        Circulation constants (heart rate, resistances, blood volume).
    geometry : HeartGeometry, optional
        Patch sizes, when already computed for this mesh.
    """

    def __init__(
        self,
        heart: Ventricles,
        tissue: TissueParams | None = None,
        scar: Scar | None = None,
        contractility: float = 1.0,
        stiffness: float = 1.0,
        circuit: CircuitParams | None = None,
        geometry: HeartGeometry | None = None,
    ) -> None:
        for name, value in (("contractility", contractility), ("stiffness", stiffness)):
            lo, hi = RANGES[name]
            if not lo <= value <= hi:
                raise ParameterError(
                    f"{name} must lie in [{lo}, {hi}] (relative to the healthy "
                    f"heart), got {value}"
                )
        self.heart = heart
        self.tissue = TissueParams() if tissue is None else tissue
        self.scar = scar
        self.contractility = float(contractility)
        self.stiffness = float(stiffness)
        self.circuit = CircuitParams() if circuit is None else circuit
        self.geometry = (
            heart_geometry(heart.mesh, heart.aha) if geometry is None else geometry
        )
        self._activations: dict[PacingPlan, Activation] = {}
        self._baselines: dict[str, Adapted] = {}

    # ------------------------------------------------------------- models
    @cached_property
    def healthy(self) -> HeartModel:
        """The calibrated healthy heart of this mesh."""
        return HeartModel.from_geometry(
            self.geometry, sigma_act_kpa=HEALTHY_SIGMA_ACT_KPA, circuit=self.circuit
        )

    @cached_property
    def scar_fractions(self) -> tuple[np.ndarray, np.ndarray]:
        """Scar and border-zone volume fraction of each patch."""
        n = self.geometry.n_patches
        if self.scar is None:
            return np.zeros(n), np.zeros(n)
        volume = self.heart.mesh.signed_volumes()
        cp = self.geometry.cell_patch
        return (
            patch_fractions(self.scar.cells, volume, cp, n),
            patch_fractions(self.scar.border, volume, cp, n),
        )

    @cached_property
    def model(self) -> HeartModel:
        """The patient's heart before remodelling."""
        f_s, f_b = self.scar_fractions
        h = self.healthy
        active = self.contractility * np.clip(1.0 - f_s - 0.5 * f_b, 0.0, 1.0)
        return replace(
            h,
            sigma_act_kpa=h.sigma_act_kpa * active,
            sigma_pas_kpa=h.sigma_pas_kpa * self.stiffness * (1.0 + 9.0 * f_s),
        )

    @cached_property
    def set_points(self) -> SetPoints:
        """Healthy loads: the healthy heart's sinus beat (no scar, normal cv)."""
        sinus = self.heart.activate(PacingPlan("sinus"))
        return set_points(simulate(self.healthy, self._to_onsets(sinus)))

    # ------------------------------------------------------- electrophysiology
    def activation(self, plan: PacingPlan) -> Activation:
        """Activation map of the patient under a plan (cached per plan)."""
        if plan not in self._activations:
            self._activations[plan] = self.heart.activate(plan, self.tissue, self.scar)
        return self._activations[plan]

    def onsets(self, plan: PacingPlan) -> np.ndarray:
        """Patch onsets under a plan, ms, shape (n_patches,)."""
        return self._to_onsets(self.activation(plan))

    def _to_onsets(self, act: Activation) -> np.ndarray:
        g = self.geometry
        onset = patch_onsets(act.t_ms, g.node_patch, g.n_patches)
        dead = np.isnan(onset)
        if dead.any():
            # a patch wholly in scar has no onset; it carries no active stress
            logger.info("patches %s lie wholly in scar", np.flatnonzero(dead))
            onset[dead] = 0.0
        return onset

    # ------------------------------------------------------------ beats
    def beat(self, plan: PacingPlan, model: HeartModel | None = None) -> Beat:
        """Steady-state beat of the patient's heart (not remodelled) under a plan."""
        return simulate(self.model if model is None else model, self.onsets(plan))

    def haemodynamics(self, plan: PacingPlan) -> Haemodynamics:
        """Readouts of `beat`."""
        return haemodynamics(self.beat(plan), self.model)

    def baseline(self, protocol: str = "lbbb") -> Adapted:
        """The patient's heart remodelled under its own rhythm until it settles.

        Parameters
        ----------
        protocol : str
            The intrinsic rhythm: ``lbbb``, ``sinus`` or ``rbbb``.
        """
        if protocol not in self._baselines:
            onset = self.onsets(PacingPlan(protocol))
            out = adapt(
                self.model, onset, self.set_points, max_steps=BASELINE_MAX_STEPS
            )
            if not out.converged:
                logger.warning(
                    "the %s baseline still remodels after %d steps (last change "
                    "%.3g): the heart keeps dilating under its load",
                    protocol, out.n_steps, out.max_change,
                )  # fmt: skip
            self._baselines[protocol] = replace(out, target=self.set_points)
        return self._baselines[protocol]

    def crt(
        self,
        lv_lead: int,
        vv_delay_ms: float = 0.0,
        rv_lead: int | None = None,
        baseline: str = "lbbb",
        max_steps: int = 16,
    ) -> CRTResponse:
        """Acute and chronic response to CRT from the remodelled baseline.

        Parameters
        ----------
        lv_lead : int
            LV lead node (`Ventricles.lv_candidates`).
        vv_delay_ms : float
            LV lead ahead of the RV lead, ms.
        rv_lead : int, optional
            RV lead node; the RV apex by default.
        baseline : str
            Intrinsic rhythm the patient remodelled under.
        max_steps : int
            Adaptation steps of the follow-up (16: about six months).
        """
        base = self.baseline(baseline)
        plan = PacingPlan(
            "crt", lv_lead=int(lv_lead), rv_lead=rv_lead, vv_delay_ms=vv_delay_ms
        )
        return crt_response(
            base.model,
            base.beat.onset_ms,
            self.onsets(plan),
            lbbb=base,
            max_steps=max_steps,
        )
