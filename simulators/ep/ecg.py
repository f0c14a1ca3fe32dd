"""Pseudo-ECG: the 12 standard leads from an activation sequence.

Transmembrane potential from activation times (a smooth upstroke, no
repolarisation, so the leads show the QRS complex only):

    V_m(x, t) = V_rest + A (1 + tanh((t - t_act(x)) / tau)) / 2

and the extracellular potential at electrode x_e in an infinite homogeneous
volume conductor (Gima and Rudy 2002, Circ Res 90:889):

    phi_e(t) = K  int  grad V_m(x, t) . grad_x (1 / |x - x_e|)  dV

with P1 gradients per tetrahedron, so phi_e(t) = L_e . V_m(t) for a lead-field
row L_e computed once per heart. K = sigma_i / (4 pi sigma_e) with
sigma_i / sigma_e = 1 makes phi_e a potential in mV-like units whose shape,
not amplitude, is meaningful.

Electrode placement (assumptions): the body frame is set from the heart's
axes, with the LV long axis (base to apex) pointing left, anterior and
inferior, (0.6, 0.45, -0.65) in (left, anterior, superior), and the septum
facing right-anterior. The chest is an elliptic cylinder of semi-axes 170 mm
(left-right) by 110 mm (antero-posterior) centred 35 mm right of and 40 mm
behind the heart's centre; precordial electrodes sit on it at the 4th (V1,
V2; 15 mm above the centre) and 5th (V3-V6; 10 mm below) intercostal spaces,
at the sternal borders, the midclavicular, anterior and mid-axillary lines;
limb electrodes sit at the shoulders and the left hip, far from the heart.

QRS duration (rule): the QRS runs from the first to the last time that any of
the 12 leads has an absolute slope |d phi / dt| above 5 % of that lead's own
peak slope. Judging each lead against itself keeps a lead near a fast
conducting surface from drowning the slow, late (or early, paced) activation
that other leads see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import fft

from simulators.errors import FieldError
from simulators.mesh.laplace import barycentric_gradients
from simulators.mesh.tetmesh import TetMesh

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
ELECTRODES = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")

#: Long axis (base to apex) and septal normal in (left, anterior, superior).
APEX_DIRECTION_BODY = np.array([0.6, 0.45, -0.65])
SEPTUM_DIRECTION_BODY = np.array([-0.7, 0.7, 0.0])

#: Electrode positions in (left, anterior, superior) mm from the heart centre;
#: precordial anterior coordinates are put on the chest ellipse.
_MIDLINE_MM, _CHEST_CENTRE_A_MM, _CHEST_L_MM, _CHEST_A_MM = -35.0, -40.0, 170.0, 110.0
_PRECORDIAL = {
    "V1": (-25.0, 15.0), "V2": (25.0, 15.0), "V3": (57.0, -10.0),
    "V4": (90.0, -10.0), "V5": (130.0, -10.0), "V6": (165.0, -10.0),
}  # fmt: skip
_LIMBS = {
    "RA": (-250.0, 0.0, 250.0),
    "LA": (180.0, 0.0, 250.0),
    "LL": (80.0, 0.0, -450.0),
}

QRS_THRESHOLD = 0.05


def _lead_matrix() -> np.ndarray:
    """Twelve leads from the nine electrodes, shape (12, 9): Einthoven
    (I-III), Goldberger (aVR, aVL, aVF) and Wilson's precordial leads
    against the central terminal (RA + LA + LL) / 3."""
    col = {name: i for i, name in enumerate(ELECTRODES)}
    rows = {
        "I": {"LA": 1.0, "RA": -1.0},
        "II": {"LL": 1.0, "RA": -1.0},
        "III": {"LL": 1.0, "LA": -1.0},
        "aVR": {"RA": 1.0, "LA": -0.5, "LL": -0.5},
        "aVL": {"LA": 1.0, "RA": -0.5, "LL": -0.5},
        "aVF": {"LL": 1.0, "RA": -0.5, "LA": -0.5},
    }
    for i in range(1, 7):
        rows[f"V{i}"] = {f"V{i}": 1.0, "RA": -1 / 3, "LA": -1 / 3, "LL": -1 / 3}
    matrix = np.zeros((len(rows), len(ELECTRODES)))
    for r, weights in enumerate(rows.values()):
        for name, w in weights.items():
            matrix[r, col[name]] = w
    return matrix


#: The (12, 9) matrix taking electrode potentials to the `LEADS`.
LEAD_MATRIX = _lead_matrix()


@dataclass(frozen=True, eq=False)
class ECG:
    """Twelve-lead pseudo-ECG.

    Attributes
    ----------
    t_ms : ndarray of shape (n_times,)
    leads : dict of str to ndarray of shape (n_times,)
    qrs_ms : float
    qrs_onset_ms, qrs_offset_ms : float
    """

    t_ms: np.ndarray
    leads: dict[str, np.ndarray]
    qrs_ms: float
    qrs_onset_ms: float
    qrs_offset_ms: float


def body_frame(
    apex: np.ndarray, base: np.ndarray, septum: np.ndarray, anterior: np.ndarray
) -> np.ndarray:
    """Rotation from body (left, anterior, superior) to mesh coordinates.

    Parameters
    ----------
    apex, base : ndarray of shape (3,)
        LV apex and base centre, mm.
    septum : ndarray of shape (3,)
        A point on the septum (the septal normal points from the LV long axis
        towards it).
    anterior : ndarray of shape (3,)
        A point on the anterior side (fixes the handedness).

    Returns
    -------
    ndarray of shape (3, 3)
        Columns are the body's left, anterior and superior unit vectors in
        mesh coordinates.
    """
    # the heart's frame in mesh coordinates
    d = (apex - base) / np.linalg.norm(apex - base)
    s = septum - base
    s = s - (s @ d) * d
    s /= np.linalg.norm(s)
    t = np.cross(d, s)
    if (anterior - base) @ t < 0:
        t = -t

    # the same frame in body coordinates
    d_b = APEX_DIRECTION_BODY / np.linalg.norm(APEX_DIRECTION_BODY)
    s_b = SEPTUM_DIRECTION_BODY - (SEPTUM_DIRECTION_BODY @ d_b) * d_b
    s_b /= np.linalg.norm(s_b)
    t_b = np.cross(d_b, s_b)
    if t_b[1] < 0:
        t_b = -t_b
    return np.column_stack([d, s, t]) @ np.column_stack([d_b, s_b, t_b]).T


def electrode_positions(centre: np.ndarray, frame: np.ndarray) -> dict[str, np.ndarray]:
    """The nine electrodes in mesh coordinates, mm (see the module notes)."""
    out = {}
    for name, (left, up) in _PRECORDIAL.items():
        x = (left + 0.0) / _CHEST_L_MM
        ant = _CHEST_CENTRE_A_MM + _CHEST_A_MM * np.sqrt(max(0.0, 1 - x**2))
        out[name] = centre + frame @ np.array([_MIDLINE_MM + left, ant, up])
    for name, body in _LIMBS.items():
        out[name] = centre + frame @ np.asarray(body)
    return out


def lead_field(mesh: TetMesh, electrodes: dict[str, np.ndarray]) -> np.ndarray:
    """Lead-field rows L_e with phi_e = L_e . V_m, shape (n_electrodes, n_points)."""
    vol = np.abs(mesh.signed_volumes())
    grad = barycentric_gradients(mesh.points, mesh.cells)
    centroid = mesh.points[mesh.cells].mean(axis=1)

    rows = []
    for name in ELECTRODES:
        r = centroid - electrodes[name]
        w = -r / np.linalg.norm(r, axis=1, keepdims=True) ** 3
        contrib = vol[:, None] * np.einsum("cki,ci->ck", grad, w) / (4 * np.pi)
        row = np.zeros(mesh.n_points)
        np.add.at(row, mesh.cells.ravel(), contrib.ravel())
        rows.append(row)
    return np.array(rows)


def pseudo_ecg(
    lead_rows: np.ndarray,
    t_act_ms: np.ndarray,
    dt_ms: float = 0.5,
    tau_ms: float = 1.0,
    amplitude_mv: float = 100.0,
) -> ECG:
    """Twelve leads and the QRS duration of one activation map.

    Parameters
    ----------
    lead_rows : ndarray of shape (9, n_points)
        From `lead_field`.
    t_act_ms : ndarray of shape (n_points,)
        Activation times, ms; NaN nodes never depolarise (scar).
    dt_ms, tau_ms : float
        Time step and upstroke time constant, ms.
    amplitude_mv : float
        Action potential amplitude, mV.

    Returns
    -------
    ECG
    """
    t_act, t = _checked_times(lead_rows, t_act_ms, dt_ms)

    # electrode potentials, in chunks of time steps
    act = np.where(np.isfinite(t_act), t_act, np.inf)
    phi = np.empty((len(ELECTRODES), t.size))
    for lo in range(0, t.size, 64):
        tt = t[lo : lo + 64]
        vm = 0.5 * amplitude_mv * (1 + np.tanh((tt[None, :] - act[:, None]) / tau_ms))
        phi[:, lo : lo + 64] = lead_rows @ vm

    return _ecg(phi, t, dt_ms)


def pseudo_ecg_binned(
    lead_rows: np.ndarray,
    t_act_ms: np.ndarray,
    dt_ms: float = 0.5,
    tau_ms: float = 1.0,
    amplitude_mv: float = 100.0,
    pool=None,
) -> ECG:
    """`pseudo_ecg` in O(n_points + n_steps^2) operations, for many maps.

    Every node has the same upstroke shifted to its activation time, so
    ``phi_e = L_e . V_m(t)`` is a convolution in time of the lead-field
    weight arriving per time bin with one upstroke. Each node's weight is
    split linearly between the two bins around its activation time (the
    first moment is kept, so the upstroke moves by less than ``dt_ms^2 /
    tau_ms`` in effect); the QRS duration agrees with `pseudo_ecg` to a
    time step (tested). Same parameters and result as `pseudo_ecg`; a
    Fortran-ordered `lead_rows` (``np.asfortranarray``) reads fastest.
    With `pool` (a `concurrent.futures.Executor`), half of the nodes are
    binned there, beside this thread (the kernel releases the GIL).
    """
    t_act, t = _checked_times(lead_rows, t_act_ms, dt_ms)
    n = t.size

    # each node's weight split between the two time bins around its
    # activation; nodes that never activate carry none
    if pool is None:
        weight = _binned_weights(lead_rows, t_act, t[0], dt_ms, n)
    else:
        h = t_act.size // 2
        other = pool.submit(
            _binned_weights, lead_rows[:, h:], t_act[h:], t[0], dt_ms, n
        )
        weight = _binned_weights(lead_rows[:, :h], t_act[:h], t[0], dt_ms, n)
        weight += other.result()

    # convolution with the upstroke, lags -(n - 1) .. n - 1 steps (by FFT:
    # 1e-12 of the peak from the direct sum)
    lag = np.arange(-(n - 1), n) * dt_ms
    upstroke = 0.5 * amplitude_mv * (1.0 + np.tanh(lag / tau_ms))
    # (scipy.fft directly: importing scipy.signal costs about 1 s per command)
    size = fft.next_fast_len(3 * n - 2, real=True)
    spectrum = fft.rfft(weight, size, axis=1) * fft.rfft(upstroke, size)
    phi = fft.irfft(spectrum, size, axis=1)[:, n - 1 : 2 * n - 1]
    return _ecg(phi, t, dt_ms)


@njit(cache=True, nogil=True)
def _binned_weights(lead_rows, t_act, t0, dt, n):  # pragma: no cover
    """Lead-field weight arriving per time bin, shape (n_electrodes, n).

    Node i at ``u = (t_act[i] - t0) / dt`` adds ``(1 - f)`` of its column
    to bin ``floor(u)`` and ``f = u - floor(u)`` of it to the next bin (if
    any); NaN nodes add nothing.
    """
    n_e = lead_rows.shape[0]
    w = np.zeros((n, n_e))
    for i in range(t_act.size):
        u = (t_act[i] - t0) / dt
        if not np.isfinite(u):
            continue
        j = int(np.floor(u))
        f = min(max(u - j, 0.0), 1.0)
        for e in range(n_e):
            w[j, e] += (1.0 - f) * lead_rows[e, i]
        if j + 1 < n:
            for e in range(n_e):
                w[j + 1, e] += f * lead_rows[e, i]
    return w.T


def _checked_times(
    lead_rows: np.ndarray, t_act_ms: np.ndarray, dt_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Activation times as floats and the ECG's time grid, ms."""
    t_act = np.asarray(t_act_ms, dtype=float)
    if t_act.shape != (lead_rows.shape[1],):
        raise FieldError(
            f"activation times have shape {t_act.shape}, expected "
            f"({lead_rows.shape[1]},)"
        )
    if not np.isfinite(t_act).any():
        raise FieldError("no node is activated: no ECG to compute")
    t0, t1 = np.nanmin(t_act) - 10.0, np.nanmax(t_act) + 20.0
    return t_act, np.arange(t0, t1 + dt_ms, dt_ms)


def _ecg(phi: np.ndarray, t: np.ndarray, dt_ms: float) -> ECG:
    """Twelve leads and QRS from the electrode potentials, (9, n_steps)."""
    leads = LEAD_MATRIX @ phi

    # QRS: while any lead's slope exceeds 5 % of its own peak
    slopes = np.abs(np.gradient(leads, dt_ms, axis=1))
    peak = np.maximum(slopes.max(axis=1, keepdims=True), 1e-300)
    above = np.flatnonzero((slopes > QRS_THRESHOLD * peak).any(axis=0))
    onset, offset = t[above[0]], t[above[-1]]
    return ECG(
        t_ms=t, leads=dict(zip(LEADS, leads, strict=True)),
        qrs_ms=float(offset - onset),
        qrs_onset_ms=float(onset), qrs_offset_ms=float(offset),
    )  # fmt: skip
