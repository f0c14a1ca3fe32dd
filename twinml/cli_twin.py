"""``twinml twin``: make and inspect twin folders.

The sub-app `twin_app` is registered on the main command with
``app.add_typer(twin_app, name="twin")``. A twin is the folder of
`twinml.twins.folder` (mesh, ``twin.json``, ``provenance.json``, optional
``observations.json``); every command that takes ``--twin DIR`` reads that
format through `twinml.twins.Twin.load`.

- ``twinml twin new --mesh M [--param NAME=VALUE ...] [--observations FILE]
  -o DIR`` writes one, all or nothing; ``--param`` names are those of
  ``twinml twin params`` (units in the names: ``v_fibre_mm_ms=0.5``,
  ``vv_delay_ms=20``, ``scar_radius_mm=12``, ``lv_lead=aha:5``).
- ``twinml twin show DIR [--json]`` checks a folder and prints it.
- ``twinml twin params [--json]`` lists the names, units, defaults and ranges.

As in `twinml.cli`: progress on stderr, the report on stdout (one JSON
object with ``--json``), exit 0 on success, 2 on bad input, 1 otherwise.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

twin_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Make and inspect twin folders (mesh, parameters, provenance).",
)
logger = logging.getLogger("twinml.cli.twin")


@twin_app.command("new")
def new(
    mesh: str = typer.Option(
        ..., "--mesh", help="rodero01, lv-ellipsoid, biv-ellipsoid or a mesh file."
    ),
    param: list[str] = typer.Option(
        None, "--param", help="NAME=VALUE, repeatable; see `twinml twin params`."
    ),
    observations: Path | None = typer.Option(
        None, "--observations", help="JSON file of clinical measurements."
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Twin folder to create."),
    force: bool = typer.Option(False, "--force", help="Replace an existing twin."),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed that drew the parameters (provenance only)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Create a twin folder from a mesh and parameters."""
    from twinml.cli import _setup_logging, guarded

    _setup_logging(verbose, quiet)
    twin = guarded(lambda: _new(mesh, param or [], observations, out, force, seed))
    summary = twin.summary()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"twin {out}: {mesh}, {summary['mesh']['n_points']} nodes")


@twin_app.command("show")
def show(
    folder: Path = typer.Argument(..., help="Twin folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Check a twin folder and print its mesh, parameters and observations."""
    from twinml.cli import _setup_logging, guarded
    from twinml.twins import Twin

    _setup_logging(verbose, quiet)
    summary = guarded(lambda: Twin.load(folder).summary())
    typer.echo(json.dumps(summary) if as_json else _show_text(summary))


@twin_app.command("params")
def params(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the parameters a twin takes, with units, defaults and ranges."""
    from twinml.twins.schema import table

    rows = table()
    if as_json:
        typer.echo(json.dumps({"parameters": rows}))
        return
    for r in rows:
        span = "" if r["range"] is None else f" [{r['range'][0]:g}, {r['range'][1]:g}]"
        typer.echo(
            f"{r['name']:<22} {r['unit']:<6} {r['default']!s:<8}{span}  {r['doc']}"
        )


def _new(
    mesh: str,
    pairs: list[str],
    observations: Path | None,
    out: Path,
    force: bool,
    seed: int | None,
):
    """Parse the arguments (bad input fails before any mesh work), then create."""
    from twinml.cli import check_out_path
    from twinml.twins import create_twin
    from twinml.twins.folder import split_params

    values = parse_pairs(pairs)
    split_params(values)  # leads' forms and AHA segments too
    obs = None if observations is None else _read_observations(observations)
    check_out_path(out, "folder")
    return create_twin(out, mesh, values, obs, seed=seed, overwrite=force)


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings to a dict; values stay text until checked.

    Raises
    ------
    ParameterError
        For a pair without ``=`` or a name given twice.
    """
    from simulators.errors import ParameterError

    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"--param takes NAME=VALUE, got {pair!r}")
        if name in values:
            raise ParameterError(f"--param {name} given twice")
        values[name] = value.strip()
    return values


def _read_observations(path: Path) -> dict[str, Any]:
    from simulators.errors import ParameterError

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ParameterError(f"--observations: no file {str(path)!r}") from None
    except OSError as err:
        raise ParameterError(
            f"--observations {path}: not a readable JSON file ({err.strerror})"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(f"--observations {path}: not valid JSON ({err})") from None


def _show_text(s: dict[str, Any]) -> str:
    """A few lines for people."""
    lines = [
        f"twin {s['folder']}: {s['mesh']['source']}, {s['mesh']['n_points']} "
        f"nodes, {s['mesh']['n_cells']} tets"
    ]
    for group in ("parameters", "protocol"):
        items = ", ".join(f"{k}={v}" for k, v in s[group].items())
        lines.append(f"  {group}: {items}")
    scar = s["scar"]
    lines.append(
        "  scar: none"
        if scar is None
        else "  scar: " + ", ".join(f"{k}={v}" for k, v in scar.items())
    )
    o = s["observations"]
    given = {} if o is None else {k: v for k, v in o.items() if v is not None}
    given.pop("schema_version", None)
    lines.append(
        "  observations: "
        + (", ".join(f"{k}={v}" for k, v in given.items()) if given else "none")
    )
    return "\n".join(lines)
