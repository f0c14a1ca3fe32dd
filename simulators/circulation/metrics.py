"""Haemodynamic and regional readouts of a steady-state beat.

Global: LV and RV end-diastolic and end-systolic volumes (the largest and
smallest cavity volume of the beat), ejection fraction, stroke volume,
cardiac output, mean arterial pressure (the beat's mean systemic arterial
pressure) and dP/dtmax (the steepest rise of LV pressure, by central
differences on the beat's samples).

Regional: the myofibre work of each patch, the area of its fibre
stress-strain loop ``W = -closed integral of sigma de`` (kPa = kJ/m^3 =
mJ/mL; positive when the fibre shortens under high stress and lengthens
under low stress, Delhaas et al. 1994, Am J Physiol 266:H1552). Summed
with the patches' wall volumes it equals the LV plus RV pressure-volume
work (`simulators.circulation.walls`). The septal-to-lateral work
difference is lateral minus septal mean work (the septal wall; the basal
and mid lateral free-wall segments 5, 6, 11, 12), as % of the mean LV
work, each mean weighted by the patches' wall volumes (Koopsen et al.
2024, Europace 26:euae029, who report it as the
CRT-response marker). The septal flash indicator is the early systolic
septal shortening: the most negative septal fibre strain (mean over
the septal patches) before aortic valve opening, relative to its end-diastolic value,
in % (Parsai et al. 2009, Eur Heart J 30:940 describe the flash as this
early inward septal motion under LBBB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.circulation.beats import Beat
from simulators.circulation.heart import HeartModel
from simulators.mesh.aha import LATERAL_SEGMENTS

__all__ = ["Haemodynamics", "haemodynamics", "patch_work"]

#: A septal shortening below this before ejection counts as a flash, %.
SEPTAL_FLASH_PCT = 2.0


@dataclass(frozen=True)
class Haemodynamics:
    """Readouts of one beat (volumes mL, pressures mmHg, work kJ/m^3)."""

    edv_ml: float
    esv_ml: float
    ef_pct: float
    sv_ml: float
    co_l_min: float
    map_mmhg: float
    dpdt_max_mmhg_s: float
    rv_edv_ml: float
    rv_esv_ml: float
    rv_ef_pct: float
    work_kj_m3: np.ndarray
    work_septal_kj_m3: float
    work_lateral_kj_m3: float
    work_diff_pct: float
    septal_flash_pct: float
    septal_flash: bool
    n_beats: int

    def summary(self) -> dict[str, float]:
        """Scalar readouts, JSON-ready."""
        out = {k: v for k, v in self.__dict__.items() if np.isscalar(v)}
        return {
            k: (v if isinstance(v, bool | int) else float(v)) for k, v in out.items()
        }


def patch_work(beat: Beat) -> np.ndarray:
    """Fibre work density of each patch over a beat, shape (n_patches,), kJ/m^3.

    ``W = -sum_k (sigma_k + sigma_k+1) / 2 (e_k+1 - e_k)`` over the beat's
    samples (the trapezoidal closed integral; the beat is periodic).
    """
    de = np.diff(beat.strain, axis=0)
    mean_sigma = 0.5 * (beat.stress_kpa[1:] + beat.stress_kpa[:-1])
    return -(mean_sigma * de).sum(axis=0)


def haemodynamics(beat: Beat, model: HeartModel) -> Haemodynamics:
    """Global and regional readouts of a steady-state beat.

    Parameters
    ----------
    beat : Beat
        From `simulators.circulation.beats.simulate`.
    model : HeartModel
        The model that beat (heart rate, walls, segments, wall volumes).
    """
    heart_rate_bpm, wall = model.circuit.heart_rate_bpm, model.wall
    v_lv, v_rv = beat.volumes_ml[:, 0], beat.volumes_ml[:, 1]
    p_lv = beat.pressures_mmhg[:, 0]
    edv, esv = float(v_lv.max()), float(v_lv.min())
    rv_edv, rv_esv = float(v_rv.max()), float(v_rv.min())
    dpdt = np.gradient(p_lv, beat.t_ms) * 1000.0

    # regional work: septal wall, lateral free wall (basal and mid), LV
    work = patch_work(beat)
    lateral_patch = (wall == 0) & np.isin(model.segment, LATERAL_SEGMENTS)
    septal = _mean(work, model.v_wall_ml, wall == 1)
    lateral = _mean(work, model.v_wall_ml, lateral_patch)
    lv_mean = _mean(work, model.v_wall_ml, wall < 2)
    flash = _septal_flash_pct(beat, wall)
    return Haemodynamics(
        edv_ml=edv,
        esv_ml=esv,
        ef_pct=100.0 * (edv - esv) / edv,
        sv_ml=edv - esv,
        co_l_min=(edv - esv) * heart_rate_bpm / 1000.0,
        map_mmhg=float(np.mean(beat.pressures_mmhg[:-1, 4])),
        dpdt_max_mmhg_s=float(dpdt.max()),
        rv_edv_ml=rv_edv,
        rv_esv_ml=rv_esv,
        rv_ef_pct=100.0 * (rv_edv - rv_esv) / rv_edv,
        work_kj_m3=work,
        work_septal_kj_m3=septal,
        work_lateral_kj_m3=lateral,
        work_diff_pct=100.0 * (lateral - septal) / lv_mean,
        septal_flash_pct=flash,
        septal_flash=bool(flash < -SEPTAL_FLASH_PCT),
        n_beats=beat.n_beats,
    )


def _mean(work: np.ndarray, v_wall: np.ndarray, mask: np.ndarray) -> float:
    """Wall-volume-weighted mean work of the patches in `mask`, kJ/m^3."""
    return float(np.dot(work[mask], v_wall[mask]) / v_wall[mask].sum())


def _septal_flash_pct(beat: Beat, wall: np.ndarray) -> float:
    """Most negative septal strain before aortic opening, from end-diastole, %."""
    p = beat.pressures_mmhg
    ejecting = np.flatnonzero(p[:, 0] > p[:, 4])
    opening = int(ejecting[0]) if ejecting.size else len(p) - 1
    e_sep = beat.strain[:, wall == 1].mean(axis=1)
    ed = int(np.argmax(beat.volumes_ml[: opening + 1, 0]))
    return float(100.0 * (e_sep[ed : opening + 1] - e_sep[ed]).min())
