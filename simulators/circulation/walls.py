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
area. The junction balances the three walls' pulls (`solve_walls`), and
then ``p_lv = 2 T_lfw C_lfw`` and ``p_rv = 2 T_rfw C_rfw``.

The junction radius ``y`` is solved with the septal position from the
junction's axial and radial force balance, as in TriSeg, so the walls
trade area through the junction and the junction does no work: the patch
work adds up to the LV and RV pressure-volume work. Limits: the caps are
spherical and share one axis; there is no pericardium.

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


def _cap_derivatives(x: np.ndarray, y_mm: float) -> tuple:
    """Derivatives of a cap's area, curvature and rim cosine.

    With ``r2 = x^2 + y^2`` and the rim cosine ``cos = (y^2 - x^2) / r2``
    (the radial share of the wall's pull on the junction), at fixed ``y``
    per unit volume and at fixed volume per unit ``y``:

    ``dA/dV = 2C``, ``dA/dy = 2 pi y cos``,
    ``dC/dV = 4 (y^2 - x^2) / (pi r2^3)``, ``dC/dy = -8 x y^3 / r2^3``,
    ``dcos/dV = -8 x y^2 / (pi r2^3)``,
    ``dcos/dy = 4 x^2 y (2 y^2 + r2) / r2^3``.

    Returns
    -------
    da_dy, dc_dv, dc_dy, cos, dcos_dv, dcos_dy : ndarray of shape (n,)
    """
    y2 = y_mm**2
    r2 = x**2 + y2
    r6 = r2**3
    cos = (y2 - x**2) / r2
    return (
        2.0 * np.pi * y_mm * cos,
        4.0 * (y2 - x**2) / (np.pi * r6),
        -8.0 * x * y_mm**3 / r6,
        cos,
        -8.0 * x * y2 / (np.pi * r6),
        4.0 * x**2 * y_mm * (2.0 * y2 + r2) / r6,
    )


def solve_walls(
    vm_mm3: np.ndarray,
    wall: np.ndarray,
    tension_fn,
    guess: tuple[np.ndarray, float, float],
    tol: float = 1e-10,
    max_iter: int = 60,
) -> tuple[np.ndarray, float, float, np.ndarray, np.ndarray]:
    """Patch strains, septal position and junction radius at equilibrium.

    Newton's method on the patch strains ``e`` (n_patches), the wall
    tensions (3), the septal cap volume ``v_s`` and the junction radius
    ``y`` (TriSeg, Lumens et al. 2009): patch tensions equal their wall's,
    patch areas fill their cap, and the junction is in axial and radial
    force balance,

        T_lfw C_lfw - T_sep C_sep - T_rfw C_rfw = 0,
        sum_w T_w (y^2 - x_w^2) / (x_w^2 + y^2) = 0.

    The strains and tensions are eliminated wall by wall, leaving a 2x2
    system in ``(v_s, y)`` per step.

    Parameters
    ----------
    vm_mm3 : ndarray of shape (2,)
        LV and RV midwall volumes (cavity plus half of their walls), mm^3.
    wall : ndarray of shape (n_patches,)
        Wall of each patch: 0 LV free wall, 1 septum, 2 RV free wall.
    tension_fn : callable
        ``e -> (tension, dtension_de, area)`` of the patches, arrays of
        shape (n_patches,) (see `simulators.circulation.patch`).
    guess : tuple
        Patch strains of shape (n_patches,), septal cap volume (mm^3) and
        junction radius (mm) to start from.

    Returns
    -------
    e : ndarray of shape (n_patches,)
        Natural fibre strain of each patch.
    v_s, y : float
        Septal cap volume (mm^3) and junction radius (mm).
    tension, curvature : ndarray of shape (3,)
        Wall tensions (kPa mm) and cap curvatures (1/mm).
    """
    e, v_s, y = np.array(guess[0], dtype=float), float(guess[1]), float(guess[2])
    sign = np.array([-1.0, 1.0, 1.0])
    axial = np.array([1.0, -1.0, -1.0])
    for _ in range(max_iter):
        # wall caps from the cavities, the septal position and the junction
        v_cap = np.array([vm_mm3[0], 0.0, vm_mm3[1]]) + sign * v_s
        x, a_cap, c = cap_geometry(v_cap, y)
        da_dy, dc_dv, dc_dy, cos, dcos_dv, dcos_dy = _cap_derivatives(x, y)
        t_p, k_p, a_p = tension_fn(e)

        # wall tension: area-weighted patch tensions (Newton's start point)
        da = 2.0 * a_p
        s_w = np.bincount(wall, da / k_p, N_WALLS)
        t_w = np.bincount(wall, da / k_p * t_p, N_WALLS) / s_w
        r = t_p - t_w[wall]
        g = np.bincount(wall, a_p, N_WALLS) - a_cap
        b = (-g + np.bincount(wall, da * r / k_p, N_WALLS)) / s_w

        # tension steps dt = b + dt_dv dv + dt_dy dy; two balances in (dv, dy)
        dt_dv, dt_dy = 2.0 * c * sign / s_w, da_dy / s_w
        f = np.array([np.dot(axial, t_w * c), np.dot(t_w, cos)])
        jac = np.array(
            [
                [
                    np.dot(axial, dt_dv * c + t_w * dc_dv * sign),
                    np.dot(axial, dt_dy * c + t_w * dc_dy),
                ],
                [
                    np.dot(dt_dv, cos) + np.dot(t_w, dcos_dv * sign),
                    np.dot(dt_dy, cos) + np.dot(t_w, dcos_dy),
                ],
            ]
        )
        rhs = -f - np.array([np.dot(axial, b * c), np.dot(b, cos)])
        dv, dy = np.linalg.solve(jac, rhs)
        dt = b + dt_dv * dv + dt_dy * dy
        de = (dt[wall] - r) / k_p

        # damped update: strains move at most 0.05, y at most 10 % per step
        big = max(float(np.abs(de).max()), 0.5 * abs(dy) / y, 1e-300)
        scale = min(1.0, 0.05 / big)
        e, v_s, y = e + scale * de, v_s + scale * dv, y + scale * dy
        if scale == 1.0 and np.abs(de).max() < tol and abs(dv) < 1e3 * tol:
            return e, v_s, y, t_w, c
    raise ConvergenceError(
        f"wall equilibrium did not converge in {max_iter} Newton steps "
        f"(last strain step {np.abs(de).max():.3g}, septal step {dv:.3g} mm^3, "
        f"junction step {dy:.3g} mm) at midwall volumes {vm_mm3 / 1000.0} mL"
    )
