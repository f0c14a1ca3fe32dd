"""What-if answers from the population emulator, with calibrated intervals.

`PopulationSurrogate` holds the ensemble (`twinml.training.population`),
its calibration and its model card. A twin is encoded once per member
(`encode`, which also stacks the members' query networks for that twin,
`twinml.models.stacked`, and solves the coarse travel rows of its lead
sites); each query then costs the travel-time features of its leads and
the members' light decoders (`predict`), so hundreds of lead sites are
ranked in one batched call (``fine=False``: coarse decoder and head). The
activation map of a lead (``fine=True``) adds one Dijkstra over the mesh
edges from the lead (`twinml.data.lead_paths`, in a second thread beside
the coarse decoders), the refiners' corrections, the members' maps reduced
on every node as they are interpolated (`refined_statistics`), and the
QRS of their mean map by the reference pipeline's own pseudo-ECG rule
(`pseudo_ecg_binned`).

The response: where the model holds marker heads (`MarkerHead`, files
``marker_*.pt``, one per member; they read the twin's reference LBBB
markers and the lead's QLV, `twinml.data.markers`), each target is the
mixture of the GNN heads' answers ``g`` and the marker heads' ``m`` with
one weight ``w`` per target fitted on the calibration split (least
squares, clipped to 0..1; ``blend`` in ``calibration.json``): mean ``w g
+ (1 - w) m`` (`response_moments`). The GNN heads carry what the mesh
tells and the marker heads carry over to hearts of another shape family.

Uncertainty: the members' spread ``s`` (standard deviation) is scaled by a
factor fitted on a calibration split of its own (split conformal
prediction on the normalised error ``|y - mean| / s``, Lei et al. 2018,
J Am Stat Assoc 113:1094; the 90 % factor is that ratio's 90th
percentile), so the 90 % interval is ``mean +- factor * s``. The responder
probability is ``P(ΔLVESV <= -15 %)`` under a normal law with the
interval's width.

The model card lists the training ranges of every parameter and shape
descriptor; `domain_issues` names those a twin lies outside.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from simulators.ep.ecg import pseudo_ecg_binned
from simulators.errors import DataError, ParameterError, SiteError
from twinml.data.features import T_SCALE_MS, query_features
from twinml.data.markers import TwinMarkers
from twinml.data.population import TARGETS, TwinGraph, coarse_baseline, pool_matrix
from twinml.models.marker_head import load_marker_head
from twinml.models.population import load_member
from twinml.models.stacked import StackedDecoders, StackedMarkerHeads
from twinml.query.map_kernels import interp_rows, map_statistics, refined_statistics

logger = logging.getLogger(__name__)

__all__ = [
    "Encoded",
    "PopulationSurrogate",
    "Prediction",
    "blend_weights",
    "calibration_factor",
    "responder_probability",
    "response_moments",
]

#: Most members a model folder may hold (the shipped one has 3).
MAX_MEMBERS = 64
#: Answers further than this many training SDs from the training mean are
#: reported as outside the model's domain (`answer_issues`).
ANSWER_SDS = 10.0
#: Echo responder threshold on ΔLVESV, %.
RESPONDER_PCT = -15.0
#: Margin of a derived descriptor's training range (the card's ``derived``
#: names: extremes over the training hearts, which fall short of what the
#: shape box yields by about width / n), as a fraction of its width.
DOMAIN_SLACK = 0.02
#: Floor of the members' spread, as a fraction of a target's training SD
#: (a unanimous ensemble is not a certain one). Chosen on the calibration
#: split alone: with 0.2, ΔLVESV factors fitted on its training-shape draws
#: cover its own-shape draws at 0.91, and the other way round at 0.89
#: (0.02: 0.84 and 0.92).
SPREAD_FLOOR = 0.2


@dataclass(frozen=True, eq=False)
class Encoded:
    """A twin encoded by every member: reused by all its queries."""

    graph: TwinGraph
    h: list[torch.Tensor]
    x: torch.Tensor
    pool: torch.Tensor
    g: torch.Tensor
    interp: object  # scipy.sparse (n_points, n_coarse)
    interp_rows: tuple  # the same, as `interp_rows`
    stacked: StackedDecoders
    markers: TwinMarkers | None = None


@dataclass(frozen=True)
class Prediction:
    """Answers for B queries on one twin.

    Attributes
    ----------
    t_ms : ndarray of shape (B, n_points)
        Mean activation times, ms (NaN in scar on the refined map).
    t_half_width_ms : ndarray of shape (B, n_points)
        Half width of the 90 % interval of each node's time, ms.
    response : dict of str to ndarray of shape (B,)
        Mean of each target (`TARGETS`), plus ``tat_ms`` and ``lvat_ms``
        from the activation.
    half_width : dict of str to ndarray of shape (B,)
        Half width of each 90 % interval.
    responder_probability : ndarray of shape (B,)
    """

    t_ms: np.ndarray
    t_half_width_ms: np.ndarray
    response: dict
    half_width: dict
    responder_probability: np.ndarray


@lru_cache(maxsize=1)
def _worker(pid: int) -> ThreadPoolExecutor:
    """A second thread, one per process (`pid`: a forked child starts its
    own), kept since starting one costs about 0.3 ms. A query's steps that
    release the GIL run in it beside this thread's: the leads' Dijkstra,
    then half of the refiners, of the map statistics and of the ECG bins."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinml-query")


def _read_object(path: Path) -> dict:
    """A model file's JSON object; `DataError` naming the file otherwise."""
    try:
        doc = json.loads(path.read_text())
    except (ValueError, RecursionError) as err:  # JSON, UTF-8, nesting
        raise DataError(
            f"{path} is not valid JSON ({str(err)[:80]}); reinstall or retrain "
            "the model"
        ) from None
    if not isinstance(doc, dict):
        raise DataError(
            f"{path} holds a JSON {type(doc).__name__}, not an object; reinstall "
            "or retrain the model"
        )
    return doc


def _check_complete(folder: Path, members: list, heads: list, card) -> None:
    """Every member the card was trained with, ``member_0.pt`` onwards, and
    no marker head without its member: the calibration is the ensemble's."""
    n = len(members)
    config = card.get("config")
    expected = config.get("n_members") if isinstance(config, dict) else None
    if isinstance(expected, bool) or not isinstance(expected, int):
        expected = None
    if expected is not None and not 1 <= expected <= MAX_MEMBERS:
        raise DataError(
            f"{folder}: model_card.json config.n_members = {str(expected)[:12]} is "
            f"not a member count (1..{MAX_MEMBERS}); reinstall or retrain the model"
        )
    names = sorted(p.name for p in members)
    # without a card's count, the highest index among members and heads
    # counts (marker_2.pt means there was a member_2.pt)
    index = [p.stem.split("_")[-1] for p in [*members, *heads]]
    seen = max((int(i) + 1 for i in index if i.isdigit() and len(i) < 4), default=0)
    count = max(n, seen) if expected is None else expected
    wanted = sorted(f"member_{k}.pt" for k in range(count))
    extra = sorted(
        p.name for p in heads if p.name.replace("marker_", "member_") not in names
    )
    if names != wanted or extra:
        missing = sorted(set(wanted) - set(names))
        unknown = sorted(set(names) - set(wanted))
        raise DataError(
            f"{folder} holds members {names} and marker heads without a member "
            f"{extra}; the model was trained and calibrated with {wanted} "
            f"(missing {missing}, unknown {unknown}): reinstall or retrain the model"
        )


def _check_same_sizes(models: list, stem: str) -> None:
    """Members (or marker heads) of one training run share every weight's
    shape: their layers are stacked into one network (`StackedDecoders`)."""
    if len(models) < 2:
        return
    sizes = [{n: tuple(v.shape) for n, v in m.state_dict().items()} for m in models]
    for k, shapes in enumerate(sizes[1:], start=1):
        first = sizes[0]
        differ = sorted(
            n for n in set(first) | set(shapes) if first.get(n) != shapes.get(n)
        )
        if differ:
            name = differ[0]
            raise DataError(
                f"{stem}_{k}.pt differs in size from {stem}_0.pt ({name}: "
                f"{shapes.get(name)} vs {first.get(name)}): an ensemble's files "
                "come from one training run; reinstall or retrain the model"
            )


def calibration_factor(err: np.ndarray, spread: np.ndarray, level: float = 0.9):
    """Split-conformal factor: the `level` quantile of ``|err| / spread``.

    With n calibration values the ``ceil((n + 1) level) / n`` quantile
    gives at least `level` coverage on exchangeable new cases.
    """
    ratio = np.abs(err) / spread
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size == 0:
        raise DataError("no finite calibration errors: the calibration set is empty")
    q = min(1.0, np.ceil((ratio.size + 1) * level) / ratio.size)
    return float(np.quantile(ratio, q))


def blend_weights(y: np.ndarray, g: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-target weight w in 0..1 minimising ``|y - (w g + (1 - w) m)|^2``.

    Parameters
    ----------
    y, g, m : ndarray of shape (n, n_targets)
        Reference targets (NaN where missing), GNN-head and marker-head
        ensemble means.
    """
    w = np.ones(y.shape[1])
    for k in range(y.shape[1]):
        ok = np.isfinite(y[:, k])
        d = g[ok, k] - m[ok, k]
        if ok.any() and d @ d > 0:
            w[k] = np.clip((y[ok, k] - m[ok, k]) @ d / (d @ d), 0.0, 1.0)
    return w


def responder_probability(d_lvesv_pct, half_90):
    """P(ΔLVESV <= `RESPONDER_PCT`) for a normal error of 90 % half-width
    `half_90` around the predicted ΔLVESV `d_lvesv_pct` (both %)."""
    sigma = np.asarray(half_90) / ndtri(0.95)
    return ndtr((RESPONDER_PCT - np.asarray(d_lvesv_pct)) / sigma)


def response_moments(
    r_all: np.ndarray, n_members: int, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (SD) of each response over the heads, (B, n_targets).

    GNN heads alone: their mean and SD. With marker heads: the mixture of
    the two families with the weight ``w`` of the GNN heads, whose variance
    ``w var(g) + (1 - w) var(m) + w (1 - w) (g - m)^2`` grows where the two
    families disagree (on hearts unlike the training ones).

    Parameters
    ----------
    r_all : ndarray of shape (M, B, n_targets) or (2 M, B, n_targets)
        `PopulationSurrogate.member_outputs`'s responses: the GNN heads,
        then the marker heads.
    n_members : int
        M, the number of GNN heads.
    w : ndarray of shape (n_targets,), optional
        Weight of the GNN heads per target, 0..1; needed with marker heads.
    """
    if r_all.shape[0] == n_members:
        return r_all.mean(0), r_all.std(0)
    g, m = r_all[:n_members], r_all[n_members:]
    gap = g.mean(0) - m.mean(0)
    mean = w * g.mean(0) + (1.0 - w) * m.mean(0)
    var = w * g.var(0) + (1.0 - w) * m.var(0) + w * (1.0 - w) * gap**2
    return mean, np.sqrt(var)


def _checked_leads(graph: TwinGraph, lv_leads, vv_delay_ms: float) -> np.ndarray:
    """The leads as mesh node ids of the twin's LV (the model was trained on
    its epicardial sites, `TwinGraph.lv_candidates`), and a finite VV delay."""
    raw = np.atleast_1d(np.asarray(lv_leads))
    if raw.ndim != 1 or raw.size == 0:
        raise SiteError(f"lv_leads has shape {raw.shape}: expected (B,) node ids")
    if raw.dtype.kind not in "iu":
        whole = raw.dtype.kind == "f" and np.all(
            np.isfinite(raw) & (raw == np.round(raw))
        )
        if not whole:
            raise SiteError(
                f"lv_leads must be integer mesh node ids, got {raw[:3].tolist()} "
                f"({raw.dtype})"
            )
    n = graph.live.size
    outside = raw[(raw < 0) | (raw >= n)]  # before any cast can wrap round
    if outside.size:
        raise SiteError(
            f"LV lead nodes {[str(v)[:12] for v in outside[:5].tolist()]} are not "
            f"nodes of this twin's mesh (0..{n - 1})"
        )
    leads = raw.astype(np.int64)
    off = leads[~graph.lv_mask[leads]]
    if off.size:
        raise SiteError(
            f"LV lead nodes {off[:5].tolist()} lie outside the LV; the model was "
            "trained on LV epicardial sites (TwinGraph.lv_candidates)"
        )
    ok = isinstance(vv_delay_ms, int | float | np.number) and not isinstance(
        vv_delay_ms, bool | np.bool_
    )
    if not ok or not np.isfinite(vv_delay_ms):
        raise ParameterError(
            f"vv_delay_ms = {str(vv_delay_ms)[:20]!r} is not a finite number of ms"
        )
    return leads


class PopulationSurrogate:
    """Ensemble emulator with calibration and model card.

    Parameters
    ----------
    members : list of PopulationGNN
    calibration : dict
        ``activation`` (factor) and ``targets`` (name to factor), plus the
        targets' training SD (``target_std``) for the spread floor.
    card : dict
        Model card (`twinml.training.population` writes it).
    marker_heads : list of MarkerHead, optional
        One per member, blended with its GNN head by the calibration's
        ``blend`` weights; none: the GNN heads alone.
    """

    def __init__(
        self, members: list, calibration: dict, card: dict, marker_heads=()
    ) -> None:
        if not members:
            raise DataError("a population surrogate needs at least one member")
        marker_heads = list(marker_heads)
        if marker_heads and len(marker_heads) != len(members):
            raise DataError(
                f"{len(marker_heads)} marker heads for {len(members)} members: "
                "each member needs its own (marker_<k>.pt beside member_<k>.pt)"
            )
        _check_same_sizes(members, "member")
        _check_same_sizes(marker_heads, "marker")
        self.members = members
        self.calibration = calibration
        self.card = card
        self.marker_heads = marker_heads
        self._stacked_heads = StackedMarkerHeads(marker_heads) if marker_heads else None

    @classmethod
    def load(cls, folder: str | Path) -> PopulationSurrogate:
        """Load ``member_*.pt``, ``calibration.json`` and ``model_card.json``,
        and the marker heads ``marker_*.pt`` where the model has them."""
        folder = Path(folder)
        paths = sorted(folder.glob("member_*.pt"))
        missing = [] if paths else ["member_*.pt"]
        missing += [
            n
            for n in ("calibration.json", "model_card.json")
            if not (folder / n).is_file()
        ]
        if missing:
            raise DataError(
                f"{folder} is not a population model: it needs member_*.pt, "
                f"calibration.json and model_card.json (missing {missing})"
            )
        calibration = _read_object(folder / "calibration.json")
        card = _read_object(folder / "model_card.json")
        head_paths = sorted(folder.glob("marker_*.pt"))
        _check_complete(folder, paths, head_paths, card)
        wanted = [p.name.replace("member_", "marker_") for p in paths]
        missing_heads = [n for n in wanted if not (folder / n).is_file()]
        if (head_paths or "blend" in calibration) and missing_heads:
            raise DataError(
                f"{folder} blends marker heads but lacks {missing_heads} (one "
                "marker_<k>.pt per member_<k>.pt); reinstall or retrain the model"
            )
        members = [load_member(p) for p in paths]
        heads = [load_marker_head(folder / n) for n in wanted] if head_paths else []
        return cls(members, calibration, card, heads)

    # ------------------------------------------------------------- queries
    @torch.no_grad()
    def encode(
        self,
        graph: TwinGraph,
        markers: TwinMarkers | None = None,
        travel_rows: bool = True,
    ) -> Encoded:
        """Encode a twin once per member.

        Parameters
        ----------
        graph : TwinGraph
        markers : TwinMarkers, optional
            The twin's LBBB markers (`twinml.data.markers`); required when
            the model has marker heads.
        travel_rows : bool
            Solve the coarse travel rows of every LV candidate's cluster now
            (about 0.2 s on the real heart), so that no query pays a coarse
            Dijkstra; False: each on its first query (a one-query caller).
        """
        if self.marker_heads and markers is None:
            raise DataError(
                "this population model blends marker heads, which read the "
                "twin's LBBB markers: pass TwinMarkers (twinml.query.whatif."
                "prepare computes them with twinml.data.markers.lbbb_baseline)"
            )
        f = graph.features
        first = self.members[0].activation
        found = (first.embed_node[0].in_features, first.embed_edge[0].in_features)
        if found != (f.x.shape[1], f.edge_attr.shape[1]):
            raise DataError(
                f"the population model reads {found[0]} node and {found[1]} edge "
                f"features, this twinml builds {f.x.shape[1]} and "
                f"{f.edge_attr.shape[1]}: it was trained with another version; "
                "retrain or reinstall the model"
            )
        x = torch.from_numpy(f.x)
        ei = torch.from_numpy(f.edge_index)
        ea = torch.from_numpy(f.edge_attr)
        h = [m.encode(x, ei, ea) for m in self.members]
        if travel_rows:
            graph.travel.rows(graph.lead_clusters)
        pool = torch.from_numpy(pool_matrix(graph.bins))
        g = torch.from_numpy(graph.globals_)
        return Encoded(
            graph=graph,
            h=h,
            x=x,
            pool=pool,
            g=g,
            interp=graph.coarse.interp,
            interp_rows=interp_rows(graph.coarse.interp),
            markers=markers,
            stacked=StackedDecoders(self.members, h, x, pool, g),
        )

    @torch.no_grad()
    def predict(
        self, enc: Encoded, lv_leads, vv_delay_ms: float = 0.0, fine: bool = True
    ) -> Prediction:
        """Activation and response of many LV lead sites on an encoded twin.

        Parameters
        ----------
        enc : Encoded
        lv_leads : array of int, shape (B,)
            Mesh nodes of the LV leads.
        vv_delay_ms : float
            LV lead ahead of the RV lead, ms.
        fine : bool
            The refined activation map on every mesh node, with QRS from
            its pseudo-ECG (one Dijkstra per lead); False: the coarse
            decoder's times at the coarse nodes and the head's QRS, for
            ranking many sites at once.
        """
        g = enc.graph
        leads = _checked_leads(g, lv_leads, vv_delay_ms)
        if not fine:
            t_all, r_all, _ = self._coarse(enc, leads, vv_delay_ms)
            rep = g.coarse.rep
            stats = map_statistics(t_all, g.live[rep], g.lv_mask[rep])
            return self._summarise(stats, r_all, None)

        # the members' maps are reduced as they are interpolated, never formed
        pool = _worker(os.getpid())
        base, corr, k, r_all = self._refined(enc, leads, vv_delay_ms, pool)
        stats = refined_statistics(
            base, k, corr, enc.interp_rows, g.live, g.lv_mask, pool
        )
        qrs = [pseudo_ecg_binned(g.lead_rows, t, pool=pool).qrs_ms for t in stats[0]]
        return self._summarise(stats, r_all, np.array(qrs))

    @torch.no_grad()
    def member_outputs(
        self, enc: Encoded, lv_leads, vv_delay_ms: float = 0.0, fine: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Every member's answers, before averaging (see `predict`).

        Returns
        -------
        t : ndarray of shape (M, B, n_points), or (M, B, n_coarse) if not fine
            Activation times, ms (NaN in scar, or where no path exists).
        r : ndarray of shape (M, B, n_targets), or (2 M, B, n_targets)
            Responses of the GNN heads, then of the marker heads where the
            model has them (`response_moments` combines them).
        qrs : ndarray of shape (B,), or None if not fine
            QRS duration of the members' mean map (`pseudo_ecg_binned`), ms.
        """
        g = enc.graph
        leads = _checked_leads(g, lv_leads, vv_delay_ms)
        if not fine:
            t_all, r_all, _ = self._coarse(enc, leads, vv_delay_ms)
            return t_all, r_all, None
        base, corr, k, r_all = self._refined(
            enc, leads, vv_delay_ms, _worker(os.getpid())
        )
        m, b, n_coarse = corr.shape
        mapped = enc.interp @ corr.reshape(m * b, n_coarse).T
        t_all = k[:, None, None] * base + np.asarray(mapped).T.reshape(m, b, -1)
        t_all[..., ~g.live] = np.nan  # scar does not activate
        qrs = np.array(
            [pseudo_ecg_binned(g.lead_rows, t).qrs_ms for t in t_all.mean(0)]
        )
        return t_all, r_all, qrs

    def _refined(
        self, enc: Encoded, leads: np.ndarray, vv_delay_ms: float, pool
    ) -> tuple:
        """The parts of the members' refined maps and their responses.

        Returns the leads' shortest-path times over the mesh (B, n_points),
        ms; the members' corrections at the coarse nodes (M, B, n_coarse),
        ms; their factors on the path times (M,); and the responses (see
        `member_outputs`). Member m's map is ``k[m] base + I corr[m]``.
        `pool` (`_worker`) runs the Dijkstra and half of the refiners.
        """
        # the leads' Dijkstra over the mesh (compiled, without the GIL) runs
        # in a thread of its own beside the coarse decoders
        g = enc.graph
        paths = pool.submit(g.paths.times, leads, vv_delay_ms)
        _, r_all, q = self._coarse(enc, leads, vv_delay_ms)
        lead_c = torch.from_numpy(g.coarse.cluster[leads])
        hidden = enc.stacked.refine_hidden(lead_c, torch.from_numpy(q))
        base = paths.result()

        # the refiners' corrections at the coarse nodes
        b = torch.from_numpy(coarse_baseline(g, base, q) / np.float32(T_SCALE_MS))
        corr = enc.stacked.refine_with(hidden, b, pool).numpy()
        return base, corr, enc.stacked.ref_k, r_all

    def _coarse(self, enc: Encoded, leads: np.ndarray, vv_delay_ms: float) -> tuple:
        """Every member's coarse decoder and head: times (M, B, n_coarse),
        responses (M, B, n_targets), and the query features (`query_features`).
        """
        g = enc.graph
        q = query_features(
            g.features, g.coarse, g.tissue, leads, g.rv_lead, vv_delay_ms, g.travel
        )
        lead_c = torch.from_numpy(g.coarse.cluster[leads])
        vv = torch.full((len(leads),), vv_delay_ms / 100.0)
        t, r = enc.stacked.coarse(lead_c, torch.from_numpy(q), vv)
        r_all = r.numpy()
        if self.marker_heads:
            markers = self.marker_outputs(enc, leads, vv_delay_ms)
            r_all = np.concatenate([r_all, markers])
        return t.numpy(), r_all, q

    def response_moments(self, r_all: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread (SD) of each response over the heads, (B, n_targets).

        See `response_moments`; the blend weights are the calibration's.
        """
        if r_all.shape[0] == len(self.members):
            return response_moments(r_all, len(self.members))
        w = np.array([self.calibration["blend"][k] for k in TARGETS])
        return response_moments(r_all, len(self.members), w)

    @torch.no_grad()
    def marker_outputs(
        self, enc: Encoded, leads: np.ndarray, vv_delay_ms: float
    ) -> np.ndarray:
        """Every marker head's response, shape (M, B, n_targets)."""
        x = torch.from_numpy(enc.markers.rows(leads, vv_delay_ms))
        return self._stacked_heads(x).numpy()

    def _summarise(self, stats: tuple, r_all, qrs) -> Prediction:
        # the maps' mean and spread per node, and their extremes on the nodes
        # outside scar (fine) or on their coarse representatives
        cal = self.calibration
        t_mean, t_sd, ext, member_tat = stats
        t_half = cal["activation"] * np.maximum(t_sd, cal["activation_floor_ms"])
        response = {"tat_ms": ext[:, 1] - ext[:, 0], "lvat_ms": ext[:, 2] - ext[:, 0]}

        # responses: the heads' mixture, its spread floored, scaled
        half = {}
        floor = SPREAD_FLOOR * np.asarray(cal["target_std"])
        r_mean, r_sd = self.response_moments(r_all)
        for k, name in enumerate(TARGETS):
            response[name] = r_mean[:, k]
            half[name] = cal["targets"][name] * np.maximum(r_sd[:, k], floor[k])
        if qrs is not None:
            # QRS of the mean map's pseudo-ECG (the reference pipeline's own
            # rule), its spread that of the members' total activation times
            k = TARGETS.index("qrs_crt_ms")
            response["qrs_crt_ms"] = qrs
            spread = member_tat.std(0)
            half["qrs_crt_ms"] = cal["qrs_ecg"] * np.maximum(spread, floor[k])
        p = responder_probability(response["d_lvesv_pct"], half["d_lvesv_pct"])
        # (the heads' answers; TAT and LVAT come from the map)
        values = {k: response[k] for k in TARGETS}
        values.update({f"{k} interval": v for k, v in half.items()})
        bad = [k for k, v in values.items() if not np.isfinite(v).all()]
        if bad:
            raise DataError(
                f"the population model answers {bad} with non-finite "
                "values: its weights or calibration are damaged; reinstall or "
                "retrain the model"
            )
        return Prediction(t_mean, t_half, response, half, p)

    # --------------------------------------------------------------- domain
    def answer_issues(self, p: Prediction) -> list[list[str]]:
        """Answers of each query that lie beyond `ANSWER_SDS` training SDs of
        the training mean (the members' target scaling): extrapolation the
        inputs' ranges did not reveal, or a damaged model."""
        mean = np.mean([m.target_mean.numpy() for m in self.members], axis=0)
        std = np.mean([m.target_std.numpy() for m in self.members], axis=0)
        out = [[] for _ in range(len(p.responder_probability))]
        for k, name in enumerate(TARGETS):
            lo, hi = mean[k] - ANSWER_SDS * std[k], mean[k] + ANSWER_SDS * std[k]
            for b, v in enumerate(p.response[name]):
                if not lo <= v <= hi:
                    out[b].append(
                        f"answer {name} = {v:.6g} beyond {ANSWER_SDS:g} training SDs "
                        f"of the training mean [{lo:.6g}, {hi:.6g}]"
                    )
        return out

    def domain_issues(self, values: dict) -> list[str]:
        """Names, values and training ranges of the inputs outside the card.

        Parameters
        ----------
        values : dict
            Twin parameters and shape descriptors (`model_card` names).
        """
        issues = []
        derived = set(self.card.get("derived", self.card["ranges"]))
        for name, (lo, hi) in self.card["ranges"].items():
            if name not in values or values[name] is None:
                continue
            v = float(values[name])
            # swept parameters are checked against the sampling box; derived
            # descriptors (all names on a card older than its ``derived``
            # list) get a margin past the extremes of the training hearts;
            # angles count modulo 360 degrees
            slack = DOMAIN_SLACK * (hi - lo) if name in derived else 0.0
            turns = (-360.0, 0.0, 360.0) if name.endswith("rotational_deg") else (0,)
            if not any(lo - slack <= v + k <= hi + slack for k in turns):
                issues.append(
                    f"{name} = {v:.6g} outside the training range [{lo:.6g}, {hi:.6g}]"
                )

        # an input the card gives no range for cannot be checked: say so
        ranges = self.card["ranges"]
        for name in sorted(k for k, v in values.items() if v is not None):
            if name not in ranges:
                issues.append(f"{name}: the model card has no training range for it")
        return issues
