"""Reading and writing `TetMesh` files.

VTU (VTK XML unstructured grid) is the canonical format: it keeps every point
and cell field, opens in ParaView, and is what the data cache stores. Any other
format meshio reads works too, as long as it holds linear tetrahedra: Gmsh
``.msh`` (ASCII or binary, versions 2.2 and 4.1) and XDMF among them. openCARP
``.pts/.elem/.lon`` files go through `simulators.mesh.opencarp`.

Where each field lives is kept: point fields stay in `TetMesh.point_data`,
cell fields in `TetMesh.cell_data`. Gmsh physical groups (meshio's
``gmsh:physical``) become ``cell_data["region"]``, and the names of the
volume groups go to ``meta["region_names"]`` as ``{name: tag}``.

Two conventions make a VTU written here round-trip exactly:

- node sets (boolean point fields named ``surface_<name>``) are stored as
  uint8, since VTU has no boolean type, and read back as bool;
- `TetMesh.meta` is stored as JSON, encoded as UTF-8 bytes in a uint8 array
  named ``twinml_meta`` in the file's ``FieldData``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import meshio
import numpy as np

from simulators.errors import DataError, FieldError, MeshError
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

#: Name of the uint8 field-data array that carries `TetMesh.meta` as JSON.
META_FIELD = "twinml_meta"

#: Prefix of the boolean point fields that hold node sets.
NODE_SET_PREFIX = "surface_"

#: Extensions `write_mesh` writes; ``.pts`` stands for the openCARP trio.
WRITE_SUFFIXES = (".vtu", ".vtk", ".pts")

#: Extensions read but never written here (meshio would lose fields).
READ_ONLY_SUFFIXES = (".msh", ".xdmf", ".xmf")

# meshio's gmsh bookkeeping: physical groups, and the point entity tags
_GMSH_PHYSICAL = "gmsh:physical"
_GMSH_DIM_TAGS = "gmsh:dim_tags"


def read_mesh(path: str | os.PathLike[str]) -> TetMesh:
    """Read a linear tetrahedral mesh from any format meshio understands.

    All ``tetra`` blocks are concatenated in file order, with their cell
    fields; blocks of any other cell type (surface triangles, lines) are
    dropped. Arrays come back in native byte order, node sets as bool, and
    the metadata stored by `write_vtu` is restored.

    Parameters
    ----------
    path : str or path-like
        Mesh file; VTU is canonical, the format follows the extension. A
        ``.pts``, ``.elem`` or ``.lon`` path, or an openCARP basename whose
        ``.pts`` file exists, is read with `read_opencarp` (µm to mm).

    Returns
    -------
    TetMesh
        Points of shape (n_points, 3) in the file's unit (mm by convention:
        check with `simulators.mesh.validate.validate_mesh`), cells of shape
        (n_cells, 4).

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    MeshError
        If meshio cannot read the file or it holds no linear tetrahedra.
    FieldError
        If a node set holds values other than 0 and 1.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> m = TetMesh(np.eye(4, 3), np.array([[0, 1, 2, 3]]), meta={"a": 1})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_vtu(m, os.path.join(d, "one.vtu"))
    ...     read_mesh(os.path.join(d, "one.vtu")).meta
    {'a': 1}
    """
    path = Path(path)

    # openCARP is three text files meshio does not know
    # (imported here: `opencarp` writes through `atomic_paths` below)
    from simulators.mesh import opencarp

    if path.suffix.lower() in opencarp.SUFFIXES or (
        not path.exists() and path.with_name(f"{path.name}.pts").is_file()
    ):
        return opencarp.read_opencarp(path)
    if not path.is_file():
        raise FileNotFoundError(f"no mesh file at {str(path)!r}")
    raw = _meshio_read(path)

    # keep the linear tetrahedra, in file order
    blocks = [k for k, b in enumerate(raw.cells) if b.type == "tetra"]
    skipped = [b.type for b in raw.cells if b.type != "tetra"]
    if skipped:
        logger.debug("%s: ignoring non-tetra cell blocks %s", path.name, skipped)
    if not blocks:
        raise MeshError(
            f"{str(path)!r} holds no linear tetrahedra ('tetra' cells); "
            f"found cell blocks {skipped}"
        )
    cells = np.concatenate([_native(raw.cells[k].data) for k in blocks])

    # fields follow the same blocks
    cell_data = {
        name: np.concatenate([_native(arrays[k]) for k in blocks])
        for name, arrays in raw.cell_data.items()
    }
    point_data = {
        name: _read_node_set(name, _native(arr)) for name, arr in raw.point_data.items()
    }
    meta = _decode_meta(raw.field_data.get(META_FIELD), path)

    # gmsh: physical groups are the regions; the entity tags are bookkeeping
    point_data.pop(_GMSH_DIM_TAGS, None)
    if _GMSH_PHYSICAL in cell_data and "region" not in cell_data:
        cell_data["region"] = cell_data.pop(_GMSH_PHYSICAL)
        names = _gmsh_volume_names(raw.field_data)
        if names and "region_names" not in meta:
            meta["region_names"] = names

    mesh = TetMesh(_native(raw.points), cells, point_data, cell_data, meta)
    logger.debug("read %s: %d points, %d tets", path.name, mesh.n_points, mesh.n_cells)
    return mesh


def write_vtu(mesh: TetMesh, path: str | os.PathLike[str]) -> None:
    """Write a mesh to VTU atomically.

    The file is written to a temporary name in the target folder and moved
    into place with `os.replace`, so readers see either the old file or the
    complete new one. On any failure the temporary file is removed and a
    file already at `path` is left untouched.

    Parameters
    ----------
    mesh : TetMesh
        Mesh to write; boolean fields are stored as uint8 and ``meta`` as
        JSON (it must be JSON-serialisable).
    path : str or path-like
        Target file; its folder must exist.

    Raises
    ------
    MeshError
        If ``mesh.meta`` cannot be encoded as JSON.
    """
    path = Path(path)
    meta_xml = _encode_meta(mesh.meta)
    out = meshio.Mesh(
        mesh.points,
        [("tetra", mesh.cells)],
        point_data={k: _to_vtu_dtype(v) for k, v in mesh.point_data.items()},
        cell_data={k: [_to_vtu_dtype(v)] for k, v in mesh.cell_data.items()},
    )

    # write next to the target so that the final rename is atomic
    with atomic_paths([path]) as (tmp,):
        meshio.write(tmp, out, file_format="vtu")
        _insert_field_data(tmp, meta_xml)
    logger.debug("wrote %s: %d points, %d tets", path, mesh.n_points, mesh.n_cells)


def write_mesh(mesh: TetMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write a mesh in the format its extension names, atomically.

    Parameters
    ----------
    mesh : TetMesh
        Mesh with points in mm.
    path : str or path-like
        ``.vtu`` (canonical: every field and the metadata), ``.vtk`` (legacy
        binary VTK: fields kept, ``meta`` dropped) or ``.pts`` (openCARP
        ``.pts/.elem/.lon`` at that basename, points written in µm, see
        `write_opencarp`). Its folder must exist.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    MeshError
        For an extension twinml reads but does not write (``.msh``,
        ``.xdmf``) or does not know; the message lists those it writes.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> m = TetMesh(np.eye(4, 3), np.array([[0, 1, 2, 3]]))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in write_mesh(m, os.path.join(d, "one.vtk"))]
    ['one.vtk']
    """
    from simulators.mesh import opencarp

    path = Path(path)
    check_writable(path)
    suffix = path.suffix.lower()
    if suffix == ".vtu":
        write_vtu(mesh, path)
        return [path]
    if suffix == ".vtk":
        _write_legacy_vtk(mesh, path)
        return [path]
    return opencarp.write_opencarp(mesh, path)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise unless `write_mesh` writes the format `path`'s extension names.

    Raises
    ------
    MeshError
        For an extension twinml reads but does not write (``.msh``,
        ``.xdmf``) or does not know; the message lists those it writes.
    """
    from simulators.mesh import opencarp

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in WRITE_SUFFIXES or suffix in opencarp.SUFFIXES:
        return
    if suffix in READ_ONLY_SUFFIXES:
        raise MeshError(
            f"cannot write {str(path)!r}: twinml reads {suffix} files but does "
            f"not write them; write one of {list(WRITE_SUFFIXES)} instead"
        )
    raise MeshError(
        f"cannot write {str(path)!r}: unknown extension {suffix!r}; twinml "
        f"writes {list(WRITE_SUFFIXES)} (.pts for openCARP)"
    )


@contextlib.contextmanager
def atomic_paths(paths: list[Path]) -> Iterator[list[Path]]:
    """Write files under temporary names, then move them all into place.

    Yields one temporary path per target, in the target's folder. When the
    block ends normally every temporary file is flushed to disk and renamed
    onto its target with `os.replace` (atomic for each file; the renames
    come one after another, only once every file is complete). When the
    block raises (interruptions too), the temporary files are removed and
    the targets are left untouched.

    Parameters
    ----------
    paths : list of Path
        Target files; their folders must exist.

    Yields
    ------
    list of Path
        Temporary paths, created empty (so their mode follows the umask).
    """
    paths, tmps = [Path(p) for p in paths], []
    try:
        for path in paths:
            name = f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            tmps.append(path.parent / name)
            open(tmps[-1], "xb").close()
        yield list(tmps)

        # data on disk first, then the renames
        for tmp in tmps:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        for tmp, path in zip(tmps, paths, strict=True):
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def _meshio_read(path: Path) -> meshio.Mesh:
    """Call `meshio.read`, turning its failures into `MeshError`.

    On a file it cannot parse, meshio 5.3 prints the reason and calls
    ``sys.exit(1)``; library code must not exit, so that is caught here and
    the printed reason goes into the message instead.
    """
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            return meshio.read(path)
    except ModuleNotFoundError as exc:  # h5py for XDMF with HDF5 data
        raise MeshError(
            f"cannot read mesh {str(path)!r}: meshio needs the package "
            f"{exc.name!r} for it; install it (pip install {exc.name})"
        ) from exc
    except (Exception, SystemExit) as exc:  # meshio raises many types
        reason = " ".join(said.getvalue().split()) or repr(exc)
        raise MeshError(f"cannot read mesh {str(path)!r}: {reason}") from exc


def _write_legacy_vtk(mesh: TetMesh, path: Path) -> None:
    """Legacy binary VTK: fields kept (node sets as uint8), ``meta`` lost."""
    out = meshio.Mesh(
        mesh.points,
        [("tetra", mesh.cells)],
        point_data={k: _to_vtu_dtype(v) for k, v in mesh.point_data.items()},
        cell_data={k: [_to_vtu_dtype(v)] for k, v in mesh.cell_data.items()},
    )
    if mesh.meta:
        logger.info("%s: legacy VTK has no place for mesh.meta", path.name)
    with atomic_paths([path]) as (tmp,):
        meshio.write(tmp, out, file_format="vtk", binary=True)
    logger.debug("wrote %s: %d points, %d tets", path, mesh.n_points, mesh.n_cells)


def _gmsh_volume_names(field_data: dict[str, np.ndarray]) -> dict[str, int]:
    """Names of Gmsh's 3-D physical groups, ``{name: tag}``.

    meshio stores each physical name as ``field_data[name] = [tag, dim]``.
    """
    names = {}
    for name, value in field_data.items():
        value = np.asarray(value).ravel()
        if value.shape == (2,) and value[1] == 3 and name != META_FIELD:
            names[name] = int(value[0])
    return names


def _native(arr: np.ndarray) -> np.ndarray:
    """Return `arr` in native byte order (legacy VTK files are big-endian)."""
    arr = np.asarray(arr)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _to_vtu_dtype(arr: np.ndarray) -> np.ndarray:
    """Map bool arrays to uint8, the smallest type VTU stores."""
    arr = np.asarray(arr)
    return arr.astype(np.uint8) if arr.dtype == bool else arr


def _read_node_set(name: str, arr: np.ndarray) -> np.ndarray:
    """Turn a stored ``surface_*`` field back into bool; others pass through."""
    if not name.startswith(NODE_SET_PREFIX) or arr.dtype == bool:
        return arr
    bad = np.flatnonzero((arr != 0) & (arr != 1))
    if bad.size:
        raise FieldError(
            f"node set {name!r} must hold 0 or 1 per node; nodes "
            f"{bad[:10].tolist()} hold {arr[bad[:10]].tolist()}"
        )
    return arr.astype(bool)


def _encode_meta(meta: dict[str, Any]) -> bytes:
    """Render `meta` as a VTU ``FieldData`` element (ascii uint8 JSON bytes)."""
    try:
        text = json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MeshError(
            f"mesh.meta must be JSON-serialisable (str, numbers, lists, dicts); {exc}"
        ) from exc
    codes = " ".join(str(b) for b in text.encode("utf-8"))
    return (
        f'<FieldData>\n<DataArray type="UInt8" Name="{META_FIELD}" '
        f'NumberOfTuples="{len(text.encode("utf-8"))}" format="ascii">\n'
        f"{codes}\n</DataArray>\n</FieldData>\n"
    ).encode("ascii")


def _insert_field_data(vtu: Path, field_xml: bytes) -> None:
    """Insert a ``FieldData`` element as the first child of the grid.

    meshio 5.3 reads ``FieldData`` from VTU but its writer drops
    ``mesh.field_data``, so the element is spliced in after writing.
    """
    data = vtu.read_bytes()
    tag = b"<UnstructuredGrid>"
    at = data.find(tag)
    if at < 0:
        raise DataError(
            f"cannot store mesh metadata: meshio's VTU output {vtu.name!r} has "
            f"no {tag.decode()} tag"
        )
    at += len(tag)
    with open(vtu, "wb") as f:
        f.write(data[:at] + b"\n" + field_xml + data[at:].lstrip(b"\n"))
        f.flush()
        os.fsync(f.fileno())


def _decode_meta(arr: np.ndarray | None, path: Path) -> dict[str, Any]:
    """Decode the JSON meta array, or return an empty dict when absent."""
    if arr is None:
        return {}
    try:
        meta = json.loads(np.asarray(arr, dtype=np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MeshError(
            f"{str(path)!r}: field data {META_FIELD!r} is not UTF-8 JSON: {exc}"
        ) from exc
    if not isinstance(meta, dict):
        raise MeshError(
            f"{str(path)!r}: field data {META_FIELD!r} must hold a JSON object, "
            f"found {type(meta).__name__}"
        )
    return meta
