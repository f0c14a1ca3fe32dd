"""Population emulator against the reference pipeline: accuracy and speed.

Accuracy comes from ``experiments/results/population.json`` (``test_sets``,
written by ``experiments/population/train.py``: unseen parameters, unseen
shapes and the real Rodero 01 heart, each beside its no-learning baseline).

Speed is measured live, side by side in one run, on the real heart
(`simulators.hearts.load_heart("rodero01")`, built once and shared: mesh
loading is in neither time) for `--queries` CRT queries (LV lead by
height and angle, VV delay) with the tissue, scar and mechanics defaults of
the training sweep (`SAMPLE_DEFAULTS`):

* reference: `simulate_sample` with ``ResponseSettings(mesh="rodero01")``,
  the settings that made the training data, with its per-process twin
  cache emptied so that every query pays each step it needs: the LBBB
  activation, the CRT activation (lead, RV apex, VV delay), the pseudo-ECG
  of each with QRS and activation markers, the circulation set-points
  (healthy sinus beat), the LBBB baseline remodelled to a steady state, the
  acute CRT beat and the 16 adaptation steps of the follow-up;
* surrogate, first query on a new twin: the twin graph (coarse graph,
  features, the mesh-edge graph and its shortest paths from the RV lead,
  the intrinsic roots and the LBBB exit; the per-heart coarse cache
  emptied), the twin's LBBB markers for the marker heads (one reference
  Eikonal solve and pseudo-ECG), the members' encoding and one prediction
  with its map (as `twinml whatif` does for one lead);
* surrogate, each further query on an encoded twin (whose encoding holds
  the coarse travel rows of every LV candidate site): one prediction (the
  lead's Dijkstra over the mesh, the coarse decoders, response and marker
  heads, the refiners, the members' maps reduced on every node, and the
  pseudo-ECG of their mean map).

``speedup_full_response`` divides the reference's median time by the
surrogate's median time for a new query on an encoded twin (everything a
new lead site or VV delay needs: the issue encodes each twin once and
reuses it for every query); ``speedup_first_query`` divides it by the
first query on a new twin (twin graph and encoding included);
``speedup_coarse_query`` by a query without the map (coarse decoder and
head only, QRS from the head: what ranking uses per site).
``rank_200_sites_s`` is one batched `predict(..., fine=False)` call that
scores `--sites` LV candidate sites of the real heart and orders them
(ΔLVESV, then LVAT) on the encoded twin, best of three;
``rank_200_sites_with_encoding_s`` adds the twin graph and encoding.

Run from the repository root (any model folder; the packaged one by default)::

    .venv/bin/python -m experiments.benchmarks.surrogate
    .venv/bin/python -m experiments.benchmarks.surrogate --json > surrogate.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("benchmarks.surrogate")

RESULTS = Path("experiments/results/population.json")
TEST_SETS = ("unseen_params", "unseen_shapes", "real_heart")
#: Queries (LV lead height 0 apex..1 base, angle from the septum in degrees,
#: VV delay in ms), inside the sweep's therapy ranges.
QUERIES = (
    (0.70, 180.0, 0.0),
    (0.50, 120.0, 20.0),
    (0.85, 240.0, -10.0),
    (0.60, 200.0, 40.0),
    (0.40, 150.0, 10.0),
    (0.75, 280.0, 0.0),
    (0.55, 90.0, 30.0),
)
REFERENCE_STEPS = (
    "LBBB activation (Eikonal)",
    "CRT activation (Eikonal: LV lead, RV apex, VV delay)",
    "pseudo-ECG of both: QRS, TAT, LVAT, QLV",
    "circulation set-points (healthy sinus beat)",
    "LBBB baseline remodelled to a steady state",
    "acute CRT beat and 16 adaptation steps (chronic ΔLVESV, responder)",
)
SURROGATE_STEPS = (
    "twin graph (coarse graph, invariant features, mesh-edge graph, shortest "
    "paths from the RV lead, intrinsic roots and LBBB exit)",
    "the twin's LBBB markers (reference Eikonal and pseudo-ECG, once per twin)",
    "encoding by every member",
    "prediction: the lead's Dijkstra over the mesh, decoders, response and "
    "marker heads, intervals, refined maps reduced on every node, pseudo-ECG QRS "
    "of the members' mean map",
)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def accuracy_figures(path: Path) -> dict | None:
    """The three test sets' figures, or None (with a warning) when absent."""
    if not path.is_file():
        warnings.warn(
            f"no {path}: accuracy figures missing; run "
            "experiments/population/train.py to write them",
            stacklevel=2,
        )
        return None
    doc = json.loads(path.read_text())
    sets = doc.get("test_sets", {})
    missing = [k for k in TEST_SETS if k not in sets]
    if missing:
        warnings.warn(f"{path}: test_sets lacks {missing}", stacklevel=2)
    return {k: sets.get(k) for k in TEST_SETS}


def measure(model: Path | None, n_queries: int, n_sites: int) -> dict[str, Any]:
    """Reference and surrogate times on the real heart (see the module)."""
    import twinml.data.population as pop
    import twinml.data.response_sweep as rs
    from simulators.ep.protocols import TissueParams
    from twinml.data.markers import TwinMarkers, lbbb_baseline
    from twinml.data.space import wrap_deg
    from twinml.query.model_folder import load_surrogate, model_spacing_mm
    from twinml.twins.sites import lv_lead_node

    # the heart, shared by both sides and cached where `simulate_sample` looks
    settings = rs.ResponseSettings(mesh="rodero01")
    heart_s, heart = _timed(lambda: rs._heart({}, settings))
    sur = load_surrogate(model)
    d = rs.SAMPLE_DEFAULTS
    tissue = TissueParams(
        v_fibre=d["v_fibre_mm_ms"], v_cross=d["v_cross_mm_ms"], v_endo=d["v_endo_mm_ms"]
    )
    spacing = model_spacing_mm(sur)

    def new_twin(travel_rows=True):
        pop._PARTS.pop(heart, None)
        g = pop.twin_graph(
            heart, tissue, None, d["contractility"], d["stiffness"], spacing
        )
        markers = None
        if sur.marker_heads:
            qrs_ms, t_lbbb = lbbb_baseline(heart, tissue, lead_rows=g.lead_rows)
            markers = TwinMarkers.from_reference(
                heart, g.globals_, None, qrs_ms, t_lbbb
            )
        return sur.encode(g, markers, travel_rows)

    # warm-up: imports, numba and torch kernels (not timed)
    enc = new_twin()
    sur.predict(enc, heart.lv_candidates[:2], 0.0)

    rows = []
    for z, phi, vv in QUERIES[:n_queries]:
        sample = {
            "lv_lead_apicobasal": z,
            "lv_lead_rotational_deg": phi,
            "vv_delay_ms": vv,
        }
        lead = lv_lead_node(heart, z, wrap_deg(phi))
        rs._TWINS.clear()
        ref_s, ref = _timed(lambda s=sample: rs.simulate_sample(s, settings))
        first_s, _ = _timed(
            lambda lead=lead, vv=vv: sur.predict(new_twin(False), [lead], vv)
        )
        further_s = min(
            _timed(lambda lead=lead, vv=vv: sur.predict(enc, [lead], vv))[0]
            for _ in range(3)
        )
        coarse_s = min(
            _timed(lambda lead=lead, vv=vv: sur.predict(enc, [lead], vv, False))[0]
            for _ in range(3)
        )
        scal = ref["meta"]["scalars"]
        rows.append(
            {
                "lv_lead": f"node:{lead}",
                "apicobasal": z,
                "rotational_deg": phi,
                "vv_delay_ms": vv,
                "reference_s": ref_s,
                "surrogate_first_s": first_s,
                "surrogate_further_s": further_s,
                "surrogate_coarse_s": coarse_s,
                "reference_d_lvesv_pct": scal.get("d_lvesv_pct"),
            }
        )
        logger.info("query %d: reference %.1f s", len(rows), ref_s)

    # ranking: >= n_sites candidates, evenly spread, one batched call
    cand = heart.lv_candidates
    sites = cand[np.linspace(0, cand.size - 1, min(n_sites, cand.size)).astype(int)]
    sites = np.unique(sites)

    def rank(e):
        p = sur.predict(e, sites, 0.0, fine=False)
        return np.lexsort(
            (p.response["lvat_ms"], np.round(p.response["d_lvesv_pct"], 1))
        )

    rank_s = min(_timed(lambda: rank(enc))[0] for _ in range(3))
    rank_enc_s = min(_timed(lambda: rank(new_twin()))[0] for _ in range(2))

    ref = statistics.median(r["reference_s"] for r in rows)
    first = statistics.median(r["surrogate_first_s"] for r in rows)
    further = statistics.median(r["surrogate_further_s"] for r in rows)
    coarse = statistics.median(r["surrogate_coarse_s"] for r in rows)
    n_params = sum(p.numel() for m in sur.members for p in m.parameters())
    return {
        "speedup_full_response": ref / further,
        "speedup_first_query": ref / first,
        "speedup_coarse_query": ref / coarse,
        "speedup_uses": "median surrogate query on an encoded twin (query "
        "features, the lead's Dijkstra, decoders, fine map, pseudo-ECG); the first "
        "query adds graph and encoding",
        "rank_200_sites_s": rank_s,
        "rank_200_sites_with_encoding_s": rank_enc_s,
        "n_sites_ranked": int(sites.size),
        "reference_median_s": ref,
        "surrogate_first_query_median_s": first,
        "surrogate_further_query_median_s": further,
        "queries": rows,
        "reference_steps": list(REFERENCE_STEPS),
        "surrogate_steps": list(SURROGATE_STEPS),
        "heart": {
            "name": "rodero01",
            "n_points": int(heart.mesh.n_points),
            "n_coarse": int(enc.graph.n_coarse),
            "n_lv_candidates": int(cand.size),
            "load_s_not_counted": heart_s,
        },
        "model": {
            "folder": str(model) if model else "packaged",
            "n_members": len(sur.members),
            "n_parameters": int(n_params),
            "spacing_mm": spacing,
        },
    }


def format_table(r: dict[str, Any]) -> str:
    """A few lines for people."""
    lines = [
        f"{'query':<38}{'reference s':>12}{'first ms':>10}{'further ms':>11}",
    ]
    for q in r["queries"]:
        name = (
            f"{q['lv_lead']} z={q['apicobasal']:.2f} "
            f"phi={q['rotational_deg']:.0f} vv={q['vv_delay_ms']:g}"
        )
        lines.append(
            f"{name:<38}{q['reference_s']:>12.1f}{q['surrogate_first_s'] * 1e3:>10.0f}"
            f"{q['surrogate_further_s'] * 1e3:>11.1f}"
        )
    lines += [
        f"speed-up, full response (query on an encoded twin): "
        f"{r['speedup_full_response']:.0f}x; first query on a new twin "
        f"{r['speedup_first_query']:.0f}x; without the map "
        f"{r['speedup_coarse_query']:.0f}x",
        f"rank {r['n_sites_ranked']} sites: {r['rank_200_sites_s']:.3f} s encoded, "
        f"{r['rank_200_sites_with_encoding_s']:.3f} s with twin graph and encoding",
    ]
    for name, t in (r["test_sets"] or {}).items():
        if t:
            lines.append(
                f"{name}: n={t.get('n')} activation MAE "
                f"{t.get('activation_mae_pct_tat')} % TAT (baseline "
                f"{t.get('baseline_mae_pct_tat')}), QRS MAE {t.get('qrs_mae_ms')} ms, "
                f"ΔLVESV R2 {t.get('dlvesv_r2')}, AUC {t.get('responder_auc')}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--model", type=Path, default=None, help="model folder")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--queries", type=int, default=5, choices=range(1, 8))
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: the lead's Dijkstra thread keeps the other core)",
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s"
    )
    for name in ("simulators", "twinml", "numba"):
        logging.getLogger(name).setLevel(logging.WARNING)

    report = {"test_sets": accuracy_figures(args.results)}
    report.update(measure(args.model, args.queries, args.sites))
    report["torch_threads"] = args.threads
    if args.json:
        sys.stdout.write(json.dumps(report, indent=1) + "\n")
    else:
        sys.stdout.write(format_table(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
