"""Closed-loop circulation: atria, arteries, veins and four valves.

Lumped compartments in series (Regazzoni et al. 2022, J Comput Phys
459:111083, as in its 2020 preprint; Arts et al. 2005 for the CircAdapt
loop): LV -> aortic valve -> systemic arteries -> systemic resistance ->
systemic veins -> venous return resistance -> RA -> tricuspid valve -> RV
-> pulmonary valve -> pulmonary arteries -> pulmonary resistance ->
pulmonary veins -> LA -> mitral valve -> LV. Vessels are linear
compliances ``p = (V - V0) / C``, atria time-varying elastances
``p = (E_min + (E_max - E_min) a(t)) (V - V0)``, valves ideal diodes with a
small forward resistance (no backflow). Every flow leaves one compartment
and enters the next, so the volumes' rates add up to zero and the total
blood volume is conserved by construction.

State order (mL): LV, RV, LA, RA, systemic arteries, systemic veins,
pulmonary arteries, pulmonary veins (`COMPARTMENTS`).

Units: pressures mmHg, volumes mL, time ms inside the kernels;
resistances are given in mmHg s/mL (the clinical unit, named ``_s``).

Examples
--------
>>> import numpy as np
>>> c = CircuitParams()
>>> v = np.array([120.0, 130.0, 60, 60, 800, 3000, 200, 400])
>>> dv = volume_rates(v, 10.0, 5.0, 0.0, c)
>>> abs(float(dv.sum())) < 1e-12
True
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulators.errors import ParameterError

__all__ = [
    "COMPARTMENTS",
    "CircuitParams",
    "atrial_activation",
    "flows",
    "pressures",
    "volume_rates",
]

COMPARTMENTS = ("lv", "rv", "la", "ra", "sa", "sv", "pa", "pv")


@dataclass(frozen=True)
class CircuitParams:
    """Haemodynamic constants of a healthy adult at rest.

    Resistances in mmHg s/mL, compliances in mL/mmHg, elastances in
    mmHg/mL, volumes in mL, times in ms. Values are our healthy
    calibration (70 bpm, 5 L blood), in the ranges of Regazzoni et al.
    2022 and Arts et al. 2005.
    """

    heart_rate_bpm: float = 70.0
    r_sys_s: float = 0.98
    c_sa: float = 1.5
    v0_sa: float = 700.0
    r_ven_s: float = 0.04
    c_sv: float = 60.0
    v0_sv: float = 2850.0
    r_pul_s: float = 0.07
    c_pa: float = 4.0
    v0_pa: float = 120.0
    r_pven_s: float = 0.02
    c_pv: float = 12.0
    v0_pv: float = 250.0
    r_valve_s: float = 0.006
    e_min_la: float = 0.12
    e_max_la: float = 0.30
    e_min_ra: float = 0.08
    e_max_ra: float = 0.20
    v0_atrium: float = 10.0
    pr_ms: float = 160.0
    t_atrium_ms: float = 200.0
    v_blood_ml: float = 5000.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not np.isfinite(value) or value < 0:
                raise ParameterError(f"{f.name} must be >= 0, got {value}")
            if value == 0 and not f.name.startswith("v0"):
                raise ParameterError(f"{f.name} must be > 0, got {value}")
        if not 30.0 <= self.heart_rate_bpm <= 200.0:
            raise ParameterError(
                f"heart_rate_bpm must lie in [30, 200], got {self.heart_rate_bpm}"
            )
        if self.e_max_la < self.e_min_la or self.e_max_ra < self.e_min_ra:
            raise ParameterError("atrial e_max must not be below e_min")
        if self.pr_ms + 0.0 > self.period_ms or self.t_atrium_ms > self.period_ms:
            raise ParameterError(
                f"pr_ms ({self.pr_ms}) and t_atrium_ms ({self.t_atrium_ms}) must "
                f"fit in the cycle of {self.period_ms:.0f} ms"
            )

    @property
    def period_ms(self) -> float:
        """Cardiac cycle length, ms."""
        return 60000.0 / self.heart_rate_bpm


def atrial_activation(t_ms: float, params: CircuitParams) -> float:
    """Atrial activation, 0 to 1: a raised cosine that starts `pr_ms` early.

    ``t_ms`` is time in the cycle from the ventricles' first activation.
    """
    tau = (t_ms + params.pr_ms) % params.period_ms
    if tau >= params.t_atrium_ms:
        return 0.0
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * tau / params.t_atrium_ms))


def pressures(
    v: np.ndarray, p_lv: float, p_rv: float, a_atria: float, c: CircuitParams
) -> np.ndarray:
    """Pressures of the eight compartments (`COMPARTMENTS` order), mmHg.

    Parameters
    ----------
    v : ndarray of shape (8,)
        Volumes, mL; the ventricles' pressures come from the walls.
    p_lv, p_rv : float
        Ventricular pressures, mmHg.
    a_atria : float
        Atrial activation, from `atrial_activation`.
    """
    e_la = c.e_min_la + (c.e_max_la - c.e_min_la) * a_atria
    e_ra = c.e_min_ra + (c.e_max_ra - c.e_min_ra) * a_atria
    return np.array(
        [
            p_lv,
            p_rv,
            e_la * (v[2] - c.v0_atrium),
            e_ra * (v[3] - c.v0_atrium),
            (v[4] - c.v0_sa) / c.c_sa,
            (v[5] - c.v0_sv) / c.c_sv,
            (v[6] - c.v0_pa) / c.c_pa,
            (v[7] - c.v0_pv) / c.c_pv,
        ]
    )


def flows(p: np.ndarray, c: CircuitParams) -> np.ndarray:
    """Flows through the eight links of the loop, mL/ms.

    Order: mitral, aortic, systemic, venous return, tricuspid, pulmonary
    valve, pulmonary, pulmonary venous. Valves pass forward flow only.
    """
    lv, rv, la, ra, sa, sv, pa, pv = p
    valve = 1.0 / (1000.0 * c.r_valve_s)
    return np.array(
        [
            max(la - lv, 0.0) * valve,
            max(lv - sa, 0.0) * valve,
            (sa - sv) / (1000.0 * c.r_sys_s),
            (sv - ra) / (1000.0 * c.r_ven_s),
            max(ra - rv, 0.0) * valve,
            max(rv - pa, 0.0) * valve,
            (pa - pv) / (1000.0 * c.r_pul_s),
            (pv - la) / (1000.0 * c.r_pven_s),
        ]
    )


def volume_rates(
    v: np.ndarray, p_lv: float, p_rv: float, a_atria: float, c: CircuitParams
) -> np.ndarray:
    """Rates of change of the eight volumes, mL/ms; they sum to zero."""
    q = flows(pressures(v, p_lv, p_rv, a_atria, c), c)
    mv, av, sys, ven, tv, pvv, pul, pven = q
    return np.array(
        [
            mv - av,
            tv - pvv,
            pven - mv,
            ven - tv,
            av - sys,
            sys - ven,
            pvv - pul,
            pul - pven,
        ]
    )
