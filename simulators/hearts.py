"""Hearts ready for activation: built-in names or mesh files.

`load_heart` turns ``rodero01``, ``lv-ellipsoid``, ``biv-ellipsoid`` or a mesh
path into a `Ventricles` object: the mesh is read and validated where it
enters, ventricular coordinates are computed when the mesh lacks them, and
fibres follow the helix rule from those coordinates.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from simulators.ep.conduction import unit_fibres
from simulators.ep.ventricles import Ventricles
from simulators.errors import FieldError, MeshError
from simulators.fibres.rule_based import helix_fibres
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh

logger = logging.getLogger(__name__)

BUILTIN = ("rodero01", "lv-ellipsoid", "biv-ellipsoid")
FIBRE_FIELDS = ("fibre", "fiber")
REQUIRED_SETS = ("lv_endo", "lv_epi", "base")


def load_mesh(spec: str | Path) -> TetMesh:
    """A built-in heart by name, or a validated mesh read from a file."""
    name = str(spec)
    if name == "rodero01":
        from simulators.mesh.rodero import load_rodero_ventricles

        return load_rodero_ventricles()
    if name in ("lv-ellipsoid", "biv-ellipsoid"):
        from simulators.mesh import parametric

        make = (
            parametric.lv_ellipsoid
            if name == "lv-ellipsoid"
            else parametric.biv_ellipsoid
        )
        return make()
    path = Path(spec)
    if not path.exists():
        raise MeshError(f"no mesh {name!r}: not a file and not one of {list(BUILTIN)}")
    from simulators.mesh.io import read_mesh
    from simulators.mesh.validate import check_heart_size, validate_mesh

    mesh = read_mesh(path)
    validate_mesh(mesh)
    check_heart_size(mesh, str(path))
    return mesh


def with_coordinates(mesh: TetMesh) -> TetMesh:
    """Add ventricular coordinates when the mesh has none of its own; check
    its own (`simulators.mesh.coordinates.check_coordinates`) otherwise."""
    from simulators.mesh.coordinates import check_coordinates, ventricular_coordinates

    missing = [k for k in ("apico_basal", "transmural") if k not in mesh.point_data]
    if not missing:
        check_coordinates(mesh)
        return mesh

    logger.info("computing ventricular coordinates (missing %s)", missing)
    return mesh.with_fields(point_data=ventricular_coordinates(mesh))


def load_heart(
    spec: str | Path, alpha_endo_deg: float = 60.0, alpha_epi_deg: float = -60.0
) -> Ventricles:
    """A `Ventricles` object with helix fibres for a name or a mesh file.

    Parameters
    ----------
    spec : str or Path
        ``rodero01``, ``lv-ellipsoid``, ``biv-ellipsoid`` or a mesh path
        (VTU, or any format `simulators.mesh.io.read_mesh` reads) with the
        node sets ``surface_lv_endo``, ``surface_lv_epi`` and
        ``surface_base`` and a cell field ``region``.
    alpha_endo_deg, alpha_epi_deg : float
        Helix angles at the endocardium and the epicardium, degrees.
    """
    mesh = load_mesh(spec)
    have = {k[8:] for k in mesh.point_data if k.startswith("surface_")}
    lacking = [s for s in REQUIRED_SETS if s not in have]
    if lacking or "region" not in mesh.cell_data:
        raise FieldError(
            f"{spec}: a heart needs the node sets {['surface_' + s for s in lacking]} "
            f"and the cell field 'region'; it has node sets {sorted(have)} and cell "
            f"fields {sorted(mesh.cell_data)}"
        )
    check_regions(mesh, spec)
    mesh = with_coordinates(mesh)
    return Ventricles(mesh, mesh_fibres(mesh, alpha_endo_deg, alpha_epi_deg))


def check_regions(mesh: TetMesh, spec) -> None:
    """Every cell in a region the solvers know: LV, RV or septum."""
    region = np.asarray(mesh.cell_data["region"])
    known = (REGION_LV, REGION_RV, REGION_SEPTUM)
    odd = np.flatnonzero(~np.isin(region, known))
    if odd.size:
        raise FieldError(
            f"{spec}: cell field 'region' holds {np.unique(region[odd])[:5].tolist()} "
            f"on {odd.size} cells (first ids {odd[:5].tolist()}); expected "
            f"{REGION_LV} (LV), {REGION_RV} (RV) or {REGION_SEPTUM} (septum)"
        )


def mesh_fibres(mesh: TetMesh, alpha_endo_deg: float, alpha_epi_deg: float):
    """The mesh's own cell fibres when it has them, else helix-rule fibres."""
    for name in FIBRE_FIELDS:
        if name in mesh.cell_data:
            fibres = np.asarray(mesh.cell_data[name], dtype=float)
            if fibres.shape != (mesh.n_cells, 3):
                raise FieldError(
                    f"cell field {name!r} has shape {fibres.shape}, expected "
                    f"({mesh.n_cells}, 3)"
                )
            logger.info("using the mesh's own fibres (cell field %r)", name)
            return unit_fibres(fibres)
    return helix_fibres(mesh, alpha_endo_deg, alpha_epi_deg)
