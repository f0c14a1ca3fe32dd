"""The `twinml` command line.

Progress goes to stderr, the short human report to stdout (or one JSON
object with ``--json``). Exit codes: 0 success, 2 bad input, 1 otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="twinml: cardiac digital twins with millisecond what-if answers.",
)
logger = logging.getLogger("twinml.cli")
T = TypeVar("T")


@app.callback()
def main() -> None:
    """twinml: cardiac digital twins with millisecond what-if answers."""
    # a terminated command unwinds like Ctrl-C, so temporary files and
    # half-built folders are removed on the way out
    signal.signal(signal.SIGTERM, _interrupted)


class Terminated(KeyboardInterrupt):
    """A signal other than Ctrl-C, unwinding like it (`signum` kept)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _interrupted(signum: int, frame: object) -> None:
    raise Terminated(signum)


def _register_subcommands() -> None:
    from twinml.cli_circulation import crt
    from twinml.cli_heads import diagnose
    from twinml.cli_mesh import mesh_app
    from twinml.cli_twin import twin_app
    from twinml.cli_whatif import whatif

    app.add_typer(mesh_app, name="mesh")
    app.add_typer(twin_app, name="twin")
    app.command("crt")(crt)
    app.command("diagnose")(diagnose)
    app.command("whatif")(whatif)


_register_subcommands()


#: Libraries whose info messages (progress, cache statistics at exit) stay
#: off stderr unless -v is given.
_CHATTY = (
    "distributed", "lightning", "mlflow", "alembic", "numba", "matplotlib", "torch",
)  # fmt: skip


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="twinml: %(message)s", force=True
    )
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


def quiet_libraries(verbose: bool = False) -> None:
    """Keep third-party progress chatter off stderr unless -v is given.

    Dask, Lightning and MLflow configure their own loggers and handlers when
    imported, so they are imported here first and then quietened, child
    loggers included; their messages then reach the root handler once.
    """
    import distributed  # noqa: F401 - sets its logging up on import
    import lightning  # noqa: F401
    import mlflow  # noqa: F401

    level = logging.INFO if verbose else logging.WARNING
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in _CHATTY:
            log = logging.getLogger(name)
            log.setLevel(level)
            log.handlers.clear()
            log.propagate = True


def guarded(step: Callable[[], T]) -> T:
    """Run a command's work; failures become one line and an exit code.

    Exit 2 for bad input (`TwinmlInputError`), 1 otherwise; 128 + the
    signal's number when interrupted (130 on Ctrl-C, 143 on SIGTERM), the
    shell's convention. ``TWINML_DEBUG=1`` re-raises for a full traceback.
    """
    try:
        return step()
    except typer.Exit:
        raise
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, Terminated) else signal.SIGINT
        typer.echo("twinml: interrupted", err=True)
        raise typer.Exit(128 + int(signum)) from None
    except Exception as err:  # noqa: BLE001 - the CLI maps every failure to a code
        if os.environ.get("TWINML_DEBUG"):
            raise
        _fail(err)
        raise  # not reached: _fail always exits


def check_out_path(path: Path, kind: str = "folder", flag: str = "--out") -> Path:
    """The resolved `path` once twinml can write it there; creates nothing.

    Checked before any heavy work: a file where a folder must be (or the
    reverse), a file among the path's parents, or a folder that refuses
    writes. The nearest existing folder is probed with a temporary file.

    Parameters
    ----------
    path : Path
        The path given on the command line.
    kind : {"folder", "file"}
        Whether `path` names a folder or a file to write.
    flag : str
        The option's name, for the message.

    Raises
    ------
    ParameterError
        Naming the option, the path and the reason.
    """
    import tempfile

    from simulators.errors import ParameterError

    target = Path(path).expanduser().resolve()
    reason = None
    if kind == "file" and target.is_dir():
        reason = "it is a folder"
    elif kind == "folder" and target.exists() and not target.is_dir():
        reason = "it is a file"

    # nearest existing folder: a file there blocks the path
    parent = target if kind == "folder" else target.parent
    while reason is None and not parent.exists():
        parent = parent.parent
    if reason is None and not parent.is_dir():
        reason = f"{str(parent)!r} is a file, not a folder"
    if reason is None:
        try:
            fd, probe = tempfile.mkstemp(prefix=".twinml-probe.", dir=parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            reason = f"{err.strerror or err} in {str(parent)!r}"
    if reason is not None:
        raise ParameterError(
            f"{flag} must be a {kind} path twinml can write: got {str(path)!r} "
            f"({reason}); pass another {kind} path"
        )
    return target


def _fail(err: BaseException) -> None:
    """One-line reason on stderr and the exit code of the error's class."""
    from simulators.errors import TwinmlInputError

    code = 2 if isinstance(err, TwinmlInputError) else 1
    typer.echo(f"twinml: error: {err}", err=True)
    raise typer.Exit(code)


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="Reduced run for tests."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    retrain: bool = typer.Option(
        False, "--retrain", help="Ignore cached sweep and model."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of an existing Dask scheduler."
    ),
    out: Path = typer.Option(Path("twinml-out"), "--out", help="Output folder."),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """CRT what-if on the Rodero 01 heart: rank LV lead sites in one call."""
    _setup_logging(verbose, quiet)
    report = guarded(
        lambda: _demo(quick, retrain, seed, scheduler, out, threads, verbose)
    )
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(_human_report(report))


@app.command()
def simulate(
    mesh: str = typer.Option(
        ..., "--mesh", help="Mesh path or rodero01, lv-ellipsoid, biv-ellipsoid."
    ),
    protocol: str = typer.Option(
        "lbbb", "--protocol", help="sinus, lbbb, rbbb, rv-pacing, lv-pacing or crt."
    ),
    lv_lead: str | None = typer.Option(
        None, "--lv-lead", help="node:ID, aha:N or xyz:X,Y,Z (mm)."
    ),
    rv_lead: str | None = typer.Option(
        None, "--rv-lead", help="rv-apex (default), rv-septum, node:ID or xyz:..."
    ),
    vv_delay: float = typer.Option(0.0, "--vv-delay", help="LV first by this, ms."),
    av_delay: float = typer.Option(120.0, "--av-delay", help="Paced AV delay, ms."),
    out: Path = typer.Option(
        Path("twinml-out/activation.vtu"), "--out", help="VTU written."
    ),
    haemodynamics: bool = typer.Option(
        False, "--haemodynamics", help="Beat the heart; PV loops PNG beside the VTU."
    ),
    contractility: float | None = typer.Option(
        None, "--contractility", help="Active stress, times the healthy heart's."
    ),
    stiffness: float | None = typer.Option(
        None, "--stiffness", help="Passive stress, times the healthy heart's."
    ),
    heart_rate: float | None = typer.Option(
        None, "--heart-rate", help="Heart rate, bpm (default 70)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Activate a heart under a protocol; write a VTU and print QRS and TAT."""
    _setup_logging(verbose, quiet)
    circulation = (haemodynamics, contractility, stiffness, heart_rate)
    report = guarded(
        lambda: _simulate(
            mesh, protocol, lv_lead, rv_lead, vv_delay, av_delay, out, circulation
        )
    )
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(
        f"{report['protocol']} on {mesh}: QRS {report['qrs_ms']:.1f} ms, TAT "
        f"{report['tat_ms']:.1f} ms, LV TAT {report['lv_tat_ms']:.1f} ms, "
        f"septal-lateral delay {report['septal_lateral_delay_ms']:.1f} ms; "
        f"wrote {report['vtu']}"
    )
    if haemodynamics:
        typer.echo(
            f"  EDV {report['edv_ml']:.1f} mL, ESV {report['esv_ml']:.1f} mL, EF "
            f"{report['ef_pct']:.1f} %, CO {report['co_l_min']:.2f} L/min, MAP "
            f"{report['map_mmhg']:.1f} mmHg, dP/dtmax "
            f"{report['dpdt_max_mmhg_s']:.0f} mmHg/s, work difference "
            f"{report['work_diff_pct']:.1f} %; wrote {report['pv_png']}"
        )


def _simulate(
    mesh, protocol, lv_lead, rv_lead, vv_delay, av_delay, out, circulation=None
) -> dict:
    """Build the heart, activate it, write the VTU and return the report.

    ``circulation`` is ``(haemodynamics, contractility, stiffness,
    heart_rate)`` from the command line; with ``haemodynamics`` the heart
    also beats (`twinml.cli_circulation.simulate_haemodynamics`).
    """
    import numpy as np

    from simulators.ep.protocols import PacingPlan
    from simulators.ep.sites import check_site_text, parse_site
    from simulators.errors import ParameterError
    from simulators.hearts import load_heart
    from simulators.mesh.io import write_vtu
    from twinml.cli_circulation import circulation_options, simulate_haemodynamics
    from twinml.provenance import atomic_write

    # arguments first, so that bad input fails before any heavy work
    haemo, *factors = (False, None, None, None) if circulation is None else circulation
    if not haemo and any(f is not None for f in factors):
        raise ParameterError(
            "--contractility, --stiffness and --heart-rate need --haemodynamics"
        )
    options = circulation_options(*factors) if haemo else None
    if vv_delay != 0.0 and protocol != "crt":
        raise ParameterError(f"--vv-delay applies to crt only, not {protocol}")
    if av_delay != 120.0 and protocol not in ("crt", "rv-pacing", "lv-pacing"):
        raise ParameterError(f"--av-delay applies to paced protocols, not {protocol}")
    PacingPlan(
        protocol,
        lv_lead=None if lv_lead is None else 0,
        rv_lead=None if rv_lead is None else 0,
        vv_delay_ms=vv_delay,
        av_delay_ms=av_delay,
    )
    if Path(out).suffix != ".vtu":
        raise ParameterError(f"--out must be a .vtu file path, got {out}")
    vtu = check_out_path(out, "file")
    for text, role in ((lv_lead, "lv"), (rv_lead, "rv")):
        if text is not None:
            check_site_text(text, role)

    heart = load_heart(mesh)
    lv = None if lv_lead is None else parse_site(heart, lv_lead, "lv")
    rv = None if rv_lead is None else parse_site(heart, rv_lead, "rv")
    plan = PacingPlan(
        protocol, lv_lead=lv, rv_lead=rv, vv_delay_ms=vv_delay, av_delay_ms=av_delay
    )
    if options is None:
        act, extra, png = heart.activate(plan), {}, None
    else:
        act, extra, png = simulate_haemodynamics(heart, plan, options)
    ecg = heart.ecg(act)
    vtu.parent.mkdir(parents=True, exist_ok=True)
    write_vtu(
        heart.mesh.with_fields(
            point_data={
                "t_act_ms": act.t_ms,
                "aha_segment": heart.aha.astype(np.int32),
            },
            cell_data={"fibre": heart.fibres},
        ),
        vtu,
    )
    if png is not None:
        pv = vtu.with_name(f"{vtu.stem}-pv.png")
        extra["pv_png"] = str(atomic_write(pv, lambda tmp: tmp.write_bytes(png)))
    return {
        "protocol": protocol,
        "qrs_ms": ecg.qrs_ms,
        "tat_ms": act.markers.tat_ms,
        "lv_tat_ms": act.markers.lvat_ms,
        "mlvat_ms": act.markers.mlvat_ms,
        "septal_lateral_delay_ms": act.markers.septal_lateral_delay_ms,
        "lv_lead": None if lv is None else f"node:{lv}",
        "rv_lead": None
        if plan.protocol not in ("crt", "rv-pacing")
        else f"node:{heart.rv_apex if rv is None else rv}",
        "unreachable_nodes": int(np.isnan(act.t_ms).sum()),
        "vtu": str(vtu),
        **extra,
    }


def _demo(quick, retrain, seed, scheduler, out, threads, verbose) -> dict:
    """Check the demo's arguments, then run it."""
    from simulators.errors import ParameterError

    # arguments first, so that bad input fails before any heavy work
    if threads is not None and threads < 1:
        raise ParameterError(f"--threads must be at least 1, got {threads}")
    if not 0 <= seed < 2**32:
        raise ParameterError(f"--seed must lie in 0..{2**32 - 1}, got {seed}")
    if scheduler is not None and not _looks_like_address(scheduler):
        raise ParameterError(
            f"--scheduler must be a Dask scheduler address such as "
            f"tcp://127.0.0.1:8786, got {scheduler!r}"
        )

    import torch

    from twinml.demo import DemoConfig, run_demo

    quiet_libraries(verbose > 0)
    if threads is not None:
        torch.set_num_threads(threads)
    config = DemoConfig.quick(seed) if quick else DemoConfig().with_seed(seed)
    if quick and out == Path("twinml-out"):
        out = out / "quick"  # keep the full run's images and MLflow store
    return run_demo(config, out, scheduler=scheduler, retrain=retrain)


def _looks_like_address(address: str) -> bool:
    """``[tcp|tls|inproc|ucx]://host:port`` or ``host:port``."""
    scheme, sep, rest = address.partition("://")
    if sep and scheme not in ("tcp", "tls", "inproc", "ucx", "ws", "wss"):
        return False
    host, _, port = (rest if sep else address).rpartition(":")
    return bool(host) and port.isdigit()


def _human_report(r: dict) -> str:
    """A few lines for people."""
    lines = [
        "CRT what-if on the Rodero 01 heart (LBBB baseline, RV lead at the apex)",
        f"  LBBB: TAT {r['lbbb']['tat_ms']:.1f} ms, "
        f"MLVAT {r['lbbb']['mlvat_ms']:.1f} ms",
        f"  ranked {r['n_candidates']} LV lead sites in "
        f"{r['surrogate_s'] * 1000:.0f} ms "
        f"(reference solver: ~{r['solver_s']:.0f} s, speed-up {r['speedup']:.0f}x)",
        "  best sites (predicted / simulated MLVAT):",
    ]
    for s in r["best_sites"]:
        lines.append(
            f"    {s['site']:>12}  {s['predicted_mlvat_ms']:6.1f} / "
            f"{s['simulated_mlvat_ms']:6.1f} ms"
        )
    lines += [
        f"  best CRT: TAT {r['best_crt']['tat_ms']:.1f} ms "
        f"(LBBB {r['lbbb']['tat_ms']:.1f} ms)",
        f"  check on {r['n_checked']} top and random sites: Spearman "
        f"{r['spearman']:.2f}, regret {r['regret_ms']:.1f} ms",
        f"  activation error {r['mae_ms']:.2f} ms ({r['mae_pct_tat']:.1f} % of TAT); "
        f"graph baseline {r['baseline_mae_ms']:.2f} ms",
        f"  images: {', '.join(r['images'])}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    app()
