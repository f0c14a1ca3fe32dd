"""What-if queries on a twin folder: one lead, or the best of many.

The glue between a twin (`twinml.twins.Twin`) and the population emulator
(`twinml.query.population.PopulationSurrogate`):

1. the twin's heart, tissue, scar and mechanics become its coarse graph
   (`twinml.data.population.twin_graph`), encoded once (`prepare`);
2. each query (LV lead, VV delay) costs the members' decoders only
   (`answer` for one lead, `rank_sites` for hundreds in one batched call);
3. the twin is compared with the model card's training ranges, and with the
   settings the training sweep held fixed (`domain_issues`).

Intervals are 90 %. QRS, EF and ΔLVESV take the surrogate's calibrated
interval. TAT and LVAT are extremes of the activation map, so their
interval propagates every node's interval to the extremes,

    TAT in [max_i(t_i - h_i) - min_i(t_i + h_i), max_i(t_i + h_i) - min_i(t_i - h_i)],

which holds whenever every node lies in its own interval (conservative:
wider than a calibrated 90 % interval of TAT would be). The responder
probability's interval is that probability with ΔLVESV's mean moved to
either end of its own interval.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.errors import (
    FieldError,
    MeshError,
    ParameterError,
    SiteError,
)
from twinml.data.markers import TwinMarkers, lbbb_baseline
from twinml.data.population import TwinGraph, twin_graph
from twinml.query.model_folder import model_spacing_mm
from twinml.query.population import (
    Encoded,
    PopulationSurrogate,
    Prediction,
    responder_probability,
)

logger = logging.getLogger(__name__)

__all__ = [
    "PreparedTwin",
    "answer",
    "domain_issues",
    "prepare",
    "rank_sites",
    "shape_descriptors",
]

#: Answers reported per query, in order (names of `Prediction.response`).
REPORTED = ("tat_ms", "qrs_crt_ms", "lvat_ms", "ef_crt_acute_pct", "d_lvesv_pct")
#: Settings the training sweep held at one value (`ResponseSettings`,
#: `SAMPLE_DEFAULTS`); checked unless the model card gives them a range.
TRAINING_FIXED: dict[str, float | str] = {
    "alpha_endo_deg": 60.0,
    "alpha_epi_deg": -60.0,
    "border_factor": 0.5,
    "heart_rate_bpm": 70.0,
    "av_delay_ms": 120.0,
    "baseline": "lbbb",
    "rv_lead": "rv-apex",
}
#: Of those, the settings no part of the emulator reads: a twin's other
#: value gets the answer for the training value.
NOT_READ = ("heart_rate_bpm", "av_delay_ms", "baseline", "rv_lead")
#: Physical limits of the reported quantities (intervals are clipped to them).
PHYSICAL_LIMITS = {
    "ef_crt_acute_pct": (0.0, 100.0),
    "qrs_crt_ms": (0.0, np.inf),
    "d_lvesv_pct": (-100.0, np.inf),
}


@dataclass(frozen=True, eq=False)
class PreparedTwin:
    """A twin with its heart, coarse graph and encoding, reused by queries.

    Attributes
    ----------
    twin : Twin
    heart : Ventricles
    graph : TwinGraph
    enc : Encoded
    seconds : dict of str to float
        Time of the twin graph (``graph_s``), its LBBB markers
        (``markers_s``) and the encoding (``encode_s``).
    """

    twin: Any
    heart: Any
    graph: TwinGraph
    enc: Encoded
    seconds: dict


def prepare(
    twin, sur: PopulationSurrogate, spacing_mm: float | None = None, heart=None
) -> PreparedTwin:
    """Build the twin's graph from its tissue, scar and mechanics; encode it.

    Parameters
    ----------
    twin : Twin
    sur : PopulationSurrogate
    spacing_mm : float, optional
        Voxel side of the coarse graph, mm (default: `model_spacing_mm`).
    heart : Ventricles, optional
        The twin's heart where the caller has loaded it already.
    """
    heart = twin.ventricles() if heart is None else heart
    if not heart.has_rv:
        raise ParameterError(
            f"twin {twin.folder}: the population model needs a biventricular "
            "heart (node set surface_rv_endo); this mesh is LV-only"
        )
    spacing = model_spacing_mm(sur) if spacing_mm is None else spacing_mm
    if not (isinstance(spacing, int | float) and 1 <= spacing <= 50):
        raise ParameterError(
            f"spacing_mm = {str(spacing)[:20]} is not a coarse spacing of 1-50 mm"
        )

    # graph from the twin's own tissue, scar and mechanics, then encoding
    t0 = time.perf_counter()
    p = twin.parameters
    scar = twin.scar_cells(heart)
    try:
        graph = twin_graph(
            heart,
            twin.tissue(),
            scar,
            p["contractility"],
            p["stiffness"],
            spacing,
        )
        _check_finite(graph)
        t1 = time.perf_counter()

        # the twin's LBBB markers (one reference Eikonal solve and
        # pseudo-ECG) for the marker heads
        markers = None
        if sur.marker_heads:
            qrs_ms, t_lbbb = lbbb_baseline(heart, twin.tissue(), scar, graph.lead_rows)
            markers = TwinMarkers.from_reference(
                heart, graph.globals_, twin.scar, qrs_ms, t_lbbb
            )
    except (SiteError, FieldError) as err:
        # the twin's own sources and regions (no user site is read here)
        fix = (
            f"; its scar {twin.scar} may cover them: make it smaller or move it "
            "(scar_radius_mm, scar_apicobasal, scar_rotational_deg) with "
            "`twinml twin new`"
            if twin.scar
            else ""
        )
        raise type(err)(
            f"twin {twin.folder}: the model's pacing sources or LBBB markers "
            f"cannot be placed ({err}){fix}"
        ) from None
    t2 = time.perf_counter()
    enc = sur.encode(graph, markers, travel_rows=False)
    t3 = time.perf_counter()
    logger.info(
        "twin %s: %d coarse nodes, graph %.2f s, LBBB markers %.2f s, "
        "encoding %.3f s",
        twin.folder, graph.n_coarse, t1 - t0, t2 - t1, t3 - t2,
    )  # fmt: skip
    seconds = {"graph_s": t1 - t0, "markers_s": t2 - t1, "encode_s": t3 - t2}
    return PreparedTwin(twin, heart, graph, enc, seconds)


def _check_finite(graph: TwinGraph) -> None:
    """Refuse a graph whose inputs hold inf or NaN (a heart in pieces, or
    coincident nodes), before they reach the network."""
    f = graph.features
    for name, arr in (("node", f.x), ("edge", f.edge_attr)):
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if bad.size:
            raise MeshError(
                f"{bad.size} coarse {name}s have non-finite inputs (first "
                f"{bad[:10].tolist()}): the heart is in pieces or has coincident "
                "nodes; repair it with `twinml mesh check --fix` and make the twin "
                "again"
            )


# ---------------------------------------------------------------- queries
def lead_node(prepared: PreparedTwin, text: str) -> int:
    """An LV lead site (``node:ID``, ``aha:N``, ``xyz:..``, ``uvc:Z,PHI``)
    resolved on the twin and checked against its candidates (outside scar).
    """
    from twinml.twins.sites import parse_lv_lead

    node = parse_lv_lead(prepared.heart, text)
    cand = prepared.graph.lv_candidates
    if not np.isin(node, cand):
        raise SiteError(
            f"LV lead {text!r} (node {node}) is not one of the twin's "
            f"{cand.size} LV candidate sites (LV free-wall epicardium outside "
            "scar); pick one with --optimise-lead"
        )
    return int(node)


def answer(
    sur: PopulationSurrogate, prepared: PreparedTwin, lead: int, vv_delay_ms: float
) -> dict[str, Any]:
    """Predicted response of one LV lead with 90 % intervals.

    Returns
    -------
    dict
        ``site``, ``vv_delay_ms``, one ``{"value", "interval_90"}`` entry
        per `REPORTED` name and ``responder_probability``, ``in_domain`` and
        ``domain_issues``.
    """
    p = sur.predict(prepared.enc, [lead], vv_delay_ms, fine=True)
    g = prepared.graph
    row = _rows(p, g.live, g.lv_mask)[0]
    issues = domain_issues(
        sur, prepared.twin, prepared.heart, vv_delay_ms, lead, prepared.enc.markers
    )
    issues += sur.answer_issues(p)[0]
    return {
        "site": f"node:{lead}",
        "vv_delay_ms": float(vv_delay_ms),
        **row,
        "in_domain": not issues,
        "domain_issues": issues,
    }


def rank_sites(
    sur: PopulationSurrogate,
    prepared: PreparedTwin,
    vv_delay_ms: float,
    max_sites: int = 300,
    top: int = 10,
) -> dict[str, Any]:
    """Rank the twin's LV candidate sites in one batched call.

    Sites are ordered by predicted ΔLVESV rounded to 0.1 % (most negative
    first; equal after rounding count as ties, so -11.75 ranks before
    -11.66 whatever their LVAT) and then by LVAT (shortest first), first
    on the coarse decoder for all of them, then the best `top` again on
    their refined maps (one Dijkstra each), which give their TAT, LVAT and
    QRS as `answer` does.

    Parameters
    ----------
    max_sites : int
        At most this many candidates are scored: one per coarse node, then
        evenly strided (deterministic).
    top : int
        Sites returned.

    Returns
    -------
    dict
        ``n_candidates``, ``n_ranked``, ``best`` (the `top` sites, each as
        `answer` without the twin-level domain fields, with ``rank``),
        ``predict_s`` (the batched call) and ``refine_s`` (the shortlist's
        refined maps).
    """
    if max_sites < 1 or top < 1:
        raise ParameterError(
            f"max_sites and top must be at least 1, got {max_sites} and {top}"
        )
    sites = subsample_sites(prepared.graph, max_sites)

    # one batched call on the coarse nodes, then the ordering
    t0 = time.perf_counter()
    p = sur.predict(prepared.enc, sites, vv_delay_ms, fine=False)
    g = prepared.graph
    rep = g.coarse.rep
    rows = _rows(p, g.live[rep], g.lv_mask[rep])
    dlvesv = np.round(p.response["d_lvesv_pct"], 1)
    short = sites[np.lexsort((p.response["lvat_ms"], dlvesv))[:top]]
    seconds = time.perf_counter() - t0

    # the shortlist on the refined maps, as for one lead: the same response,
    # TAT, LVAT and QRS from the map; ties on ΔLVESV broken by that LVAT
    t1 = time.perf_counter()
    p = sur.predict(prepared.enc, short, vv_delay_ms, fine=True)
    rows = _rows(p, g.live, g.lv_mask)
    dlvesv = np.round(p.response["d_lvesv_pct"], 1)
    order = np.lexsort((p.response["lvat_ms"], dlvesv))
    refine_s = time.perf_counter() - t1

    best = []
    answers = sur.answer_issues(p)
    for rank, k in enumerate(order, start=1):
        node = int(short[k])
        lead_issues = sur.domain_issues(_lead_values(prepared.heart, node))
        lead_issues += answers[k]
        best.append(
            {
                "rank": rank,
                "site": f"node:{node}",
                **rows[k],
                "lead_issues": lead_issues,
            }
        )
    return {
        "n_candidates": int(g.lv_candidates.size),
        "n_ranked": int(sites.size),
        "best": best,
        "predict_s": seconds,
        "refine_s": refine_s,
    }


def subsample_sites(graph: TwinGraph, max_sites: int) -> np.ndarray:
    """At most `max_sites` LV candidates: one per coarse node, then strided."""
    cand = graph.lv_candidates
    if cand.size <= max_sites:
        return cand
    _, first = np.unique(graph.coarse.cluster[cand], return_index=True)
    sites = cand[np.sort(first)]
    if sites.size > max_sites:
        pick = np.linspace(0, sites.size - 1, max_sites).round().astype(int)
        sites = sites[np.unique(pick)]
    return sites


def _rows(p: Prediction, live: np.ndarray, lv: np.ndarray) -> list[dict[str, Any]]:
    """Each query's answers with their 90 % intervals, as plain dicts.

    Parameters
    ----------
    p : Prediction
        B queries; ``t_ms`` on the fine (n_points) or coarse nodes.
    live, lv : ndarray of shape (n_nodes,), bool
        Nodes outside scar, and LV nodes, on the same nodes as ``p.t_ms``.
    """
    half = dict(p.half_width)
    lo, hi = extreme_intervals(p.t_ms, p.t_half_width_ms, live, lv)
    bounds = {k: (p.response[k] - half[k], p.response[k] + half[k]) for k in half}
    bounds["tat_ms"], bounds["lvat_ms"] = (lo[0], hi[0]), (lo[1], hi[1])
    # intervals stop at what the quantity can be (EF 0-100 %, durations >= 0)
    for k, (a, b) in PHYSICAL_LIMITS.items():
        bounds[k] = tuple(np.clip(v, a, b) for v in bounds[k])

    # responder probability with ΔLVESV's mean at the ends of its interval
    d_lo, d_hi = bounds["d_lvesv_pct"]
    p_lo = responder_probability(d_hi, half["d_lvesv_pct"])
    p_hi = responder_probability(d_lo, half["d_lvesv_pct"])

    value = {
        k: np.clip(v, *PHYSICAL_LIMITS.get(k, (-np.inf, np.inf)))
        for k, v in p.response.items()
    }
    rows = []
    for b in range(p.t_ms.shape[0]):
        row = {
            k: _entry(value[k][b], bounds[k][0][b], bounds[k][1][b]) for k in REPORTED
        }
        row["responder_probability"] = _entry(
            p.responder_probability[b], p_lo[b], p_hi[b]
        )
        rows.append(row)
    return rows


def extreme_intervals(
    t_ms: np.ndarray, half_ms: np.ndarray, live: np.ndarray, lv: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Bounds of TAT and LVAT from every node's interval ``t +- h``.

    Parameters
    ----------
    t_ms, half_ms : ndarray of shape (B, n_nodes)
        Mean activation times and half widths of their intervals, ms.
    live, lv : ndarray of shape (n_nodes,), bool
        Nodes that activate (outside scar) and LV nodes.

    Returns
    -------
    (tat_lo, lvat_lo), (tat_hi, lvat_hi) : ndarrays of shape (B,), ms

    Examples
    --------
    >>> t = np.array([[0.0, 10.0, 30.0]]); h = np.full((1, 3), 1.0)
    >>> m = np.array([True, True, True]); lv = np.array([False, True, False])
    >>> (tat_lo, lvat_lo), (tat_hi, lvat_hi) = extreme_intervals(t, h, m, lv)
    >>> float(tat_lo[0]), float(tat_hi[0]), float(lvat_lo[0]), float(lvat_hi[0])
    (28.0, 32.0, 8.0, 12.0)
    """
    lo = np.where(live, t_ms - half_ms, np.nan)
    hi = np.where(live, t_ms + half_ms, np.nan)
    first_lo, first_hi = np.nanmin(lo, axis=1), np.nanmin(hi, axis=1)
    last_lo, last_hi = np.nanmax(lo, axis=1), np.nanmax(hi, axis=1)
    lv_lo = np.nanmax(np.where(lv, lo, np.nan), axis=1)
    lv_hi = np.nanmax(np.where(lv, hi, np.nan), axis=1)
    lows = (np.maximum(last_lo - first_hi, 0.0), np.maximum(lv_lo - first_hi, 0.0))
    return lows, (last_hi - first_lo, lv_hi - first_lo)


def _entry(value: float, lo: float, hi: float) -> dict[str, Any]:
    return {"value": float(value), "interval_90": [float(lo), float(hi)]}


# ----------------------------------------------------------------- domain
def shape_descriptors(heart) -> dict[str, float]:
    """Pose-free size descriptors of a heart, mL (the model card's names).

    ``experiments/population/train.py`` writes the card's ranges with it.
    """
    from simulators.circulation.geometry import heart_geometry

    g = heart_geometry(heart.mesh, heart.aha)
    v = np.bincount(g.wall, g.v_wall_ml, 3)
    return {
        "lv_cavity_ml": float(g.v_lv_ml),
        "rv_cavity_ml": float(g.v_rv_ml + g.v_rvot_ml),
        "lv_free_wall_ml": float(v[0]),
        "septum_ml": float(v[1]),
        "rv_wall_ml": float(v[2]),
    }


def domain_issues(
    sur: PopulationSurrogate,
    twin,
    heart,
    vv_delay_ms: float,
    lead: int | None = None,
    markers: TwinMarkers | None = None,
) -> list[str]:
    """Where a twin and query lie outside the model's training domain.

    Compares the twin's tissue (velocities times ``cv_scale``, as the
    emulator reads them), scar, mechanics, shape descriptors, its LBBB
    markers (when given), the VV delay and the lead's (height, angle) with
    the model card's ranges, and the settings the sweep held fixed
    (`TRAINING_FIXED`) with their value.

    Returns
    -------
    list of str
        One line per issue naming the parameter, its value and the range.
    """
    ranges = sur.card["ranges"]
    p = twin.parameters
    values: dict[str, float] = {
        "v_fibre_mm_ms": p["v_fibre_mm_ms"] * p["cv_scale"],
        "v_cross_mm_ms": p["v_cross_mm_ms"] * p["cv_scale"],
        "v_endo_mm_ms": p["v_endo_mm_ms"],
        "contractility": p["contractility"],
        "stiffness": p["stiffness"],
        "scar": float(twin.scar is not None),
        "vv_delay_ms": vv_delay_ms,
        **{f"scar_{k}": v for k, v in (twin.scar or {}).items()},
        **shape_descriptors(heart),
        **(markers.named() if markers is not None else {}),
    }
    if lead is not None:
        values.update(_lead_values(heart, lead))
    issues = sur.domain_issues(values)

    # what the sweep never varied
    flat = twin.values()
    for name, fixed in TRAINING_FIXED.items():
        if name in ranges or flat.get(name) is None:
            continue
        differs = (
            flat[name] != fixed
            if isinstance(fixed, str)
            else not np.isclose(flat[name], fixed)
        )
        if differs and name in NOT_READ:
            issues.append(
                f"{name} = {flat[name]}: the model does not read it and answers "
                f"for {fixed}, its training value"
            )
        elif isinstance(fixed, str) and differs:
            issues.append(f"{name} = {flat[name]} but the model knows only {fixed}")
        elif differs:
            issues.append(
                f"{name} = {flat[name]:.4g} outside the training range "
                f"[{fixed:.4g}, {fixed:.4g}]"
            )
    return issues


def _lead_values(heart, node: int) -> dict[str, float]:
    """The lead's height (0 apex, 1 base) and angle from the septum in
    [0, 360) degrees, as the sweep's ``lv_lead_*`` entries."""
    return {
        "lv_lead_apicobasal": float(heart.z_long[node]),
        "lv_lead_rotational_deg": float(heart.phi_deg[node] % 360.0),
    }
