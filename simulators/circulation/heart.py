"""The multi-patch ventricles: patches on three walls, built from a heart's sizes.

`HeartModel` gathers the patch arrays (wall volume, reference area, active
and passive stress scales, wall membership), the junction radius and the
circuit, and turns ventricular volumes and patch activations into
ventricular pressures (`HeartModel.ventricles`).

Reference areas: the walls are spherical caps (`simulators.circulation.
walls`), which hold a given volume with less area than the elongated mesh.
The mesh fixes each patch's share of its wall's area and every wall volume;
the caps' areas at the mesh's cavity volumes fix the walls' totals, with
the junction radius and septal position chosen so that the three walls'
area ratios equal the mesh's. The mesh is taken at end-diastole, where the
fibres are stretched `stretch_mesh` times the zero-stress length, so
``a_ref = a_mesh / stretch_mesh^2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import least_squares

from simulators.circulation.circuit import CircuitParams
from simulators.circulation.geometry import HeartGeometry
from simulators.circulation.patch import (
    KPA_TO_MMHG,
    SarcomereParams,
    fibre_stress,
    patch_tension,
    twitch,
)
from simulators.circulation.walls import cap_geometry, solve_walls
from simulators.errors import ParameterError

__all__ = ["HeartModel", "WallState"]


@dataclass(frozen=True)
class WallState:
    """Ventricles at one instant: pressures, patch strains, septal position."""

    p_lv: float
    p_rv: float
    e: np.ndarray
    v_s_mm3: float
    y_mm: float
    sigma_kpa: np.ndarray
    tension: np.ndarray

    @property
    def guess(self) -> tuple[np.ndarray, float, float]:
        """Start point for the next wall solve."""
        return self.e, self.v_s_mm3, self.y_mm


@dataclass(frozen=True)
class HeartModel:
    """Multi-patch ventricles in a closed-loop circulation.

    Parameters
    ----------
    v_wall_ml, a_ref_mm2 : ndarray of shape (n_patches,)
        Wall volume (mL) and zero-stress midwall area (mm^2) of each patch.
    wall : ndarray of shape (n_patches,)
        0 LV free wall, 1 septum, 2 RV free wall.
    y_mm : float
        Junction radius of the three walls at the mesh's state, mm (the
        wall solver's start; the radius itself follows the force balance).
    sigma_act_kpa, sigma_pas_kpa, k_pas : ndarray of shape (n_patches,)
        Active stress scale, passive stress scale (kPa), passive exponent.
    v_rvot_ml : float
        Rigid RV outflow tract volume (part of the blood volume), mL.
    segment : ndarray of shape (n_patches,), optional
        AHA segment of each patch, 0 for the RV free wall.
    names : tuple of str
        Patch names.
    """

    v_wall_ml: np.ndarray
    a_ref_mm2: np.ndarray
    wall: np.ndarray
    y_mm: float
    sigma_act_kpa: np.ndarray
    sigma_pas_kpa: np.ndarray
    k_pas: np.ndarray
    v_rvot_ml: float = 0.0
    segment: np.ndarray | None = None
    names: tuple[str, ...] = ()
    circuit: CircuitParams = field(default_factory=CircuitParams)
    sarcomere: SarcomereParams = field(default_factory=SarcomereParams)

    def __post_init__(self) -> None:
        n = len(self.v_wall_ml)
        for name in (
            "v_wall_ml",
            "a_ref_mm2",
            "sigma_act_kpa",
            "sigma_pas_kpa",
            "k_pas",
        ):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != (n,):
                raise ParameterError(
                    f"{name} must have shape ({n},), got {value.shape}"
                )
            low = 0.0 if name == "sigma_act_kpa" else 1e-12
            if not np.isfinite(value).all() or (value < low).any():
                bad = np.flatnonzero(~(value >= low))
                raise ParameterError(
                    f"{name} must be finite and >= {low:g} (> 0 for volumes, "
                    f"areas and stiffness); patches {bad.tolist()} are {value[bad]}"
                )
        walls = set(np.asarray(self.wall).tolist())
        if walls != {0, 1, 2}:
            raise ParameterError(f"wall must use each of 0, 1, 2; got {sorted(walls)}")
        if not (np.isfinite(self.y_mm) and self.y_mm > 0):
            raise ParameterError(f"y_mm must be positive, got {self.y_mm}")
        if not (np.isfinite(self.v_rvot_ml) and self.v_rvot_ml >= 0):
            raise ParameterError(f"v_rvot_ml must be >= 0, got {self.v_rvot_ml}")

    @property
    def n_patches(self) -> int:
        return len(self.v_wall_ml)

    @classmethod
    def from_geometry(
        cls,
        geometry: HeartGeometry,
        sigma_act_kpa: float = 52.0,
        sigma_pas_kpa: float = 4.0,
        k_pas: float = 12.0,
        stretch_mesh: float = 1.10,
        circuit: CircuitParams | None = None,
        sarcomere: SarcomereParams | None = None,
    ) -> HeartModel:
        """Build the model from a heart's patch sizes (`heart_geometry`).

        Scalars apply to every patch; ``stretch_mesh`` is the fibre stretch
        of the mesh's state over the zero-stress state (1 to 1.3).
        """
        if not 1.0 <= stretch_mesh <= 1.3:
            raise ParameterError(
                f"stretch_mesh must lie in [1, 1.3], got {stretch_mesh}"
            )
        if geometry.v_lv_ml <= 0 or geometry.v_rv_ml <= 0:
            raise ParameterError(
                f"cavity volumes must be positive, got LV {geometry.v_lv_ml} mL, "
                f"RV {geometry.v_rv_ml} mL"
            )
        vm = _midwall_volumes(geometry)
        area_wall = np.bincount(geometry.wall, geometry.a_mid_mm2, 3)
        y, v_s = _junction(vm, area_wall)
        _, a_cap, _ = cap_geometry(np.array([vm[0] - v_s, v_s, vm[1] + v_s]), y)
        share = geometry.a_mid_mm2 / area_wall[geometry.wall]
        a_ref = a_cap[geometry.wall] * share / stretch_mesh**2
        n = geometry.n_patches
        model = cls(
            v_wall_ml=np.asarray(geometry.v_wall_ml, dtype=float),
            a_ref_mm2=a_ref,
            wall=np.asarray(geometry.wall),
            y_mm=y,
            sigma_act_kpa=np.full(n, float(sigma_act_kpa)),
            sigma_pas_kpa=np.full(n, float(sigma_pas_kpa)),
            k_pas=np.full(n, float(k_pas)),
            v_rvot_ml=geometry.v_rvot_ml,
            segment=geometry.segment,
            names=geometry.names,
            circuit=CircuitParams() if circuit is None else circuit,
            sarcomere=SarcomereParams() if sarcomere is None else sarcomere,
        )
        return model._calibrated(geometry, np.log(stretch_mesh))

    def _calibrated(self, geometry: HeartGeometry, e_mesh: float) -> HeartModel:
        """Rescale each wall's reference areas to the mesh's stretch.

        The caps' equilibrium at the mesh's cavity volumes (passive walls)
        does not keep the area ratios the junction fit assumed; each wall's
        reference areas are scaled until its mean fibre strain there is
        ``e_mesh`` (fixed-point steps; 6 bring the walls within 1e-3).
        """
        model, guess = self, None
        f_rest = np.zeros(self.n_patches)
        for _ in range(6):
            s = model.ventricles(
                geometry.v_lv_ml, geometry.v_rv_ml, f_rest, None, guess
            )
            guess = s.guess
            a = model.a_ref_mm2 * np.exp(2.0 * s.e)
            mean_e = 0.5 * np.log(
                np.bincount(self.wall, a, 3)
                / np.bincount(self.wall, model.a_ref_mm2, 3)
            )
            a_ref = model.a_ref_mm2 * np.exp(2.0 * (mean_e - e_mesh))[self.wall]
            model = replace(model, a_ref_mm2=a_ref, y_mm=s.y_mm)
        return model

    def activation(self, t_ms: float, onset_ms: np.ndarray) -> np.ndarray:
        """Twitch of each patch at time `t_ms` of the cycle, shape (n_patches,)."""
        tau = (t_ms - onset_ms) % self.circuit.period_ms
        return twitch(tau, self.sarcomere)

    def stress(
        self, e: np.ndarray, f_act: np.ndarray, ls_c_um: np.ndarray | None = None
    ) -> tuple:
        """Fibre stress and its stretch derivative of every patch, kPa."""
        return fibre_stress(
            np.exp(e),
            f_act,
            self.sarcomere,
            self.sigma_act_kpa,
            self.sigma_pas_kpa,
            self.k_pas,
            ls_c_um,
        )

    def ventricles(
        self,
        v_lv_ml: float,
        v_rv_ml: float,
        f_act: np.ndarray,
        ls_c_um: np.ndarray | None = None,
        guess: tuple[np.ndarray, float, float] | None = None,
    ) -> WallState:
        """Ventricular pressures for cavity volumes and patch activations.

        Parameters
        ----------
        v_lv_ml, v_rv_ml : float
            LV and RV sinus cavity volumes, mL.
        f_act : ndarray of shape (n_patches,)
            Patch activations, from `activation`.
        ls_c_um : ndarray of shape (n_patches,), optional
            Contractile element lengths, um (isometric fibres without).
        guess : tuple, optional
            Patch strains, septal cap volume (mm^3) and junction radius (mm)
            to start Newton from (`WallState.guess`).
        """
        vw = 1000.0 * self.v_wall_ml

        def tension(e):
            sigma, dsigma = self.stress(e, f_act, ls_c_um)
            return patch_tension(e, sigma, dsigma, vw, self.a_ref_mm2)

        vm = self._vm(v_lv_ml, v_rv_ml)
        cold = guess is None
        if cold:
            guess = (np.full(self.n_patches, np.log(1.1)), 0.0, self.y_mm)
        # a cold start walks in damped steps: allow more of them
        e, v_s, y, t_w, c = solve_walls(
            vm, self.wall, tension, guess, max_iter=400 if cold else 60
        )
        p = 2.0 * KPA_TO_MMHG * t_w * c
        sigma, _ = self.stress(e, f_act, ls_c_um)
        return WallState(float(p[0]), float(p[2]), e, v_s, y, sigma, t_w)

    def _vm(self, v_lv_ml: float, v_rv_ml: float) -> np.ndarray:
        """LV and RV midwall volumes, mm^3."""
        half = 0.5 * np.bincount(self.wall, self.v_wall_ml, 3)
        return 1000.0 * np.array(
            [v_lv_ml + half[0] + half[1], v_rv_ml + half[2] + half[1]]
        )


def _midwall_volumes(g: HeartGeometry) -> np.ndarray:
    """LV and RV midwall volumes of the mesh's state, mm^3."""
    half = 0.5 * np.bincount(g.wall, g.v_wall_ml, 3)
    return 1000.0 * np.array(
        [g.v_lv_ml + half[0] + half[1], g.v_rv_ml + half[2] + half[1]]
    )


def _junction(vm: np.ndarray, area_wall: np.ndarray) -> tuple[float, float]:
    """Junction radius and septal cap volume whose cap areas match the mesh's ratios."""

    def residual(z):
        y, v_s = np.exp(z[0]), z[1] * 1e4
        _, a, _ = cap_geometry(np.array([vm[0] - v_s, v_s, vm[1] + v_s]), y)
        return np.log(a / a[1]) - np.log(area_wall / area_wall[1])

    y0 = (3.0 * vm[0] / (4.0 * np.pi)) ** (1 / 3) * 0.8
    fit = least_squares(residual, x0=[np.log(y0), 0.5], method="lm")
    return float(np.exp(fit.x[0])), float(fit.x[1] * 1e4)
