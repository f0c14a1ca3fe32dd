"""Speed of the circulation model on the real heart beside the `circulation` package.

Ours: `simulators.circulation` on the Rodero 01 ventricles (2.0 mm, 52,210
nodes), default patient (`CirculationTwin` with healthy factors), measured
in one run after a warm-up beat (numba JIT and its cache excluded; the
warm-up is reported on its own row):

* one beat: `simulate` from the LBBB periodic state, as the acute CRT beat
  starts (one loop beat that confirms the steady state, rtol 1e-6, plus
  the recorded beat, rtol 1e-8 at 1 ms with the wall state at each
  sample), best of `--repeats`;
* steady state: `simulate` under LBBB from the default start
  (`initial_volumes`), beats to the 0.05 mL tolerance plus the record;
* set-points: the healthy heart's sinus beat (one Eikonal solve and a
  steady state), which every patient needs once;
* LBBB baseline: `CirculationTwin.baseline("lbbb")`, the healthy heart
  remodelled under LBBB until it settles (activation cached);
* CRT, one site: `CirculationTwin.crt` from that baseline (Eikonal solve
  of the plan, acute beat, 16 adaptation steps);
* full CRT response: a fresh twin (mesh geometry reused) answering one
  site end to end: set-points, LBBB and CRT activations, baseline, acute
  and adapted CRT, the whole reference pipeline a surrogate replaces.

Reference: the `circulation` package (MIT, v0.4.0, Finsberg; pure numpy,
pint and rich, FEniCS not needed despite its summary line), its
Regazzoni et al. 2020 closed loop (time-varying elastance chambers, RLC
vessels; arXiv:2011.15040) with default parameters except the heart rate,
set to our 70 bpm so that a beat lasts as long (its default is 75 bpm).
It integrates with its default explicit Euler at dt = 1 ms. Timed is
`Regazzoni2020.solve(num_beats=1)` with its text-file dump
(`save_state`) stubbed out, as ours writes nothing. It has no
steady-state loop of its own: the steady-state row calls ``solve`` beat
by beat from its default initial state until no start-of-beat volume
(chambers, and vessels as C p) changes by more than our 0.05 mL.

Right-hand-side evaluations are counted in a separate, untimed pass (a
counting wrapper around `simulators.circulation.kernels.rhs` and around
the reference model's ``rhs``); LSODA's finite-difference Jacobians are
included. ``ours/ref`` compares the same task; ``in_ref_beats`` is each
time in units of one reference beat; ``steps`` counts adaptation steps
(about one to two weeks of remodelling each).

Run from the repository root::

    .venv/bin/python -m experiments.benchmarks.circulation
    .venv/bin/python -m experiments.benchmarks.circulation --json > circ.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from simulators.circulation import kernels
from simulators.circulation.beats import simulate
from simulators.circulation.twin import CirculationTwin
from simulators.ep.protocols import PacingPlan
from simulators.ep.sites import parse_site
from simulators.hearts import load_heart

logger = logging.getLogger("benchmarks.circulation")

#: Steady-state tolerance of both models, mL (ours: `simulate`'s default).
TOL_ML = 0.05
#: Beats the reference may take to its steady state.
REF_MAX_BEATS = 300
HEART_RATE_BPM = 70.0
LV_LEAD = "aha:5"
COLUMNS = [
    "task", "ours_s", "ours_beats", "ours_rhs", "ref_s", "ref_beats",
    "ref_rhs", "ours/ref", "in_ref_beats", "steps",
]  # fmt: skip


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of `repeats` calls and the last result."""
    runs = [_timed(fn) for _ in range(repeats)]
    return min(t for t, _ in runs), runs[-1][1]


@contextlib.contextmanager
def _counting(owner: Any, name: str) -> Iterator[list[int]]:
    """Count calls of ``owner.name`` inside the block."""
    real, count = getattr(owner, name), [0]

    def counted(*args: Any) -> Any:
        count[0] += 1
        return real(*args)

    setattr(owner, name, counted)
    try:
        yield count
    finally:
        setattr(owner, name, real)


def _rhs_count(fn: Callable[[], Any]) -> int:
    """Right-hand-side evaluations of our model during ``fn()``."""
    with _counting(kernels, "rhs") as count:
        fn()
    return count[0]


# ---------------------------------------------------------------- ours
def ours(repeats: int) -> dict[str, dict[str, Any]]:
    """Timings of our model on the real heart, by task."""
    heart = load_heart("rodero01")
    lv = parse_site(heart, LV_LEAD, "lv")
    t_geo, twin = _timed(lambda: CirculationTwin(heart))
    lbbb = PacingPlan("lbbb")
    t_act, onset = _timed(lambda: twin.onsets(lbbb))
    model = twin.model
    rows: dict[str, dict[str, Any]] = {
        "mesh geometry (patches)": {"ours_s": t_geo},
        "activation (Eikonal, LBBB)": {"ours_s": t_act},
    }

    # beats: warm-up (JIT), steady state from the default start, one beat
    t_warm, _ = _timed(lambda: simulate(model, np.zeros(model.n_patches)))
    rows["warm-up (JIT, first steady state)"] = {"ours_s": t_warm}
    t_ss, steady = _timed(lambda: simulate(model, onset))
    t_beat, beat = _best(
        lambda: simulate(model, onset, v_start_ml=steady.end_state), repeats
    )
    rows["one beat"] = {"ours_s": t_beat, "ours_beats": beat.n_beats}
    rows["steady state (default start)"] = {
        "ours_s": t_ss, "ours_beats": steady.n_beats,
    }  # fmt: skip
    rows["one beat"]["ours_rhs"] = _rhs_count(
        lambda: simulate(model, onset, v_start_ml=steady.end_state)
    )
    rows["steady state (default start)"]["ours_rhs"] = _rhs_count(
        lambda: simulate(model, onset)
    )

    # the CRT pipeline on this twin, then end to end on a fresh one
    t_sp, _ = _timed(lambda: twin.set_points)
    rows["set-points (sinus, healthy)"] = {"ours_s": t_sp}
    t_base, base = _timed(lambda: twin.baseline("lbbb"))
    rows["LBBB baseline adaptation"] = {
        "ours_s": t_base, "steps": base.n_steps, "converged": base.converged,
    }  # fmt: skip
    t_crt, r = _timed(lambda: twin.crt(lv))
    rows["CRT, one site (acute + adapted)"] = {
        "ours_s": t_crt, "steps": r.adapted.n_steps,
    }  # fmt: skip
    fresh = CirculationTwin(heart, geometry=twin.geometry)
    t_full, _ = _timed(lambda: fresh.crt(lv))
    rows["full CRT response (baseline + acute + adapted)"] = {"ours_s": t_full}
    counted = CirculationTwin(heart, geometry=twin.geometry)
    rows["full CRT response (baseline + acute + adapted)"]["ours_rhs"] = _rhs_count(
        lambda: counted.crt(lv)
    )
    return rows


# ------------------------------------------------------------ reference
def load_reference() -> tuple[type | None, str]:
    """The `circulation` package's Regazzoni 2020 class, or why not."""
    # run as a script, this file's folder leads sys.path and its name
    # shadows the package: look past it
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        from circulation.regazzoni2020 import Regazzoni2020
    except ImportError as err:
        return None, (
            f"circulation is not importable ({err}); pip install "
            "circulation==0.4.0 (the bench extra; Python 3.11 or newer)"
        )
    return Regazzoni2020, f"circulation {metadata.version('circulation')}"


def reference(cls: type, repeats: int, folder: Path) -> dict[str, dict[str, Any]]:
    """Timings of the Regazzoni 2020 model: one beat and its steady state."""
    logging.getLogger("circulation").setLevel(logging.WARNING)

    def build() -> Any:
        model = cls(outdir=folder, parameters={"HR": HEART_RATE_BPM / 60.0})
        model.save_state = lambda: None  # no text-file dump, as ours
        return model

    t_build, model = _timed(build)
    start = model.state.copy()
    t_beat, _ = _best(lambda: model.solve(num_beats=1, initial_state=start), repeats)
    with _counting(model, "rhs") as count:
        model.solve(num_beats=1, initial_state=start)
    rows = {
        "reference setup": {"ref_s": t_build},
        "one beat": {"ref_s": t_beat, "ref_beats": 1, "ref_rhs": count[0]},
    }

    # steady state: beat by beat until the start-of-beat volumes repeat
    def steady() -> tuple[int, float]:
        model = build()
        state = model.state.copy()
        for beat in range(1, REF_MAX_BEATS + 1):
            model.solve(num_beats=1, initial_state=state)
            change = _volumes(cls, model, model.state) - _volumes(cls, model, state)
            state = model.state.copy()
            if np.abs(change).max() < TOL_ML:
                return beat, float(np.abs(change).max())
        return REF_MAX_BEATS, float(np.abs(change).max())

    t_ss, (n_beats, residual) = _timed(steady)
    if residual >= TOL_ML:
        logger.warning(
            "the reference did not reach %.2g mL in %d beats (%.3g mL)",
            TOL_ML, n_beats, residual,
        )  # fmt: skip
    rows["steady state (default start)"] = {
        "ref_s": t_ss, "ref_beats": n_beats, "ref_rhs": n_beats * count[0],
    }  # fmt: skip
    return rows


def _volumes(cls: type, model: Any, state: np.ndarray) -> np.ndarray:
    """Chamber and vessel volumes (C p) of a reference state, mL."""
    v = cls.compute_volumes(model.parameters, state)
    keys = ("V_LA", "V_LV", "V_RA", "V_RV", "V_AR_SYS", "V_VEN_SYS", "V_AR_PUL")
    return np.array([v[k] for k in (*keys, "V_VEN_PUL")])


# --------------------------------------------------------------- report
def merge(
    ours_rows: dict[str, dict[str, Any]], ref_rows: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per task with both models' columns and the ratios."""
    ref_beat = ref_rows.get("one beat", {}).get("ref_s")
    rows = []
    for task in [*ours_rows, *(t for t in ref_rows if t not in ours_rows)]:
        row = dict.fromkeys(COLUMNS)
        row.update(task=task, **ours_rows.get(task, {}), **ref_rows.get(task, {}))
        if row["ours_s"] is not None and row["ref_s"] is not None:
            row["ours/ref"] = row["ours_s"] / row["ref_s"]
        if row["ours_s"] is not None and ref_beat:
            row["in_ref_beats"] = row["ours_s"] / ref_beat
        rows.append(row)
    return rows


def _fmt(value: Any, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else format(value, f"{width}{spec}")


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of the benchmark rows."""
    head = (
        f"{'task':<48} {'ours_s':>8} {'beats':>5} {'rhs':>7} {'ref_s':>7} "
        f"{'beats':>5} {'rhs':>7} {'ours/ref':>8} {'in_ref_beats':>12} "
        f"{'steps':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['task']:<48} {_fmt(r['ours_s'], '.3f', 8)} "
            f"{_fmt(r['ours_beats'], 'd', 5)} {_fmt(r['ours_rhs'], 'd', 7)} "
            f"{_fmt(r['ref_s'], '.3f', 7)} {_fmt(r['ref_beats'], 'd', 5)} "
            f"{_fmt(r['ref_rhs'], 'd', 7)} {_fmt(r['ours/ref'], '.1f', 8)} "
            f"{_fmt(r['in_ref_beats'], '.1f', 12)} {_fmt(r['steps'], 'd', 5)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--repeats", type=int, default=3, help="timed single beats")
    parser.add_argument(
        "--no-ref", action="store_true", help="skip the circulation package"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("simulators.circulation").setLevel(logging.WARNING)

    cls, note = (None, "skipped (--no-ref)") if args.no_ref else load_reference()
    if cls is None and not args.no_ref:
        logger.warning("reference not timed: %s", note)
    ref_rows: dict[str, dict[str, Any]] = {}
    if cls is not None:
        with tempfile.TemporaryDirectory(prefix="regazzoni-") as folder:
            ref_rows = reference(cls, args.repeats, Path(folder))
    rows = merge(ours(args.repeats), ref_rows)

    versions = {}
    for pkg in ("twinml", "numpy", "scipy", "numba", "circulation"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    if args.json:
        print(json.dumps({"rows": rows, "reference": note, "versions": versions}))
    else:
        print(format_table(rows))
        print(f"reference: {note}; Regazzoni 2020 at {HEART_RATE_BPM:g} bpm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
