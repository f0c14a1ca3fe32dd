"""A twin's clinical measurements: the optional ``observations.json``.

The file is one JSON object. ``schema_version`` (1) is required; every
measurement is optional, a number in the unit its name carries, or null
when not measured; at least one must be given. Text fields ``date``
(ISO 8601), ``source`` and ``note`` are kept as they are.

====================================  ========  =====================
field                                 unit      allowed range
====================================  ========  =====================
``qrs_ms``                            ms        40 .. 300
``heart_rate_bpm``                    bpm       20 .. 250
``edv_ml``                            mL        20 .. 800
``esv_ml``                            mL        5 .. 750
``ef_pct``                            %         1 .. 90
``lv_systolic_pressure_mmhg``         mmHg      40 .. 300
``lv_end_diastolic_pressure_mmhg``    mmHg      0 .. 60
``systolic_pressure_mmhg``            mmHg      40 .. 300
``diastolic_pressure_mmhg``           mmHg      10 .. 200
``mean_arterial_pressure_mmhg``       mmHg      20 .. 250
``d_lvesv_pct``                       %         -100 .. 200
====================================  ========  =====================

``d_lvesv_pct`` is the change of LV end-systolic volume at follow-up (the
echo responder criterion is -15 % or less). ESV must be below EDV and the
diastolic below the systolic pressure; an EF more than `EF_TOLERANCE_PCT`
points away from 100 (EDV - ESV) / EDV is warned about, not refused.

Readers (``twinml diagnose --twin DIR`` among them) call
`load_observations`, which returns the checked dict or None when the twin
has no such file.

Examples
--------
>>> check_observations({"schema_version": 1, "qrs_ms": 152.0})["qrs_ms"]
152.0
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

from simulators.errors import ParameterError

logger = logging.getLogger(__name__)

#: Name of the file in a twin folder.
FILENAME = "observations.json"

#: Version of its layout.
SCHEMA_VERSION = 1

#: Measurement -> (unit, low, high), inclusive.
FIELDS: dict[str, tuple[str, float, float]] = {
    "qrs_ms": ("ms", 40.0, 300.0),
    "heart_rate_bpm": ("bpm", 20.0, 250.0),
    "edv_ml": ("mL", 20.0, 800.0),
    "esv_ml": ("mL", 5.0, 750.0),
    "ef_pct": ("%", 1.0, 90.0),
    "lv_systolic_pressure_mmhg": ("mmHg", 40.0, 300.0),
    "lv_end_diastolic_pressure_mmhg": ("mmHg", 0.0, 60.0),
    "systolic_pressure_mmhg": ("mmHg", 40.0, 300.0),
    "diastolic_pressure_mmhg": ("mmHg", 10.0, 200.0),
    "mean_arterial_pressure_mmhg": ("mmHg", 20.0, 250.0),
    "d_lvesv_pct": ("%", -100.0, 200.0),
}

#: Free-text fields kept as they are.
TEXT_FIELDS = ("date", "source", "note")

#: Largest gap, in EF points, between a given EF and the volumes' EF.
EF_TOLERANCE_PCT = 5.0


def check_observations(obj: Any, where: str = "observations") -> dict[str, Any]:
    """Validate an observations object; return it with floats and nulls.

    Parameters
    ----------
    obj : dict
        The parsed JSON object.
    where : str
        Name used in error messages (the file path).

    Returns
    -------
    dict
        ``schema_version``, every field of `FIELDS` (float or None) and the
        text fields that were given.

    Raises
    ------
    ParameterError
        For a wrong version, an unknown field, a value of the wrong type or
        out of range, or inconsistent volumes or pressures.
    """
    if not isinstance(obj, dict):
        raise ParameterError(
            f"{where}: expected a JSON object, got {type(obj).__name__}"
        )
    if obj.get("schema_version") != SCHEMA_VERSION:
        raise ParameterError(
            f"{where}: schema_version must be {SCHEMA_VERSION}, got "
            f'{obj.get("schema_version")!r}; add "schema_version": '
            f"{SCHEMA_VERSION} to the object"
        )
    unknown = sorted(set(obj) - set(FIELDS) - set(TEXT_FIELDS) - {"schema_version"})
    if unknown:
        raise ParameterError(
            f"{where}: unknown fields {unknown}; known: {sorted(FIELDS)} and "
            f"{list(TEXT_FIELDS)}"
        )

    # numbers in range, text as text
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for name, (unit, low, high) in FIELDS.items():
        out[name] = _number(obj.get(name), name, unit, low, high, where)
    for name in TEXT_FIELDS:
        if name in obj:
            if not isinstance(obj[name], str):
                raise ParameterError(f"{where}: {name} must be text")
            out[name] = obj[name]
    if all(out[name] is None for name in FIELDS):
        raise ParameterError(f"{where}: no measurement given; fields: {list(FIELDS)}")
    _check_relations(out, where)
    return out


def load_observations(folder: str | Path) -> dict[str, Any] | None:
    """The checked observations of a twin folder, or None when it has none.

    Raises
    ------
    ParameterError
        If the file is not valid JSON (naming the file and the position) or
        its content breaks the schema (`check_observations`).
    """
    path = Path(folder) / FILENAME
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(
            f"{path}: not valid JSON ({err}); fix or remove it"
        ) from None
    return check_observations(obj, str(path))


def _number(value, name, unit, low, high, where) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{where}: {name} must be a number ({unit}) or null")
    if not (math.isfinite(value) and low <= value <= high):
        raise ParameterError(
            f"{where}: {name} must lie in [{low:g}, {high:g}] {unit}, got {value}"
        )
    return float(value)


def _check_relations(out: dict[str, Any], where: str) -> None:
    """ESV below EDV, diastolic below systolic, EF close to the volumes'."""
    edv, esv, ef = out["edv_ml"], out["esv_ml"], out["ef_pct"]
    if edv is not None and esv is not None and esv >= edv:
        raise ParameterError(
            f"{where}: esv_ml ({esv:g}) must be below edv_ml ({edv:g})"
        )
    sys_p, dia_p = out["systolic_pressure_mmhg"], out["diastolic_pressure_mmhg"]
    if sys_p is not None and dia_p is not None and dia_p >= sys_p:
        raise ParameterError(
            f"{where}: diastolic_pressure_mmhg ({dia_p:g}) must be below "
            f"systolic_pressure_mmhg ({sys_p:g})"
        )
    if None not in (edv, esv, ef):
        ef_volumes = 100.0 * (edv - esv) / edv
        if abs(ef - ef_volumes) > EF_TOLERANCE_PCT:
            warnings.warn(
                f"{where}: ef_pct {ef:g} differs from the volumes' "
                f"{ef_volumes:.1f} % by more than {EF_TOLERANCE_PCT:g} points; "
                "check the EDV, ESV and EF entries",
                UserWarning,
                stacklevel=3,
            )
