"""Places on a heart given by ventricular coordinates, snapped to its nodes.

A lead site or a scar centre is written as a pair (z, phi): the height along
the LV long axis (0 apex, 1 base plane) and the angle about it from the
septum, positive towards the anterior wall, degrees in [-180, 180). These
are `Ventricles.z_long` and `Ventricles.phi_deg`, the coordinates the AHA
segments come from, so a pair means the same place on every heart.

The nearest node is found in the metric

    d^2 = (z - z_i)^2 + (ROTATIONAL_WEIGHT * wrap(phi - phi_i))^2

with angles in radians: a radian of turn weighs as much as
`ROTATIONAL_WEIGHT` of the apex-to-base length, about the LV's radius over
its length.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np

from simulators.ep.ventricles import Ventricles
from simulators.errors import SiteError

#: Apex-to-base lengths per radian of turn in the nearest-node metric.
ROTATIONAL_WEIGHT = 0.45
#: Snapping farther than this (in that metric: a fifth of the apex-to-base
#: length, or about 25 degrees of turn) logs a warning.
SNAP_WARN = 0.2

logger = logging.getLogger(__name__)


def nearest_by_coordinates(
    z: np.ndarray, phi_deg: np.ndarray, nodes: np.ndarray, z0: float, phi0_deg: float
) -> int:
    """Node of `nodes` nearest to (z0, phi0_deg) in the module's metric.

    Parameters
    ----------
    z, phi_deg : ndarray of shape (n_points,)
        Long-axis height (0..1) and angle (degrees) of every node.
    nodes : ndarray of shape (n_nodes,), int
        Candidate node ids (at least one).
    z0, phi0_deg : float
        Target height and angle, degrees.

    Returns
    -------
    int
        Node id.

    Examples
    --------
    >>> z = np.array([0.2, 0.8, 0.8]); phi = np.array([0.0, 170.0, -170.0])
    >>> nearest_by_coordinates(z, phi, np.arange(3), 0.8, -175.0)
    2
    """
    d = coordinate_distance(z[nodes], phi_deg[nodes], z0, phi0_deg)
    return int(nodes[np.argmin(d)])


def coordinate_distance(z, phi_deg, z0: float, phi0_deg: float) -> np.ndarray:
    """Distance from (z0, phi0_deg) in the module's metric (angles wrapped)."""
    dphi = np.deg2rad((np.asarray(phi_deg) - phi0_deg + 180.0) % 360.0 - 180.0)
    return np.hypot(np.asarray(z) - z0, ROTATIONAL_WEIGHT * dphi)


def lv_lead_node(heart: Ventricles, z: float, phi_deg: float) -> int:
    """LV lead candidate (`Ventricles.lv_candidates`) nearest to (z, phi).

    A warning names the node when it lies farther than `SNAP_WARN` in the
    module's metric (the place asked for is off the LV free wall, where the
    candidates lie, e.g. on the septum).
    """
    _check_pair(z, phi_deg)
    node = nearest_by_coordinates(
        heart.z_long, heart.phi_deg, heart.lv_candidates, z, phi_deg
    )
    zn, phin = float(heart.z_long[node]), float(heart.phi_deg[node])
    if coordinate_distance(zn, phin, z, phi_deg) > SNAP_WARN:
        logger.warning(
            "LV lead at height %.2f, angle %.0f deg is off the LV lead candidates "
            "(LV free-wall epicardium); the nearest is node:%d at height %.2f, "
            "angle %.0f deg",
            z, phi_deg, node, zn, phin,
        )  # fmt: skip
    return node


def lv_endo_point(heart: Ventricles, z: float, phi_deg: float) -> np.ndarray:
    """LV endocardial point nearest to (z, phi), mm, shape (3,).

    An ischaemic scar starts at the endocardium, so its centre sits there.
    """
    _check_pair(z, phi_deg)
    endo = heart.mesh.surface_nodes("lv_endo")
    node = nearest_by_coordinates(heart.z_long, heart.phi_deg, endo, z, phi_deg)
    return heart.mesh.points[node].copy()


def check_lv_lead_text(text: str) -> None:
    """Check an LV lead's form (``uvc:Z,PHI`` too) without a heart."""
    from simulators.ep.sites import check_site_text

    kind, _, value = text.strip().partition(":")
    if kind.lower() != "uvc":
        with _uvc_named():
            check_site_text(text, "lv")
        return
    _check_pair(*_uvc(value, text))


def parse_lv_lead(heart: Ventricles, text: str) -> int:
    """An LV lead as `simulators.ep.sites.parse_site` reads it, or ``uvc:Z,PHI``.

    ``uvc:0.7,120`` is the candidate nearest to height 0.7 and angle 120
    degrees from the septum.
    """
    from simulators.ep.sites import parse_site

    kind, _, value = text.strip().partition(":")
    if kind.lower() != "uvc":
        with _uvc_named():
            return parse_site(heart, text, "lv")
    return lv_lead_node(heart, *_uvc(value, text))


@contextmanager
def _uvc_named():
    """A lead of no known form: name ``uvc:`` among the forms twinml reads."""
    from simulators.ep.sites import FORMS

    try:
        yield
    except SiteError as err:
        if not str(err).endswith(FORMS["lv"]):
            raise
        raise SiteError(
            f"{err}, or uvc:Z,PHI_DEG (height 0 apex .. 1 base, degrees from "
            "the septum)"
        ) from None


def _uvc(value: str, text: str) -> tuple[float, float]:
    """Height and angle (degrees) of a ``uvc:Z,PHI_DEG`` lead."""
    from simulators.ep.sites import decimal

    try:
        z, phi = (decimal(v) for v in value.split(","))
    except ValueError:
        raise SiteError(
            f"cannot read LV lead {text[:40]!r}; expected uvc:Z,PHI_DEG such as "
            "uvc:0.7,120 (height 0 apex .. 1 base, degrees from the septum)"
        ) from None
    return z, phi


def _check_pair(z: float, phi_deg: float) -> None:
    if not (np.isfinite(z) and 0.0 <= z <= 1.0):
        raise SiteError(f"height z must lie in [0, 1] (apex .. base), got {z}")
    if not (np.isfinite(phi_deg) and -360.0 <= phi_deg <= 360.0):
        raise SiteError(f"angle phi must lie in [-360, 360] degrees, got {phi_deg}")
