"""Resumable sweeps of the reference pipeline: activation and CRT response.

Each sample of a `twinml.data.space` space becomes a heart (the parametric
biventricular ellipsoid of its shape parameters, or one real heart for
every sample), and `simulate_sample` runs the reference pipeline on it:

1. LBBB activation, and CRT from the LV lead (nearest candidate to the
   sample's (height, angle) pair) and the RV apex with the VV delay;
2. QRS duration of each (pseudo-ECG, `Ventricles.ecg`), total activation
   time (TAT), LV activation time (LVAT) and QLV at the lead;
3. with ``circulation``: `CirculationTwin.crt` from the remodelled LBBB
   heart: EF, dP/dtmax and septal-to-lateral work difference under LBBB
   and their acute changes, the chronic change of LVESV and LVEDV and the
   responder flag (LVESV -15 % or less).

Samples run through Dask (`twinml.data.sweep.dask_client`: a local cluster
on 127.0.0.1 by default, an existing scheduler by address, the same code).
The client writes each finished sample as its own file,
``samples/<key>.npz``, atomically (`twinml.data.sample_store`); ``key``
hashes the pipeline version, the sample and the settings. A sweep started
again skips every valid file and recomputes the rest; a damaged file (bad
zip, CRC, missing array, wrong key or size) is logged, removed and
recomputed.

Each ``.npz`` holds ``t_lbbb_ms`` and ``t_crt_ms`` (float32, shape
(n_points,), NaN where scar blocks activation), for parametric hearts the
mesh (``points`` float32 (n_points, 3) mm, ``cells`` int32 (n_cells, 4),
``region`` int8 (n_cells,)), and ``meta_json``: the key, pipeline version,
sample, settings, scalar targets and the seconds the sample took.

Run from the shell::

    python -m twinml.data.response_sweep -n 64 --out sweeps/biv --workers 2
    python -m twinml.data.response_sweep -n 64 --mesh rodero01 --out sweeps/r
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulators.errors import ParameterError
from twinml.data.sample_store import SampleStore
from twinml.data.space import ParameterSpace, response_space, shape_kwargs, wrap_deg
from twinml.provenance import (
    atomic_write_json,
    environment_info,
    sha256_file,
    sha256_json,
)

logger = logging.getLogger(__name__)

#: Bump when `simulate_sample` changes what it computes: every key changes.
PIPELINE_VERSION = "response/2"

#: The settings' ``mesh`` that builds each sample's own parametric heart.
PARAMETRIC = "biv"

#: Defaults of the sample entries a space may leave out.
SAMPLE_DEFAULTS = {
    "v_fibre_mm_ms": 0.6,
    "v_cross_mm_ms": 0.24,
    "v_endo_mm_ms": 2.0,
    "scar": 0,
    "contractility": 1.0,
    "stiffness": 1.0,
    "lv_lead_apicobasal": 0.7,
    "lv_lead_rotational_deg": 180.0,
    "vv_delay_ms": 0.0,
}


@dataclass(frozen=True)
class ResponseSettings:
    """What every sample of a sweep shares.

    Parameters
    ----------
    mesh : str
        ``biv`` (each sample's own biventricular ellipsoid), or a heart for
        every sample: ``rodero01`` or a mesh path.
    h_mm : float
        Grid step of the parametric hearts, mm.
    circulation : bool
        Run the CRT response (about 7 s a sample); False for activation only.
    crt_max_steps : int
        Adaptation steps of the CRT follow-up (16: about six months).
    alpha_endo_deg, alpha_epi_deg : float
        Fibre helix angles, degrees.
    mesh_sha256 : str or None
        Set by `run_response_sweep` for a mesh file, so the keys follow
        its content.
    """

    mesh: str = PARAMETRIC
    h_mm: float = 2.0
    circulation: bool = True
    crt_max_steps: int = 16
    alpha_endo_deg: float = 60.0
    alpha_epi_deg: float = -60.0
    mesh_sha256: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0.5 <= self.h_mm <= 10.0:
            raise ParameterError(f"h_mm must lie in [0.5, 10] mm, got {self.h_mm}")
        if self.crt_max_steps < 1:
            raise ParameterError(
                f"crt_max_steps must be >= 1, got {self.crt_max_steps}"
            )


@dataclass
class SweepReport:
    """What a run did: counts, failures and time."""

    n_samples: int
    n_cached: int
    n_computed: int
    failures: dict[str, str]
    seconds: float
    out: str

    def as_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


# ----------------------------------------------------------------- keys
def sample_key(sample: dict, settings: ResponseSettings) -> str:
    """32 hex digits of the hash of (pipeline version, sample, settings)."""
    import twinml

    identity = asdict(settings)
    identity["mesh_sha256"] = settings.mesh_sha256
    return sha256_json(
        {
            "pipeline": PIPELINE_VERSION,
            "twinml": twinml.__version__,
            "sample": sample,
            "settings": identity,
        }
    )[:32]


# --------------------------------------------------------------- worker
#: Per worker process: the last hearts and circulation twins built. Samples
#: that share a shape (or a whole twin, differing only in therapy) and run
#: on the same worker reuse the mesh, and the remodelled LBBB baseline.
_HEARTS: dict[Any, Any] = {}
_TWINS: dict[Any, Any] = {}
_CACHE_SIZE = 4


def _remember(cache: dict, key, build):
    """``cache[key]``, built on a miss; keeps the `_CACHE_SIZE` newest."""
    if key not in cache:
        while len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = build()
    return cache[key]


def _heart(sample: dict, settings: ResponseSettings):
    """The sample's heart: its own ellipsoid, or the shared one (cached per
    worker process)."""
    from simulators.ep.ventricles import Ventricles
    from simulators.hearts import load_heart, mesh_fibres, with_coordinates
    from simulators.mesh.biv import biv_ellipsoid

    angles = (settings.alpha_endo_deg, settings.alpha_epi_deg)
    if settings.mesh != PARAMETRIC:
        key = (settings.mesh, *angles)
        return _remember(_HEARTS, key, lambda: load_heart(settings.mesh, *angles))

    def build():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # coarse test grids
            mesh = biv_ellipsoid(**shape_kwargs(sample), h_mm=settings.h_mm)
        mesh = with_coordinates(mesh)
        return Ventricles(mesh, mesh_fibres(mesh, *angles))

    shape = json.dumps(shape_kwargs(sample), sort_keys=True)
    return _remember(_HEARTS, (shape, settings.h_mm, *angles), build)


def simulate_sample(sample: dict, settings: ResponseSettings) -> dict[str, Any]:
    """Run the reference pipeline on one sample.

    Returns
    -------
    dict
        ``arrays`` (name to ndarray, see the module notes) and ``meta``
        (``scalars`` among them).
    """
    from simulators.ep.protocols import PacingPlan, TissueParams
    from twinml.twins.folder import scar_cells
    from twinml.twins.sites import lv_lead_node

    start = time.perf_counter()
    s = {**SAMPLE_DEFAULTS, **sample}
    heart = _heart(sample, settings)
    tissue = TissueParams(
        v_fibre=s["v_fibre_mm_ms"], v_cross=s["v_cross_mm_ms"], v_endo=s["v_endo_mm_ms"]
    )
    scar = None
    if s["scar"]:
        scar = scar_cells(heart, _scar_of(s))

    # activation under LBBB and CRT, ECG and markers
    lead = lv_lead_node(
        heart, s["lv_lead_apicobasal"], wrap_deg(s["lv_lead_rotational_deg"])
    )
    lbbb = heart.activate(PacingPlan("lbbb"), tissue, scar)
    crt_plan = PacingPlan("crt", lv_lead=lead, vv_delay_ms=s["vv_delay_ms"])
    crt = heart.activate(crt_plan, tissue, scar)
    scalars = {
        "lv_lead_node": lead,
        "qlv_ms": heart.qlv_ms(lbbb, lead),
        **_markers("lbbb", lbbb, heart.ecg(lbbb)),
        **_markers("crt", crt, heart.ecg(crt)),
    }

    # haemodynamics: remodelled LBBB heart, acute and chronic CRT
    if settings.circulation:
        scalars.update(_circulation(heart, tissue, scar, s, lead, settings))
    arrays = {
        "t_lbbb_ms": lbbb.t_ms.astype(np.float32),
        "t_crt_ms": crt.t_ms.astype(np.float32),
    }
    if settings.mesh == PARAMETRIC:
        arrays["points"] = heart.mesh.points.astype(np.float32)
        arrays["cells"] = heart.mesh.cells.astype(np.int32)
        arrays["region"] = heart.mesh.cell_data["region"].astype(np.int8)
    meta = {
        "sample": sample,
        "settings": asdict(settings),
        "scalars": {k: _plain(v) for k, v in scalars.items()},
        "n_points": int(heart.mesh.n_points),
        "seconds": time.perf_counter() - start,
    }
    return {"arrays": arrays, "meta": meta}


def _scar_of(s: dict) -> dict:
    return {
        "radius_mm": s.get("scar_radius_mm", 15.0),
        "apicobasal": s.get("scar_apicobasal", 0.5),
        "rotational_deg": wrap_deg(s.get("scar_rotational_deg", 180.0)),
        "transmurality": s.get("scar_transmurality", 1.0),
        "border_mm": s.get("scar_border_mm", 3.0),
    }


def _markers(name: str, act, ecg) -> dict[str, float]:
    m = act.markers
    return {
        f"qrs_{name}_ms": ecg.qrs_ms,
        f"tat_{name}_ms": m.tat_ms,
        f"lvat_{name}_ms": m.lvat_ms,
        f"unreachable_{name}": int(np.isnan(act.t_ms).sum()),
    }


def _circulation(heart, tissue, scar, s, lead, settings) -> dict[str, Any]:
    from simulators.circulation.twin import CirculationTwin

    # the twin (and its remodelled baseline) is shared by samples that
    # differ only in therapy
    therapy = ("lv_lead_apicobasal", "lv_lead_rotational_deg", "vv_delay_ms")
    rest = json.dumps({k: v for k, v in s.items() if k not in therapy}, sort_keys=True)
    key = (settings.mesh, settings.h_mm, rest)
    twin = _remember(
        _TWINS,
        key,
        lambda: CirculationTwin(
            heart,
            tissue=tissue,
            scar=scar,
            contractility=s["contractility"],
            stiffness=s["stiffness"],
        ),
    )
    r = twin.crt(lead, vv_delay_ms=s["vv_delay_ms"], max_steps=settings.crt_max_steps)
    base = twin.baseline("lbbb")
    return {
        "ef_lbbb_pct": r.lbbb.ef_pct,
        "ef_crt_acute_pct": r.crt_acute.ef_pct,
        "ef_crt_adapted_pct": r.crt_adapted.ef_pct,
        "dpdt_max_lbbb_mmhg_s": r.lbbb.dpdt_max_mmhg_s,
        "work_diff_lbbb_pct": r.lbbb.work_diff_pct,
        **r.acute,
        **r.chronic,
        "baseline_converged": bool(base.converged),
    }


def _plain(value: Any) -> Any:
    """JSON scalar of a numpy or Python value (NaN as None)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if np.isfinite(value) else None


# ---------------------------------------------------------------- sweep
def run_response_sweep(
    samples: list[dict],
    settings: ResponseSettings,
    out: str | Path,
    scheduler: str | None = None,
    n_workers: int | None = None,
    on_saved: Callable[[str], None] | None = None,
    provenance: dict | None = None,
) -> SweepReport:
    """Compute every sample not already stored under `out`, through Dask.

    Parameters
    ----------
    samples : list of dict
        From `ParameterSpace.sample`; shape entries only with ``mesh="biv"``.
    settings : ResponseSettings
    out : str or Path
        The sweep's folder (``sweep.json`` and ``samples/``).
    scheduler : str, optional
        Address of an existing Dask scheduler; a local cluster otherwise.
    n_workers : int, optional
        Workers of the local cluster.
    on_saved : callable, optional
        Called with each key once its file is in place (progress, tests).
    provenance : dict, optional
        Space, seed and method, stored in ``sweep.json``.

    Returns
    -------
    SweepReport
        Samples found stored, computed now, and failed (key to reason).
    """
    from dask.distributed import as_completed

    from twinml.data.sweep import dask_client

    # settings and samples first; keys; what is already done
    start = time.perf_counter()
    settings = _with_mesh_hash(settings, samples)
    store = SampleStore(out, PIPELINE_VERSION)
    store.folder.mkdir(parents=True, exist_ok=True)
    if n := store.remove_partials():
        logger.info("removed %d partial files of an interrupted sweep", n)
    keys = [sample_key(s, settings) for s in samples]
    todo = {k: s for k, s in zip(keys, samples, strict=True) if store.load(k) is None}
    n_cached = len(set(keys)) - len(todo)
    _write_manifest(store, settings, samples, keys, provenance, None)
    logger.info(
        "response sweep: %d samples, %d stored, %d to compute",
        len(samples),
        n_cached,
        len(todo),
    )

    # compute the rest; the client writes each file as it arrives
    failures: dict[str, str] = {}
    computed = 0
    if todo:
        with dask_client(scheduler, n_workers) as client:
            futures = client.map(
                simulate_sample,
                list(todo.values()),
                settings=settings,
                key=[f"response-{k}" for k in todo],
                pure=False,
            )
            by_future = dict(zip(futures, todo, strict=True))
            for future in as_completed(futures):
                key = by_future[future]
                try:
                    result = future.result()
                except Exception as err:  # noqa: BLE001 - one sample's failure
                    failures[key] = f"{type(err).__name__}: {err}"
                    logger.warning("sample %s failed: %s", key, failures[key])
                    continue
                store.save(key, result)
                computed += 1
                if on_saved is not None:
                    on_saved(key)
    report = SweepReport(
        len(samples),
        n_cached,
        computed,
        failures,
        time.perf_counter() - start,
        str(out),
    )
    _write_manifest(store, settings, samples, keys, provenance, report)
    logger.info(
        "response sweep: %d computed in %.1f s, %d failed",
        computed,
        report.seconds,
        len(failures),
    )
    return report


def read_sweep(out: str | Path) -> list[dict[str, Any]]:
    """Samples and scalar targets of every valid file of a sweep folder."""
    store = SampleStore(out, PIPELINE_VERSION)
    rows = []
    for key in store.keys():
        entry = store.load(key)
        if entry is not None:
            meta = entry["meta"]
            rows.append({"key": key, **meta["sample"], **meta["scalars"]})
    return rows


def _with_mesh_hash(settings: ResponseSettings, samples: list[dict]):
    """Refuse shape entries on a fixed heart; hash a mesh file's content."""
    from dataclasses import replace

    if settings.mesh == PARAMETRIC:
        return settings
    shaped = sorted({k for s in samples for k in shape_kwargs(s)})
    if shaped:
        raise ParameterError(
            f"shape parameters {shaped} apply to mesh='biv' only; sample "
            "response_space().without('shape') for one heart"
        )
    path = Path(settings.mesh)
    return replace(settings, mesh_sha256=sha256_file(path) if path.is_file() else None)


def _write_manifest(store, settings, samples, keys, provenance, report) -> None:
    atomic_write_json(
        store.root / "sweep.json",
        {
            "pipeline": PIPELINE_VERSION,
            "settings": asdict(settings),
            "provenance": provenance or {},
            "samples": [{"key": k, **s} for k, s in zip(keys, samples, strict=True)],
            "report": None if report is None else report.as_dict(),
            "environment": environment_info(),
        },
    )


# ------------------------------------------------------------ shell use
def main(argv: list[str] | None = None) -> int:
    """``python -m twinml.data.response_sweep``: sample a space and sweep it."""
    from twinml.cli import quiet_libraries

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("-n", "--n-samples", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=("sobol", "lhs"), default="sobol")
    parser.add_argument("--mesh", default=PARAMETRIC, help="biv, rodero01 or a path")
    parser.add_argument("--h-mm", type=float, default=2.0)
    parser.add_argument("--no-circulation", action="store_true")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="twinml: %(message)s"
    )
    quiet_libraries()

    space: ParameterSpace = response_space()
    if args.mesh != PARAMETRIC:
        space = space.without("shape")
    samples = space.sample(args.n_samples, args.seed, args.method)
    settings = ResponseSettings(
        mesh=args.mesh, h_mm=args.h_mm, circulation=not args.no_circulation
    )
    provenance = {"space": space.as_dict(), "seed": args.seed, "method": args.method}
    report = run_response_sweep(
        samples, settings, args.out, args.scheduler, args.workers, None, provenance
    )
    sys.stdout.write(json.dumps(report.as_dict()) + "\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
