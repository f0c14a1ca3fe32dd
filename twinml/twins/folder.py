"""A twin is a folder: mesh, parameters and protocol, provenance, observations.

Layout (every command that takes ``--twin DIR`` reads this)::

    DIR/
      mesh.vtu           the ventricles, mm, with ventricular coordinates
      twin.json          format, schema_version, mesh, parameters, scar,
                         protocol (`twinml.twins.schema`)
      provenance.json    versions, seed, source mesh and its sha256
      observations.json  optional clinical measurements
                         (`twinml.twins.observations`)

``twin.json`` records the sha256 of ``mesh.vtu``; a mesh changed or
truncated after the twin was made is refused. `twinml.twins.create` writes
a folder under a temporary name beside its target and renames it into
place once complete, so an interrupted write leaves no half twin.

`Twin.ventricles` and `Twin.circulation` bridge to the reference pipeline:
the `Ventricles` of `simulators.hearts.load_heart` and the
`CirculationTwin` of `simulators.circulation.twin`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulators.errors import MeshError, TwinmlInputError
from twinml.provenance import sha256_file
from twinml.twins import observations as obs
from twinml.twins import schema

if TYPE_CHECKING:
    from simulators.circulation.twin import CirculationTwin
    from simulators.ep.protocols import TissueParams
    from simulators.ep.scar import Scar
    from simulators.ep.ventricles import Ventricles

logger = logging.getLogger(__name__)

MESH_FILE = "mesh.vtu"
TWIN_FILE = "twin.json"
PROVENANCE_FILE = "provenance.json"
REQUIRED_FILES = (MESH_FILE, TWIN_FILE, PROVENANCE_FILE)


class TwinError(TwinmlInputError):
    """A twin folder lacks a file, or a file in it is malformed."""


@dataclass
class Twin:
    """One twin, as read from its folder.

    Attributes
    ----------
    folder : Path
        The twin's folder.
    mesh : dict
        ``file``, ``source``, ``sha256``, ``n_points``, ``n_cells``.
    parameters : dict
        Tissue and mechanics, keys and units of `schema.SPECS`.
    scar : dict or None
        ``radius_mm``, ``apicobasal``, ``rotational_deg``,
        ``transmurality``, ``border_mm``; None for no scar.
    protocol : dict
        ``baseline``, ``heart_rate_bpm``, ``lv_lead``, ``rv_lead``,
        ``vv_delay_ms``, ``av_delay_ms``.
    provenance : dict
        The content of ``provenance.json``.
    observations : dict or None
        Checked clinical measurements, None when the twin has none.
    """

    folder: Path
    mesh: dict[str, Any]
    parameters: dict[str, Any]
    scar: dict[str, Any] | None
    protocol: dict[str, Any]
    provenance: dict[str, Any]
    observations: dict[str, Any] | None = None
    _heart: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------ reading
    @classmethod
    def load(cls, folder: str | Path) -> Twin:
        """Read and check a twin folder.

        Raises
        ------
        TwinError
            For a missing folder or file, a file that is not JSON, a wrong
            format or schema version, or a mesh whose sha256 differs from
            the one recorded; each message names the file.
        ParameterError
            For an unknown parameter or one outside its range.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise TwinError(
                f"no twin folder at {str(folder)!r}; make one with "
                "`twinml twin new --mesh M -o DIR`"
            )
        missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
        if missing:
            raise TwinError(
                f"twin folder {str(folder)!r} lacks {missing}; a twin holds "
                f"{list(REQUIRED_FILES)} (and optionally {obs.FILENAME})"
            )

        # twin.json: format, version, groups
        doc = _read_json(folder / TWIN_FILE)
        _check_header(doc, folder / TWIN_FILE)
        groups = parse_groups(doc, folder / TWIN_FILE, warn_missing=True)
        mesh = _check_mesh_entry(doc.get("mesh"), folder)
        provenance = _read_json(folder / PROVENANCE_FILE)
        try:
            observations = obs.load_observations(folder)
        except TwinmlInputError as err:
            raise TwinError(str(err)) from None
        return cls(folder, mesh, *groups, provenance, observations)

    def values(self) -> dict[str, Any]:
        """Every parameter by its flat name (`schema.SPECS`); scar ones only
        when the twin has a scar."""
        flat = {**self.parameters, **self.protocol}
        for key, value in (self.scar or {}).items():
            flat[schema.flat_name("scar", key)] = value
        return flat

    # ------------------------------------------------ reference pipeline
    def ventricles(self) -> Ventricles:
        """The heart with helix fibres at the twin's angles (cached)."""
        from simulators.hearts import load_heart

        if self._heart is None:
            p = self.parameters
            path = self.folder / self.mesh["file"]
            try:
                self._heart = load_heart(path, p["alpha_endo_deg"], p["alpha_epi_deg"])
            except MeshError as err:
                # name the twin's file: the mesh's own checks know no path
                if str(path) in str(err):
                    raise
                raise MeshError(f"{path}: {err}") from None
            counts = {
                "n_points": self._heart.mesh.n_points,
                "n_cells": len(self._heart.mesh.cells),
            }
            for key, n in counts.items():
                if self.mesh.get(key) is not None and self.mesh[key] != n:
                    raise TwinError(
                        f"{self.folder / TWIN_FILE}: mesh.{key} = "
                        f"{str(self.mesh[key])[:20]} but {path.name} has {n}; "
                        "restore the twin.json written "
                        "with the mesh or make the twin again"
                    )
        return self._heart

    def tissue(self) -> TissueParams:
        """Conduction velocities of the twin."""
        return tissue_params(self.parameters)

    def scar_cells(self, heart: Ventricles | None = None) -> Scar | None:
        """Scar and border-zone cell masks, None for no scar."""
        if self.scar is None:
            return None
        return scar_cells(heart or self.ventricles(), self.scar)

    def lv_lead_node(self, heart: Ventricles | None = None) -> int | None:
        """Node of the LV lead, None when the twin names none."""
        from twinml.twins.sites import parse_lv_lead

        text = self.protocol["lv_lead"]
        return None if text is None else parse_lv_lead(heart or self.ventricles(), text)

    def rv_lead_node(self, heart: Ventricles | None = None) -> int | None:
        """Node of the RV lead; None for the default ``rv-apex`` on an LV-only
        heart."""
        from simulators.ep.sites import parse_site

        heart = heart or self.ventricles()
        text = self.protocol["rv_lead"]
        if not heart.has_rv and text == schema.SPECS["rv_lead"].default:
            return None
        return parse_site(heart, text, "rv")

    def circulation(self) -> CirculationTwin:
        """The twin's heart and circulation for `CirculationTwin.crt` and beats.

        Examples
        --------
        ::

            twin = Twin.load("my-twin")
            crt = twin.circulation().crt(twin.lv_lead_node(), twin.protocol[
                "vv_delay_ms"], rv_lead=twin.rv_lead_node())
        """
        from simulators.circulation.circuit import CircuitParams
        from simulators.circulation.twin import CirculationTwin

        heart = self.ventricles()
        return CirculationTwin(
            heart,
            tissue=self.tissue(),
            scar=self.scar_cells(heart),
            contractility=self.parameters["contractility"],
            stiffness=self.parameters["stiffness"],
            circuit=CircuitParams(heart_rate_bpm=self.protocol["heart_rate_bpm"]),
        )

    def summary(self) -> dict[str, Any]:
        """Everything ``twinml twin show --json`` prints."""
        return {
            "folder": str(self.folder),
            "format": schema.FORMAT,
            "schema_version": schema.SCHEMA_VERSION,
            "mesh": self.mesh,
            "parameters": self.parameters,
            "scar": self.scar,
            "protocol": self.protocol,
            "observations": self.observations,
            "provenance": self.provenance,
        }


def tissue_params(parameters: dict[str, Any]) -> TissueParams:
    """`TissueParams` from a twin's ``parameters`` group."""
    from simulators.ep.protocols import TissueParams

    return TissueParams(
        v_fibre=parameters["v_fibre_mm_ms"],
        v_cross=parameters["v_cross_mm_ms"],
        v_endo=parameters["v_endo_mm_ms"],
        cv_scale=parameters["cv_scale"],
        border_factor=parameters["border_factor"],
    )


def scar_cells(heart: Ventricles, scar: dict[str, Any]) -> Scar:
    """A ball scar from the LV endocardium at the scar's coordinates."""
    from simulators.ep.scar import spherical_scar
    from twinml.twins.sites import lv_endo_point

    centre = lv_endo_point(heart, scar["apicobasal"], scar["rotational_deg"])
    return spherical_scar(
        heart.mesh,
        centre,
        scar["radius_mm"],
        transmurality=scar["transmurality"],
        border_mm=scar["border_mm"],
    )


def parse_groups(
    doc: dict, where: str | Path = "twin.json", warn_missing: bool = False
) -> tuple[dict, ...]:
    """Check and complete the three parameter groups of a ``twin.json``.

    Missing keys take their defaults; unknown keys and values out of range
    are refused. Returns ``(parameters, scar, protocol)``.

    Parameters
    ----------
    warn_missing : bool
        Log a warning naming each group or key that took its default (a
        twin folder written by twinml holds them all, so one missing was
        edited out by hand).
    """
    out = []
    for group in schema.GROUPS:
        if warn_missing and group not in doc:
            logger.warning(
                "%s has no %r group: %s", where, group,
                "no scar" if group == "scar" else "every value takes its default",
            )  # fmt: skip
        given = doc.get(group, {} if group != "scar" else None)
        if group == "scar" and given is None:
            out.append(None)
            continue
        if not isinstance(given, dict):
            raise TwinError(f"{where}: {group!r} must be a JSON object")
        known = {schema.SPECS[n].key: n for n in schema.names(group)}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise TwinError(
                f"{where}: unknown keys {unknown} in {group!r}; known: {list(known)}"
            )
        values = {k: schema.SPECS[n].default for k, n in known.items()}
        for key, value in given.items():
            values[key] = schema.check_value(known[key], value)
        absent = {k: values[k] for k in known if k not in given}
        if warn_missing and absent and group in doc:
            logger.warning(
                "%s: %r lacks %s; using the defaults", where, group, absent
            )  # fmt: skip
        out.append(values)
    schema.check_consistency(out[0])
    return tuple(out)


def split_params(flat: dict[str, Any]) -> dict[str, Any]:
    """Flat names (``--param``) to the ``twin.json`` groups, checked.

    A scar exists when any ``scar_*`` name is given; its other fields take
    their defaults.
    """
    doc: dict[str, Any] = {"parameters": {}, "scar": None, "protocol": {}}
    for name, value in flat.items():
        spec = schema.SPECS.get(name)
        if spec is None:
            schema.check_value(name, value)  # raises, listing the known names
        if spec.group == "scar" and doc["scar"] is None:
            doc["scar"] = {}
        doc[spec.group][spec.key] = schema.check_value(name, value)
    params, scar, protocol = parse_groups(doc, "--param")
    return {"parameters": params, "scar": scar, "protocol": protocol}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TwinError(f"{path}: not valid JSON ({err}); fix or recreate it") from None
    except RecursionError:
        raise TwinError(f"{path}: JSON nested too deeply; fix or recreate it") from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise TwinError(
            f"{path}: unreadable JSON ({str(err)[:80]}); fix or recreate it"
        ) from None
    if not isinstance(doc, dict):
        raise TwinError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _check_header(doc: dict, path: Path) -> None:
    if doc.get("format") != schema.FORMAT:
        raise TwinError(
            f"{path}: format must be {schema.FORMAT!r}, got {doc.get('format')!r:.40}"
        )
    version = doc.get("schema_version")
    if isinstance(version, bool) or version != schema.SCHEMA_VERSION:
        raise TwinError(
            f"{path}: schema_version {version!r:.20} is not the "
            f"{schema.SCHEMA_VERSION} this twinml reads; recreate the twin or upgrade "
            "twinml"
        )


def _check_mesh_entry(mesh: Any, folder: Path) -> dict[str, Any]:
    """The ``mesh`` entry names an existing file whose sha256 matches."""
    where = folder / TWIN_FILE
    keys = ("file", "sha256", "n_points", "n_cells")
    if not isinstance(mesh, dict) or any(k not in mesh for k in keys):
        raise TwinError(f"{where}: 'mesh' must be an object with keys {list(keys)}")
    for key, kind in (("file", str), ("sha256", str)):
        if not isinstance(mesh[key], kind) or "\0" in mesh[key]:
            raise TwinError(
                f"{where}: mesh.{key} must be a string, got {mesh[key]!r:.40}"
            )
    for key in ("n_points", "n_cells"):
        if isinstance(mesh[key], bool) or not isinstance(mesh[key], int):
            raise TwinError(
                f"{where}: mesh.{key} must be an integer, got {mesh[key]!r:.40}"
            )
    path = folder / mesh["file"]
    if path.resolve().parent != folder.resolve() or not path.is_file():
        raise TwinError(f"{where}: mesh file {mesh['file']!r} is not in the folder")
    digest = sha256_file(path)
    if digest != mesh["sha256"]:
        raise TwinError(
            f"{path}: sha256 {digest[:12]}... differs from the {mesh['sha256'][:12]}"
            "... recorded in twin.json: the mesh changed or is damaged; recreate "
            "the twin"
        )
    return dict(mesh)
