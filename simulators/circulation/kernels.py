"""Numba kernels of the beat loop: the closed loop's right-hand side.

The readable reference of every step lives in `patch` (twitch, fibre
stress, tension), `walls` (caps and their equilibrium) and `circuit`
(atria, vessels, valves); this module compiles the same equations into
one call per time point, because the ODE solver asks for the right-hand
side about 2,000 times a beat and the numpy reference spends 0.28 ms per
call on array overhead for 25 patches (`tests/simulators/
test_circulation_kernels.py` checks the two agree to round-off).

A model is packed once per simulation (`pack`): a float array of patch
columns, the wall index of each patch and a float array of scalars. The
wall solve warm-starts from the previous call's strains, septal volume
and junction radius, kept in the work array ``guess`` (n_patches + 2).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulators.circulation.patch import KPA_TO_MMHG

__all__ = ["pack", "rhs", "wall_state"]

# columns of the patch array
_VW, _AREF, _SACT, _SPAS, _KPAS, _ONSET = range(6)
# scalars: sarcomere, then circuit, then the ventricles' half wall volumes
_SCALARS = (
    "ls_ref_um ls_a0_um t_rise_ms t_decay_ms t_twitch_ms ls_se_um v_max_um_ms "
    "period_ms r_sys_s c_sa v0_sa r_ven_s c_sv v0_sv r_pul_s c_pa v0_pa r_pven_s "
    "c_pv v0_pv r_valve_s e_min_la e_max_la e_min_ra e_max_ra v0_atrium pr_ms "
    "t_atrium_ms half_lv_ml half_rv_ml"
).split()
_S = {name: i for i, name in enumerate(_SCALARS)}


def pack(model, onset_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays of a `HeartModel` and patch onsets for the kernels.

    Returns
    -------
    patches : ndarray of shape (n_patches, 6)
        Wall volume (mm^3), reference area (mm^2), active and passive
        stress scales (kPa), passive exponent, onset (ms).
    wall : ndarray of shape (n_patches,), int64
    scalars : ndarray of shape (len(_SCALARS),)
    """
    patches = np.column_stack(
        [
            1000.0 * np.asarray(model.v_wall_ml, float),
            model.a_ref_mm2,
            model.sigma_act_kpa,
            model.sigma_pas_kpa,
            model.k_pas,
            onset_ms,
        ]
    ).astype(float)
    half = 0.5 * np.bincount(model.wall, model.v_wall_ml, 3)
    values = {f: getattr(model.sarcomere, f) for f in _SCALARS[:7]}
    values |= {f: getattr(model.circuit, f) for f in _SCALARS[7:28]}
    values["half_lv_ml"] = half[0] + half[1]
    values["half_rv_ml"] = half[2] + half[1]
    scalars = np.array([float(values[f]) for f in _SCALARS])
    return patches, np.asarray(model.wall, dtype=np.int64), scalars


@njit(cache=True)
def _twitch(tau, s):
    """`patch.twitch` for one patch."""
    tau = max(tau, 0.0)
    rise = np.tanh(tau / s[2]) ** 2
    return rise * 0.5 * (1.0 - np.tanh((tau - s[4]) / s[3]))


@njit(cache=True)
def _tension(e, f_act, ls_c, pat, s, t_out, k_out, a_out, sig_out):
    """`patch.fibre_stress` (with a contractile element) and `patch_tension`."""
    ls_ref, ls_a0, ls_se = s[0], s[1], s[5]
    lam_a0 = ls_a0 / ls_ref
    for i in range(e.size):
        lam = np.exp(e[i])
        slope = pat[i, _SACT] * f_act[i] / (1.0 - lam_a0)
        scale = slope * max(ls_c[i] / ls_ref - lam_a0, 0.0) / ls_se
        sigma = scale * (ls_ref * lam - ls_c[i])
        dsigma = scale * ls_ref
        stretch = lam - 1.0
        grow = np.exp(pat[i, _KPAS] * max(stretch, 0.0))
        if stretch > 0.0:
            sigma += pat[i, _SPAS] * (grow - 1.0)
        else:
            sigma += pat[i, _SPAS] * pat[i, _KPAS] * stretch
        dsigma += pat[i, _SPAS] * pat[i, _KPAS] * grow
        area = pat[i, _AREF] * np.exp(2.0 * e[i])
        half = 0.5 * pat[i, _VW] / area
        t_out[i] = sigma * half
        k_out[i] = half * (lam * dsigma - 2.0 * sigma)
        a_out[i] = area
        sig_out[i] = sigma


@njit(cache=True)
def _cap(v, y):
    """`walls.cap_geometry` for one cap: height, area, curvature."""
    q = 6.0 * v / np.pi
    root = np.sqrt(0.25 * q * q + y**6)
    x = np.cbrt(0.5 * q + root) + np.cbrt(0.5 * q - root)
    x = x - (x**3 + 3.0 * y * y * x - q) / (3.0 * (x * x + y * y))
    r2 = x * x + y * y
    return x, np.pi * r2, 2.0 * x / r2


@njit(cache=True)
def _solve_walls(vm_lv, vm_rv, f_act, ls_c, pat, wall, s, guess, sig, max_iter):
    """`walls.solve_walls`; updates ``guess`` in place.

    Returns the LV and RV pressures (mmHg) and a convergence flag; the
    fibre stresses land in ``sig``.
    """
    n = wall.size
    e = guess[:n]
    v_s, y = guess[n], guess[n + 1]
    t_p, k_p, a_p = np.empty(n), np.empty(n), np.empty(n)
    sign = np.array([-1.0, 1.0, 1.0])
    axial = np.array([1.0, -1.0, -1.0])
    vm = np.array([vm_lv, 0.0, vm_rv])
    c, cos, t_w = np.empty(3), np.empty(3), np.empty(3)
    dc_dv, dc_dy, da_dy = np.empty(3), np.empty(3), np.empty(3)
    dcos_dv, dcos_dy = np.empty(3), np.empty(3)
    s_w, num, g = np.empty(3), np.empty(3), np.empty(3)
    bsum, b = np.empty(3), np.empty(3)
    for _ in range(max_iter):
        # caps and their derivatives (see walls._cap_derivatives)
        a_cap = np.empty(3)
        for w in range(3):
            x, a_cap[w], c[w] = _cap(vm[w] + sign[w] * v_s, y)
            y2, r2 = y * y, x * x + y * y
            r6 = r2**3
            cos[w] = (y2 - x * x) / r2
            da_dy[w] = 2.0 * np.pi * y * cos[w]
            dc_dv[w] = 4.0 * (y2 - x * x) / (np.pi * r6)
            dc_dy[w] = -8.0 * x * y**3 / r6
            dcos_dv[w] = -8.0 * x * y2 / (np.pi * r6)
            dcos_dy[w] = 4.0 * x * x * y * (2.0 * y2 + r2) / r6
        _tension(e, f_act, ls_c, pat, s, t_p, k_p, a_p, sig)

        # wall tensions and the eliminated strain system
        s_w[:] = 0.0
        num[:] = 0.0
        g[:] = 0.0
        bsum[:] = 0.0
        for i in range(n):
            w = wall[i]
            da = 2.0 * a_p[i]
            s_w[w] += da / k_p[i]
            num[w] += da / k_p[i] * t_p[i]
            g[w] += a_p[i]
        for w in range(3):
            t_w[w] = num[w] / s_w[w]
            g[w] -= a_cap[w]
        for i in range(n):
            w = wall[i]
            bsum[w] += 2.0 * a_p[i] * (t_p[i] - t_w[w]) / k_p[i]
        for w in range(3):
            b[w] = (-g[w] + bsum[w]) / s_w[w]

        # the junction's two balances in (dv, dy)
        f0 = f1 = j00 = j01 = j10 = j11 = r0 = r1 = 0.0
        for w in range(3):
            dt_dv = 2.0 * c[w] * sign[w] / s_w[w]
            dt_dy = da_dy[w] / s_w[w]
            f0 += axial[w] * t_w[w] * c[w]
            f1 += t_w[w] * cos[w]
            j00 += axial[w] * (dt_dv * c[w] + t_w[w] * dc_dv[w] * sign[w])
            j01 += axial[w] * (dt_dy * c[w] + t_w[w] * dc_dy[w])
            j10 += dt_dv * cos[w] + t_w[w] * dcos_dv[w] * sign[w]
            j11 += dt_dy * cos[w] + t_w[w] * dcos_dy[w]
            r0 += axial[w] * b[w] * c[w]
            r1 += b[w] * cos[w]
        det = j00 * j11 - j01 * j10
        dv = ((-f0 - r0) * j11 - j01 * (-f1 - r1)) / det
        dy = (j00 * (-f1 - r1) - j10 * (-f0 - r0)) / det

        # damped update, as in walls.solve_walls
        big = max(0.5 * abs(dy) / y, 1e-300)
        de_max = 0.0
        for i in range(n):
            w = wall[i]
            dt = b[w] + 2.0 * c[w] * sign[w] / s_w[w] * dv + da_dy[w] / s_w[w] * dy
            k_p[i] = (dt - (t_p[i] - t_w[w])) / k_p[i]  # reuse as the strain step
            de_max = max(de_max, abs(k_p[i]))
        big = max(big, de_max)
        scale = min(1.0, 0.05 / big)
        for i in range(n):
            e[i] += scale * k_p[i]
        v_s += scale * dv
        y += scale * dy
        guess[n], guess[n + 1] = v_s, y
        if scale == 1.0 and de_max < 1e-10 and abs(dv) < 1e-7:
            _tension(e, f_act, ls_c, pat, s, t_p, k_p, a_p, sig)
            to_p = 2.0 * KPA_TO_MMHG
            return to_p * t_w[0] * c[0], to_p * t_w[2] * c[2], True
    return np.nan, np.nan, False


@njit(cache=True)
def wall_state(t, y, pat, wall, s, guess, sig):
    """Ventricular pressures at time ``t`` (ms) and state ``y``.

    Returns ``(p_lv, p_rv, ok)``; strains and the septal position are in
    ``guess``, the fibre stresses in ``sig``.
    """
    n = wall.size
    f_act = np.empty(n)
    for i in range(n):
        f_act[i] = _twitch((t - pat[i, _ONSET]) % s[7], s)
    vm_lv = 1000.0 * (y[0] + s[28])
    vm_rv = 1000.0 * (y[1] + s[29])
    return _solve_walls(vm_lv, vm_rv, f_act, y[8:], pat, wall, s, guess, sig, 60)


@njit(cache=True)
def _atrium(t, s):
    """`circuit.atrial_activation`."""
    tau = (t + s[26]) % s[7]
    if tau >= s[27]:
        return 0.0
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * tau / s[27]))


@njit(cache=True)
def pressures(v, p_lv, p_rv, a, s, out):
    """`circuit.pressures` into ``out`` (8,)."""
    out[0], out[1] = p_lv, p_rv
    out[2] = (s[21] + (s[22] - s[21]) * a) * (v[2] - s[25])
    out[3] = (s[23] + (s[24] - s[23]) * a) * (v[3] - s[25])
    out[4] = (v[4] - s[10]) / s[9]
    out[5] = (v[5] - s[13]) / s[12]
    out[6] = (v[6] - s[16]) / s[15]
    out[7] = (v[7] - s[19]) / s[18]


@njit(cache=True)
def rhs(t, y, pat, wall, s, guess):
    """Rates of the volumes (mL/ms) and contractile element lengths (um/ms).

    Raises nothing: a failed wall solve returns NaN rates, which stop the
    ODE solver (`beats` turns that into a `ConvergenceError`).
    """
    n = wall.size
    sig = np.empty(n)
    p_lv, p_rv, ok = wall_state(t, y, pat, wall, s, guess, sig)
    out = np.empty(8 + n)
    if not ok:
        out[:] = np.nan
        return out
    p = np.empty(8)
    pressures(y, p_lv, p_rv, _atrium(t, s), s, p)

    # flows (mL/ms); valves pass forward flow only
    valve = 1.0 / (1000.0 * s[20])
    mv = max(p[2] - p[0], 0.0) * valve
    av = max(p[0] - p[4], 0.0) * valve
    sys = (p[4] - p[5]) / (1000.0 * s[8])
    ven = (p[5] - p[3]) / (1000.0 * s[11])
    tv = max(p[3] - p[1], 0.0) * valve
    pvv = max(p[1] - p[6], 0.0) * valve
    pul = (p[6] - p[7]) / (1000.0 * s[14])
    pven = (p[7] - p[2]) / (1000.0 * s[17])
    out[0], out[1], out[2], out[3] = mv - av, tv - pvv, pven - mv, ven - tv
    out[4], out[5], out[6], out[7] = av - sys, sys - ven, pvv - pul, pul - pven

    # contractile elements (patch.contractile_rate)
    for i in range(n):
        ls = s[0] * np.exp(guess[i])
        out[8 + i] = ((ls - y[8 + i]) / s[5] - 1.0) * s[6]
    return out
