"""AHA 17-segment labels of the left ventricle.

Cerqueira et al. 2002, Circulation 105:539: the LV is cut into basal, mid and
apical thirds along its long axis plus an apical cap (segment 17). Basal
(1-6) and mid (7-12) rings hold six 60° segments: anterior, anteroseptal,
inferoseptal, inferior, inferolateral, anterolateral; the apical ring (13-16)
holds four 90° segments: anterior, septal, inferior, lateral.

Here the circumferential angle phi (degrees) is measured around the LV long
axis from the centre of the septum, positive towards the anterior wall, so
the septum spans -60..60, the anterior wall is near +90 and the lateral wall
near ±180.
"""

from __future__ import annotations

import numpy as np

from simulators.errors import FieldError

#: Segments an LV pacing lead may take: basal and mid, no septum, no apex.
LV_LEAD_SEGMENTS = (1, 4, 5, 6, 7, 10, 11, 12)

#: Segments of the septum and of the lateral wall (basal and mid).
SEPTAL_SEGMENTS = (2, 3, 8, 9)
LATERAL_SEGMENTS = (5, 6, 11, 12)

#: Apicobasal limits (0 apex, 1 base) of the apical cap and the three rings.
APEX_CAP_MAX = 0.1
APICAL_MAX = 0.4
MID_MAX = 0.7


def aha_segments(apicobasal: np.ndarray, phi_deg: np.ndarray) -> np.ndarray:
    """AHA segment (1..17) from apicobasal position and septum-relative angle.

    Parameters
    ----------
    apicobasal : ndarray of shape (n,)
        0 at the apex, 1 at the base.
    phi_deg : ndarray of shape (n,)
        Angle around the long axis from the septum centre, positive towards
        the anterior wall, degrees.

    Returns
    -------
    ndarray of shape (n,), int
        Segment numbers 1..17.

    Examples
    --------
    >>> aha_segments(np.array([0.9, 0.5, 0.2, 0.0]), np.array([90, -150, 0, 5]))
    array([ 1, 11, 14, 17])
    """
    ab = np.asarray(apicobasal, dtype=float)
    phi = (np.asarray(phi_deg, dtype=float) + 180.0) % 360.0 - 180.0
    if ab.shape != phi.shape:
        raise FieldError(f"apicobasal {ab.shape} and phi {phi.shape} differ in shape")

    # six 60° sectors, starting from the anteroseptal one at phi in [0, 60)
    sector6 = np.floor(phi / 60.0).astype(int) % 6
    ring6 = np.array([2, 1, 6, 5, 4, 3])[sector6]

    # four 90° sectors centred on septum, anterior, lateral, inferior
    sector4 = np.floor((phi + 45.0) / 90.0).astype(int) % 4
    ring4 = np.array([14, 13, 16, 15])[sector4]

    seg = np.where(ab >= MID_MAX, ring6, ring6 + 6)
    seg = np.where(ab < APICAL_MAX, ring4, seg)
    return np.where(ab < APEX_CAP_MAX, 17, seg)


def long_axis_coordinates(
    points: np.ndarray,
    apex: np.ndarray,
    base: np.ndarray,
    septum: np.ndarray,
    anterior: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Long-axis height and septum-relative angle of every point.

    Parameters
    ----------
    points : ndarray of shape (n, 3)
        Coordinates, mm.
    apex, base : ndarray of shape (3,)
        LV epicardial apex and the centre of the LV base (mitral annulus), mm.
    septum : ndarray of shape (3,)
        A point on the septum's centre (for example the septal centroid).
    anterior : ndarray of shape (3,)
        A point known to lie anteriorly (for example the pulmonary valve).

    Returns
    -------
    z : ndarray of shape (n,)
        Height along the apex-to-base axis, 0 at the apex, 1 at the base
        plane, clipped to [0, 1].
    phi_deg : ndarray of shape (n,)
        Angle around the axis from the septum, positive towards `anterior`,
        degrees in [-180, 180).

    Examples
    --------
    >>> pts = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5], [-1.0, 0.0, 0.5]])
    >>> z, phi = long_axis_coordinates(
    ...     pts, np.zeros(3), np.array([0, 0, 1.0]), np.array([1.0, 0, 0]),
    ...     np.array([0, 1.0, 1.0]))
    >>> z.tolist(), phi.round().tolist()
    ([0.5, 0.5, 0.5], [90.0, 0.0, -180.0])
    """
    axis = np.asarray(base, float) - np.asarray(apex, float)
    length = np.linalg.norm(axis)
    if length == 0:
        raise FieldError("apex and base coincide: no long axis")
    axis = axis / length
    z = np.clip((points - apex) @ axis / length, 0.0, 1.0)

    # in-plane frame: e1 towards the septum, e2 towards the anterior side
    def in_plane(p: np.ndarray) -> np.ndarray:
        r = np.asarray(p, float) - apex
        return r - np.outer(r @ axis, axis).reshape(r.shape)

    e1 = in_plane(septum)
    e1 = e1 / np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    if in_plane(anterior) @ e2 < 0:
        e2 = -e2
    r = in_plane(points)
    phi = np.rad2deg(np.arctan2(r @ e2, r @ e1))
    return z, (phi + 180.0) % 360.0 - 180.0
