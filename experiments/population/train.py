"""Train, calibrate and test the population emulator on the sweeps.

Reads the sets of `experiments/population/sweeps.py` (``train`` and every
``train_extra*``, ``calibration``, ``unseen_params``, ``unseen_shapes``,
``real_heart``), trains the ensemble on the training sets only (Lightning,
MLflow at
``<out>/mlflow.db``), fits the interval factors on ``calibration``, writes
the model (members, ``calibration.json``, ``model_card.json``) to
``--out`` and the test figures, beside their baselines, to ``--results``.

    python experiments/population/train.py \\
        --sweeps $TWINML_CACHE/population --out twinml/pretrained/population

Baselines need no learning: for activation, the anisotropic shortest path
over the mesh edges from the same sources, times one factor fitted on the
training set (as in the demo); for the scalars, the training mean.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score, roc_auc_score

from simulators.mesh.biv import biv_ellipsoid
from twinml.data.markers import MARKER_INPUTS, TwinMarkers
from twinml.data.population import TARGETS, Example, example
from twinml.data.response_sweep import PIPELINE_VERSION, _scar_of
from twinml.data.sample_store import SampleStore
from twinml.data.space import population_space, shape_kwargs
from twinml.provenance import atomic_write_json, environment_info, sha256_json
from twinml.query.map_kernels import map_statistics
from twinml.query.population import (
    PopulationSurrogate,
    blend_weights,
    calibration_factor,
    response_moments,
)
from twinml.query.whatif import shape_descriptors
from twinml.training.marker_head import MarkerConfig, fit_marker_heads, load_marker_head
from twinml.training.population import PopulationConfig, load_member, train_ensemble
from twinml.twins.folder import scar_cells

logger = logging.getLogger("population.train")

#: Sample entries of the therapy (the rest makes the twin).
THERAPY = ("lv_lead_apicobasal", "lv_lead_rotational_deg", "vv_delay_ms")
SETS = ("train", "calibration", "unseen_params", "unseen_shapes", "real_heart")
TEST_SETS = SETS[2:]


# ------------------------------------------------------------------ data
def sweep_folders(
    ap: argparse.ArgumentParser, sweeps: Path, needed, asymmetric: bool = False
) -> list[Path]:
    """The set folders under `sweeps` that a diagnostic reads, checked.

    Every ``train*`` folder (``train_asym*`` only when `asymmetric`) and
    the rest; `ap` exits with a message (status 2) when `sweeps` is not a
    folder, ``train`` or a `needed` set is missing, or a set is empty.
    """
    make = f"make them with experiments/population/sweeps.py --out {sweeps}"
    if not sweeps.is_dir():
        ap.error(f"--sweeps {sweeps} is not a folder of sweep sets; {make}")
    folders = sorted(
        p for p in sweeps.iterdir()
        if p.is_dir() and (asymmetric or not p.name.startswith("train_asym"))
    )  # fmt: skip
    names = [p.name for p in folders]
    missing = [n for n in ("train", *needed) if n not in names]
    if missing:
        ap.error(f"--sweeps {sweeps} lacks the sets {missing} (has {names}); {make}")
    empty = [p.name for p in folders if not SampleStore(p, PIPELINE_VERSION).keys()]
    if empty:
        ap.error(f"--sweeps {sweeps}: the sets {empty} hold no samples; {make}")
    return folders


def check_loaded(ap: argparse.ArgumentParser, sizes: dict[str, int]) -> None:
    """Exit (status 2) naming the sets of which no sample could be read."""
    empty = [name for name, n in sizes.items() if n == 0]
    if empty:
        ap.error(
            f"no sample of the sets {empty} could be read (damaged, or made by "
            f"another pipeline than {PIPELINE_VERSION}; see the warnings above); "
            "rerun experiments/population/sweeps.py on them"
        )


def sweep_entries(folder: Path, hearts: dict, h_mm: float | None = None):
    """Each stored sample of a sweep folder with its heart.

    Yields ``(key, entry, hkey, heart)``: the sample's key, its stored
    arrays and meta, and its heart (`heart_of`, rebuilt once per shape;
    on the grid step of the sample's own settings unless `h_mm` is given).
    A damaged sample is skipped and left for the sweep to recompute.
    """
    store = SampleStore(folder, PIPELINE_VERSION)
    for key in store.keys():
        entry = store.load(key, remove=False)  # a reader deletes nothing
        if entry is None:
            continue
        meta = entry["meta"]
        step = meta["settings"]["h_mm"] if h_mm is None else h_mm
        yield key, entry, *heart_of(key, meta, hearts, step)


def load_set(folder: Path, hearts: dict, h_mm: float) -> list[Example]:
    """Examples of one sweep folder (hearts rebuilt once per shape), each
    with its twin's marker-head inputs (`TwinMarkers`)."""
    out = []
    graphs: dict[str, object] = {}  # one twin graph per twin, shared by its leads
    markers: dict[str, TwinMarkers] = {}
    for key, entry, hkey, heart in sweep_entries(folder, hearts, h_mm):
        meta, arrays = entry["meta"], entry["arrays"]
        s = {**_defaults(), **meta["sample"]}
        twin = json.dumps(
            [hkey, {k: v for k, v in s.items() if k not in THERAPY}], sort_keys=True
        )
        scar = scar_cells(heart, _scar_of(s)) if s["scar"] else None
        ex = example(
            heart, s, meta["scalars"], arrays["t_crt_ms"], scar, graph=graphs.get(twin)
        )
        graphs[twin] = ex.graph
        if twin not in markers:
            markers[twin] = TwinMarkers.from_reference(
                heart,
                ex.graph.globals_,
                _scar_of(s) if s["scar"] else None,
                meta["scalars"]["qrs_lbbb_ms"],
                arrays["t_lbbb_ms"],
            )
        out.append(
            replace(
                ex,
                sample={**ex.sample, "_heart": hkey, "_key": key},
                markers=markers[twin],
            )
        )
    return out


def heart_of(key: str, meta: dict, hearts: dict, h_mm: float) -> tuple[str, object]:
    """A sample's heart, rebuilt once per shape (``hearts`` caches them)."""
    from simulators.ep.ventricles import Ventricles
    from simulators.hearts import load_heart, mesh_fibres, with_coordinates

    shape = shape_kwargs(meta["sample"])
    hkey = json.dumps(shape, sort_keys=True) if shape else "rodero01"
    if hkey not in hearts:
        if shape:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                mesh = with_coordinates(biv_ellipsoid(**shape, h_mm=h_mm))
            hearts[hkey] = Ventricles(mesh, mesh_fibres(mesh, 60.0, -60.0))
        else:
            hearts[hkey] = load_heart("rodero01")
    heart = hearts[hkey]
    if heart.mesh.n_points != meta["n_points"]:
        raise RuntimeError(f"{key}: rebuilt heart has a different node count")
    return hkey, heart


def _defaults() -> dict:
    from twinml.data.response_sweep import SAMPLE_DEFAULTS

    return dict(SAMPLE_DEFAULTS)


# -------------------------------------------------------------- baseline
def graph_baseline(ex: Example) -> np.ndarray:
    """Uncalibrated shortest-path CRT activation over the mesh edges, ms."""
    return ex.graph.paths.times([ex.lead_node], ex.vv_delay_ms)[0]


# ------------------------------------------------------------ evaluation
def evaluate(sur: PopulationSurrogate, exs: list[Example], factor: float, hearts):
    """Figures of one test set against the reference pipeline."""
    mae_pct, base_pct, node_err_pct, covered, resp, half = [], [], [], [], [], []
    for ex in exs:
        enc = sur.encode(ex.graph, ex.markers, travel_rows=False)
        lead = ex.lead_node
        p = sur.predict(enc, [lead], ex.vv_delay_ms)
        live = ex.graph.live & np.isfinite(ex.t_ms)
        ref = ex.t_ms[live]
        tat = np.nanmax(ref) - np.nanmin(ref)
        err = np.abs(p.t_ms[0][live] - ref)
        mae_pct.append(100 * err.mean() / tat)
        node_err_pct.append(100 * err / tat)
        covered.append(float((err <= p.t_half_width_ms[0][live]).mean()))
        base = factor * graph_baseline(ex)
        base_pct.append(100 * np.nanmean(np.abs(base[live] - ref)) / tat)
        resp.append({k: float(v[0]) for k, v in p.response.items()})
        half.append({k: float(v[0]) for k, v in p.half_width.items()})
        resp[-1]["p_responder"] = float(p.responder_probability[0])
    y = np.stack([ex.targets for ex in exs])
    col = {k: i for i, k in enumerate(TARGETS)}
    pred_esv = np.array([r["d_lvesv_pct"] for r in resp])
    true_esv = y[:, col["d_lvesv_pct"]]
    ok = np.isfinite(true_esv)
    responder = true_esv[ok] <= -15.0
    prob = np.array([r["p_responder"] for r in resp])[ok]
    w_esv = np.array([h["d_lvesv_pct"] for h in half])[ok]
    qrs = np.array([r["qrs_crt_ms"] for r in resp])
    qrs_true = y[:, col["qrs_crt_ms"]]
    ef = np.array([r["ef_crt_acute_pct"] for r in resp])
    ef_true = y[:, col["ef_crt_acute_pct"]]
    return {
        "n": len(exs),
        "activation_mae_pct_tat": float(np.mean(mae_pct)),
        "activation_p95_pct_tat": float(
            np.percentile(np.concatenate(node_err_pct), 95)
        ),
        "baseline_mae_pct_tat": float(np.mean(base_pct)),
        "qrs_mae_ms": float(np.nanmean(np.abs(qrs - qrs_true))),
        # acute EF under CRT, absolute error in EF points
        "ef_acute_mae_points": float(np.nanmean(np.abs(ef - ef_true))),
        "dlvesv_r2": float(r2_score(true_esv[ok], pred_esv[ok])),
        "dlvesv_mae_pct": float(np.mean(np.abs(true_esv[ok] - pred_esv[ok]))),
        "responder_auc": (
            float(roc_auc_score(responder, prob))
            if 0 < responder.sum() < ok.sum()
            else None
        ),
        "responder_fraction": float(responder.mean()),
        "coverage_90_dlvesv": float(
            np.mean(np.abs(true_esv[ok] - pred_esv[ok]) <= w_esv)
        ),
        "coverage_90_activation": float(np.mean(covered)),
        "width_90_dlvesv": float(np.mean(2 * w_esv)),
    }


def calibrate(members, exs: list[Example], train: list[Example], heads=()) -> dict:
    """Blend weights and interval factors from the calibration split.

    With marker heads, each target's weight ``w`` of the GNN heads (against
    the marker heads) minimises the squared error of the ensemble means on
    the split, clipped to 0..1; the interval factors (split conformal) are
    then fitted on the mixture's mean and spread (`response_moments`).
    """
    import torch

    from twinml.query.population import SPREAD_FLOOR

    neutral = {
        "activation": 1.0,
        "activation_floor_ms": 0.0,
        "targets": dict.fromkeys(TARGETS, 1.0),
        "target_std": [1.0] * len(TARGETS),
        "qrs_ecg": 1.0,
    }
    sur = PopulationSurrogate(members, neutral, {"ranges": {}})
    std = np.nanstd(np.stack([e.targets for e in train]), axis=0)
    k_qrs = TARGETS.index("qrs_crt_ms")
    t_err, t_sd, q_err, q_sd, gnn = [], [], [], [], []
    for ex in exs:
        enc = sur.encode(ex.graph, ex.markers, travel_rows=False)
        t_all, r_all, qrs = sur.member_outputs(enc, [ex.lead_node], ex.vv_delay_ms)
        g = ex.graph
        mean, sd, _, member_tat = map_statistics(t_all, g.live, g.lv_mask)
        live = g.live & np.isfinite(ex.t_ms) & np.isfinite(mean[0])
        t_err.append(ex.t_ms[live] - mean[0, live])
        t_sd.append(sd[0, live])
        gnn.append(r_all[:, 0])
        q_err.append(ex.targets[k_qrs] - qrs[0])
        q_sd.append(member_tat.std(0)[0])
    t_err, t_sd = np.concatenate(t_err), np.concatenate(t_sd)
    floor_ms = float(np.percentile(t_sd, 5))

    # blend weights, then the blended heads' errors and spreads
    y = np.stack([ex.targets for ex in exs])  # (n, T)
    r_all = np.stack(gnn, axis=1)  # (M, n, T)
    w = np.ones(len(TARGETS))
    if heads:
        with torch.no_grad():
            x = torch.from_numpy(marker_arrays(exs)[0])
            mark = np.stack([head(x).numpy() for head in heads])  # (M, n, T)
        w = blend_weights(y, r_all.mean(0), mark.mean(0))
        r_all = np.concatenate([r_all, mark])
    blend = dict(zip(TARGETS, w.tolist(), strict=True))
    mean, spread = response_moments(r_all, len(members), w)
    r_err = y - mean
    r_sd = np.maximum(spread, SPREAD_FLOOR * std)
    q_sd = np.maximum(np.array(q_sd), SPREAD_FLOOR * std[k_qrs])
    return {
        "activation": calibration_factor(t_err, np.maximum(t_sd, floor_ms)),
        "activation_floor_ms": floor_ms,
        "targets": {
            k: calibration_factor(r_err[:, i], r_sd[:, i])
            for i, k in enumerate(TARGETS)
        },
        "qrs_ecg": calibration_factor(np.array(q_err), q_sd),
        "target_std": std.tolist(),
        **({"blend": blend} if heads else {}),
        "n_calibration": len(exs),
        "level": 0.9,
    }


def marker_arrays(exs: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Marker-head inputs (n, len(MARKER_INPUTS)) and targets of examples."""
    x = np.concatenate([ex.markers.rows([ex.lead_node], ex.vv_delay_ms) for ex in exs])
    return x, np.stack([ex.targets for ex in exs])


# ------------------------------------------------------------ model card
def model_card(
    train: list[Example], hearts, config, sizes, results, marker_config=None
) -> dict:
    """Training ranges of every parameter and shape descriptor, sizes, figures.

    A swept parameter's range is the box the sweeps sampled
    (`population_space`), so a query just past the extreme drawn value is
    not flagged; the shape descriptors (cavity and wall volumes) are derived
    from the training hearts, so theirs are the extremes seen, listed under
    ``derived`` (the domain check gives them a small margin); so are the
    twins' LBBB markers, which the marker heads read.
    """
    box = {p.name: p for p in population_space().parameters}
    ranges: dict[str, list[float]] = {}
    derived: set[str] = set()

    def widen(name, value):
        if value is None or not np.isfinite(value):
            return
        lo, hi = ranges.get(name, (np.inf, -np.inf))
        ranges[name] = [float(min(lo, value)), float(max(hi, value))]

    seen = set()
    for ex in train:
        for k, v in ex.sample.items():
            if not k.startswith("_") and isinstance(v, (int, float)):
                widen(k, float(v))
        if ex.markers is not None:
            for k, v in ex.markers.named().items():
                widen(k, v)
                derived.add(k)
        if ex.sample["_heart"] not in seen:
            seen.add(ex.sample["_heart"])
            for k, v in shape_descriptors(hearts[ex.sample["_heart"]]).items():
                widen(k, v)
                derived.add(k)

    # swept parameters: the sampling box, which must hold every sample
    for name, (lo, hi) in list(ranges.items()):
        if name not in box:
            continue
        p = box[name]
        if lo < p.low - 1e-9 or hi > p.high + 1e-9:
            raise ValueError(
                f"training samples of {name} span [{lo:g}, {hi:g}] {p.unit}, outside "
                f"the sweep box [{p.low:g}, {p.high:g}]: the sweeps were made with "
                "another design; regenerate them with experiments/population/sweeps.py"
            )
        ranges[name] = [p.low, p.high]
    return {
        "model": "twinml population emulator (PopulationGNN ensemble"
        + (", blended with marker heads)" if marker_config is not None else ")"),
        "pipeline": PIPELINE_VERSION,
        "config": config.as_dict(),
        "sizes": sizes,
        "ranges": ranges,
        "derived": sorted(derived),
        "targets": list(TARGETS),
        "test_figures": results,
        "never_seen_in_training": "the Rodero 01 heart (the real_heart test set)",
        "spacing_mm": config.spacing_mm,
        **(
            {
                "marker_heads": marker_config.as_dict(),
                "marker_inputs": list(MARKER_INPUTS),
            }
            if marker_config is not None
            else {}
        ),
    }


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("twinml/pretrained/population"))
    ap.add_argument(
        "--results", type=Path, default=Path("experiments/results/population.json")
    )
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--h-mm", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument(
        "--skip-training", action="store_true", help="evaluate the members in --out"
    )
    ap.add_argument(
        "--only-members",
        type=int,
        nargs="*",
        default=None,
        help="train only these members (parallel processes), then calibrate "
        "and test with --skip-training",
    )
    ap.add_argument(
        "--fit-markers",
        action="store_true",
        help="with --skip-training: fit the marker heads on the members in --out, "
        "then calibrate and test",
    )
    ap.add_argument(
        "--evaluate-only",
        action="store_true",
        help="only the test sets: the model in --out against them, beside the "
        "figures in --results (no training data needed)",
    )
    ap.add_argument(
        "--asymmetric",
        action="store_true",
        help="join the train_asym* sets (asymmetric LV walls) to the training set",
    )
    ap.add_argument("--tracking", type=Path, default=None, help="MLflow SQLite file")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    for name in ("lightning", "simulators", "distributed"):
        logging.getLogger(name).setLevel(logging.WARNING)

    if args.evaluate_only:
        return evaluate_only(args)
    t0 = time.perf_counter()
    hearts: dict = {}
    data = {}
    wanted = SETS[:2] if not args.skip_training else SETS
    globs = ("train_extra*", "train_asym*") if args.asymmetric else ("train_extra*",)
    extras = sorted(p.name for g in globs for p in args.sweeps.glob(g) if p.is_dir())
    for name in [*extras, *wanted]:
        data[name] = load_set(args.sweeps / name, hearts, args.h_mm)
        logger.info(
            "%s: %d examples (%.0f s)", name, len(data[name]), time.perf_counter() - t0
        )
    # the extra training sets join the training set (sizes kept apart)
    sizes = {k: len(v) for k, v in data.items()}
    for name in extras:
        data["train"] += data.pop(name)
    config = PopulationConfig(
        epochs=args.epochs, n_members=args.members, seed=args.seed
    )
    args.out.mkdir(parents=True, exist_ok=True)
    # a sample whose LBBB baseline kept dilating is kept: its targets are
    # what the reference pipeline answers for it
    run_params = {
        "dataset_sha256": sha256_json(sorted(e.sample["_key"] for e in data["train"])),
        "sizes": sizes,
        "environment": environment_info(),
        "command": " ".join(sys.argv),
    }
    tracking = args.tracking or args.out / "mlflow.db"
    if not args.skip_training:
        t1 = time.perf_counter()
        paths = train_ensemble(
            data["train"], [], config, args.out, tracking, run_params, args.only_members
        )
        logger.info(
            "trained %d members in %.0f s", len(paths), time.perf_counter() - t1
        )
        if args.only_members is not None:
            return 0
    members = [load_member(p) for p in sorted(args.out.glob("member_*.pt"))]

    # marker heads, one per member (fitted here when training, or asked)
    marker_config = MarkerConfig(n_members=len(members), seed=args.seed)
    if not args.skip_training or args.fit_markers:
        x, y = marker_arrays(data["train"])
        fit_marker_heads(x, y, marker_config, args.out, tracking, run_params)
    heads = [load_marker_head(p) for p in sorted(args.out.glob("marker_*.pt"))]
    if (
        not args.skip_training
        or args.fit_markers
        or not (args.out / "calibration.json").is_file()
    ):
        # members trained apart (--only-members) are calibrated together here
        cal = calibrate(members, data["calibration"], data["train"], heads)
        atomic_write_json(args.out / "calibration.json", cal)
        logger.info("calibration: %s", cal)
    if not args.skip_training:
        return 0
    cal = json.loads((args.out / "calibration.json").read_text())
    train_s = None

    # baseline factor fitted on the training set (least squares)
    num = den = 0.0
    for ex in data["train"][:: max(1, len(data["train"]) // 60)]:
        b = graph_baseline(ex)
        ok = np.isfinite(b) & np.isfinite(ex.t_ms)
        num += float(b[ok] @ ex.t_ms[ok])
        den += float(b[ok] @ b[ok])
    factor = num / den
    sur = PopulationSurrogate(members, cal, {"ranges": {}}, heads)
    results = {name: evaluate(sur, data[name], factor, hearts) for name in TEST_SETS}
    card = model_card(data["train"], hearts, config, sizes, results, marker_config)
    atomic_write_json(args.out / "model_card.json", card)
    summary = {
        "test_sets": results,
        "baseline_factor": factor,
        "sizes": sizes,
        "train_seconds": train_s,
        "total_seconds": time.perf_counter() - t0,
        "config": config.as_dict(),
        "environment": environment_info(),
    }
    atomic_write_json(args.results, summary)
    print(json.dumps(summary["test_sets"], indent=1))
    return 0


def evaluate_only(args) -> int:
    """The model in ``--out`` on the test sets in ``--sweeps``, with the
    baseline factor and beside the figures of ``--results`` (a check that
    the shipped figures reproduce from the seeded test sweeps alone)."""
    from twinml.query.model_folder import load_surrogate

    stored = json.loads(args.results.read_text())
    sur = load_surrogate(args.out)  # checked like any query's model
    hearts: dict = {}
    results = {}
    for name in TEST_SETS:
        exs = load_set(args.sweeps / name, hearts, args.h_mm)
        results[name] = evaluate(sur, exs, stored["baseline_factor"], hearts)
        logger.info("%s: %d examples evaluated", name, len(exs))
    doc = {"test_sets": results, "stored": stored.get("test_sets", {})}
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
