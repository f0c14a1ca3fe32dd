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

from dataclasses import dataclass, field

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
    sigma_kpa: np.ndarray
    tension: np.ndarray


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
        Junction radius of the three walls, mm.
    sigma_act_kpa, sigma_pas_kpa, k_pas : ndarray of shape (n_patches,)
        Active stress scale, passive stress scale (kPa), passive exponent.
    v_rvot_ml : float
        Rigid RV outflow tract volume (part of the blood volume), mL.
    """

    v_wall_ml: np.ndarray
    a_ref_mm2: np.ndarray
    wall: np.ndarray
    y_mm: float
    sigma_act_kpa: np.ndarray
    sigma_pas_kpa: np.ndarray
    k_pas: np.ndarray
    v_rvot_ml: float = 0.0
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
        return cls(
            v_wall_ml=np.asarray(geometry.v_wall_ml, dtype=float),
            a_ref_mm2=a_ref,
            wall=np.asarray(geometry.wall),
            y_mm=y,
            sigma_act_kpa=np.full(n, float(sigma_act_kpa)),
            sigma_pas_kpa=np.full(n, float(sigma_pas_kpa)),
            k_pas=np.full(n, float(k_pas)),
            v_rvot_ml=geometry.v_rvot_ml,
            circuit=CircuitParams() if circuit is None else circuit,
            sarcomere=SarcomereParams() if sarcomere is None else sarcomere,
        )

    def activation(self, t_ms: float, onset_ms: np.ndarray) -> np.ndarray:
        """Twitch of each patch at time `t_ms` of the cycle, shape (n_patches,)."""
        tau = (t_ms - onset_ms) % self.circuit.period_ms
        return twitch(tau, self.sarcomere)

    def stress(self, e: np.ndarray, f_act: np.ndarray) -> tuple:
        """Fibre stress and its stretch derivative of every patch, kPa."""
        return fibre_stress(
            np.exp(e),
            f_act,
            self.sarcomere,
            self.sigma_act_kpa,
            self.sigma_pas_kpa,
            self.k_pas,
        )

    def ventricles(
        self,
        v_lv_ml: float,
        v_rv_ml: float,
        f_act: np.ndarray,
        guess: tuple[np.ndarray, float] | None = None,
    ) -> WallState:
        """Ventricular pressures for cavity volumes and patch activations.

        Parameters
        ----------
        v_lv_ml, v_rv_ml : float
            LV and RV sinus cavity volumes, mL.
        f_act : ndarray of shape (n_patches,)
            Patch activations, from `activation`.
        guess : tuple, optional
            Patch strains and septal cap volume (mm^3) to start Newton from.
        """
        vw = 1000.0 * self.v_wall_ml

        def tension(e):
            sigma, dsigma = self.stress(e, f_act)
            return patch_tension(e, sigma, dsigma, vw, self.a_ref_mm2)

        vm = self._vm(v_lv_ml, v_rv_ml)
        if guess is None:
            guess = (np.full(self.n_patches, np.log(1.1)), 0.0)
        e, v_s, t_w, c = solve_walls(vm, self.y_mm, self.wall, tension, guess)
        p = 2.0 * KPA_TO_MMHG * t_w * c
        sigma, _ = self.stress(e, f_act)
        return WallState(float(p[0]), float(p[2]), e, v_s, sigma, t_w)

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
