"""``twinml mesh``: make, check and convert tetrahedral meshes.

The sub-app `mesh_app` is registered on the main command with
``app.add_typer(mesh_app, name="mesh")``. It follows `twinml.cli`: progress
on stderr, the short report on stdout (one JSON object with ``--json``),
exit 0 on success, 2 on bad input (and, for ``check``, on a mesh with
problems), 1 otherwise, with a one-line reason.

Formats follow the extension: ``.vtu`` (canonical), ``.vtk``, ``.msh`` and
``.xdmf`` (read only), and openCARP ``.pts/.elem/.lon`` named by the
``.pts`` file or the basename. Meshes are in mm; openCARP files in µm are
converted on the way in and out.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from simulators.mesh.tetmesh import TetMesh
    from simulators.mesh.validate import MeshReport

mesh_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Make, check and convert tetrahedral meshes (mm).",
)
logger = logging.getLogger("twinml.cli.mesh")

T = TypeVar("T")

#: How many ids a finding lists in the JSON report.
IDS_SHOWN = 10

#: Cells per side of the default ``make cube`` (a 1 mm unit cube).
CUBE_DEFAULT_N = 8


class Shape(str, Enum):
    """Meshes ``twinml mesh make`` builds."""

    lv_ellipsoid = "lv-ellipsoid"
    biv_ellipsoid = "biv-ellipsoid"
    cube = "cube"


class Format(str, Enum):
    """Output formats of ``twinml mesh convert --to``."""

    vtu = "vtu"
    vtk = "vtk"
    opencarp = "opencarp"


@mesh_app.command()
def check(
    mesh: Path = typer.Argument(
        ..., help="Mesh: .vtu, .vtk, .msh, .xdmf, or openCARP .pts or basename."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    fix: bool = typer.Option(
        False, "--fix", help="Repair what has one right answer; needs -o."
    ),
    out: Path | None = typer.Option(
        None,
        "-o",
        "--out",
        help="Repaired mesh (.vtu); its node map (old to new ids) goes beside it "
        "as <stem>.node_map.npy.",
    ),
    merge_tol_mm: float = typer.Option(
        1e-6, "--merge-tol-mm", help="Nodes closer than this (mm) are coincident."
    ),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Report inverted, flat and sliver tets, orphan and coincident nodes,
    disconnected parts and a wrong unit. Exit 0 when clean, 2 otherwise."""
    _setup_logging(verbose, quiet)
    result = _guarded(lambda: _check(mesh, fix, out, merge_tol_mm))
    typer.echo(json.dumps(result) if as_json else _check_text(result))
    if not result["clean"]:
        raise typer.Exit(2)


@mesh_app.command()
def convert(
    src: Path = typer.Argument(
        ..., help="Input: .vtu, .vtk, .msh, .xdmf, or openCARP .pts or basename."
    ),
    dst: Path = typer.Argument(
        ..., help="Output: .vtu, .vtk or openCARP .pts (or a basename with --to)."
    ),
    to: Format | None = typer.Option(
        None, "--to", help="Output format when DST is a basename or a folder."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Convert a mesh, keeping its unit (mm; openCARP µm is converted) and
    every field the output format can hold."""
    _setup_logging(verbose, quiet)
    result = _guarded(lambda: _convert(src, dst, to))
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(
        f"converted {result['input']} -> {', '.join(result['output'])}: "
        f"{result['n_points']} points, {result['n_cells']} tets"
    )


@mesh_app.command()
def make(
    shape: Shape = typer.Argument(..., help="What to build."),
    out: Path = typer.Option(..., "-o", "--out", help="Output: .vtu, .vtk or .pts."),
    param: list[str] | None = typer.Option(
        None,
        "--param",
        "-p",
        help="NAME=VALUE, repeatable; VALUE is a number, a list such as 10,5,2, "
        "true/false or text. cube: n, or lengths_mm, shape, origin_mm.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Build a parametric LV or biventricular ellipsoid, or a cube, in mm."""
    _setup_logging(verbose, quiet)
    result = _guarded(lambda: _make(shape, out, param or []))
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(
        f"made {result['shape']}: {result['n_points']} points, "
        f"{result['n_cells']} tets, smallest dihedral angle "
        f"{_fmt(result['min_dihedral_deg'])} deg; wrote {', '.join(result['output'])}"
    )


# --- the work behind each command ------------------------------------------


def _check(mesh_path: Path, fix: bool, out: Path | None, merge_tol_mm: float) -> dict:
    """Check, and with `fix` repair and write; the report as a dict."""
    import numpy as np

    from simulators.errors import ParameterError
    from simulators.mesh.io import atomic_paths, write_mesh
    from simulators.mesh.repair import repair_mesh
    from simulators.mesh.validate import check_mesh

    # options first, so a typo costs no reading
    if fix and out is None:
        raise ParameterError("--fix needs -o OUT, the file for the repaired mesh")
    if out is not None and not fix:
        raise ParameterError("-o is the output of --fix; add --fix or drop -o")
    if not merge_tol_mm >= 0:
        raise ParameterError(f"--merge-tol-mm must be >= 0, got {merge_tol_mm}")

    mesh = _read(mesh_path)
    report = check_mesh(mesh, coincident_tol_mm=merge_tol_mm)
    result = {"mesh": str(mesh_path), **_summary(mesh, report), "fixed": None}
    if not fix:
        return result

    # repair, then write the mesh and the node map side by side
    fixed, old_to_new, repair = repair_mesh(mesh, merge_tol_mm=merge_tol_mm)
    map_path = out.with_name(f"{out.stem}.node_map.npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = write_mesh(fixed, out)
    with atomic_paths([map_path]) as (tmp,), open(tmp, "wb") as f:
        np.save(f, old_to_new)  # a file object: no ".npy" is appended
    logger.info("wrote %s and %s", ", ".join(map(str, written)), map_path)

    after = check_mesh(fixed, coincident_tol_mm=merge_tol_mm)
    result["fixed"] = {
        **repair.as_dict(),
        "lines": repair.lines(),
        "output": [str(p) for p in written],
        "node_map": str(map_path),
        **_summary(fixed, after),
    }
    result["clean"] = after.clean
    return result


def _convert(src: Path, dst: Path, to: Format | None) -> dict:
    """Read `src`, write it where `dst` and `to` say; the report as a dict."""
    from simulators.mesh.io import write_mesh
    from simulators.mesh.validate import check_mesh

    target = _target(src, dst, to)
    mesh = _read(src)

    # a problem is passed on, not fixed: say so and point to the checker
    findings = check_mesh(mesh).findings()
    if findings:
        logger.warning(
            "%s has %d problem classes (first: %s); converting anyway; run "
            "`twinml mesh check` for all of them",
            src,
            len(findings),
            findings[0].message,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    written = write_mesh(mesh, target)
    return {
        "input": str(src),
        "output": [str(p) for p in written],
        "n_points": mesh.n_points,
        "n_cells": mesh.n_cells,
        "point_fields": sorted(mesh.point_data),
        "cell_fields": sorted(mesh.cell_data),
    }


def _make(shape: Shape, out: Path, items: list[str]) -> dict:
    """Build `shape` from ``NAME=VALUE`` items and write it to `out`."""
    from simulators.errors import MeshError
    from simulators.mesh.io import check_writable, write_mesh
    from simulators.mesh.validate import check_mesh

    check_writable(out)
    params = _parse_params(items)
    mesh = _cube(params) if shape is Shape.cube else _parametric(shape, params)
    mesh = mesh.with_fields(meta={"made_by": {"shape": shape.value, "params": params}})

    # a broken mesh is not written; a poor one is, with a warning
    report = check_mesh(mesh)
    if report.problems():
        _, message = report.problems()[0]
        raise MeshError(f"the {shape.value} mesh failed its check: {message}")
    for _, message in report.quality():
        logger.warning("%s: %s", shape.value, message)

    out.parent.mkdir(parents=True, exist_ok=True)
    written = write_mesh(mesh, out)
    return {
        "shape": shape.value,
        "params": params,
        "output": [str(p) for p in written],
        "n_points": mesh.n_points,
        "n_cells": mesh.n_cells,
        "min_dihedral_deg": _finite(report.min_dihedral_deg),
        "quality": [message for _, message in report.quality()],
    }


def _cube(params: dict[str, Any]) -> TetMesh:
    """`unit_cube_mesh(n)`, or `box_mesh` from lengths_mm, shape, origin_mm."""
    from simulators.errors import ParameterError
    from simulators.mesh.structured import box_mesh, unit_cube_mesh

    box = {"lengths_mm", "shape", "origin_mm"}
    unknown = sorted(set(params) - box - {"n"})
    if unknown:
        raise ParameterError(
            f"cube takes n (cells per side of the 1 mm cube) or lengths_mm, shape "
            f"and origin_mm (a box); got unknown parameters {unknown}"
        )
    given = sorted(set(params) & box)
    if "n" in params and given:
        raise ParameterError(f"give cube either n or {given}, not both")
    if not given:
        return unit_cube_mesh(params.get("n", CUBE_DEFAULT_N))

    # a box: one number stands for all three axes
    missing = sorted({"lengths_mm", "shape"} - set(params))
    if missing:
        raise ParameterError(
            f"a box cube needs lengths_mm and shape; missing {missing}"
        )
    return box_mesh(**{k: _triple(v) for k, v in params.items()})


def _parametric(shape: Shape, params: dict[str, Any]) -> TetMesh:
    """Call ``simulators.mesh.parametric.<shape>(**params)``.

    The module is imported here, so this one imports without it.
    """
    from simulators.errors import ParameterError
    from simulators.mesh.tetmesh import TetMesh

    name = shape.value.replace("-", "_")
    module = "simulators.mesh.parametric"
    try:
        parametric = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        raise RuntimeError(
            f"`twinml mesh make {shape.value}` needs {module}.{name}, which this "
            "install does not have (simulators/mesh/parametric.py is missing)"
        ) from None
    build = getattr(parametric, name, None)
    if build is None:
        raise RuntimeError(f"{module} has no function {name}()")

    # unknown names are the user's to fix, so they are checked before the call
    signature = inspect.signature(build)
    try:
        signature.bind(**params)
    except TypeError as err:
        raise ParameterError(
            f"{name}() does not take these parameters ({err}); it takes "
            f"{list(signature.parameters)}"
        ) from None
    mesh = build(**params)
    if not isinstance(mesh, TetMesh):
        raise RuntimeError(f"{name}() returned {type(mesh).__name__}, not a TetMesh")
    return mesh


# --- helpers ---------------------------------------------------------------


def _setup_logging(verbose: int, quiet: bool) -> None:
    """The main command's logging: stderr, ``twinml:`` prefix."""
    # imported here: twinml.cli imports this module to register mesh_app
    from twinml.cli import _setup_logging as setup

    setup(verbose, quiet)


def _guarded(step: Callable[[], T]) -> T:
    """Run `step`, turning a failure into a one-line reason and exit code.

    Warnings raised on the way are logged, one ``twinml:`` line each.
    """
    from twinml.cli import guarded

    def logged() -> T:
        with _warnings_logged():
            return step()

    return guarded(logged)


@contextlib.contextmanager
def _warnings_logged() -> Iterator[None]:
    """Send the warnings of the block to the log instead of raw stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            for warning in caught:
                logger.warning("%s", warning.message)


def _read(path: Path) -> TetMesh:
    """`read_mesh`, with a missing file counted as bad input (exit 2)."""
    from simulators.errors import TwinmlInputError
    from simulators.mesh.io import read_mesh

    logger.info("reading %s", path)
    try:
        return read_mesh(path)
    except FileNotFoundError as err:
        raise TwinmlInputError(str(err)) from err


def _target(src: Path, dst: Path, to: Format | None) -> Path:
    """The file `write_mesh` gets: DST, DST/<src stem> or DST plus a suffix."""
    from simulators.errors import ParameterError
    from simulators.mesh.io import check_writable
    from simulators.mesh.opencarp import opencarp_basename

    # a folder takes the input's name
    if dst.is_dir():
        if to is None:
            raise ParameterError(
                f"{str(dst)!r} is a folder; name the output file or give --to"
            )
        dst = dst / src.stem
    if to is None:
        check_writable(dst)
        return dst

    # --to decides the suffix; an explicit suffix must agree with it
    suffix = ".pts" if to is Format.opencarp else f".{to.value}"
    if to is Format.opencarp:
        return dst.with_name(f"{opencarp_basename(dst).name}{suffix}")
    if dst.suffix.lower() == suffix:
        return dst
    if dst.suffix:
        raise ParameterError(f"--to {to.value} but {str(dst)!r} ends in {dst.suffix}")
    return dst.with_name(f"{dst.name}{suffix}")


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings to a dict, VALUE read as a Python literal."""
    from simulators.errors import ParameterError

    params: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ParameterError(f"--param must be NAME=VALUE, got {item!r}")
        if name in params:
            raise ParameterError(f"--param {name} is given twice")
        params[name] = _literal(text.strip())
    return params


def _literal(text: str) -> Any:
    """A number, tuple, bool or None when `text` reads as one, else the text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _triple(value: Any) -> tuple:
    """A scalar repeated for x, y and z; sequences as they are."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * 3


def _summary(mesh: TetMesh, report: MeshReport) -> dict:
    """Sizes, measures and findings of one checked mesh, JSON-ready."""
    return {
        "n_points": mesh.n_points,
        "n_cells": mesh.n_cells,
        "median_edge_mm": _finite(report.median_edge_mm),
        "min_dihedral_deg": _finite(report.min_dihedral_deg),
        "part_sizes": report.part_sizes.tolist()[:IDS_SHOWN],
        "ok": report.ok,
        "clean": report.clean,
        "findings": [
            {
                "kind": f.kind,
                "severity": f.severity,
                "error": f.error.__name__,
                "count": f.count,
                "location": f.location,
                "ids": f.ids[:IDS_SHOWN].tolist(),
                "message": f.message,
            }
            for f in report.findings()
        ],
    }


def _check_text(result: dict) -> str:
    """The human report of `check`."""
    lines = [_summary_text(result["mesh"], result)]
    fixed = result["fixed"]
    if fixed is not None:
        lines.append("  fixed:" if fixed["lines"] else "  fixed: nothing to fix")
        lines += [f"    {line}" for line in fixed["lines"]]
        lines.append(
            f"  wrote {', '.join(fixed['output'])} and {fixed['node_map']} "
            "(new id of each old node, -1 where removed)"
        )
        lines.append(_summary_text("  after repair", fixed))
    return "\n".join(lines)


def _summary_text(title: str, summary: dict) -> str:
    """Sizes, then "clean" or one line per finding."""
    head = (
        f"{title}: {summary['n_points']} points, {summary['n_cells']} tets, "
        f"median edge {_fmt(summary['median_edge_mm'])} mm, smallest dihedral "
        f"angle {_fmt(summary['min_dihedral_deg'])} deg"
    )
    findings = summary["findings"]
    if not findings:
        return f"{head}\n  clean"
    lines = [f"{head}\n  {len(findings)} problems:"]
    lines += [f"    {f['severity']:<7} {f['message']}" for f in findings]
    return "\n".join(lines)


def _finite(value: float) -> float | None:
    """`value`, or None where it is NaN (JSON has no NaN)."""
    return float(value) if math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    """Three significant digits, or "n/a"."""
    return "n/a" if value is None else f"{value:.3g}"
