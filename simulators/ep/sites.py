"""Lead sites written as text, resolved to node ids of the stored mesh.

Forms:

- ``node:ID``: a node of the mesh as stored by twinml;
- ``aha:N``: the epicardial node nearest the centroid of LV segment N (an
  LV lead takes segments 1, 4, 5, 6, 7, 10, 11, 12);
- ``xyz:X,Y,Z``: a point in mm, snapped to the nearest epicardial node and
  refused beyond `SNAP_LIMIT_MM`;
- ``rv-apex`` / ``rv-septum``: the RV endocardial apex, or the mid-septal
  RV endocardium.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from simulators.errors import SiteError
from simulators.mesh.aha import LV_LEAD_SEGMENTS

if TYPE_CHECKING:
    from simulators.ep.ventricles import Ventricles

#: Farthest an ``xyz:`` site may lie from the epicardium, mm.
SNAP_LIMIT_MM = 5.0

FORMS = {
    "lv": "node:ID, aha:N or xyz:X,Y,Z (mm, snapped to the epicardium)",
    "rv": "node:ID, xyz:X,Y,Z (mm, snapped to the RV endocardium), rv-apex, rv-septum",
}


def check_site_text(text: str, role: str = "lv") -> None:
    """Check a lead site's form without a heart, before any mesh work.

    The form, the integers, the AHA segment (1..17, and for an LV lead one
    of `LV_LEAD_SEGMENTS`) and the three numbers of ``xyz:`` are checked;
    whether the site exists on a given mesh is left to `parse_site`.

    Raises
    ------
    SiteError
        Naming the site and the forms the role takes.

    Examples
    --------
    >>> check_site_text("aha:5")
    >>> check_site_text("aha:20")
    Traceback (most recent call last):
    ...
    simulators.errors.SiteError: AHA segments are 1..17, got 20
    """
    if role not in ("lv", "rv"):
        raise SiteError(f"role must be 'lv' or 'rv', got {role!r}")
    kind, _, value = text.strip().partition(":")
    kind = kind.lower()
    if kind in ("rv-apex", "rv-septum") and not value:
        if role == "lv":
            raise SiteError(f"{text!r} is an RV site; an LV lead takes {FORMS['lv']}")
    elif kind == "node":
        if _integer(value, text) < 0:
            raise SiteError(f"lead site {text!r}: node ids are 0 or more")
    elif kind == "aha":
        if role == "rv":
            raise SiteError(
                f"{text!r}: AHA segments are LV; an RV lead takes {FORMS['rv']}"
            )
        _check_aha(_integer(value, text), role)
    elif kind == "xyz":
        _xyz(value, text)
    else:
        raise SiteError(f"cannot read lead site {text!r}; expected {FORMS[role]}")


def parse_site(heart: Ventricles, text: str, role: str = "lv") -> int:
    """Resolve a lead site to a node id.

    Parameters
    ----------
    heart : Ventricles
    text : str
        The site, in one of the forms of this module.
    role : {"lv", "rv"}
        An LV lead must lie in the LV candidate region (checked here).

    Returns
    -------
    int
        Node id.
    """
    check_site_text(text, role)
    kind, _, value = text.strip().partition(":")
    kind = kind.lower()

    # named RV sites
    if kind in ("rv-apex", "rv-septum"):
        node = heart.rv_apex if kind == "rv-apex" else heart.rv_septum
        if node is None:
            raise SiteError(f"this mesh has no RV, so {text!r} does not exist")
        return int(node)
    if kind == "node":
        node = _integer(value, text)
    elif kind == "aha":
        node = _aha_site(heart, _integer(value, text), role)
    else:
        node = _xyz_site(heart, value, text, role)

    # range and region
    if not 0 <= node < heart.mesh.n_points:
        raise SiteError(
            f"lead site {text!r}: node {node} is not in this mesh "
            f"(ids 0..{heart.mesh.n_points - 1})"
        )
    return heart.check_lv_lead(node) if role == "lv" else heart.check_rv_lead(node)


def _integer(value: str, text: str) -> int:
    """An integer of ASCII digits, at most 12 (Python's int() also reads
    ``1_0`` and other scripts' digits)."""
    if re.fullmatch(r"[+-]?[0-9]{1,12}", value.strip()) is None:
        raise SiteError(
            f"lead site {text[:40]!r}: {value[:20]!r} is not an integer of at most "
            "12 digits"
        )
    return int(value)


def _aha_site(heart: Ventricles, segment: int, role: str) -> int:
    """Epicardial node nearest the centroid of an AHA segment's epicardium."""
    _check_aha(segment, role)
    epi = heart.mesh.surface_nodes("lv_epi")
    nodes = epi[heart.aha[epi] == segment]
    if role == "lv":
        nodes = np.intersect1d(nodes, heart.lv_candidates)
    if nodes.size == 0:
        raise SiteError(f"AHA segment {segment} has no epicardial node on this mesh")
    centroid = heart.mesh.points[nodes].mean(axis=0)
    return int(
        nodes[np.argmin(np.linalg.norm(heart.mesh.points[nodes] - centroid, axis=1))]
    )


def _check_aha(segment: int, role: str) -> None:
    if not 1 <= segment <= 17:
        raise SiteError(f"AHA segments are 1..17, got {segment}")
    if role == "lv" and segment not in LV_LEAD_SEGMENTS:
        raise SiteError(
            f"an LV lead cannot take AHA segment {segment} (septal or apical); "
            f"allowed segments: {list(LV_LEAD_SEGMENTS)}"
        )


#: A decimal number in ASCII (``float`` also reads ``1_0``, other scripts'
#: digits, ``nan`` and ``inf``).
_DECIMAL = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII
)


def decimal(text: str) -> float:
    """A number written in ASCII decimal notation; `ValueError` otherwise."""
    if _DECIMAL.fullmatch(text.strip()) is None:
        raise ValueError(f"{text[:20]!r} is not a decimal number")
    return float(text)


def _xyz(value: str, text: str) -> np.ndarray:
    """The point of an ``xyz:X,Y,Z`` site, mm, shape (3,)."""
    try:
        xyz = np.array([decimal(v) for v in value.split(",")])
    except ValueError:
        xyz = np.array([])
    if xyz.shape != (3,) or not np.isfinite(xyz).all():
        raise SiteError(
            f"lead site {text[:40]!r}: expected xyz:X,Y,Z with three numbers in mm"
        )
    return xyz


def _xyz_site(heart: Ventricles, value: str, text: str, role: str) -> int:
    """Nearest lead-bearing node to a point in mm, within the snap limit.

    An LV lead snaps to the epicardium (coronary veins), an RV lead to the RV
    endocardium (transvenous).
    """
    xyz = _xyz(value, text)
    nodes = (
        heart.epicardial_nodes if role == "lv" else np.flatnonzero(heart.rv_endo_mask)
    )
    surface = "epicardial" if role == "lv" else "RV endocardial"
    if nodes.size == 0:
        raise SiteError(f"this mesh has no {surface} nodes for {text!r}")
    dist, idx = cKDTree(heart.mesh.points[nodes]).query(xyz)
    if dist > SNAP_LIMIT_MM:
        raise SiteError(
            f"lead site {text!r} lies {dist:.1f} mm from the nearest {surface} node "
            f"(limit {SNAP_LIMIT_MM} mm); is it in mm and on this heart?"
        )
    return int(nodes[idx])
