"""``twinml crt`` and the haemodynamics of ``twinml simulate --haemodynamics``.

Both drive `simulators.circulation.twin.CirculationTwin`: the activation
map of a pacing plan gives each wall patch its onset, and the patient's
multi-patch heart beats in its closed-loop circulation to a periodic steady
state.

- ``twinml simulate ... --haemodynamics`` adds the readouts of that beat
  (`Haemodynamics.summary`: EDV, ESV, EF, cardiac output, MAP, dP/dtmax,
  RV volumes, septal-to-lateral work difference, septal flash) to the
  simulate report and writes the LV and RV pressure-volume loops to a PNG
  beside the VTU.
- ``twinml crt`` remodels the patient's heart under LBBB (the chronic
  baseline), paces it (acute CRT) and remodels it again under pacing
  (adapted CRT, about six months); it prints the acute and chronic
  changes, the three haemodynamic summaries and the run's provenance, and
  writes ``pv-loops.png`` and ``crt.json`` into ``--out``, all or none.

The command `crt` is registered on the main app in
`twinml.cli._register_subcommands`. As there, progress goes to stderr, the
report to stdout, and bad input exits 2 with a one-line reason before any
heavy work where it can be checked early.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from simulators.circulation.circuit import CircuitParams
    from simulators.ep.protocols import PacingPlan, TissueParams
    from simulators.ep.ventricles import Activation, Ventricles

logger = logging.getLogger("twinml.cli.circulation")

__all__ = [
    "CirculationOptions",
    "circulation_options",
    "crt",
    "simulate_haemodynamics",
]

#: Files ``twinml crt`` writes into ``--out``.
CRT_FILES = ("pv-loops.png", "crt.json")


@dataclass(frozen=True)
class CirculationOptions:
    """Patient factors of the circulation, checked where they enter.

    Attributes
    ----------
    contractility, stiffness : float
        Active and passive stress scales relative to the healthy heart.
    heart_rate_bpm : float
        Heart rate, beats per minute.
    """

    contractility: float = 1.0
    stiffness: float = 1.0
    heart_rate_bpm: float = 70.0

    def circuit(self) -> CircuitParams:
        """Circulation constants at this heart rate."""
        from simulators.circulation.circuit import CircuitParams

        return CircuitParams(heart_rate_bpm=self.heart_rate_bpm)


def circulation_options(
    contractility: float | None = None,
    stiffness: float | None = None,
    heart_rate_bpm: float | None = None,
) -> CirculationOptions:
    """Check the circulation flags and return them with their defaults.

    Parameters
    ----------
    contractility, stiffness : float, optional
        Stress scales relative to the healthy heart (1 when not given).
    heart_rate_bpm : float, optional
        Heart rate (the healthy 70 bpm when not given).

    Raises
    ------
    ParameterError
        For a value outside its allowed range, naming the flag and range.
    """
    import math

    from simulators.circulation.circuit import CircuitParams
    from simulators.circulation.twin import RANGES
    from simulators.errors import ParameterError

    defaults = CirculationOptions()
    given = {
        "contractility": contractility,
        "stiffness": stiffness,
        "heart_rate_bpm": heart_rate_bpm,
    }
    values = {k: getattr(defaults, k) if v is None else v for k, v in given.items()}

    # stress scales: the ranges the twin accepts
    for name in ("contractility", "stiffness"):
        lo, hi = RANGES[name]
        if not (math.isfinite(values[name]) and lo <= values[name] <= hi):
            raise ParameterError(
                f"--{name} must lie in [{lo}, {hi}] (relative to the healthy "
                f"heart), got {values[name]}"
            )

    # heart rate: the circuit's own check names its range
    try:
        CircuitParams(heart_rate_bpm=values["heart_rate_bpm"])
    except ParameterError as err:
        raise ParameterError(f"--heart-rate: {err}") from None
    return CirculationOptions(**values)


def simulate_haemodynamics(
    heart: Ventricles, plan: PacingPlan, options: CirculationOptions
) -> tuple[Activation, dict[str, Any], bytes]:
    """Activation, haemodynamic readouts and PV-loop PNG of one plan.

    Parameters
    ----------
    heart : Ventricles
        The heart, from `simulators.hearts.load_heart`.
    plan : PacingPlan
        The pacing plan of ``twinml simulate``.
    options : CirculationOptions
        Patient factors (`circulation_options`).

    Returns
    -------
    act : Activation
        The activation map (default tissue), as ``heart.activate(plan)``.
    report : dict
        `Haemodynamics.summary` of the steady-state beat, plus the factors.
    png : bytes
        LV and RV pressure-volume loops of the beat.
    """
    from simulators.circulation.metrics import haemodynamics
    from simulators.circulation.twin import CirculationTwin
    from twinml.viz.pv import beat_loops, pv_loops_png

    _check_biventricular(heart, "--haemodynamics")
    twin = CirculationTwin(
        heart,
        contractility=options.contractility,
        stiffness=options.stiffness,
        circuit=options.circuit(),
    )
    act = twin.activation(plan)
    beat = twin.beat(plan)
    summary = haemodynamics(beat, twin.model).summary()
    logger.info(
        "%s beat: EF %.1f %%, MAP %.1f mmHg after %d beats",
        plan.protocol, summary["ef_pct"], summary["map_mmhg"], summary["n_beats"],
    )  # fmt: skip

    png = pv_loops_png(
        beat_loops({plan.protocol: beat}),
        f"{plan.protocol}, {options.heart_rate_bpm:g} bpm",
    )
    return act, {**summary, **asdict(options)}, png


def crt(
    mesh: str = typer.Option(
        "rodero01", "--mesh", help="Mesh path or rodero01, biv-ellipsoid."
    ),
    lv_lead: str = typer.Option(
        ..., "--lv-lead", help="node:ID, aha:N or xyz:X,Y,Z (mm)."
    ),
    vv_delay: float = typer.Option(0.0, "--vv-delay", help="LV first by this, ms."),
    rv_lead: str | None = typer.Option(
        None, "--rv-lead", help="rv-apex (default), rv-septum, node:ID or xyz:..."
    ),
    contractility: float | None = typer.Option(
        None, "--contractility", help="Active stress, times the healthy heart's."
    ),
    stiffness: float | None = typer.Option(
        None, "--stiffness", help="Passive stress, times the healthy heart's."
    ),
    cv_scale: float = typer.Option(
        1.0, "--cv-scale", help="Myocardial conduction velocity factor."
    ),
    heart_rate: float | None = typer.Option(
        None, "--heart-rate", help="Heart rate, bpm (default 70)."
    ),
    out: Path = typer.Option(
        Path("twinml-out/crt"), "--out", help="Folder for pv-loops.png, crt.json."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Acute and chronic response to CRT from the patient's remodelled LBBB heart."""
    from twinml.cli import _setup_logging, guarded

    _setup_logging(verbose, quiet)
    args = {
        "mesh": mesh,
        "lv_lead": lv_lead,
        "vv_delay_ms": vv_delay,
        "rv_lead": rv_lead,
        "contractility": contractility,
        "stiffness": stiffness,
        "cv_scale": cv_scale,
        "heart_rate_bpm": heart_rate,
        "out": str(out),
    }
    with _quiet_beats(verbose > 0):
        report = guarded(lambda: _crt(args, out))
    typer.echo(json.dumps(report) if as_json else _crt_human(report))


def _crt(args: dict[str, Any], out: Path) -> dict[str, Any]:
    """Check the arguments, run the three states, write the files."""
    from simulators.circulation.twin import CirculationTwin
    from simulators.ep.protocols import PacingPlan
    from simulators.ep.sites import check_site_text, parse_site
    from simulators.hearts import load_heart
    from twinml.cli import check_out_path
    from twinml.provenance import environment_info
    from twinml.viz.pv import beat_loops, pv_loops_png

    # arguments first, so that bad input fails before any heavy work
    options = circulation_options(
        args["contractility"], args["stiffness"], args["heart_rate_bpm"]
    )
    tissue = _tissue(args["cv_scale"])
    PacingPlan("crt", lv_lead=0, vv_delay_ms=args["vv_delay_ms"])
    check_site_text(args["lv_lead"], "lv")
    if args["rv_lead"] is not None:
        check_site_text(args["rv_lead"], "rv")
    folder = check_out_path(out, "folder")

    # heart, leads, and the three states
    start = time.perf_counter()
    heart = load_heart(args["mesh"])
    _check_biventricular(heart, "twinml crt")
    lv = parse_site(heart, args["lv_lead"], "lv")
    rv = None if args["rv_lead"] is None else parse_site(heart, args["rv_lead"], "rv")
    twin = CirculationTwin(
        heart,
        tissue=tissue,
        contractility=options.contractility,
        stiffness=options.stiffness,
        circuit=options.circuit(),
    )
    base = twin.baseline("lbbb")
    r = twin.crt(lv, vv_delay_ms=args["vv_delay_ms"], rv_lead=rv)
    elapsed = time.perf_counter() - start
    logger.info("CRT response in %.1f s", elapsed)

    # the report and the figure, then the files, all or none
    report = {
        "mesh": args["mesh"],
        "lv_lead": f"node:{lv}",
        "rv_lead": f"node:{heart.rv_apex if rv is None else rv}",
        "vv_delay_ms": args["vv_delay_ms"],
        "patient": {**asdict(options), "cv_scale": tissue.cv_scale},
        "acute": r.acute,
        "chronic": r.chronic,
        "lbbb": r.lbbb.summary(),
        "crt_acute": r.crt_acute.summary(),
        "crt_adapted": r.crt_adapted.summary(),
        "baseline_adaptation": _adaptation(base),
        "crt_adaptation": _adaptation(r.adapted),
        "elapsed_s": elapsed,
        "files": {name: str(folder / name) for name in CRT_FILES},
        "provenance": {
            "command": "crt",
            "arguments": args,
            "seed": None,
            "seed_note": "no random draws: the run is deterministic",
            **environment_info(),
        },
    }
    labels = {"lbbb": "LBBB", "acute": "CRT acute", "adapted": "CRT adapted"}
    png = pv_loops_png(
        beat_loops({labels[k]: b for k, b in r.beats.items()}),
        f"CRT, LV lead {args['lv_lead']} (node {lv}), VV {args['vv_delay_ms']:g} "
        f"ms, on {args['mesh']}",
    )
    _write_crt_files(folder, png, report)
    return report


def _write_crt_files(folder: Path, png: bytes, report: dict[str, Any]) -> None:
    """Write `CRT_FILES` into `folder`, all or none.

    The folder is made here, when there is something to write; when the
    write fails, the folders made for it are removed again.
    """
    from simulators.mesh.io import atomic_paths

    made = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        paths = [folder / name for name in CRT_FILES]
        with atomic_paths(paths) as (tmp_png, tmp_json):
            tmp_png.write_bytes(png)
            tmp_json.write_text(json.dumps(report, indent=2) + "\n")
    except BaseException:
        for path in made:  # innermost first; only empty folders go
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def _check_biventricular(heart: Ventricles, what: str) -> None:
    """The circulation model needs an RV free wall and a septum."""
    from simulators.errors import MeshError

    if not heart.has_rv:
        raise MeshError(
            f"{what} needs a biventricular heart (the circulation model beats an "
            "RV free wall and a septum); this mesh has no RV: use rodero01, "
            "biv-ellipsoid or a mesh with RV surfaces"
        )


@contextlib.contextmanager
def _quiet_beats(verbose: bool) -> Iterator[None]:
    """Keep the beat loop's per-step log lines (about 90 a run) for ``-v``."""
    log = logging.getLogger("simulators.circulation.beats")
    level = log.level
    if not verbose:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _tissue(cv_scale: float) -> TissueParams:
    """Default tissue with the myocardial velocities scaled, named on error."""
    from simulators.ep.protocols import TissueParams
    from simulators.errors import ParameterError

    try:
        return TissueParams(cv_scale=cv_scale)
    except ParameterError as err:
        raise ParameterError(f"--cv-scale: {err}") from None


def _adaptation(adapted: Any) -> dict[str, Any]:
    """Steps, convergence and last relative change of an adaptation."""
    return {
        "n_steps": int(adapted.n_steps),
        "converged": bool(adapted.converged),
        "max_change": float(adapted.max_change),
    }


def _crt_human(r: dict[str, Any]) -> str:
    """A few lines for people."""
    a, c = r["acute"], r["chronic"]
    lines = [
        f"CRT on {r['mesh']}: LV lead {r['lv_lead']}, RV lead {r['rv_lead']}, "
        f"VV {r['vv_delay_ms']:g} ms ({r['elapsed_s']:.1f} s)"
    ]
    for key, label in (
        ("lbbb", "LBBB"),
        ("crt_acute", "CRT acute"),
        ("crt_adapted", "CRT adapted"),
    ):
        h = r[key]
        lines.append(
            f"  {label:<12} EDV {h['edv_ml']:6.1f} mL, ESV {h['esv_ml']:6.1f} mL, "
            f"EF {h['ef_pct']:4.1f} %, dP/dtmax {h['dpdt_max_mmhg_s']:5.0f} mmHg/s, "
            f"work difference {h['work_diff_pct']:6.1f} %"
        )
    lines += [
        f"  acute: dP/dtmax {a['d_dpdt_max_pct']:+.1f} %, work difference "
        f"{a['d_work_diff_pct']:+.1f} points, EF {a['d_ef_points']:+.1f} points",
        f"  chronic: LVESV {c['d_lvesv_pct']:+.1f} %, LVEDV {c['d_lvedv_pct']:+.1f} "
        f"%, responder: {'yes' if c['responder'] else 'no'} (LVESV -15 % or more)",
        f"  wrote {', '.join(r['files'].values())}",
    ]
    return "\n".join(lines)
