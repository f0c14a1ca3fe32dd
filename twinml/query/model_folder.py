"""A population model folder: load it, and refuse it when damaged.

A model folder holds the members (``member_<k>.pt``) and their marker heads
(``marker_<k>.pt``), each with its SHA-256 digest, the calibration
(``calibration.json``: interval factors, spreads, blend weights) and the
model card (``model_card.json``: training ranges, coarse spacing, config).
The checkpoints carry digests; the JSON files are checked here, entry by
entry, so that a damaged or hand-edited file is named with its key before
any twin is touched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from simulators.errors import DataError, ParameterError
from twinml.data.features import N_QUERY_FEATURES
from twinml.data.markers import MARKER_INPUTS
from twinml.data.population import GLOBAL_RANGES, N_BINS, SPACING_MM, TARGETS
from twinml.query.population import PopulationSurrogate

__all__ = [
    "DEFAULT_MODEL",
    "MAX_FACTOR",
    "MIN_FACTOR",
    "load_surrogate",
    "model_spacing_mm",
]

#: The population model shipped with the package.
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "pretrained" / "population"
#: Entries every calibration holds.
_CALIBRATION_KEYS = (
    "activation",
    "activation_floor_ms",
    "targets",
    "target_std",
    "qrs_ecg",
)


def load_surrogate(folder: str | Path | None = None) -> PopulationSurrogate:
    """The population model in `folder` (default: the packaged one), checked.

    Raises
    ------
    ParameterError
        When a folder given by the caller does not exist.
    DataError
        When the model lacks a file, a file is not valid JSON or lacks a
        key, or a member's checkpoint is damaged.
    """
    if folder is not None and not Path(folder).is_dir():
        raise ParameterError(
            f"{str(folder)!r} is not a folder; a population model is a folder holding "
            "member_*.pt, calibration.json and model_card.json"
        )
    folder = DEFAULT_MODEL if folder is None else Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"no pretrained population model at {folder}; train one with "
            "`python experiments/population/train.py --sweeps DIR --out "
            f"{folder}` or pass --model DIR"
        )
    try:
        sur = PopulationSurrogate.load(folder)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{folder}: calibration.json or model_card.json is not valid JSON "
            f"({err}); reinstall or retrain the model"
        ) from None
    missing = [k for k in _CALIBRATION_KEYS if k not in sur.calibration]
    if missing:
        raise DataError(
            f"{folder}: calibration.json lacks {missing}; reinstall or retrain "
            "the model"
        )
    bad_card = _bad_card(sur.card)
    if bad_card:
        raise DataError(
            f"{folder}: model_card.json {bad_card}; reinstall or retrain the model"
        )
    built = _bad_build(sur)
    if built:
        raise DataError(f"{folder}: {built}; reinstall or retrain the model")
    blend = _bad_blend(sur.calibration.get("blend")) if sur.marker_heads else []
    if blend:
        raise DataError(
            f"{folder}: calibration.json holds {blend}; the blend needs one weight "
            "in 0..1 per target: recalibrate the model"
        )
    bad = _bad_calibration(sur.calibration)
    if bad:
        raise DataError(
            f"{folder}: calibration.json holds {bad}; interval factors and spreads "
            f"must be finite and positive, factors {MIN_FACTOR:g}-{MAX_FACTOR:g}, the "
            "floor 0-50 ms and target SDs 0.001-1000: recalibrate the model"
        )
    return sur


def _bad_card(card: dict) -> str | None:
    """What is wrong with a model card's training ranges, or None."""
    ranges = card.get("ranges")
    if not isinstance(ranges, dict) or not ranges:
        return "lacks 'ranges' (an object of name: [low, high])"
    for name, r in ranges.items():
        ok = (
            isinstance(r, list)
            and len(r) == 2
            and all(_finite_number(v) for v in r)
            and r[0] <= r[1]
        )
        if not ok:
            return f"ranges.{name} = {r!r:.40} is not a finite [low, high], low <= high"
    derived = card.get("derived", [])
    if not isinstance(derived, list) or not all(isinstance(d, str) for d in derived):
        return f"derived = {derived!r:.40} is not a list of range names"
    unknown = sorted(set(derived) - set(ranges))
    if unknown:
        return f"derived names {unknown}, which 'ranges' lacks"
    config = card.get("config", {})
    if not isinstance(config, dict):
        return f"config = {config!r:.20} is not an object"
    spacing = card.get("spacing_mm", config.get("spacing_mm"))
    if spacing is not None and not (_positive_number(spacing) and 1 <= spacing <= 50):
        return f"spacing_mm = {spacing!r:.20} is not a coarse spacing of 1-50 mm"
    if "spacing_mm" in card and config.get("spacing_mm", spacing) != spacing:
        return (
            f"spacing_mm = {spacing!r:.20} but config.spacing_mm = "
            f"{config['spacing_mm']!r:.20}: the model was trained at one spacing"
        )
    if card.get("marker_heads") is not None and not isinstance(
        card["marker_heads"], dict
    ):
        return f"marker_heads = {card['marker_heads']!r:.20} is not an object"
    return _bad_marker_inputs(card)


def _bad_marker_inputs(card: dict) -> str | None:
    """The card's marker inputs differ from those this twinml builds (the
    heads would read a twin's markers in another order), or None."""
    if "marker_inputs" not in card and card.get("marker_heads") is None:
        return None
    listed, wanted = card.get("marker_inputs"), list(MARKER_INPUTS)
    if listed == wanted:
        return None
    if not isinstance(listed, list):
        return (
            f"marker_inputs = {listed!r:.40} is not the list of the marker heads' "
            f"{len(wanted)} inputs"
        )
    i = next(
        (i for i, (a, b) in enumerate(zip(listed, wanted, strict=False)) if a != b),
        min(len(listed), len(wanted)),
    )
    found = repr(listed[i])[:40] if i < len(listed) else "nothing"
    expected = repr(wanted[i]) if i < len(wanted) else "nothing"
    return (
        f"marker_inputs lists {len(listed)} inputs, this twinml's marker heads read "
        f"{len(wanted)}; at position {i} (from 0) the card has {found}, twinml "
        f"{expected}"
    )


def _bad_build(sur: PopulationSurrogate) -> str | None:
    """A member or marker head built otherwise than the card and this
    version of twinml say (sizes of inputs, layers, outputs), or None."""
    config, heads_config = sur.card.get("config", {}), sur.card.get("marker_heads")
    # inputs and outputs are this twinml's; hidden sizes the card's
    fixed = {
        "query_dim": N_QUERY_FEATURES,
        "n_globals": len(GLOBAL_RANGES),
        "n_bins": N_BINS,
        "n_targets": len(TARGETS),
    }
    sizes = ("width", "n_layers", "decoder_width", "pooled_dim", "head_width")
    member = {**{k: config[k] for k in sizes if k in config}, **fixed}
    head = {"n_inputs": len(MARKER_INPUTS), "n_targets": len(TARGETS)}
    if isinstance(heads_config, dict) and "hidden" in heads_config:
        head["hidden"] = heads_config["hidden"]
    if heads_config is not None and not sur.marker_heads:
        return (
            "model_card.json describes marker heads but the folder holds no marker_*.pt"
        )
    for stem, models, wanted in (
        ("member", sur.members, member),
        ("marker", sur.marker_heads, head),
    ):
        for k, model in enumerate(models):
            found = getattr(model, "init_args", None)
            if found is None:  # built in memory, not loaded
                continue
            differ = {n: found.get(n) for n, v in wanted.items() if found.get(n) != v}
            if differ:
                expected = {n: wanted[n] for n in differ}
                return (
                    f"{stem}_{k}.pt was built with {differ}; model_card.json and "
                    f"this twinml expect {expected}"
                )
            scale = _bad_target_scale(model)
            if scale:
                return f"{stem}_{k}.pt holds {scale}"
    return None


def _bad_target_scale(model) -> str | None:
    """Target scaling buffers a trained network cannot hold: an SD outside
    1e-3..1e3 of the targets' units or a mean beyond 1000 SDs."""
    mean = model.target_mean.detach().numpy()
    std = model.target_std.detach().numpy()
    bad = (std < 1e-3) | (std > 1e3) | (np.abs(mean) > 1e3 * std)
    if bad.any():
        i = int(np.argmax(bad))
        return f"target_mean[{i}] = {mean[i]:.3g}, target_std[{i}] = {std[i]:.3g}"
    return None


def _finite_number(v: object) -> bool:
    """A JSON number that is finite as a float (not a boolean; an integer
    of hundreds of digits is not)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _positive_number(v: object) -> bool:
    """A finite number above 0 (not a boolean)."""
    return _finite_number(v) and v > 0


#: Largest and smallest plausible interval factors of a calibration
#: (typical: 1-20).
MAX_FACTOR = 1e3
MIN_FACTOR = 1e-3
#: Plausible bounds of the other calibration entries (typical: floor 0.05 ms,
#: target SDs 3-70 in their units).
_PLAUSIBLE = {"activation_floor_ms": (0.0, 50.0), "target_std": (1e-3, 1e3)}


def _bad_calibration(cal: dict) -> list[str]:
    """Entries of a calibration that are not finite positive numbers."""
    targets, stds = cal["targets"], cal["target_std"]
    if not isinstance(targets, dict) or not isinstance(stds, list):
        return ["'targets' (an object) and 'target_std' (a list) of other types"]
    if any(k not in targets for k in TARGETS) or len(stds) != len(TARGETS):
        return [f"targets other than the model's {list(TARGETS)}"]
    entries = {
        "activation": cal["activation"],
        "qrs_ecg": cal["qrs_ecg"],
        **{f"targets.{k}": targets[k] for k in TARGETS},
        **{f"target_std[{i}]": v for i, v in enumerate(stds)},
        "activation_floor_ms": cal["activation_floor_ms"],
    }

    def bad(name: str, v: object) -> bool:
        if not _finite_number(v):
            return True
        # a factor is a quantile of |error| / spread, a spread a target's SD
        # over the training set: outside these bounds the file is damaged
        lo, hi = _PLAUSIBLE.get(name.split("[")[0], (MIN_FACTOR, MAX_FACTOR))
        low_ok = v >= lo if name == "activation_floor_ms" else v > lo
        return not (low_ok and v <= hi)

    out = [f"{k} = {v!r:.20}" for k, v in entries.items() if bad(k, v)]
    if cal.get("level", 0.9) != 0.9:
        out.append(f"level = {cal['level']!r:.20} (the intervals are 90 %)")
    return out


def _bad_blend(blend: object) -> list[str]:
    """Blend weights that are missing or outside 0..1 (a model with marker
    heads needs one per target)."""
    if blend is None:
        return ["no 'blend' entry"]
    if not isinstance(blend, dict):
        return [f"blend = {str(blend)[:20]!r}, not an object"]
    bad = []
    for k in TARGETS:
        if k not in blend:
            bad.append(f"no blend.{k}")
            continue
        v = blend[k]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            bad.append(f"blend.{k} = {v!r:.20}")
    return bad


def model_spacing_mm(sur: PopulationSurrogate) -> float:
    """Coarse-graph voxel side the model was trained on, mm (the card's
    ``spacing_mm`` or ``config.spacing_mm``, else `SPACING_MM`)."""
    card = sur.card
    value = card.get("spacing_mm", card.get("config", {}).get("spacing_mm"))
    return SPACING_MM if value is None else float(value)
