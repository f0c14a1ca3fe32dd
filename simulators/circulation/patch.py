"""Sarcomere patches on a one-fibre wall: twitch, fibre stress, wall tension.

A patch is a piece of myocardial wall with one wall volume `v_wall`, one
reference midwall area `a_ref` and one activation onset. Its state is the
natural fibre strain ``e = 0.5 ln(A / a_ref)`` read from its midwall area
`A` (Arts et al. 2005, Am J Physiol 288:H1943: the fibre stretch of a
one-fibre wall follows the square root of the midwall area), so the fibre
stretch is ``lam = exp(e)`` and the sarcomere length ``ls = ls_ref * lam``.

Fibre stress is an active part, a twitch started at the patch's onset and
scaled by the sarcomere length (the Frank-Starling ascending limb), plus a
passive exponential part:

    sigma = sigma_act * f(tau) * g(ls) + sigma_pas * (exp(k_pas (lam - 1)) - 1)

with ``g = (ls - ls_a0) / (ls_ref - ls_a0)`` clipped at 0 and the passive
part continued linearly below ``lam = 1`` (no buckling energy). The patch
pulls on its wall with the membrane tension of the one-fibre relation in
its thin-wall form (Arts 2005; Lumens et al. 2009, Ann Biomed Eng 37:2234):

    T = sigma * v_wall / (2 A)

so that ``T dA = sigma v_wall de``: a patch's stress-strain loop area times
its wall volume is the work it does on the blood. The relation for a whole
spherical ventricle, ``p = sigma / 3 ln(1 + v_wall / v_cav)``, is
`one_fibre_pressure`.

Units: stress and pressure kPa, length mm, area mm^2, volume mm^3, time ms;
tension kPa mm.

Examples
--------
>>> import numpy as np
>>> p = SarcomereParams()
>>> float(twitch(np.array([-5.0]), p)[0])
0.0
>>> sigma, _ = fibre_stress(np.ones(1), np.zeros(1), p, np.ones(1))
>>> float(sigma[0])
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.errors import ParameterError

__all__ = [
    "KPA_TO_MMHG",
    "SarcomereParams",
    "contractile_rate",
    "fibre_stress",
    "one_fibre_pressure",
    "patch_tension",
    "twitch",
]

#: 1 kPa in mmHg.
KPA_TO_MMHG = 7.500617


@dataclass(frozen=True)
class SarcomereParams:
    """Sarcomere constants shared by every patch.

    Parameters
    ----------
    ls_ref_um : float
        Sarcomere length at the reference (zero passive stress) area, um.
    ls_a0_um : float
        Sarcomere length below which no active stress develops, um.
    t_rise_ms, t_decay_ms : float
        Time constants of the twitch's rise and of its decay, ms.
    t_twitch_ms : float
        Time from onset to the middle of the decay, ms.
    ls_se_um : float
        Series elastic element's stretch at isometric active stress, um.
    v_max_um_ms : float
        Unloaded shortening velocity of the contractile element, um/ms.
    """

    ls_ref_um: float = 2.0
    ls_a0_um: float = 1.51
    t_rise_ms: float = 55.0
    t_decay_ms: float = 35.0
    t_twitch_ms: float = 300.0
    ls_se_um: float = 0.04
    v_max_um_ms: float = 0.007

    def __post_init__(self) -> None:
        names = ("ls_ref_um", "ls_a0_um", "t_rise_ms", "t_decay_ms", "ls_se_um")
        for name in names + ("v_max_um_ms",):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ParameterError(f"{name} must be positive, got {value}")
        if not self.ls_a0_um < self.ls_ref_um:
            raise ParameterError(
                f"ls_a0_um ({self.ls_a0_um}) must be below ls_ref_um ({self.ls_ref_um})"
            )
        if not 100.0 <= self.t_twitch_ms <= 600.0:
            raise ParameterError(
                f"t_twitch_ms must lie in [100, 600] ms, got {self.t_twitch_ms}"
            )


def twitch(tau_ms: np.ndarray, params: SarcomereParams) -> np.ndarray:
    """Activation of the contractile element, 0 to about 1.

    ``f = tanh(tau / t_rise)^2 * (1 - tanh((tau - t_twitch) / t_decay)) / 2``
    for ``tau >= 0``, zero before the onset.

    Parameters
    ----------
    tau_ms : ndarray of shape (n,)
        Time since each patch's activation onset, ms.

    Returns
    -------
    ndarray of shape (n,)
    """
    tau = np.maximum(tau_ms, 0.0)
    rise = np.tanh(tau / params.t_rise_ms) ** 2
    decay = 0.5 * (1.0 - np.tanh((tau - params.t_twitch_ms) / params.t_decay_ms))
    return rise * decay


def fibre_stress(
    lam: np.ndarray,
    f_act: np.ndarray,
    params: SarcomereParams,
    sigma_act_kpa: np.ndarray,
    sigma_pas_kpa: np.ndarray | float = 0.0,
    k_pas: np.ndarray | float = 1.0,
    ls_c_um: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fibre stress and its derivative with respect to the fibre stretch.

    With a contractile element of length ``ls_c`` in series with an
    elastic element (Arts et al. 2005; CircAdapt), the active stress is

        sigma_a = sigma_act f g(ls_c) (ls - ls_c) / ls_se

    which equals the isometric ``sigma_act f g(ls)`` when the series
    element sits at ``ls_se`` and falls when the fibre shortens fast
    (`contractile_rate`). Without ``ls_c`` the fibre is isometric.

    Parameters
    ----------
    lam : ndarray of shape (n,)
        Fibre stretch from the reference area, 1.
    f_act : ndarray of shape (n,)
        Twitch activation, from `twitch`.
    sigma_act_kpa, sigma_pas_kpa, k_pas : ndarray of shape (n,) or float
        Active stress scale at ``ls_ref``, passive stress scale (kPa) and
        passive exponent of each patch.
    ls_c_um : ndarray of shape (n,), optional
        Contractile element length, um.

    Returns
    -------
    sigma, dsigma_dlam : ndarray of shape (n,)
        Fibre stress (kPa) and its derivative (kPa).
    """
    # active: twitch times the ascending limb of the length-tension curve
    lam_a0 = params.ls_a0_um / params.ls_ref_um
    slope = sigma_act_kpa * f_act / (1.0 - lam_a0)
    if ls_c_um is None:
        on = lam > lam_a0
        sigma = np.where(on, slope * (lam - lam_a0), 0.0)
        dsigma = np.where(on, slope, 0.0)
    else:
        lam_c = ls_c_um / params.ls_ref_um
        scale = slope * np.maximum(lam_c - lam_a0, 0.0) / params.ls_se_um
        sigma = scale * (params.ls_ref_um * lam - ls_c_um)
        dsigma = scale * params.ls_ref_um

    # passive: exponential in tension, linear in compression (C1 at lam = 1)
    stretch = lam - 1.0
    grow = np.exp(k_pas * np.maximum(stretch, 0.0))
    sigma = sigma + sigma_pas_kpa * np.where(stretch > 0, grow - 1.0, k_pas * stretch)
    dsigma = dsigma + sigma_pas_kpa * k_pas * grow
    return sigma, dsigma


def contractile_rate(
    lam: np.ndarray, ls_c_um: np.ndarray, params: SarcomereParams
) -> np.ndarray:
    """Rate of change of the contractile element length, um/ms.

    ``d ls_c / dt = ((ls - ls_c) / ls_se - 1) v_max`` (Arts et al. 2005):
    a linear force-velocity relation; at rest the element sits ``ls_se``
    below the sarcomere, with time constant ``ls_se / v_max`` (about 6 ms).

    Parameters
    ----------
    lam : ndarray of shape (n,)
        Fibre stretch, 1.
    ls_c_um : ndarray of shape (n,)
        Contractile element length, um.
    """
    ls = params.ls_ref_um * lam
    return ((ls - ls_c_um) / params.ls_se_um - 1.0) * params.v_max_um_ms


def patch_tension(
    e: np.ndarray, sigma_kpa: np.ndarray, dsigma_dlam: np.ndarray, v_wall_mm3, a_ref_mm2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Membrane tension of patches and its derivative in their fibre strain.

    ``T = sigma v_wall / (2 A)`` with ``A = a_ref exp(2 e)``.

    Parameters
    ----------
    e : ndarray of shape (n,)
        Natural fibre strain ``0.5 ln(A / a_ref)``.
    sigma_kpa, dsigma_dlam : ndarray of shape (n,)
        Fibre stress at ``lam = exp(e)`` and its derivative, from
        `fibre_stress`.
    v_wall_mm3, a_ref_mm2 : ndarray of shape (n,)
        Wall volume and reference midwall area of each patch.

    Returns
    -------
    tension, dtension_de : ndarray of shape (n,)
        Tension (kPa mm) and its derivative in ``e``.
    area : ndarray of shape (n,)
        Midwall area ``A`` (mm^2).
    """
    area = a_ref_mm2 * np.exp(2.0 * e)
    half = 0.5 * v_wall_mm3 / area
    lam = np.exp(e)
    return sigma_kpa * half, half * (lam * dsigma_dlam - 2.0 * sigma_kpa), area


def one_fibre_pressure(
    sigma_kpa: np.ndarray, v_cav_ml: np.ndarray, v_wall_ml: np.ndarray
) -> np.ndarray:
    """Cavity pressure of a thick spherical wall from its fibre stress, mmHg.

    ``p = sigma / 3 * ln(1 + v_wall / v_cav)`` (Arts et al. 1991, Am J
    Physiol 261:H1651; Arts 2005). For a thin wall it tends to
    ``sigma v_wall / (3 v_cav)``, the limit `patch_tension` rests on.

    Parameters
    ----------
    sigma_kpa, v_cav_ml, v_wall_ml : ndarray of shape (n,)
        Fibre stress (kPa), cavity and wall volumes (mL).
    """
    return KPA_TO_MMHG * sigma_kpa / 3.0 * np.log1p(v_wall_ml / v_cav_ml)
