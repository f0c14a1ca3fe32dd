"""Adaptation (remodelling) of the patches to their load, CircAdapt-style.

After each steady-state beat every patch compares its sensed load with
the set-points of the calibrated healthy heart (Arts et al. 2005, Am J
Physiol 288:H1943; Walmsley et al. 2015, PLoS Comput Biol 11:e1004284):

- wall volume follows the peak fibre stress ``S`` of the beat: overloaded
  tissue thickens, unloaded tissue thins, ``dV / V = clip(gain (S / S_set
  - 1))``. Stress is self-limiting (a thicker wall carries the same
  tension at a lower stress); myofibre work is not (an early-activated
  septum under LBBB does almost no work however thin it gets), so work
  is reported, not sensed;
- reference area follows the maximal fibre strain ``e_max`` (the
  end-diastolic stretch, borne by the extracellular matrix): overstretched
  tissue grows in area (dilates), ``dA / A = clip(gain (exp(2 (e_max -
  e_set)) - 1))``, the factor that would bring the strain back;
- passive stiffness follows the wall volume at half its rate
  (``d sigma_pas / sigma_pas = dV / (2 V)``): hypertrophy brings fibrosis,
  thinning softens the wall. This coupling is our modelling choice.

Each change is clipped at ``max_step`` (10 %). One adaptation step stands
for about one to two weeks of remodelling: with gain 0.15 a sustained 30 %
overload settles within 10-20 steps, the 3-6 months over which LV
reverse remodelling under CRT is measured. Adaptation stops when no patch
changes by more than ``tol`` in a step, or after ``max_steps`` steps (the
clinical horizon: 16 steps is about six months); the result says which.
The circulation (blood volume, resistances) does not adapt.

Examples
--------
>>> import numpy as np
>>> step = adaptation_step(
...     np.array([2.0, 1.0]), np.array([0.2, 0.1]),
...     SetPoints(np.array([1.0, 1.0]), np.array([0.1, 0.1])),
... )
>>> [round(float(v), 3) for v in step[0]]
[1.1, 1.0]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from simulators.circulation.beats import Beat, simulate
from simulators.circulation.heart import HeartModel
from simulators.circulation.metrics import Haemodynamics, haemodynamics
from simulators.errors import ParameterError

logger = logging.getLogger(__name__)

#: Echo responder: LV end-systolic volume falls by at least 15 %.
RESPONDER_LVESV_PCT = -15.0

__all__ = [
    "Adapted",
    "CRTResponse",
    "SetPoints",
    "adapt",
    "adapt_to_lbbb",
    "adaptation_step",
    "crt_response",
    "sensed",
    "set_points",
]


@dataclass(frozen=True)
class SetPoints:
    """Healthy loads of each patch.

    Attributes
    ----------
    stress_kpa : ndarray of shape (n_patches,)
        Peak fibre stress of a healthy beat, kPa (> 0).
    e_max : ndarray of shape (n_patches,)
        Maximal natural fibre strain of a healthy beat, 1.
    """

    stress_kpa: np.ndarray
    e_max: np.ndarray

    def __post_init__(self) -> None:
        bad = np.flatnonzero(~(np.asarray(self.stress_kpa) > 0))
        if bad.size:
            raise ParameterError(
                f"set-point stress must be > 0 kPa; patches {bad.tolist()} "
                f"have {np.asarray(self.stress_kpa)[bad]}"
            )


@dataclass(frozen=True)
class Adapted:
    """A heart adapted to its load, and its last steady-state beat."""

    model: HeartModel
    beat: Beat
    n_steps: int
    converged: bool
    max_change: float
    target: SetPoints | None = None


def set_points(beat: Beat) -> SetPoints:
    """Set-points from a healthy steady-state beat (`simulate`)."""
    return SetPoints(*sensed(beat))


def sensed(beat: Beat) -> tuple[np.ndarray, np.ndarray]:
    """Peak fibre stress (kPa) and maximal strain of each patch in a beat."""
    return beat.stress_kpa.max(axis=0), beat.strain.max(axis=0)


def adaptation_step(
    stress_kpa: np.ndarray,
    e_max: np.ndarray,
    target: SetPoints,
    gain: float = 0.15,
    max_step: float = 0.10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative factors for wall volume, reference area and stiffness.

    Parameters
    ----------
    stress_kpa, e_max : ndarray of shape (n_patches,)
        Sensed peak fibre stress (kPa) and maximal fibre strain of a beat.
    target : SetPoints
    gain : float
        Fraction of the error corrected per step, 0 to 1.
    max_step : float
        Largest relative change per step.

    Returns
    -------
    f_wall, f_area, f_stiff : ndarray of shape (n_patches,)
        Factors (about 1) for ``v_wall``, ``a_ref`` and ``sigma_pas``.
    """
    d_wall = np.clip(gain * (stress_kpa / target.stress_kpa - 1.0), -max_step, max_step)
    stretch = np.exp(2.0 * (e_max - target.e_max)) - 1.0
    d_area = np.clip(gain * stretch, -max_step, max_step)
    return 1.0 + d_wall, 1.0 + d_area, 1.0 + 0.5 * d_wall


def adapt(
    model: HeartModel,
    onset_ms: np.ndarray,
    target: SetPoints,
    start: Beat | None = None,
    gain: float = 0.15,
    max_step: float = 0.10,
    tol: float = 0.005,
    max_steps: int = 16,
) -> Adapted:
    """Remodel the patches under one activation until they settle.

    Parameters
    ----------
    model : HeartModel
    onset_ms : ndarray of shape (n_patches,)
        Activation onset of each patch, ms.
    target : SetPoints
        Healthy loads (`set_points`).
    start : Beat, optional
        A steady-state beat of ``model`` under ``onset_ms`` to start from;
        each later steady state warm-starts from the one before.
    gain, max_step : float
        See `adaptation_step`.
    tol : float
        Stop when no factor moves by more than this in a step (0.5 %:
        below it the volumes change by less than the 1-2 mL echo
        resolution over the remaining steps).
    max_steps : int
        Steps allowed (each about one to two weeks).
    """
    if not 0.0 < gain <= 1.0 or not 0.0 < max_step <= 0.5:
        raise ParameterError(
            f"gain must lie in (0, 1] and max_step in (0, 0.5]; got {gain}, {max_step}"
        )
    beat = simulate(model, onset_ms) if start is None else start
    change = np.inf
    for step in range(1, max_steps + 1):
        # sense the load, rescale the patches, beat to the new steady state
        f_wall, f_area, f_stiff = adaptation_step(*sensed(beat), target, gain, max_step)
        model = replace(
            model,
            v_wall_ml=model.v_wall_ml * f_wall,
            a_ref_mm2=model.a_ref_mm2 * f_area,
            sigma_pas_kpa=model.sigma_pas_kpa * f_stiff,
        )
        # a small step moves the steady state little: two beats sense it
        # (1 mL tolerance); the final state is beaten to the full tolerance
        beat = simulate(model, onset_ms, beat.end_state, tol_ml=1.0, dt_ms=2.0)
        change = float(np.abs(np.concatenate([f_wall, f_area]) - 1.0).max())
        logger.debug("adaptation step %d: largest change %.3g", step, change)
        if change < tol:
            break
    beat = simulate(model, onset_ms, v_start_ml=beat.end_state)
    logger.info("adapted in %d steps (last change %.3g)", step, change)
    return Adapted(model, beat, step, change < tol, change, target)


@dataclass(frozen=True)
class CRTResponse:
    """Acute and chronic response to CRT against the remodelled LBBB heart.

    ``acute``: ``d_dpdt_max_pct`` (%), ``d_work_diff_pct`` (points of the
    work difference), ``d_ef_points``; ``chronic``: ``d_lvesv_pct`` and
    ``d_lvedv_pct`` (%, negative when the LV shrinks) and ``responder``
    (``d_lvesv_pct <= -15``, the echo criterion). ``beats`` holds the
    three steady-state beats (``lbbb``, ``acute``, ``adapted``) for PV
    loops; ``adapted`` the remodelled CRT heart.
    """

    acute: dict
    chronic: dict
    lbbb: Haemodynamics
    crt_acute: Haemodynamics
    crt_adapted: Haemodynamics
    beats: dict | None = None
    adapted: Adapted | None = None


def crt_response(
    model: HeartModel,
    onsets_lbbb_ms: np.ndarray,
    onsets_crt_ms: np.ndarray,
    onsets_healthy_ms: np.ndarray | None = None,
    lbbb: Adapted | None = None,
    **adapt_kw,
) -> CRTResponse:
    """Baseline LBBB (adapted from healthy), acute CRT and adapted CRT.

    Parameters
    ----------
    model : HeartModel
        The calibrated healthy heart; its set-points come from a beat under
        ``onsets_healthy_ms`` (default: all patches at 0 ms, synchronous).
    onsets_lbbb_ms, onsets_crt_ms : ndarray of shape (n_patches,)
        Patch onsets under LBBB and under CRT, ms.
    lbbb : Adapted, optional
        The heart already adapted to LBBB (reused across lead sites).
    **adapt_kw
        Passed to `adapt`.
    """
    if lbbb is None:
        lbbb = adapt_to_lbbb(model, onsets_lbbb_ms, onsets_healthy_ms, **adapt_kw)
    target = lbbb.target
    acute_beat = simulate(lbbb.model, onsets_crt_ms, lbbb.beat.end_state)
    crt = adapt(lbbb.model, onsets_crt_ms, target, acute_beat, **adapt_kw)
    h0 = haemodynamics(lbbb.beat, lbbb.model)
    h1 = haemodynamics(acute_beat, lbbb.model)
    h2 = haemodynamics(crt.beat, crt.model)
    d_esv = 100.0 * (h2.esv_ml / h0.esv_ml - 1.0)
    acute = {
        "d_dpdt_max_pct": 100.0 * (h1.dpdt_max_mmhg_s / h0.dpdt_max_mmhg_s - 1.0),
        "d_work_diff_pct": h1.work_diff_pct - h0.work_diff_pct,
        "d_ef_points": h1.ef_pct - h0.ef_pct,
    }
    chronic = {
        "d_lvesv_pct": d_esv,
        "d_lvedv_pct": 100.0 * (h2.edv_ml / h0.edv_ml - 1.0),
        "responder": bool(d_esv <= RESPONDER_LVESV_PCT),
    }
    beats = {"lbbb": lbbb.beat, "acute": acute_beat, "adapted": crt.beat}
    return CRTResponse(acute, chronic, h0, h1, h2, beats, crt)


def adapt_to_lbbb(
    model: HeartModel,
    onsets_lbbb_ms: np.ndarray,
    onsets_healthy_ms: np.ndarray | None = None,
    **adapt_kw,
) -> Adapted:
    """The healthy heart remodelled under LBBB; carries its set-points."""
    healthy = (
        np.zeros(model.n_patches) if onsets_healthy_ms is None else onsets_healthy_ms
    )
    beat = simulate(model, healthy)
    target = set_points(beat)
    start = simulate(model, onsets_lbbb_ms, beat.end_state)
    out = adapt(model, onsets_lbbb_ms, target, start, **adapt_kw)
    return replace(out, target=target)
