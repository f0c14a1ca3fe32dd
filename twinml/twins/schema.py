"""What a twin's ``twin.json`` may hold: names, units, defaults and ranges.

A twin's parameters come in three groups, each a JSON object of its own:

- ``parameters``: tissue and mechanics (numbers, units in the names);
- ``scar``: ``null`` for none, or an ischaemic scar placed by ventricular
  coordinates (`simulators.ep.scar.spherical_scar`);
- ``protocol``: the rhythm, the heart rate and the leads.

On the command line every name is flat: the scar's fields take a
``scar_`` prefix (``--param scar_radius_mm=12``). Unknown names and values
outside their range are refused with the allowed range in the message.

Examples
--------
>>> spec = SPECS["v_fibre_mm_ms"]
>>> spec.group, spec.unit, spec.default
('parameters', 'mm/ms', 0.6)
>>> check_value("heart_rate_bpm", 72)
72.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from simulators.circulation.twin import RANGES
from simulators.errors import ParameterError, TwinmlInputError

#: Version of the ``twin.json`` layout; a reader refuses any other.
SCHEMA_VERSION = 1

#: The ``format`` field of every ``twin.json``.
FORMAT = "twinml-twin"

#: Groups of ``twin.json`` that hold parameters, in file order.
GROUPS = ("parameters", "scar", "protocol")

#: Intrinsic rhythms a twin's baseline may take.
BASELINES = ("lbbb", "sinus", "rbbb")


@dataclass(frozen=True)
class Spec:
    """One parameter of a twin.

    Attributes
    ----------
    group : str
        The ``twin.json`` object that holds it (`GROUPS`).
    key : str
        Its name inside that object.
    unit : str
        Unit (``1`` for a ratio, ``text`` for a site or a name).
    default : float, str or None
        Value taken when not given.
    low, high : float or None
        Inclusive allowed range of a number.
    doc : str
        One line for ``--help`` and error messages.
    """

    group: str
    key: str
    unit: str
    default: float | str | None
    low: float | None = None
    high: float | None = None
    doc: str = ""

    @property
    def numeric(self) -> bool:
        """True for a number with a range, False for text."""
        return self.low is not None


def _num(group, key, unit, default, low, high, doc) -> Spec:
    return Spec(group, key, unit, float(default), float(low), float(high), doc)


_C_LO, _C_HI = RANGES["contractility"]
_S_LO, _S_HI = RANGES["stiffness"]

# flat name -> spec; the scar's flat names carry the prefix ``scar_``
SPECS: dict[str, Spec] = {
    # tissue (simulators.ep.protocols.TissueParams) and fibres
    "cv_scale": _num("parameters", "cv_scale", "1", 1.0, 0.2, 3.0,
                     "myocardial velocity factor"),
    "v_fibre_mm_ms": _num("parameters", "v_fibre_mm_ms", "mm/ms", 0.6, 0.1, 2.0,
                          "velocity along the fibre"),
    "v_cross_mm_ms": _num("parameters", "v_cross_mm_ms", "mm/ms", 0.24, 0.05, 1.0,
                          "velocity across the fibre (at most v_fibre)"),
    "v_endo_mm_ms": _num("parameters", "v_endo_mm_ms", "mm/ms", 2.0, 0.5, 6.0,
                         "fast endocardial layer velocity"),
    "border_factor": _num("parameters", "border_factor", "1", 0.5, 0.05, 1.0,
                          "border-zone velocity, times the myocardium's"),
    "alpha_endo_deg": _num("parameters", "alpha_endo_deg", "deg", 60.0, 0.0, 90.0,
                           "fibre helix angle at the endocardium"),
    "alpha_epi_deg": _num("parameters", "alpha_epi_deg", "deg", -60.0, -90.0, 0.0,
                          "fibre helix angle at the epicardium"),
    # mechanics (simulators.circulation.twin.CirculationTwin)
    "contractility": _num("parameters", "contractility", "1", 1.0, _C_LO, _C_HI,
                          "active stress, times the healthy heart's"),
    "stiffness": _num("parameters", "stiffness", "1", 1.0, _S_LO, _S_HI,
                      "passive stress, times the healthy heart's"),
    # scar: a ball on the LV endocardium, placed by ventricular coordinates
    "scar_radius_mm": _num("scar", "radius_mm", "mm", 15.0, 1.0, 60.0,
                           "scar ball radius"),
    "scar_apicobasal": _num("scar", "apicobasal", "1", 0.5, 0.0, 1.0,
                            "scar centre height, 0 apex .. 1 base"),
    "scar_rotational_deg": _num("scar", "rotational_deg", "deg", 180.0, -180.0,
                                180.0, "scar centre angle from the septum"),
    "scar_transmurality": _num("scar", "transmurality", "1", 1.0, 0.01, 1.0,
                               "scarred fraction of the wall, from the endo"),
    "scar_border_mm": _num("scar", "border_mm", "mm", 3.0, 0.0, 15.0,
                           "border-zone width around the scar"),
    # protocol: rhythm, rate, leads
    "baseline": Spec("protocol", "baseline", "text", "lbbb",
                     doc=f"intrinsic rhythm, one of {list(BASELINES)}"),
    "heart_rate_bpm": _num("protocol", "heart_rate_bpm", "bpm", 70.0, 30.0, 200.0,
                           "heart rate"),
    "lv_lead": Spec("protocol", "lv_lead", "text", None,
                    doc="LV lead: node:ID, aha:N, xyz:X,Y,Z or uvc:Z,PHI_DEG"),
    "rv_lead": Spec("protocol", "rv_lead", "text", "rv-apex",
                    doc="RV lead: rv-apex (none on an LV-only heart), "
                        "rv-septum, node:ID or xyz:X,Y,Z"),
    "vv_delay_ms": _num("protocol", "vv_delay_ms", "ms", 0.0, -80.0, 80.0,
                        "LV lead ahead of the RV lead"),
    "av_delay_ms": _num("protocol", "av_delay_ms", "ms", 120.0, 40.0, 300.0,
                        "paced AV delay"),
}  # fmt: skip


def flat_name(group: str, key: str) -> str:
    """The command-line name of a ``twin.json`` field."""
    return f"scar_{key}" if group == "scar" else key


def names(group: str) -> list[str]:
    """Flat names of a group, in table order."""
    return [n for n, s in SPECS.items() if s.group == group]


def check_value(name: str, value: Any) -> float | str | None:
    """Return `value` in its type if `name` allows it, else raise.

    Parameters
    ----------
    name : str
        Flat name (`SPECS`).
    value : float, str or None
        A number (or a numeric string) for numeric names, text for the
        others; None only for ``lv_lead``.

    Raises
    ------
    ParameterError
        For an unknown name (listing the known ones), a value of the wrong
        type or one outside the range (naming the range and unit).
    """
    if name not in SPECS:
        raise ParameterError(
            f"unknown twin parameter {name!r}; known: {', '.join(SPECS)}"
        )
    spec = SPECS[name]
    if not spec.numeric:
        return _check_text(name, spec, value)

    # numbers: finite and in range (true and false are not numbers here)
    unit = f" in{_unit(spec)}" if _unit(spec) else ""
    if isinstance(value, bool):
        raise ParameterError(
            f"twin parameter {name} must be a number{unit}, got the boolean {value}"
        )
    try:
        number = float(value)
    except OverflowError:
        raise ParameterError(
            f"twin parameter {name} must lie in [{spec.low:g}, {spec.high:g}]"
            f"{_unit(spec)} ({spec.doc}), got an integer of {_digits(value)} digits"
        ) from None
    except (TypeError, ValueError):
        raise ParameterError(
            f"twin parameter {name} must be a number{unit}, got {value!r:.40}"
        ) from None
    if not math.isfinite(number):
        raise ParameterError(
            f"twin parameter {name} must be a finite number, got {value!r:.40}"
        )
    if not spec.low <= number <= spec.high:
        raise ParameterError(
            f"twin parameter {name} must lie in [{spec.low:g}, {spec.high:g}]"
            f"{_unit(spec)} ({spec.doc}), got {number:g}"
        )
    return number


def _digits(n: int) -> int:
    """Decimal digits of an integer (of any size: no text conversion)."""
    n = abs(n)
    d = int(math.log10(n)) + 1
    # float rounding can miss by one next to a power of ten
    if n < 10 ** (d - 1):
        d -= 1
    elif n >= 10**d:
        d += 1
    return d


def _unit(spec: Spec) -> str:
    return "" if spec.unit == "1" else f" {spec.unit}"


def _check_text(name: str, spec: Spec, value: Any) -> str | None:
    """Sites and rhythm names: text (the sites are resolved on a heart)."""
    if value is None and name == "lv_lead":
        return None
    if not isinstance(value, str) or not value.strip():
        got = "an empty text" if isinstance(value, str) else type(value).__name__
        raise ParameterError(
            f"twin parameter {name} must be text ({spec.doc}), got {got}"
        )
    if name == "baseline" and value not in BASELINES:
        raise ParameterError(
            f"twin parameter baseline must be one of {list(BASELINES)}, got {value!r}"
        )
    if name in ("lv_lead", "rv_lead"):
        _check_lead(name, value.strip())
    return value.strip()


def _check_lead(name: str, text: str) -> None:
    """A lead's form and AHA segment, before any mesh is built."""
    from simulators.ep.sites import check_site_text
    from twinml.twins.sites import check_lv_lead_text

    try:
        if name == "lv_lead":
            check_lv_lead_text(text)
        else:
            check_site_text(text, "rv")
    except TwinmlInputError as err:
        raise ParameterError(f"twin parameter {name}: {err}") from None


def check_consistency(values: dict[str, Any]) -> None:
    """Checks across parameters, on flat names with their final values.

    Raises
    ------
    ParameterError
        If the cross-fibre velocity exceeds the fibre velocity.
    """
    v_f, v_c = values["v_fibre_mm_ms"], values["v_cross_mm_ms"]
    if v_c > v_f:
        raise ParameterError(
            f"v_cross_mm_ms ({v_c:g}) must not exceed v_fibre_mm_ms ({v_f:g})"
        )


def defaults(group: str) -> dict[str, Any]:
    """Default ``twin.json`` object of a group (its own keys, not flat)."""
    return {SPECS[n].key: SPECS[n].default for n in names(group)}


def table() -> list[dict[str, Any]]:
    """Every parameter as a row: name, group, unit, default, range, doc."""
    return [
        {
            "name": name,
            "group": s.group,
            "unit": s.unit,
            "default": s.default,
            "range": None if not s.numeric else [s.low, s.high],
            "doc": s.doc,
        }
        for name, s in SPECS.items()
    ]
