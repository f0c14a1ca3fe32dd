"""Ventricular coordinates from Laplace-Dirichlet solves on a tagged mesh.

Four point fields say where a node sits in the ventricles. Three are harmonic
functions (Laplace's equation, div grad u = 0, with u fixed on node sets and
zero normal flux elsewhere), solved with linear (P1) finite elements:

- ``transmural``: 0 on the LV and RV endocardium (free wall), 1 on the LV and
  RV epicardium and on the RV side of the septum. The septum thus belongs to
  the LV wall: the coordinate crosses it from the LV cavity (0) to the RV
  cavity (1), as in the universal ventricular coordinates of Bayer et al.
  (2018) and in the coordinates shipped with the Rodero et al. (2021) meshes.
  On an LV-only mesh: 0 on the endocardium, 1 on the epicardium.
- ``apico_basal``: 0 on the LV epicardium within ``APEX_RADIUS_FRACTION`` of
  the apex-to-base distance around the apex, 1 on the base.
- ``lv_rv``: the harmonic function that is 0 on the LV endocardium and 1 on
  the RV free-wall endocardium, cut at 1/2: 0 in the LV free wall and the
  septum, 1 in the RV free wall (0 everywhere on an LV-only mesh).

The fourth is geometric:

- ``rotational``: the angle around the LV long axis (apex to the centre of the
  LV base ring), 0 at the septum (the area centroid of the RV septal surface),
  positive towards the anterior wall, radians in [-pi, pi). The zero and the
  sense follow `simulators.mesh.aha`; the anterior side is the pulmonary
  valve's. A mesh without those surfaces may state ``septum_direction`` and
  ``anterior_direction`` (unit vectors) in its ``meta``, as the parametric
  meshes do.

The harmonic fields are solved by `simulators.mesh.laplace`, whose
`stiffness_matrix`, `solve_laplace` and `jacobi_cg` are re-exported here.

References
----------
Bayer J, Prassl AJ, Pashaei A, et al. Universal ventricular coordinates: a
generic framework for describing position within the heart and transferring
data. Med Image Anal 2018;45:83-93.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simulators.errors import FieldError
from simulators.mesh.aha import long_axis_coordinates
from simulators.mesh.boundary import boundary_faces
from simulators.mesh.laplace import jacobi_cg, solve_laplace, stiffness_matrix
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

__all__ = [
    "Agreement",
    "apex_patch",
    "check_coordinates",
    "compare_coordinates",
    "find_apex",
    "jacobi_cg",
    "solve_laplace",
    "stiffness_matrix",
    "ventricular_coordinates",
]

#: Radius of the apex patch held at apico_basal = 0, as a fraction of the
#: apex-to-base distance (9.3 mm on the Rodero heart; Ansys uses 10 mm).
APEX_RADIUS_FRACTION = 0.1

#: Septal and anterior directions of a mesh that has no RV septal surface
#: or pulmonary valve and states none in ``meta`` (as `simulators.ep.ventricles`
#: assumes); the parametric meshes state theirs.
DEFAULT_SEPTUM_DIRECTION = (-1.0, 0.0, 0.0)
DEFAULT_ANTERIOR_DIRECTION = (0.0, 1.0, 0.0)

#: Names of the coordinates `ventricular_coordinates` returns.
COORDINATES = ("transmural", "apico_basal", "rotational", "lv_rv")


def find_apex(mesh: TetMesh) -> int:
    """Node id of the LV apex: the LV epicardial node farthest from the base.

    The base centre is the centroid of the nodes shared by ``surface_base``
    and ``surface_lv_endo`` (the LV valve ring), or of ``surface_base`` when
    they share none.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with node sets ``surface_lv_epi``, ``surface_base`` and
        ``surface_lv_endo``.

    Returns
    -------
    int
        Point id of the apex on the LV epicardium.
    """
    epi = mesh.surface_nodes("lv_epi")
    centre = _base_centre(mesh)
    dist = np.linalg.norm(mesh.points[epi] - centre, axis=1)
    return int(epi[np.argmax(dist)])


def apex_patch(mesh: TetMesh, apex_radius_mm: float | None = None) -> np.ndarray:
    """LV epicardial nodes around the apex, where apico_basal is fixed at 0.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with node sets ``surface_lv_epi``, ``surface_base`` and
        ``surface_lv_endo``.
    apex_radius_mm : float or None, default None
        Patch radius, mm; None takes ``APEX_RADIUS_FRACTION`` of the
        distance from the apex (`find_apex`) to the LV base centre.

    Returns
    -------
    ndarray of shape (n_points,), bool
        The apex node and the LV epicardial nodes within the radius, base
        nodes excluded.
    """
    apex = find_apex(mesh)
    if apex_radius_mm is None:
        length = np.linalg.norm(_base_centre(mesh) - mesh.points[apex])
        apex_radius_mm = APEX_RADIUS_FRACTION * float(length)
    near = np.linalg.norm(mesh.points - mesh.points[apex], axis=1) <= apex_radius_mm
    patch = _node_set(mesh, "lv_epi") & near & ~_node_set(mesh, "base")
    patch[apex] = True
    return patch


def ventricular_coordinates(
    mesh: TetMesh,
    *,
    apex_radius_mm: float | None = None,
    septum_point: np.ndarray | None = None,
    anterior_point: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Transmural, apicobasal, rotational and LV/RV coordinates of every node.

    Parameters
    ----------
    mesh : TetMesh
        Ventricular mesh, mm, with node sets ``surface_lv_endo``,
        ``surface_lv_epi`` and ``surface_base``; a biventricular mesh adds
        ``surface_rv_endo`` (RV free-wall endocardium) and, when present,
        ``surface_rv_epi`` and ``surface_rv_septum``.
    apex_radius_mm : float or None, default None
        Radius of the apex patch fixed at apico_basal = 0; None takes
        ``APEX_RADIUS_FRACTION`` of the apex-to-base distance.
    septum_point : ndarray of shape (3,) or None, default None
        Where rotational = 0; None takes the area centroid of
        ``surface_rv_septum``, else ``meta["septum_direction"]`` from the
        middle of the long axis, else `DEFAULT_SEPTUM_DIRECTION`.
    anterior_point : ndarray of shape (3,) or None, default None
        A point on the side of positive angles; None takes the centroid of
        ``surface_pulmonary_valve``, else ``meta["anterior_direction"]``,
        else `DEFAULT_ANTERIOR_DIRECTION`.

    Returns
    -------
    dict of str to ndarray of shape (n_points,)
        ``transmural`` (0 endo .. 1 epi), ``apico_basal`` (0 apex .. 1 base),
        ``rotational`` (radians in [-pi, pi), 0 at the septum) and ``lv_rv``
        (0.0 LV and septum, 1.0 RV free wall), float64. Add them to the
        mesh with ``mesh.with_fields(point_data=coords)``.

    Raises
    ------
    FieldError
        If a required node set is missing or empty.

    Examples
    --------
    >>> from simulators.mesh.parametric import lv_ellipsoid
    >>> m = lv_ellipsoid("land2015", n_circ=12, n_long=6, n_trans=2)
    >>> c = ventricular_coordinates(m)
    >>> float(c["transmural"].min()), float(c["transmural"].max())
    (0.0, 1.0)
    """
    for name in ("lv_endo", "lv_epi", "base"):
        if mesh.surface_nodes(name).size == 0:
            raise FieldError(f"node set surface_{name} is empty")
    biv = _has(mesh, "rv_endo")
    stiffness = stiffness_matrix(mesh.points, mesh.cells)
    sets = {name: _node_set(mesh, name) for name in _SETS}

    # transmural: endocardia 0, epicardia and the RV septal surface 1
    endo = sets["lv_endo"] | sets["rv_endo"]
    epi = (sets["lv_epi"] | sets["rv_epi"] | sets["rv_septum"]) & ~endo
    transmural = solve_laplace(stiffness, endo | epi, epi.astype(float))

    # apicobasal: an apex patch 0, the base 1
    patch = apex_patch(mesh, apex_radius_mm)
    apico_basal = solve_laplace(
        stiffness, patch | sets["base"], sets["base"].astype(float)
    )

    # LV/RV: harmonic between the two endocardia, cut at one half
    lv_rv = np.zeros(mesh.n_points)
    if biv:
        rv_free = sets["rv_endo"] & ~sets["lv_endo"]
        split = solve_laplace(
            stiffness, sets["lv_endo"] | rv_free, rv_free.astype(float)
        )
        lv_rv = (split > 0.5).astype(float)

    # rotational: geometric angle about the LV long axis
    apex_xyz, base_xyz = mesh.points[find_apex(mesh)], _base_centre(mesh)
    rotational = _rotational(mesh, apex_xyz, base_xyz, septum_point, anterior_point)
    logger.info(
        "ventricular coordinates on %d nodes (%s, apex patch of %d nodes)",
        mesh.n_points,
        "biventricular" if biv else "LV only",
        int(patch.sum()),
    )
    return {
        "transmural": transmural,
        "apico_basal": apico_basal,
        "rotational": rotational,
        "lv_rv": lv_rv,
    }


@dataclass(frozen=True)
class Agreement:
    """How closely one coordinate matches a reference.

    Attributes
    ----------
    correlation : float
        Pearson's r; for angles the circular correlation of Jammalamadaka
        and SenGupta (2001), r = sum sin(a - a0) sin(b - b0) /
        sqrt(sum sin^2(a - a0) sum sin^2(b - b0)) with a0, b0 circular means.
    mean_abs_diff : float
        Mean of |ours - reference| (angles: wrapped to [-pi, pi)).
    offset : float
        Mean difference ours - reference (angles: the circular mean).
    mean_abs_diff_aligned : float
        Mean absolute difference once `offset` is removed.
    n_points : int
        Number of nodes compared (those finite in both).
    """

    correlation: float
    mean_abs_diff: float
    offset: float
    mean_abs_diff_aligned: float
    n_points: int


def compare_coordinates(
    ours: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    names: tuple[str, ...] = ("transmural", "apico_basal", "rotational"),
    angular: tuple[str, ...] = ("rotational",),
) -> dict[str, Agreement]:
    """Agreement of each coordinate with a reference, node by node.

    Parameters
    ----------
    ours, reference : mapping of str to ndarray of shape (n_points,)
        Coordinates on the same nodes, for example the output of
        `ventricular_coordinates` and ``mesh.point_data``.
    names : tuple of str
        Coordinates to compare.
    angular : tuple of str
        Those among `names` that are angles in radians.

    Returns
    -------
    dict of str to Agreement

    Raises
    ------
    FieldError
        If a coordinate is missing on either side or the sizes differ.

    Examples
    --------
    >>> a = {"t": np.linspace(0, 1, 5)}
    >>> agree = compare_coordinates(a, {"t": a["t"] + 0.1}, names=("t",))["t"]
    >>> round(agree.correlation, 6), round(agree.offset, 6)
    (1.0, -0.1)
    """
    out = {}
    for name in names:
        for side, data in (("ours", ours), ("reference", reference)):
            if name not in data:
                raise FieldError(
                    f"{side} has no coordinate {name!r}; it has {sorted(data)}"
                )
        a = np.asarray(ours[name], dtype=float)
        b = np.asarray(reference[name], dtype=float)
        if a.shape != b.shape:
            raise FieldError(
                f"coordinate {name!r} has shape {a.shape} here and {b.shape} in "
                "the reference"
            )
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        if name in angular:
            out[name] = _circular_agreement(a, b)
        else:
            diff = a - b
            offset = float(diff.mean())
            out[name] = Agreement(
                correlation=float(np.corrcoef(a, b)[0, 1]),
                mean_abs_diff=float(np.abs(diff).mean()),
                offset=offset,
                mean_abs_diff_aligned=float(np.abs(diff - offset).mean()),
                n_points=int(ok.sum()),
            )
    return out


# node sets the coordinates read; absent ones are empty
_SETS = ("lv_endo", "lv_epi", "rv_endo", "rv_epi", "rv_septum", "base")


#: How far a mesh's own 0..1 coordinates may stray, from interpolation
#: (the Rodero mesh's transmural field reaches 1.07).
COORDINATE_SLACK = 0.1


def check_coordinates(mesh: TetMesh) -> None:
    """Refuse a mesh's own ``apico_basal`` and ``transmural`` fields when they
    are not finite, leave 0..1 (beyond `COORDINATE_SLACK`) or run the wrong
    way (transmural: LV endocardium 0, epicardium 1; apico_basal: base 1).

    Raises
    ------
    FieldError
        Naming the field, what was expected and what was found (node ids).
    """
    lo, hi = -COORDINATE_SLACK, 1.0 + COORDINATE_SLACK
    for name in ("apico_basal", "transmural"):
        v = np.asarray(mesh.point_data[name], dtype=float)
        bad = np.flatnonzero(~np.isfinite(v) | (v < lo) | (v > hi))
        if bad.size:
            raise FieldError(
                f"point field {name!r} must lie in 0..1, but {bad.size} nodes "
                f"do not (first ids {bad[:5].tolist()}, values "
                f"{np.round(v[bad[:5]], 3).tolist()}); fix the field or delete it "
                "so that twinml computes it"
            )

    # orientation, read on the node sets the coordinates are defined by
    t, z = mesh.point_data["transmural"], mesh.point_data["apico_basal"]
    endo, epi, base = (_node_set(mesh, k) for k in ("lv_endo", "lv_epi", "base"))
    if endo.any() and epi.any() and t[endo].mean() >= t[epi].mean():
        raise FieldError(
            f"point field 'transmural' runs the wrong way: mean {t[endo].mean():.2f} "
            f"on the LV endocardium, {t[epi].mean():.2f} on the epicardium "
            "(expected 0 and 1); fix the field or delete it"
        )
    if base.any() and z[base].mean() <= 0.5:
        raise FieldError(
            f"point field 'apico_basal' runs the wrong way: mean {z[base].mean():.2f} "
            "on the base (expected 1, apex 0); fix the field or delete it"
        )


def _has(mesh: TetMesh, name: str) -> bool:
    """True when the node set exists and is not empty."""
    key = f"surface_{name}"
    return key in mesh.point_data and bool(np.any(mesh.point_data[key]))


def _node_set(mesh: TetMesh, name: str) -> np.ndarray:
    """Boolean mask of a node set, all False when the mesh lacks it."""
    key = f"surface_{name}"
    if key not in mesh.point_data:
        return np.zeros(mesh.n_points, dtype=bool)
    return np.asarray(mesh.point_data[key], dtype=bool)


def _base_centre(mesh: TetMesh) -> np.ndarray:
    """Centroid of the LV valve ring (base nodes on the LV endocardium)."""
    base = _node_set(mesh, "base")
    ring = base & _node_set(mesh, "lv_endo")
    if not ring.any():
        ring = base
    if not ring.any():
        raise FieldError("node set surface_base is missing or empty")
    return mesh.points[ring].mean(axis=0)


def _rotational(
    mesh: TetMesh,
    apex: np.ndarray,
    base: np.ndarray,
    septum: np.ndarray | None,
    anterior: np.ndarray | None,
) -> np.ndarray:
    """Angle about the apex-to-base axis, 0 at the septum, radians."""
    centre = 0.5 * (apex + base)
    length = float(np.linalg.norm(base - apex))
    if septum is None and _has(mesh, "rv_septum"):
        septum = _surface_centroid(mesh, _node_set(mesh, "rv_septum"))
    if septum is None:
        direction = mesh.meta.get("septum_direction", DEFAULT_SEPTUM_DIRECTION)
        septum = centre + length * np.asarray(direction, dtype=float)
    if anterior is None and _has(mesh, "pulmonary_valve"):
        anterior = mesh.points[_node_set(mesh, "pulmonary_valve")].mean(axis=0)
    if anterior is None:
        direction = mesh.meta.get("anterior_direction", DEFAULT_ANTERIOR_DIRECTION)
        anterior = centre + length * np.asarray(direction, dtype=float)
    _, phi_deg = long_axis_coordinates(mesh.points, apex, base, septum, anterior)
    return np.deg2rad(phi_deg)


def _surface_centroid(mesh: TetMesh, mask: np.ndarray) -> np.ndarray:
    """Area-weighted centroid of the boundary triangles on a node set.

    Node counts per area differ with the surface's slant on a grid-cut
    mesh, so a plain mean of the nodes would lean to the denser side.
    """
    faces, _ = boundary_faces(mesh.cells)
    faces = faces[mask[faces].all(axis=1)]
    if not len(faces):
        return mesh.points[mask].mean(axis=0)
    p = mesh.points[faces]
    area = np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    return (area[:, None] * p.mean(axis=1)).sum(axis=0) / area.sum()


def _circular_agreement(a: np.ndarray, b: np.ndarray) -> Agreement:
    """Agreement of two angle fields in radians."""
    mean_a = np.angle(np.exp(1j * a).mean())
    mean_b = np.angle(np.exp(1j * b).mean())
    sa, sb = np.sin(a - mean_a), np.sin(b - mean_b)
    corr = (sa * sb).sum() / np.sqrt((sa**2).sum() * (sb**2).sum())

    diff = np.angle(np.exp(1j * (a - b)))
    offset = float(np.angle(np.exp(1j * diff).mean()))
    aligned = np.angle(np.exp(1j * (diff - offset)))
    return Agreement(
        correlation=float(corr),
        mean_abs_diff=float(np.abs(diff).mean()),
        offset=offset,
        mean_abs_diff_aligned=float(np.abs(aligned).mean()),
        n_points=len(a),
    )
