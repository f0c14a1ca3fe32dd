"""openCARP meshes: the ``.pts``, ``.elem`` and ``.lon`` text files.

A mesh called ``heart`` is three files sharing that basename:

- ``heart.pts``: a header line with the point count, then one ``x y z`` line
  per point, in micrometres;
- ``heart.elem``: a header line with the element count, then one line per
  element, ``Tt i j k l [region]`` for a linear tetrahedron (0-based point
  ids, the region tag optional);
- ``heart.lon``: a header line with the number of directions per element,
  1 (fibre) or 2 (fibre and sheet), then one line of 3 or 6 numbers per
  element. Old files without the header hold fibres only.

Coordinates are converted between µm and mm here, once, so that a `TetMesh`
is always in mm. The region tag becomes ``cell_data["region"]`` and the
directions ``cell_data["fibre"]`` and ``cell_data["sheet"]``, all per cell.
Point fields and other cell fields have no place in these files.

References
----------
openCARP file formats, https://opencarp.org/documentation (input files).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from simulators.errors import FieldError, MeshError
from simulators.mesh.io import atomic_paths
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

__all__ = ["UM_PER_MM", "opencarp_basename", "read_opencarp", "write_opencarp"]

#: Micrometres per millimetre: openCARP points are in µm, twinml's in mm.
UM_PER_MM = 1000.0

#: File extensions of an openCARP mesh.
SUFFIXES = (".pts", ".elem", ".lon")

#: openCARP element type specifiers and their node counts.
ELEMENT_NODES = {"Ln": 2, "Tr": 3, "Qd": 4, "Tt": 4, "Py": 5, "Pr": 6, "Hx": 8}


def opencarp_basename(path: str | os.PathLike[str]) -> Path:
    """Strip a ``.pts``, ``.elem`` or ``.lon`` extension from `path`.

    Examples
    --------
    >>> opencarp_basename("meshes/heart.pts").as_posix()
    'meshes/heart'
    >>> opencarp_basename("meshes/heart.v2").as_posix()
    'meshes/heart.v2'
    """
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in SUFFIXES else path


def read_opencarp(basename: str | os.PathLike[str]) -> TetMesh:
    """Read an openCARP tetrahedral mesh, converting µm to mm.

    Parameters
    ----------
    basename : str or path-like
        Path without extension (``heart`` for ``heart.pts``, ``heart.elem``
        and ``heart.lon``); a path ending in one of those extensions works
        too. The ``.lon`` file is optional.

    Returns
    -------
    TetMesh
        Points of shape (n_points, 3) in mm, cells of shape (n_cells, 4);
        ``cell_data["region"]`` (n_cells,) int32 when the elements carry
        regions, ``cell_data["fibre"]`` and ``cell_data["sheet"]`` of shape
        (n_cells, 3) when the ``.lon`` file has them.

    Raises
    ------
    FileNotFoundError
        If the ``.pts`` or ``.elem`` file is missing.
    MeshError
        If a header count disagrees with the number of lines, a line has
        the wrong number of values, an element is not a linear tetrahedron
        (``Tt``) or names a point that does not exist; the message names
        the file and the line.
    FieldError
        If the ``.lon`` file does not hold one row per element.

    Examples
    --------
    >>> import tempfile, os
    >>> m = TetMesh(np.vstack([np.zeros(3), np.eye(3)]), [[0, 1, 2, 3]])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_opencarp(m, os.path.join(d, "tet"), fibres=[[1.0, 0, 0]])
    ...     back = read_opencarp(os.path.join(d, "tet"))
    >>> back.points[1].tolist(), back.cell_data["fibre"].tolist()
    ([1.0, 0.0, 0.0], [[1.0, 0.0, 0.0]])
    """
    base = opencarp_basename(basename)
    pts, elem, lon = (_with_suffix(base, s) for s in SUFFIXES)

    # points, µm to mm here and nowhere else
    rows = _counted_rows(pts, "points")
    points_um = _numbers([r.split() for r in rows], rows, pts, widths=(3,))
    points = points_um / UM_PER_MM

    # elements: linear tets only, with an optional region column
    cells, region = _read_elements(elem, len(points))
    cell_data = {} if region is None else {"region": region}

    # fibres and sheets, one row per element
    if lon.is_file():
        cell_data.update(_read_lon(lon, len(cells)))
    else:
        logger.debug("%s: no .lon file, so no fibres", base.name)

    meta = {"source": {"format": "opencarp", "file": base.name}, "units": "mm"}
    mesh = TetMesh(points, cells, cell_data=cell_data, meta=meta)
    logger.debug(
        "read openCARP %s: %d points, %d tets", base, mesh.n_points, mesh.n_cells
    )
    return mesh


def write_opencarp(
    mesh: TetMesh,
    basename: str | os.PathLike[str],
    fibres: np.ndarray | None = None,
    sheets: np.ndarray | None = None,
) -> list[Path]:
    """Write a mesh as openCARP ``.pts``, ``.elem`` and ``.lon`` files.

    Every file is written to a temporary name first and renamed into place
    only once all of them are complete, so an interrupted write leaves the
    previous files untouched.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with points in mm (written in µm). ``cell_data["region"]``, if
        present, becomes the region column; it must hold integers.
    basename : str or path-like
        Path without extension (a ``.pts``, ``.elem`` or ``.lon`` extension
        is stripped); its folder must exist.
    fibres : ndarray of shape (n_cells, 3), optional
        Fibre direction per cell; ``cell_data["fibre"]`` when omitted.
    sheets : ndarray of shape (n_cells, 3), optional
        Sheet direction per cell; ``cell_data["sheet"]`` when omitted. Needs
        fibres.

    Returns
    -------
    list of Path
        The files written: ``.pts``, ``.elem`` and, with fibres, ``.lon``.
        Without fibres no ``.lon`` is written (a `UserWarning` says so, since
        openCARP needs one) and a stale one at that basename is removed.

    Raises
    ------
    FieldError
        If the fibres or sheets are not of shape (n_cells, 3) or not
        finite, sheets come without fibres, or the regions are not integers.
    """
    base = opencarp_basename(basename)
    n_cells = mesh.n_cells

    # the directions: explicit arguments first, then the mesh's own fields
    fibres = mesh.cell_data.get("fibre") if fibres is None else fibres
    sheets = mesh.cell_data.get("sheet") if sheets is None else sheets
    if sheets is not None and fibres is None:
        raise FieldError(
            "sheets need fibres (a .lon row holds the fibre, then the sheet); "
            "pass fibres= or add cell_data['fibre']"
        )
    dirs = [
        _directions(arr, name, n_cells)
        for arr, name in ((fibres, "fibres"), (sheets, "sheets"))
        if arr is not None
    ]

    # render every file before touching the disk
    texts = {
        ".pts": _table(mesh.points * UM_PER_MM, "%.6f", len(mesh.points)),
        ".elem": _elem_text(mesh),
    }
    if dirs:
        texts[".lon"] = _table(np.hstack(dirs), "%.8f", len(dirs))
    _say_what_is_dropped(mesh, base)

    # temporary files, then one rename each
    targets = [_with_suffix(base, s) for s in texts]
    with atomic_paths(targets) as tmps:
        for tmp, text in zip(tmps, texts.values(), strict=True):
            tmp.write_text(text, encoding="ascii")
    if not dirs:
        _no_fibres(_with_suffix(base, ".lon"))
    logger.debug("wrote openCARP %s: %s", base, [p.suffix for p in targets])
    return targets


def _with_suffix(base: Path, suffix: str) -> Path:
    """``base`` plus `suffix`, keeping any dots already in the name."""
    return base.parent / f"{base.name}{suffix}"


def _counted_rows(path: Path, what: str) -> list[str]:
    """Lines after the header, checked against the header's count."""
    if not path.is_file():
        raise FileNotFoundError(f"no openCARP {what} file at {str(path)!r}")
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise MeshError(f"{str(path)!r} is empty; expected a header with the count")

    # the header is a single non-negative integer
    header = lines[0].split()
    if len(header) != 1 or not header[0].isdigit():
        raise MeshError(
            f"{str(path)!r} line 1: expected the number of {what}, "
            f"found {lines[0].strip()!r}"
        )
    count, rows = int(header[0]), lines[1:]
    if count != len(rows):
        raise MeshError(
            f"{str(path)!r}: the header says {count} {what} but the file holds "
            f"{len(rows)} lines after it"
        )
    return rows


def _numbers(
    tokens: list[list[str]],
    rows: list[str],
    path: Path,
    widths: tuple[int, ...],
    first_line: int = 2,
) -> np.ndarray:
    """Parse split rows into floats, all rows of one width from `widths`.

    `tokens` holds the values of each row (split, without any leading type
    column), `rows` the lines themselves, quoted in errors, and
    `first_line` the line number of ``rows[0]`` in the file.
    """
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    width = int(lengths[0]) if len(tokens) else widths[0]
    bad = np.flatnonzero(lengths != width)
    if width not in widths or bad.size:
        k = int(bad[0]) if bad.size else 0
        expected = " or ".join(map(str, widths))
        raise MeshError(
            f"{str(path)!r} line {k + first_line}: expected {expected} numbers "
            f"(as on the other lines), found {rows[k].strip()!r}"
        )
    try:
        return np.array(tokens, dtype=np.float64).reshape(len(tokens), width)
    except ValueError as exc:
        k = next(i for i, t in enumerate(tokens) if not _all_floats(t))
        raise MeshError(
            f"{str(path)!r} line {k + first_line}: not a number in {rows[k].strip()!r}"
        ) from exc


def _all_floats(tokens: list[str]) -> bool:
    """True when every token parses as a float."""
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return True


def _read_elements(path: Path, n_points: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Cells of shape (n_cells, 4) and regions (n_cells,) or None."""
    rows = _counted_rows(path, "elements")
    tokens = [row.split() for row in rows]

    # linear tetrahedra only: name the first other element
    kinds = [t[0] if t else "" for t in tokens]
    other = [k for k, kind in enumerate(kinds) if kind != "Tt"]
    if other:
        k = other[0]
        nodes = ELEMENT_NODES.get(kinds[k])
        what = f"{nodes}-node element" if nodes else "an unknown element type"
        raise MeshError(
            f"{str(path)!r} line {k + 2}: element type {kinds[k]!r} ({what}) is "
            f"not a linear tetrahedron 'Tt'; {len(other)} of {len(rows)} "
            "elements are not tets, and twinml reads tetrahedral meshes only"
        )

    # four node ids, then an optional region on every line alike
    table = _numbers([t[1:] for t in tokens], rows, path, widths=(4, 5))
    fractional = np.flatnonzero((table != np.round(table)).any(axis=1))
    if fractional.size:
        k = int(fractional[0])
        raise MeshError(
            f"{str(path)!r} line {k + 2}: node ids and region must be integers, "
            f"found {rows[k].strip()!r}"
        )
    cells = table[:, :4].astype(np.int64)
    outside = np.flatnonzero(((cells < 0) | (cells >= n_points)).any(axis=1))
    if outside.size:
        k = int(outside[0])
        raise MeshError(
            f"{str(path)!r} line {k + 2}: node ids {cells[k].tolist()} outside "
            f"0..{n_points - 1} (the .pts file holds {n_points} points); "
            f"{outside.size} elements in all"
        )
    region = table[:, 4].astype(np.int32) if table.shape[1] == 5 else None
    return cells, region


def _read_lon(path: Path, n_cells: int) -> dict[str, np.ndarray]:
    """``fibre`` and, with two directions, ``sheet``, each (n_cells, 3)."""
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()

    # header "1" or "2"; old files have no header and hold fibres only
    head = lines[0].split() if lines else []
    if len(head) == 1:
        if head[0] not in ("1", "2"):
            raise FieldError(
                f"{str(path)!r} line 1: expected 1 (fibres) or 2 (fibres and "
                f"sheets), found {lines[0].strip()!r}"
            )
        n_dirs, rows, first_line = int(head[0]), lines[1:], 2
    else:
        logger.debug("%s has no header; reading fibres only", path.name)
        n_dirs, rows, first_line = 1, lines, 1
    if len(rows) != n_cells:
        raise FieldError(
            f"{str(path)!r} holds {len(rows)} rows of directions, but the "
            f".elem file has {n_cells} elements; expected one row per element"
        )

    tokens = [r.split() for r in rows]
    table = _numbers(tokens, rows, path, (3 * n_dirs,), first_line)
    out = {"fibre": table[:, :3]}
    if n_dirs == 2:
        out["sheet"] = table[:, 3:]
    return out


def _directions(arr: np.ndarray, name: str, n_cells: int) -> np.ndarray:
    """Check one direction field of shape (n_cells, 3)."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape != (n_cells, 3):
        raise FieldError(
            f"{name} must have shape (n_cells, 3) = ({n_cells}, 3), one row per "
            f"cell, got {arr.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise FieldError(
            f"{name} are not finite (NaN or inf) in {bad.size} cells: cell ids "
            f"{bad[:10].tolist()}"
        )
    return arr


def _table(values: np.ndarray, fmt: str, header: int) -> str:
    """A header line, then one line of `values` per row."""
    lines = [str(header)]
    if len(values):
        row = " ".join([fmt] * values.shape[1])
        lines.append("\n".join(row % tuple(v) for v in values.tolist()))
    return "\n".join(lines) + "\n"


def _elem_text(mesh: TetMesh) -> str:
    """The ``.elem`` file: ``Tt i j k l`` and the region when there is one."""
    columns = [mesh.cells]
    region = mesh.cell_data.get("region")
    if region is not None:
        region = np.asarray(region)
        if region.ndim != 1 or not np.array_equal(region, np.round(region)):
            raise FieldError(
                "cell_data['region'] must hold one integer per cell for the "
                f".elem file; got dtype {region.dtype} and shape {region.shape}"
            )
        columns.append(region.astype(np.int64)[:, None])
    table = np.hstack(columns)
    row = "Tt " + " ".join(["%d"] * table.shape[1])
    body = "\n".join(row % tuple(r) for r in table.tolist())
    return f"{mesh.n_cells}\n{body}\n" if mesh.n_cells else "0\n"


def _say_what_is_dropped(mesh: TetMesh, base: Path) -> None:
    """Log the fields that openCARP files cannot hold."""
    kept = {"region", "fibre", "sheet"}
    dropped = [f"point_data[{k!r}]" for k in mesh.point_data]
    dropped += [f"cell_data[{k!r}]" for k in mesh.cell_data if k not in kept]
    if dropped:
        logger.info(
            "%s: openCARP files have no place for %s; they are not written",
            base.name,
            ", ".join(dropped),
        )


def _no_fibres(stale: Path) -> None:
    """Warn that openCARP needs fibres, and remove an out-of-date ``.lon``."""
    if stale.exists():
        stale.unlink()
        logger.info("removed %s, which belonged to the previous mesh", stale)
    warnings.warn(
        f"no fibres, so {stale.name} was not written and openCARP cannot run on "
        "this mesh yet; pass fibres= or add cell_data['fibre']",
        UserWarning,
        stacklevel=3,
    )
