"""Three walls around two cavities: spherical caps sharing a junction ring.

The ventricles are three thin walls, the LV free wall (wall 0), the septum
(wall 1) and the RV free wall (wall 2), each a spherical cap over one
junction circle of radius ``y`` (Lumens et al. 2009, Ann Biomed Eng
37:2234, TriSeg). A cap of signed volume ``V`` has height ``x`` solving
``V = pi/6 x (x^2 + 3 y^2)``, midwall area ``A = pi (x^2 + y^2)`` and
curvature ``C = 2 x / (x^2 + y^2)``; ``dA/dV = 2 C``.

Cavity volumes fix the caps up to the septal cap volume ``v_s`` (positive
when the septum bulges into the RV):

    V_lfw = Vm_lv - v_s,   V_sep = v_s,   V_rfw = Vm_rv + v_s

with ``Vm`` the cavity volume plus half of its walls. Each wall is shared by
its patches (Walmsley et al. 2015, PLoS Comput Biol 11:e1004284,
MultiPatch): they carry one tension and their areas add up to the cap's
area. The septum balances both cavity pressures,

    T_lfw C_lfw - T_sep C_sep - T_rfw C_rfw = 0,

and then ``p_lv = 2 T_lfw C_lfw`` and ``p_rv = 2 T_rfw C_rfw``.

Simplification (limits): the junction radius ``y`` is fixed at its
reference value, as if a rigid ring held the three walls; TriSeg solves
for it from the radial force balance. The ring does no work, so energy is
conserved exactly (the patch work adds up to the LV and RV pressure-volume
work), but the walls cannot trade area through the junction, which makes
the septum stiffer to shifts than in TriSeg and the free walls share less
of a septal flash. There is no pericardium.

Examples
--------
>>> import numpy as np
>>> x, a, c = cap_geometry(np.array([0.0]), 10.0)
>>> float(x[0]), round(float(a[0]), 3), float(c[0])
(0.0, 314.159, 0.0)
"""

from __future__ import annotations

import numpy as np

from simulators.errors import ConvergenceError

__all__ = ["N_WALLS", "cap_geometry", "solve_walls"]

#: LV free wall, septum, RV free wall.
N_WALLS = 3


def cap_geometry(
    v_mm3: np.ndarray, y_mm: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height, midwall area and curvature of spherical caps of given volume.

    Parameters
    ----------
    v_mm3 : ndarray of shape (n,)
        Signed cap volumes, mm^3.
    y_mm : float
        Radius of the junction circle, mm.

    Returns
    -------
    x, area, curvature : ndarray of shape (n,)
        Cap height (mm), midwall area (mm^2), curvature (1/mm).
    """
    # Cardano for x^3 + 3 y^2 x - q = 0, one real root, then a Newton polish
    q = 6.0 * v_mm3 / np.pi
    root = np.sqrt(0.25 * q**2 + y_mm**6)
    x = np.cbrt(0.5 * q + root) + np.cbrt(0.5 * q - root)
    x = x - (x**3 + 3.0 * y_mm**2 * x - q) / (3.0 * (x**2 + y_mm**2))
    r2 = x**2 + y_mm**2
    return x, np.pi * r2, 2.0 * x / r2


def _dcurvature_dv(x: np.ndarray, y_mm: float) -> np.ndarray:
    """Derivative of a cap's curvature with respect to its volume, 1/mm^4."""
    r2 = x**2 + y_mm**2
    return 4.0 * (y_mm**2 - x**2) / (np.pi * r2**3)


def solve_walls(
    vm_mm3: np.ndarray,
    y_mm: float,
    wall: np.ndarray,
    tension_fn,
    guess: tuple[np.ndarray, float],
    tol: float = 1e-10,
    max_iter: int = 60,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Patch strains and septal position at equilibrium.

    Newton's method on the patch strains ``e`` (n_patches), the wall
    tensions (3) and the septal cap volume; the linear system is reduced
    by hand to one scalar equation per step (the tensions and strains are
    eliminated wall by wall).

    Parameters
    ----------
    vm_mm3 : ndarray of shape (2,)
        LV and RV midwall volumes (cavity plus half of their walls), mm^3.
    y_mm : float
        Junction radius, mm.
    wall : ndarray of shape (n_patches,)
        Wall of each patch: 0 LV free wall, 1 septum, 2 RV free wall.
    tension_fn : callable
        ``e -> (tension, dtension_de, area)`` of the patches, arrays of
        shape (n_patches,) (see `simulators.circulation.patch`).
    guess : tuple
        Patch strains of shape (n_patches,) and septal cap volume (mm^3)
        to start from.

    Returns
    -------
    e : ndarray of shape (n_patches,)
        Natural fibre strain of each patch.
    v_s : float
        Septal cap volume, mm^3.
    tension, curvature : ndarray of shape (3,)
        Wall tensions (kPa mm) and cap curvatures (1/mm).
    """
    e, v_s = np.array(guess[0], dtype=float), float(guess[1])
    sign = np.array([-1.0, 1.0, 1.0])
    for _ in range(max_iter):
        # wall caps from the cavities and the septal position
        v_cap = np.array([vm_mm3[0], 0.0, vm_mm3[1]]) + sign * v_s
        x, a_cap, c = cap_geometry(v_cap, y_mm)
        t_p, k_p, a_p = tension_fn(e)

        # wall tension: area-weighted patch tensions (Newton's start point)
        da = 2.0 * a_p
        s_w = np.bincount(wall, da / k_p, N_WALLS)
        t_w = np.bincount(wall, da / k_p * t_p, N_WALLS) / s_w
        r = t_p - t_w[wall]
        g = np.bincount(wall, a_p, N_WALLS) - a_cap
        h = t_w[0] * c[0] - t_w[1] * c[1] - t_w[2] * c[2]

        # eliminate strains and tensions: one equation for the septal shift
        b = -g + np.bincount(wall, da * r / k_p, N_WALLS)
        d_area = 2.0 * c * sign
        coef = np.array([c[0], -c[1], -c[2]])
        dc = _dcurvature_dv(x, y_mm) * sign
        big_h = float(np.dot(t_w * np.array([1.0, -1.0, -1.0]), dc))
        dv = (-h - np.dot(coef, b / s_w)) / (big_h + np.dot(coef, d_area / s_w))
        dt = (b + d_area * dv) / s_w
        de = (dt[wall] - r) / k_p

        # damped update: strains move at most 0.05 per step
        scale = min(1.0, 0.05 / max(float(np.abs(de).max()), 1e-300))
        e = e + scale * de
        v_s = v_s + scale * dv
        if scale == 1.0 and np.abs(de).max() < tol and abs(dv) < 1e3 * tol:
            return e, v_s, t_w, c
    raise ConvergenceError(
        f"wall equilibrium did not converge in {max_iter} Newton steps "
        f"(last strain step {np.abs(de).max():.3g}, septal step {dv:.3g} mm^3) "
        f"at midwall volumes {vm_mm3 / 1000.0} mL"
    )
