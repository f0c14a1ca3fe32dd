"""Pacing plans and tissue parameters: what starts and carries activation.

Protocols and the conduction system they assume:

=============  =====================  ======================================
protocol       conduction system      activation starts from
=============  =====================  ======================================
``sinus``      both bundles work      LV roots (0 ms) and RV root (+5 ms)
``lbbb``       right bundle only      RV root (0 ms)
``rbbb``       left bundle only       LV roots (0 ms)
``rv-pacing``  `substrate`            RV lead (0 ms)
``lv-pacing``  `substrate`            LV lead (0 ms)
``crt``        `substrate`            RV lead (0 ms) and LV lead (-VV)
=============  =====================  ======================================

Paced protocols act on a substrate (default ``lbbb``, the CRT candidate):
its working bundle still conducts and is reached intrinsically at
``pr_intrinsic_ms - av_delay_ms`` after the first paced beat (default
200 - 120 = 80 ms, after the paced wave has taken the ventricles: pacing
pre-empts intrinsic conduction, with fusion where it is slower). A fast
endocardial layer of a working bundle is engaged wherever any wave reaches
it (Lee et al. 2019, Front Physiol 10:1131; Durrer et al. 1970,
Circulation 41:899 for the root sites and their timing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.errors import ParameterError, SiteError

PROTOCOLS = ("sinus", "lbbb", "rbbb", "rv-pacing", "lv-pacing", "crt")
SUBSTRATES = ("normal", "lbbb", "rbbb")
PACED = ("rv-pacing", "lv-pacing", "crt")
SYSTEMS = ("fast-endocardium", "purkinje")

#: RV breakthrough after the LV roots in sinus rhythm, ms (Durrer 1970).
RV_ROOT_DELAY_SINUS_MS = 5.0


@dataclass(frozen=True)
class TissueParams:
    """Conduction velocities, mm/ms (= m/s).

    Defaults: transversely isotropic myocardium 0.6 along and 0.24 across the
    fibre, and a fast endocardial layer at 2.0 mm/ms, inside the ranges of
    Caldwell et al. 2009 (Circ Arrhythm Electrophysiol 2:433) and the 2-4
    mm/ms of Purkinje-like layers. `cv_scale` multiplies the myocardial
    velocities only (a what-if on slowed conduction), not the fast layer.
    Border-zone cells conduct at `border_factor` times the myocardium
    (0.5 by default; reported factors range 0.2-0.7).
    """

    v_fibre: float = 0.6
    v_cross: float = 0.24
    v_endo: float = 2.0
    cv_scale: float = 1.0
    border_factor: float = 0.5

    def __post_init__(self) -> None:
        for name in ("v_fibre", "v_cross", "v_endo", "cv_scale", "border_factor"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ParameterError(f"{name} must be a positive number, got {value}")
        if self.v_cross > self.v_fibre:
            raise ParameterError(
                f"v_cross ({self.v_cross} mm/ms) must not exceed v_fibre "
                f"({self.v_fibre} mm/ms)"
            )
        if self.v_fibre > 10 or self.v_endo > 10:
            raise ParameterError(
                f"velocities above 10 mm/ms (= m/s) are not cardiac: v_fibre "
                f"{self.v_fibre}, v_endo {self.v_endo}; are they in cm/s or mm/s?"
            )


@dataclass(frozen=True)
class PacingPlan:
    """What starts the activation.

    Parameters
    ----------
    protocol : str
        One of `PROTOCOLS`.
    lv_lead, rv_lead : int or None
        Node ids of the leads (None takes the RV apex for the RV lead).
    vv_delay_ms : float
        LV lead fires this much before the RV lead (negative: after), ms.
    av_delay_ms : float
        Paced AV delay, ms; must be shorter than `pr_intrinsic_ms` for
        pacing to lead.
    pr_intrinsic_ms : float
        Intrinsic AV (PR) interval of the patient, ms.
    substrate : str or None
        Conduction system under pacing: ``normal``, ``lbbb`` (default) or
        ``rbbb``.
    system : str
        How the bundles reach the myocardium: ``fast-endocardium`` (a fast
        endocardial layer from root sites) or ``purkinje`` (the heart's
        Purkinje trees, coupled at their terminals; the trees are not
        engaged by pacing leads).
    """

    protocol: str = "lbbb"
    lv_lead: int | None = None
    rv_lead: int | None = None
    vv_delay_ms: float = 0.0
    av_delay_ms: float = 120.0
    pr_intrinsic_ms: float = 200.0
    substrate: str | None = None
    system: str = "fast-endocardium"

    def __post_init__(self) -> None:
        if self.system not in SYSTEMS:
            raise ParameterError(
                f"system must be one of {SYSTEMS}, got {self.system!r}"
            )
        if self.protocol not in PROTOCOLS:
            raise ParameterError(
                f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}"
            )
        if self.substrate is not None and self.substrate not in SUBSTRATES:
            raise ParameterError(
                f"substrate must be one of {SUBSTRATES}, got {self.substrate!r}"
            )
        if self.protocol in ("crt", "lv-pacing") and self.lv_lead is None:
            raise SiteError(f"{self.protocol} needs an LV lead site")
        if self.lv_lead is not None and self.protocol not in ("crt", "lv-pacing"):
            raise SiteError(
                f"{self.protocol} uses no LV lead; drop it or choose crt or lv-pacing"
            )
        if self.rv_lead is not None and self.protocol not in ("crt", "rv-pacing"):
            raise SiteError(
                f"{self.protocol} uses no RV lead; drop it or choose crt or rv-pacing"
            )
        if not np.isfinite(self.vv_delay_ms) or abs(self.vv_delay_ms) > 80:
            raise ParameterError(
                f"vv_delay_ms must lie in [-80, 80] ms, got {self.vv_delay_ms}"
            )
        for name, lo, hi in (("av_delay_ms", 40, 300), ("pr_intrinsic_ms", 80, 400)):
            value = getattr(self, name)
            if not np.isfinite(value) or not lo <= value <= hi:
                raise ParameterError(f"{name} must lie in [{lo}, {hi}] ms, got {value}")

    @property
    def conduction(self) -> str:
        """The conduction system in force: normal, lbbb or rbbb."""
        if self.protocol == "sinus":
            return "normal"
        if self.protocol in ("lbbb", "rbbb"):
            return self.protocol
        return self.substrate or "lbbb"

    @property
    def paced(self) -> bool:
        """True when leads start the activation."""
        return self.protocol in PACED

    def working_bundles(self) -> tuple[bool, bool]:
        """Whether the left and the right bundle conduct."""
        return self.conduction != "lbbb", self.conduction != "rbbb"
