"""Beat after beat to a periodic steady state, and the record of the last beat.

`simulate` integrates the closed loop (`HeartModel` ventricles plus
`simulators.circulation.circuit`) one cardiac cycle at a time with
`scipy.integrate.solve_ivp` (LSODA: the valves' small resistances make the
loop stiff during ejection and filling, the rest of the cycle is not).
The loop stops when the start-of-beat volumes of every compartment change
by less than `tol_ml` from one beat to the next, and records that beat at
`dt_ms` spacing: volumes, pressures, patch strains and stresses.

Time in a cycle runs from the ventricles' first activation (the QRS
onset), so patch onsets are activation times, ms.

Examples
--------
A healthy synchronous beat (needs a heart's geometry; see the tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from simulators.circulation import kernels
from simulators.circulation.circuit import (
    COMPARTMENTS,
    atrial_activation,
    pressures,
)
from simulators.circulation.heart import HeartModel
from simulators.errors import ConvergenceError, ParameterError

logger = logging.getLogger(__name__)

__all__ = ["Beat", "initial_volumes", "simulate"]


@dataclass(frozen=True)
class Beat:
    """One cardiac cycle at the periodic steady state.

    Attributes
    ----------
    t_ms : ndarray of shape (n_t,)
        Time in the cycle, from 0 to the period inclusive.
    volumes_ml : ndarray of shape (n_t, 8)
        Compartment volumes (`COMPARTMENTS` order), mL.
    pressures_mmhg : ndarray of shape (n_t, 8)
        Compartment pressures, mmHg.
    strain : ndarray of shape (n_t, n_patches)
        Natural fibre strain of each patch.
    stress_kpa : ndarray of shape (n_t, n_patches)
        Fibre stress of each patch, kPa.
    v_septum_ml : ndarray of shape (n_t,)
        Septal cap volume (positive: bulging into the RV), mL.
    n_beats : int
        Beats integrated until the steady state (the recorded one included).
    residual_ml : float
        Last beat-to-beat change of the start-of-beat volumes, mL.
    onset_ms : ndarray of shape (n_patches,)
        Activation onset of each patch, ms.
    v_rvot_ml : float
        Rigid RV outflow tract volume, mL.
    ls_c_um : ndarray of shape (n_t, n_patches)
        Contractile element length of each patch, um.
    """

    t_ms: np.ndarray
    volumes_ml: np.ndarray
    pressures_mmhg: np.ndarray
    strain: np.ndarray
    stress_kpa: np.ndarray
    v_septum_ml: np.ndarray
    n_beats: int
    residual_ml: float
    onset_ms: np.ndarray
    v_rvot_ml: float = 0.0
    ls_c_um: np.ndarray | None = None

    @property
    def end_state(self) -> np.ndarray:
        """State at the end of the beat (volumes, then element lengths)."""
        return np.concatenate([self.volumes_ml[-1], self.ls_c_um[-1]])

    def blood_volume_ml(self) -> np.ndarray:
        """Total blood volume at each sample, shape (n_t,), mL."""
        return self.volumes_ml.sum(axis=1) + self.v_rvot_ml


def initial_volumes(model: HeartModel) -> np.ndarray:
    """A start state near a healthy steady state, shape (8,), mL.

    Vessels start at typical mean pressures; the systemic veins take the
    rest of the blood volume.
    """
    c = model.circuit
    v = np.array(
        [
            120.0,
            130.0,
            c.v0_atrium + 8.0 / c.e_min_la,
            c.v0_atrium + 4.0 / c.e_min_ra,
            c.v0_sa + 90.0 * c.c_sa,
            0.0,
            c.v0_pa + 15.0 * c.c_pa,
            c.v0_pv + 9.0 * c.c_pv,
        ]
    )
    v[5] = c.v_blood_ml - model.v_rvot_ml - v.sum()
    if v[5] <= c.v0_sv:
        raise ParameterError(
            f"v_blood_ml ({c.v_blood_ml}) leaves {v[5]:.0f} mL for the systemic "
            f"veins, below their unstressed volume v0_sv ({c.v0_sv} mL)"
        )
    return v


def _check_onsets(model: HeartModel, onset_ms: np.ndarray) -> np.ndarray:
    onset = np.asarray(onset_ms, dtype=float)
    period = model.circuit.period_ms
    if onset.shape != (model.n_patches,):
        raise ParameterError(
            f"onset_ms must have shape ({model.n_patches},), got {onset.shape}"
        )
    bad = np.flatnonzero(~((onset >= 0) & (onset < period)))
    if bad.size:
        raise ParameterError(
            f"onset_ms must lie in [0, {period:.0f}) ms (the cycle); patches "
            f"{bad.tolist()} have {onset[bad]}"
        )
    return onset


def simulate(
    model: HeartModel,
    onset_ms: np.ndarray,
    v_start_ml: np.ndarray | None = None,
    tol_ml: float = 0.05,
    max_beats: int = 60,
    dt_ms: float = 1.0,
) -> Beat:
    """Beat the heart to its periodic steady state and record the last beat.

    Parameters
    ----------
    model : HeartModel
    onset_ms : ndarray of shape (n_patches,)
        Activation onset of each patch, in [0, period) ms.
    v_start_ml : ndarray of shape (8,) or (8 + n_patches,), optional
        Start volumes, optionally followed by the contractile element
        lengths (um; `Beat.end_state` warm-starts from a previous beat);
        defaults to `initial_volumes`.
    tol_ml : float
        Steady state: no start-of-beat volume changes more than this, mL.
    max_beats : int
        Beats allowed before `ConvergenceError`.
    dt_ms : float
        Sampling step of the recorded beat, ms.

    Returns
    -------
    Beat

    Raises
    ------
    ConvergenceError
        When `max_beats` beats do not reach the steady state; the message
        gives the beat count and the last residual.
    """
    onset = _check_onsets(model, onset_ms)
    period = model.circuit.period_ms
    v = _start_state(model, v_start_ml)
    kernel = _Kernel(model, onset, v)
    rhs = kernel.rhs

    # beat loop: stop when the start-of-beat state repeats
    residual, step = np.inf, None
    for beat in range(1, max_beats + 1):
        sol = _one_beat(rhs, v, period, None, rtol=1e-6)
        new_step = sol.y[:8, -1] - v[:8]
        residual = float(np.abs(new_step).max())
        jump = _extrapolation(step, new_step)
        v = sol.y[:, -1].copy()
        v[:8] += jump
        step = None if jump.any() else new_step
        logger.debug("beat %d: residual %.3g mL", beat, residual)
        if residual < tol_ml:
            break
    else:
        raise ConvergenceError(
            f"no periodic steady state after {max_beats} beats: start-of-beat "
            f"volumes still change by {residual:.3g} mL per beat (tolerance "
            f"{tol_ml} mL)"
        )
    logger.debug("steady state after %d beats (%.3g mL)", beat, residual)

    # record one more beat from the periodic state
    t = np.linspace(0.0, period, int(round(period / dt_ms)) + 1)
    sol = _one_beat(rhs, v, period, t)
    return _record(model, kernel, onset, t, sol.y.T, beat + 1, residual)


def _start_state(model: HeartModel, v_start_ml: np.ndarray | None) -> np.ndarray:
    """Volumes and contractile element lengths to start the beat loop from."""
    n = model.n_patches
    v = initial_volumes(model) if v_start_ml is None else np.array(v_start_ml, float)
    if v.shape not in ((8,), (8 + n,)) or (v <= 0).any():
        raise ParameterError(
            f"v_start_ml must be 8 positive volumes, optionally followed by "
            f"{n} element lengths; got shape {v.shape}"
        )
    if v.shape == (8,):
        s = model.sarcomere
        ls_c = np.full(n, s.ls_ref_um * 1.1 - s.ls_se_um)
        v = np.concatenate([v, ls_c])
    return v


def _extrapolation(previous: np.ndarray | None, step: np.ndarray) -> np.ndarray:
    """Jump to the limit of a geometric sequence of beat-to-beat steps.

    When two successive steps point the same way (cosine above 0.99) and
    shrink by a ratio ``rho`` below 0.95, the remaining steps sum to
    ``step rho / (1 - rho)`` (Aitken's extrapolation along the slow mode,
    the filling of the systemic veins). Steps sum to zero over the
    compartments, so the jump keeps the blood volume. Returns zeros when
    the sequence is not (yet) geometric.
    """
    if previous is None:
        return np.zeros_like(step)
    norm = np.linalg.norm(previous) * np.linalg.norm(step)
    if norm == 0 or np.dot(previous, step) / norm < 0.99:
        return np.zeros_like(step)
    rho = np.linalg.norm(step) / np.linalg.norm(previous)
    if rho >= 0.95:
        return np.zeros_like(step)
    return step * rho / (1.0 - rho)


def _one_beat(rhs, v: np.ndarray, period: float, t_eval: np.ndarray | None, rtol=1e-8):
    """Integrate one cycle from volumes `v`; raise when the solver fails."""
    sol = solve_ivp(
        rhs, (0.0, period), v, method="LSODA", t_eval=t_eval, rtol=rtol,
        atol=10 * rtol, max_step=10.0,
    )  # fmt: skip
    empty = np.flatnonzero((sol.y[:8] <= 0).any(axis=1))
    if empty.size:
        names = [COMPARTMENTS[k] for k in empty]
        raise ConvergenceError(
            f"compartments {names} emptied during a beat (volume <= 0 mL): the "
            "heart or circulation left the physiological range; check the patch "
            "and circuit parameters"
        )
    if not sol.success:
        raise ConvergenceError(
            f"integration of a beat stopped at t = {sol.t[-1]:.1f} of "
            f"{period:.1f} ms: {sol.message}"
        )

    # the solver may step through NaN rates and still report success
    bad = ~np.isfinite(sol.y).all(axis=0)
    if bad.any():
        raise ConvergenceError(
            f"a beat's state became non-finite (NaN or inf) by t = "
            f"{sol.t[np.argmax(bad)]:.1f} of {period:.1f} ms: the wall "
            "equilibrium did not converge and gave NaN rates; the heart rate, "
            "conduction velocity or patch parameters leave the model's range "
            "(a lower heart rate or faster conduction may bring it back)"
        )
    return sol


class _Kernel:
    """The compiled right-hand side of one model under one set of onsets.

    The wall solve warm-starts from the previous call; the first guess
    comes from a cold solve of the reference (`HeartModel.ventricles`).
    """

    def __init__(self, model: HeartModel, onset: np.ndarray, v: np.ndarray):
        self.pat, self.wall, self.s = kernels.pack(model, onset)
        f_act = model.activation(0.0, onset)
        cold = model.ventricles(v[0], v[1], f_act, v[8:])
        self.guess = np.concatenate([cold.e, [cold.v_s_mm3, cold.y_mm]])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return kernels.rhs(t, y, self.pat, self.wall, self.s, self.guess)


def _record(model, kernel, onset, t, states, n_beats, residual) -> Beat:
    """Pressures, strains and stresses along a beat's samples."""
    n_t, n = len(t), model.n_patches
    p = np.empty((n_t, 8))
    strain, stress, v_s = np.empty((n_t, n)), np.empty((n_t, n)), np.empty(n_t)
    ls_c = states[:, 8:]
    args = (kernel.pat, kernel.wall, kernel.s, kernel.guess)
    for i in range(n_t):
        p_lv, p_rv, ok = kernels.wall_state(t[i], states[i], *args, stress[i])
        if not ok:
            raise ConvergenceError(
                f"wall equilibrium failed at t = {t[i]:.1f} ms of the recorded beat"
            )
        a = atrial_activation(t[i], model.circuit)
        p[i] = pressures(states[i, :8], p_lv, p_rv, a, model.circuit)
        strain[i], v_s[i] = kernel.guess[:n], kernel.guess[n] / 1000.0
    return Beat(
        t, states[:, :8], p, strain, stress, v_s, n_beats, residual, onset,
        model.v_rvot_ml, ls_c,
    )  # fmt: skip
