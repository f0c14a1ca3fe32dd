"""Mesh validation: find what would break a solver before it runs.

`check_mesh` looks for every problem class and returns a `MeshReport`;
`validate_mesh` raises on the first class found, listing its offending node
or cell ids. The classes, in the order they are raised:

1. non-finite point coordinates (node ids);
2. a length unit other than mm, judged from the median edge length;
3. inverted tetrahedra, V < 0 (cell ids);
4. zero-volume tetrahedra, ``|V| <= rel_volume_tol * median |V|`` (cell ids);
5. orphan nodes, used by no cell (node ids);
6. coincident nodes, closer than ``coincident_tol_mm`` (pairs of node ids);
7. non-finite values in point or cell fields (field names and ids).

Two further classes describe quality rather than validity: a solver runs on
such a mesh, but worse. `validate_mesh` warns about them (raises under
``strict=True``):

8. sliver tetrahedra, whose smallest dihedral angle is below
   ``sliver_min_dihedral_deg`` (cell ids);
9. disconnected parts: groups of cells that share no node with the rest
   (part sizes, and the ids of the cells outside the largest part).

The signed volume is V = det[p1 - p0, p2 - p0, p3 - p0] / 6, positive for
right-handed tets (`TetMesh.signed_volumes`).

Fibre-like fields are checked separately with `check_unit_vectors`.

The quality measures (`tet_min_dihedral_deg`, `connected_parts`,
`SLIVER_MIN_DIHEDRAL_DEG`) are in `simulators.mesh.quality`, and
re-exported here.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from simulators.errors import FieldError, MeshError, UnitsError
from simulators.mesh.quality import (
    _TET_EDGES,
    SLIVER_MIN_DIHEDRAL_DEG,
    _no_ids,
    connected_parts,
    tet_min_dihedral_deg,
)
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

#: Plausible median edge length of a cardiac mesh in mm, as (low, high).
#: Below it the mesh is probably in metres, above it in micrometres.
EDGE_RANGE_MM = (0.01, 50.0)

#: Plausible bounding-box diagonal of a heart mesh in mm, as (low, high). A
#: human heart's is about 100-200 mm. The low end admits the Land et al.
#: (2015) benchmark LV (`simulators.mesh.parametric.LAND2015`, about 38 mm),
#: a legitimately small shape, and still refuses a human heart in
#: centimetres (10-20 "mm"), which the median-edge check lets through.
HEART_SIZE_MM = (25.0, 300.0)

#: How many ids an error message lists before summarising the rest.
MAX_IDS_SHOWN = 10


class MeshQualityWarning(UserWarning):
    """A mesh is valid but of poor quality (slivers, disconnected parts)."""


@dataclass(frozen=True, eq=False)
class Finding:
    """One problem class found in a mesh, ready for a report or JSON.

    Attributes
    ----------
    kind : str
        Class name: ``"nonfinite_nodes"``, ``"units"``, ``"inverted_cells"``,
        ``"zero_volume_cells"``, ``"orphan_nodes"``, ``"coincident_nodes"``,
        ``"nonfinite_field"``, ``"sliver_cells"`` or ``"disconnected_parts"``.
    severity : {"error", "quality"}
        Errors stop `validate_mesh`; quality findings only warn.
    error : type of Exception
        The exception `validate_mesh` raises for this class.
    message : str
        One line naming the count, the first ids and the fix.
    ids : ndarray of shape (count,) or (count, 2)
        Offending node or cell ids (node pairs for coincident nodes); empty
        for the unit guess.
    location : {"node", "cell"} or None
        What the ids number.
    """

    kind: str
    severity: str
    error: type[Exception]
    message: str
    ids: np.ndarray = field(default_factory=_no_ids)
    location: str | None = None

    @property
    def count(self) -> int | None:
        """Number of offending nodes, cells or pairs; None for the units."""
        return None if self.kind == "units" else len(self.ids)


@dataclass(frozen=True, eq=False)
class MeshReport:
    """Problems found in a mesh, one attribute per class.

    Attributes
    ----------
    nonfinite_nodes : ndarray of shape (k,)
        Node ids with a NaN or infinite coordinate.
    inverted_cells : ndarray of shape (k,)
        Cell ids with a negative signed volume (beyond the zero tolerance).
    zero_volume_cells : ndarray of shape (k,)
        Cell ids with ``|V| <= rel_volume_tol * median |V|``.
    orphan_nodes : ndarray of shape (k,)
        Node ids that no cell uses.
    coincident_pairs : ndarray of shape (k, 2)
        Pairs of node ids (i < j) closer than the tolerance.
    nonfinite_fields : dict of str to ndarray of shape (k,)
        For each field with NaN or infinite rows, keyed ``"point_data[name]"``
        or ``"cell_data[name]"``, the node or cell ids of those rows.
    median_edge_mm : float
        Median edge length, counting each edge once per cell that holds it.
    unit_guess : str or None
        ``"m"`` or ``"um"`` when the edge length suggests that unit, else None.
    edge_range_mm : tuple of float
        The plausible median edge range (mm) the unit guess was made against.
    sliver_cells : ndarray of shape (k,)
        Cell ids, not zero-volume, whose smallest dihedral angle is below
        ``sliver_threshold_deg``.
    min_dihedral_deg : float
        Smallest dihedral angle of the non-degenerate cells, in degrees.
    sliver_threshold_deg : float
        The threshold the slivers were found with, in degrees.
    part_sizes : ndarray of shape (n_parts,)
        Number of cells in each connected part, largest first.
    minor_part_cells : ndarray of shape (k,)
        Cell ids outside the largest part (empty for a connected mesh).
    """

    nonfinite_nodes: np.ndarray
    inverted_cells: np.ndarray
    zero_volume_cells: np.ndarray
    orphan_nodes: np.ndarray
    coincident_pairs: np.ndarray
    nonfinite_fields: dict[str, np.ndarray] = field(default_factory=dict)
    median_edge_mm: float = float("nan")
    unit_guess: str | None = None
    edge_range_mm: tuple[float, float] = EDGE_RANGE_MM
    sliver_cells: np.ndarray = field(default_factory=_no_ids)
    min_dihedral_deg: float = float("nan")
    sliver_threshold_deg: float = SLIVER_MIN_DIHEDRAL_DEG
    part_sizes: np.ndarray = field(default_factory=_no_ids)
    minor_part_cells: np.ndarray = field(default_factory=_no_ids)

    @property
    def ok(self) -> bool:
        """True when no error class was found (quality findings may remain)."""
        return not self.problems()

    @property
    def clean(self) -> bool:
        """True when nothing at all was found, quality included."""
        return not self.findings()

    def problems(self) -> list[tuple[type[Exception], str]]:
        """Each error class found, as (exception type, message), in order."""
        return [(f.error, f.message) for f in self.findings() if f.severity == "error"]

    def quality(self) -> list[tuple[type[Exception], str]]:
        """Each quality class found (slivers, parts), as (type, message)."""
        return [
            (f.error, f.message) for f in self.findings() if f.severity == "quality"
        ]

    def findings(self) -> list[Finding]:
        """Every class found, errors first in the order `validate_mesh` raises."""
        found = []
        if self.nonfinite_nodes.size:
            ids = self.nonfinite_nodes
            msg = _nonfinite_msg(ids)
            found.append(_error("nonfinite_nodes", msg, ids, "node"))
        if self.unit_guess is not None:
            found.append(Finding("units", "error", UnitsError, _units_msg(self)))

        # cell geometry
        ids = self.inverted_cells
        if ids.size:
            msg = (
                f"{ids.size} inverted tetrahedra (negative signed volume): "
                f"cell ids {format_ids(ids)}; swap two vertices of each"
            )
            found.append(_error("inverted_cells", msg, ids, "cell"))
        ids = self.zero_volume_cells
        if ids.size:
            msg = (
                f"{ids.size} zero-volume (degenerate) tetrahedra: "
                f"cell ids {format_ids(ids)}"
            )
            found.append(_error("zero_volume_cells", msg, ids, "cell"))

        # node topology
        ids = self.orphan_nodes
        if ids.size:
            msg = (
                f"{ids.size} orphan nodes (used by no cell): node ids "
                f"{format_ids(ids)}; drop them and renumber the cells"
            )
            found.append(_error("orphan_nodes", msg, ids, "node"))
        pairs = [tuple(p) for p in self.coincident_pairs.tolist()]
        if pairs:
            msg = (
                f"{len(pairs)} pairs of coincident nodes: node ids "
                f"{format_ids(pairs)}; merge them (`twinml mesh check --fix`)"
            )
            ids = self.coincident_pairs
            found.append(_error("coincident_nodes", msg, ids, "node"))

        # fields
        for name, ids in self.nonfinite_fields.items():
            what = "node" if name.startswith("point") else "cell"
            msg = (
                f"{name} is undefined (NaN, inf or a zero-length direction) at "
                f"{ids.size} {what}s: "
                f"{what} ids {format_ids(ids)}"
            )
            found.append(
                Finding("nonfinite_field", "error", FieldError, msg, ids, what)
            )
        return found + self._quality_findings()

    def _quality_findings(self) -> list[Finding]:
        """Slivers and disconnected parts, which only lower the quality."""
        found = []
        ids = self.sliver_cells
        if ids.size:
            msg = (
                f"{ids.size} sliver tetrahedra (smallest dihedral angle below "
                f"{self.sliver_threshold_deg:g} deg, worst "
                f"{self.min_dihedral_deg:.3g} deg): cell ids {format_ids(ids)}; "
                "remesh or smooth around them"
            )
            found.append(
                Finding("sliver_cells", "quality", MeshError, msg, ids, "cell")
            )
        if len(self.part_sizes) > 1:
            ids = self.minor_part_cells
            msg = (
                f"{len(self.part_sizes)} disconnected parts (sharing no node) "
                f"of {format_ids(self.part_sizes)} cells; the cells outside the "
                f"largest part are cell ids {format_ids(ids)}; drop or join them"
            )
            found.append(
                Finding("disconnected_parts", "quality", MeshError, msg, ids, "cell")
            )
        return found


def check_mesh(
    mesh: TetMesh,
    *,
    rel_volume_tol: float = 1e-8,
    coincident_tol_mm: float = 1e-6,
    edge_range_mm: tuple[float, float] = EDGE_RANGE_MM,
    sliver_min_dihedral_deg: float = SLIVER_MIN_DIHEDRAL_DEG,
) -> MeshReport:
    """Check a mesh for every problem class and report them all.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with points of shape (n_points, 3), expected in mm.
    rel_volume_tol : float, default 1e-8
        A tet is degenerate when ``|V| <= rel_volume_tol * median |V|``.
    coincident_tol_mm : float, default 1e-6
        Nodes closer than this (mm) are coincident.
    edge_range_mm : tuple of float, default (0.01, 50.0)
        Plausible median edge length (mm); outside it the mesh is reported
        as probably in metres (below) or micrometres (above).
    sliver_min_dihedral_deg : float, default 5.0
        A tet whose smallest dihedral angle is below this (degrees) is a
        sliver (`SLIVER_MIN_DIHEDRAL_DEG` says why 5).

    Returns
    -------
    MeshReport
        All problems found; ``report.ok`` is True for a sound mesh and
        ``report.clean`` when there is no quality finding either.

    Examples
    --------
    >>> import numpy as np
    >>> points = np.vstack([np.zeros(3), np.eye(3)])  # right-handed unit tet
    >>> m = TetMesh(points, np.array([[0, 1, 2, 3]]))
    >>> check_mesh(m).ok
    True
    >>> check_mesh(TetMesh(m.points, m.cells[:, [0, 2, 1, 3]])).inverted_cells
    array([0])
    """
    finite = np.isfinite(mesh.points).all(axis=1)
    nonfinite_nodes = np.flatnonzero(~finite)

    # volumes: degenerate first, so a flat tet is never also "inverted"
    with np.errstate(invalid="ignore"):  # NaN nodes were reported above
        volumes = mesh.signed_volumes()
    abs_v = np.abs(volumes)
    scale = np.nanmedian(abs_v) if np.isfinite(abs_v).any() else 0.0
    zero = abs_v <= rel_volume_tol * scale
    inverted = np.flatnonzero((volumes < 0) & ~zero)

    # orphan and coincident nodes (the k-d tree needs finite points)
    uses = np.bincount(mesh.cells.ravel(), minlength=mesh.n_points)
    finite_ids = np.flatnonzero(finite)
    tree = cKDTree(mesh.points[finite_ids])
    pairs = tree.query_pairs(coincident_tol_mm, output_type="ndarray")
    pairs = np.sort(finite_ids[pairs].reshape(-1, 2), axis=1)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]

    # quality: dihedral angles of the cells that have a volume at all
    angles = np.full(mesh.n_cells, np.nan)
    sound = ~zero & np.isfinite(volumes)
    angles[sound] = tet_min_dihedral_deg(mesh.points[mesh.cells[sound]])
    slivers = np.flatnonzero(angles < sliver_min_dihedral_deg)
    min_angle = float(np.nanmin(angles)) if sound.any() else float("nan")

    # connectivity: part 0 is the largest
    part = connected_parts(mesh)
    part_sizes = np.bincount(part) if part.size else _no_ids()

    median_edge = _median_edge_mm(mesh)
    report = MeshReport(
        nonfinite_nodes=nonfinite_nodes,
        inverted_cells=inverted,
        zero_volume_cells=np.flatnonzero(zero),
        orphan_nodes=np.flatnonzero(uses == 0),
        coincident_pairs=pairs,
        nonfinite_fields=_nonfinite_fields(mesh),
        median_edge_mm=median_edge,
        unit_guess=_guess_unit(median_edge, edge_range_mm),
        edge_range_mm=edge_range_mm,
        sliver_cells=slivers,
        min_dihedral_deg=min_angle,
        sliver_threshold_deg=sliver_min_dihedral_deg,
        part_sizes=part_sizes,
        minor_part_cells=np.flatnonzero(part > 0),
    )
    logger.debug(
        "checked mesh (%d points, %d tets): %d problem classes",
        mesh.n_points,
        mesh.n_cells,
        len(report.findings()),
    )
    return report


def validate_mesh(
    mesh: TetMesh,
    *,
    rel_volume_tol: float = 1e-8,
    coincident_tol_mm: float = 1e-6,
    edge_range_mm: tuple[float, float] = EDGE_RANGE_MM,
    sliver_min_dihedral_deg: float = SLIVER_MIN_DIHEDRAL_DEG,
    strict: bool = False,
) -> None:
    """Raise on the first problem class found by `check_mesh`.

    Quality findings (slivers, disconnected parts) are warned about with a
    `MeshQualityWarning`, or raised as `MeshError` when `strict` is True.
    Other parameters are those of `check_mesh`.

    Raises
    ------
    MeshError
        Non-finite coordinates, inverted or zero-volume tets, orphan or
        coincident nodes; the message lists the ids of that class. Also
        slivers and disconnected parts under ``strict=True``.
    UnitsError
        If the mesh looks like it is in metres or micrometres. It is never
        rescaled silently: convert the points to mm.
    FieldError
        If a point or cell field holds NaN or inf.
    """
    report = check_mesh(
        mesh,
        rel_volume_tol=rel_volume_tol,
        coincident_tol_mm=coincident_tol_mm,
        edge_range_mm=edge_range_mm,
        sliver_min_dihedral_deg=sliver_min_dihedral_deg,
    )
    problems = report.problems()
    if problems:
        error, message = problems[0]
        raise error(message)

    # quality: warn, or raise when asked to be strict
    for error, message in report.quality():
        if strict:
            raise error(message)
        warnings.warn(message, MeshQualityWarning, stacklevel=2)


def check_heart_size(
    mesh: TetMesh,
    where: str = "mesh",
    size_range_mm: tuple[float, float] = HEART_SIZE_MM,
) -> float:
    """Refuse a heart whose size says its unit is not mm.

    The median-edge check (`check_mesh`) catches metres and micrometres but
    not centimetres, whose edges (0.1-0.5 "mm" for a human heart) look like
    a fine mesh in mm; the heart's bounding-box diagonal does not.

    Parameters
    ----------
    mesh : TetMesh
        A heart, points of shape (n_points, 3), expected in mm.
    where : str
        Name used in the message (the file).
    size_range_mm : tuple of float
        Plausible diagonal, mm (`HEART_SIZE_MM` says why).

    Returns
    -------
    float
        The bounding-box diagonal, mm.

    Raises
    ------
    UnitsError
        Outside the range, with the power of ten that brings the heart to
        about 120 mm (10 for centimetres).

    Examples
    --------
    >>> import numpy as np
    >>> points = 120.0 * np.vstack([np.zeros(3), np.eye(3)])
    >>> m = TetMesh(points, np.array([[0, 1, 2, 3]]))
    >>> round(check_heart_size(m))  # 120 sqrt(3)
    208
    """
    points = mesh.points[np.isfinite(mesh.points).all(axis=1)]
    if not len(points):
        return float("nan")
    diagonal = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    low, high = size_range_mm
    if low <= diagonal <= high:
        return diagonal

    # the power of ten that brings it to a human heart's size
    exponent = round(np.log10(120.0 / max(diagonal, 1e-12)))
    fix = (
        f"multiply the points by {10**exponent:g}"
        if exponent > 0
        else f"divide the points by {10**-exponent:g}"
    )
    unit = " (centimetres?)" if exponent == 1 else ""
    raise UnitsError(
        f"{where}: the heart's bounding-box diagonal is {diagonal:.3g}, expected "
        f"{low:g}..{high:g} mm for a heart; it does not look like mm{unit}: "
        f"{fix} (twinml never rescales silently)"
    )


def check_finite_field(mesh: TetMesh, name: str, location: str) -> None:
    """Raise if a point or cell field is missing or holds NaN or inf.

    Parameters
    ----------
    mesh : TetMesh
        Mesh holding the field.
    name : str
        Field name.
    location : {"point", "cell"}
        Whether the field is in ``mesh.point_data`` or ``mesh.cell_data``.

    Raises
    ------
    FieldError
        If the field is missing (the message lists those present) or has
        non-finite rows (the message lists their node or cell ids).
    """
    if location not in ("point", "cell"):
        raise ValueError(f"location must be 'point' or 'cell', got {location!r}")
    data = mesh.point_data if location == "point" else mesh.cell_data
    if name not in data:
        raise FieldError(
            f"mesh has no {location} field {name!r}; it has {sorted(data)}"
        )

    bad = _nonfinite_rows(data[name])
    if bad.size:
        what = "node" if location == "point" else "cell"
        raise FieldError(
            f"{location} field {name!r} is not finite (NaN or inf) at {bad.size} "
            f"{what}s: {what} ids {format_ids(bad)}"
        )


def check_unit_vectors(arr: np.ndarray, name: str, *, norm_tol: float = 1e-3) -> None:
    """Raise unless every row of `arr` is a finite unit vector.

    Parameters
    ----------
    arr : ndarray of shape (n_cells, 3)
        Directions per cell (fibres, sheets), dimensionless.
    name : str
        Field name used in messages.
    norm_tol : float, default 1e-3
        Allowed deviation of each row's norm from 1.

    Raises
    ------
    FieldError
        On a wrong shape, and naming the cell ids of rows that are non-finite,
        of zero length, or not normalised.

    Examples
    --------
    >>> check_unit_vectors(np.array([[1.0, 0.0, 0.0]]), "fibre")
    """
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise FieldError(f"{name!r} must have shape (n_cells, 3), got {arr.shape}")

    # the worst defect first: NaN, then zero length, then not normalised
    bad = _nonfinite_rows(arr)
    if bad.size:
        raise FieldError(
            f"{name!r} is not finite (NaN or inf) in {bad.size} cells: "
            f"cell ids {format_ids(bad)}"
        )
    norm = np.linalg.norm(arr, axis=1)
    zero = np.flatnonzero(norm <= np.finfo(float).eps)
    if zero.size:
        raise FieldError(
            f"{name!r} has zero-length vectors in {zero.size} cells: "
            f"cell ids {format_ids(zero)}"
        )
    off = np.flatnonzero(np.abs(norm - 1.0) > norm_tol)
    if off.size:
        raise FieldError(
            f"{name!r} must hold unit vectors; {off.size} cells have norms "
            f"{np.round(norm[off[:3]], 6).tolist()}...: cell ids "
            f"{format_ids(off)}; normalise them"
        )


def format_ids(ids: np.ndarray | list, limit: int = MAX_IDS_SHOWN) -> str:
    """Render up to `limit` ids, then how many more there are.

    Examples
    --------
    >>> format_ids(np.arange(12), limit=3)
    '[0, 1, 2] and 9 more (12 in all)'
    """
    ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    shown = str(ids[:limit])
    if len(ids) <= limit:
        return shown
    return f"{shown} and {len(ids) - limit} more ({len(ids)} in all)"


def _median_edge_mm(mesh: TetMesh) -> float:
    """Median tet edge length, each edge counted once per cell holding it."""
    if not mesh.n_cells:
        return float("nan")
    ends = mesh.points[mesh.cells[:, _TET_EDGES]]
    lengths = np.linalg.norm(ends[:, :, 1] - ends[:, :, 0], axis=-1)
    return float(np.nanmedian(lengths)) if np.isfinite(lengths).any() else np.nan


def _guess_unit(median_edge: float, edge_range_mm: tuple[float, float]) -> str | None:
    """Return "m" or "um" when the median edge falls outside the range."""
    low, high = edge_range_mm
    if not np.isfinite(median_edge):
        return None
    if median_edge < low:
        return "m"
    if median_edge > high:
        return "um"
    return None


def _units_msg(report: MeshReport) -> str:
    """Explain a unit guess and the conversion to mm."""
    edge = report.median_edge_mm
    low, high = report.edge_range_mm
    if report.unit_guess == "m":
        unit, fix = "metres", "multiply the points by 1000"
    else:
        unit, fix = "micrometres", "divide the points by 1000"
    return (
        f"mesh coordinates look like {unit}, not mm: the median edge length is "
        f"{edge:.3g}, expected {low:g}..{high:g} mm for a "
        f"cardiac mesh; {fix} (twinml never rescales silently)"
    )


def _error(kind: str, message: str, ids: np.ndarray, location: str) -> Finding:
    """A `MeshError` finding of class `kind`."""
    return Finding(kind, "error", MeshError, message, ids, location)


def _nonfinite_msg(ids: np.ndarray) -> str:
    """Name the nodes with NaN or infinite coordinates."""
    return (
        f"{ids.size} nodes have non-finite (NaN or inf) coordinates: node ids "
        f"{format_ids(ids)}"
    )


def _nonfinite_rows(arr: np.ndarray) -> np.ndarray:
    """Row ids holding NaN or inf; integer and bool arrays are always finite."""
    arr = np.asarray(arr)
    if not np.issubdtype(arr.dtype, np.inexact):
        return np.empty(0, dtype=np.int64)
    rows = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    return np.flatnonzero(rows)


#: Cell fields holding directions: a zero-length row is as undefined as NaN.
DIRECTION_FIELDS = ("fibre", "fiber", "sheet", "normal")


def _nonfinite_fields(mesh: TetMesh) -> dict[str, np.ndarray]:
    """Undefined rows of every field: NaN or inf, and zero-length directions."""
    found = {}
    for where, data in (("point_data", mesh.point_data), ("cell_data", mesh.cell_data)):
        for name, arr in data.items():
            bad = _nonfinite_rows(arr)
            if name in DIRECTION_FIELDS and np.ndim(arr) == 2:
                norm = np.linalg.norm(np.nan_to_num(np.asarray(arr, float)), axis=1)
                bad = np.union1d(bad, np.flatnonzero(norm < 1e-6))
            if bad.size:
                found[f"{where}[{name!r}]"] = bad
    return found
