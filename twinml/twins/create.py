"""Writing a twin folder: `create_twin`, atomically and checked.

The folder is written under a temporary name beside its target, its leads
and scar are resolved on the heart (a scar that would leave nothing to
activate, or a lead inside it, is refused), and only then is it renamed
into place, so that a crash or a refusal leaves no half twin and `--force`
replaces a twin, never another folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinml.provenance import atomic_write_json, environment_info, sha256_file
from twinml.twins import observations as obs
from twinml.twins import schema
from twinml.twins.folder import (
    MESH_FILE,
    PROVENANCE_FILE,
    TWIN_FILE,
    Twin,
    TwinError,
    split_params,
)

if TYPE_CHECKING:
    from simulators.ep.scar import Scar
    from simulators.ep.ventricles import Ventricles
    from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger(__name__)

__all__ = ["create_twin"]


def create_twin(
    folder: str | Path,
    mesh: str | Path,
    params: dict[str, Any] | None = None,
    observations: dict[str, Any] | None = None,
    seed: int | None = None,
    overwrite: bool = False,
) -> Twin:
    """Build a twin folder from a mesh and flat parameters, atomically.

    Parameters
    ----------
    folder : str or Path
        The twin's folder; must not exist unless `overwrite`.
    mesh : str or Path
        ``rodero01``, ``lv-ellipsoid``, ``biv-ellipsoid`` or a mesh file
        (`simulators.hearts.load_mesh`).
    params : dict, optional
        Flat names (`schema.SPECS`) to values; the rest take defaults.
    observations : dict, optional
        Clinical measurements (`observations.check_observations`).
    seed : int, optional
        Seed of the draw that made the parameters, for provenance.
    overwrite : bool
        Replace an existing twin folder.

    Returns
    -------
    Twin
        The twin as read back from its folder.
    """
    from simulators.hearts import check_regions, load_mesh, with_coordinates
    from simulators.mesh.io import write_vtu

    # cheap checks first; --force replaces a twin, never another folder
    given, folder = Path(folder), Path(folder).resolve()
    groups = split_params(params or {})
    if observations is not None:
        observations = obs.check_observations(observations, "--observations")
    if folder.exists() and not overwrite:
        raise TwinError(f"{str(folder)!r} exists; pass another folder or --force")
    if folder.exists() and folder in (Path.cwd(), *Path.cwd().parents):
        raise TwinError(
            f"{str(given)!r} is the current folder or holds it; --force cannot "
            "replace it: pass another folder"
        )
    if folder.exists() and not _is_twin_or_empty(folder):
        raise TwinError(
            f"{str(folder)!r} exists and is not a twin folder (no {TWIN_FILE}); "
            "--force replaces only a twin: pass another folder"
        )

    # mesh with coordinates, and the files in a temporary folder beside
    start = time.perf_counter()
    try:
        tet = load_mesh(mesh)
        if "region" in tet.cell_data:  # named here, before the twin's own copy
            check_regions(tet, mesh)
        tet = with_coordinates(tet)
    except FileNotFoundError as err:
        raise TwinError(f"mesh {str(mesh)!r}: {err}") from None
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent)
    )
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private
        write_vtu(tet, tmp / MESH_FILE)
        doc = _twin_doc(tet, mesh, tmp / MESH_FILE, groups)
        atomic_write_json(tmp / TWIN_FILE, doc)
        atomic_write_json(tmp / PROVENANCE_FILE, _provenance(tet, mesh, seed))
        if observations is not None:
            atomic_write_json(tmp / obs.FILENAME, observations)

        # resolve the leads and the scar on the heart before the twin exists
        twin = Twin.load(tmp)
        heart = twin.ventricles()
        lv_lead, rv_lead = twin.lv_lead_node(heart), twin.rv_lead_node(heart)
        if twin.scar is not None:
            _check_scar_spares_sources(
                heart,
                twin.scar_cells(heart),
                twin.scar,
                {"lv_lead": lv_lead, "rv_lead": rv_lead},
            )
        _move_into_place(tmp, folder, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "twin %s: %d nodes in %.1f s", folder, tet.n_points, time.perf_counter() - start
    )
    twin.folder = given
    return twin


def _check_scar_spares_sources(
    heart: Ventricles, scar: Scar, spec: dict, leads: dict
) -> None:
    """Refuse a scar that covers every intrinsic activation source (no sinus
    or LBBB beat, and no model query, could start) or a lead (`leads`: name
    to node or None), which could not capture there."""
    import numpy as np

    from simulators.ep.protocols import PacingPlan

    live = np.zeros(heart.mesh.n_points, dtype=bool)
    live[heart.mesh.cells[~scar.cells]] = True
    where = (
        f"the scar (radius {spec['radius_mm']} mm, border {spec['border_mm']} mm, "
        f"apicobasal {spec['apicobasal']}, rotational {spec['rotational_deg']} deg)"
    )
    for protocol in ("sinus", "lbbb"):
        nodes, _ = heart.sources(PacingPlan(protocol))
        if not live[nodes].any():
            raise TwinError(
                f"{where} covers all {nodes.size} {protocol} activation sources; "
                "make scar_radius_mm smaller or move the scar (scar_apicobasal, "
                "scar_rotational_deg)"
            )
    for region, nodes in (
        ("LV lead sites", heart.lv_candidates),
        ("LV lateral wall", np.flatnonzero(heart.lateral_mask)),
    ):
        if nodes.size and not live[nodes].any():
            raise TwinError(
                f"{where} covers the whole {region}, which the CRT markers and "
                "queries need; make scar_radius_mm smaller or move the scar"
            )
    for name, node in leads.items():
        if node is not None and not live[node]:
            raise TwinError(
                f"the {name} (node {node}) lies inside {where}, where it cannot "
                f"capture; move the lead ({name}=...) or the scar"
            )


def _twin_doc(tet: TetMesh, spec, path: Path, groups: dict) -> dict[str, Any]:
    mesh = {
        "file": MESH_FILE,
        "source": str(spec),
        "sha256": sha256_file(path),
        "n_points": tet.n_points,
        "n_cells": tet.n_cells,
    }
    return {
        "format": schema.FORMAT,
        "schema_version": schema.SCHEMA_VERSION,
        "mesh": mesh,
        **groups,
    }


def _provenance(tet: TetMesh, spec, seed: int | None) -> dict[str, Any]:
    """Versions, seed, and where the mesh came from with its sha256."""
    path = Path(spec)
    source = {
        "spec": str(spec),
        "meta": {
            k: v
            for k, v in tet.meta.items()
            if k in ("name", "source", "citation", "licence", "units")
        },
    }
    if path.is_file():
        source["path"] = str(path.resolve())
        source["sha256"] = sha256_file(path)
    elif isinstance(tet.meta.get("source"), dict):
        source["sha256"] = tet.meta["source"].get("sha256")
    else:
        source["sha256"] = None  # made by a generator: its parameters are in meta
        source["meta"] = {k: v for k, v in tet.meta.items() if _plain(v)}
    return {
        "created_by": "twinml.twins.create_twin",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": seed,
        "source_mesh": source,
        **environment_info(),
    }


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, list)) or value is None


def _is_twin_or_empty(folder: Path) -> bool:
    """A folder `create_twin` may replace: an empty one or a twin's."""
    if not folder.is_dir():
        return False
    return (folder / TWIN_FILE).is_file() or not any(folder.iterdir())


def _move_into_place(tmp: Path, folder: Path, overwrite: bool) -> None:
    """Rename the finished temporary folder onto `folder`."""
    if not folder.exists():
        os.rename(tmp, folder)
        return
    if not overwrite:
        raise TwinError(f"{str(folder)!r} appeared while the twin was written")
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    os.rename(folder, old)
    os.rename(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
