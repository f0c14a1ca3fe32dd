"""Activation markers read from an activation map.

Pure functions of arrays: activation times per node (ms, NaN where the wave
never arrives) and node masks. Definitions follow clinical usage in CRT
studies (Strocchi et al. 2020, Europace 22:1465 for TAT; Gold et al. 2011,
Eur Heart J 32:2516 for QLV):

- total activation time (TAT): last minus first activation over all nodes;
- LV activation time (LVAT): the last LV node's time;
- mean LV activation time (MLVAT): the mean over LV nodes;
- septal-to-lateral delay: mean lateral-wall time (AHA 5, 6, 11, 12) minus
  mean septal time (AHA 2, 3, 8, 9);
- QLV of a lead site: its activation time under the intrinsic (LBBB) rhythm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from simulators.errors import FieldError


@dataclass(frozen=True)
class ActivationMarkers:
    """Scalar read-outs of one activation map, all in ms."""

    tat_ms: float
    lvat_ms: float
    mlvat_ms: float
    septal_lateral_delay_ms: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict for JSON output."""
        return asdict(self)


def activation_markers(
    t_ms: np.ndarray,
    lv_mask: np.ndarray,
    septal_mask: np.ndarray,
    lateral_mask: np.ndarray,
) -> ActivationMarkers:
    """Compute TAT, LVAT, MLVAT and the septal-to-lateral delay.

    Parameters
    ----------
    t_ms : ndarray of shape (n_points,)
        Activation time per node, ms; NaN where unreachable (ignored).
    lv_mask, septal_mask, lateral_mask : ndarray of shape (n_points,), bool
        LV myocardium, septal (AHA 2, 3, 8, 9) and lateral (AHA 5, 6, 11, 12)
        nodes.

    Returns
    -------
    ActivationMarkers

    Examples
    --------
    >>> t = np.array([0.0, 10.0, 30.0, 50.0])
    >>> lv = np.array([False, True, True, True])
    >>> m = activation_markers(t, lv, t == 10.0, t == 50.0)
    >>> m.tat_ms, m.lvat_ms, m.mlvat_ms, m.septal_lateral_delay_ms
    (50.0, 50.0, 30.0, 40.0)
    """
    t = np.asarray(t_ms, dtype=float)
    for name, mask in (
        ("lv", lv_mask),
        ("septal", septal_mask),
        ("lateral", lateral_mask),
    ):
        if mask.shape != t.shape:
            raise FieldError(f"{name} mask has shape {mask.shape}, expected {t.shape}")
        if not np.isfinite(t[mask]).any():
            raise FieldError(f"no {name} node has a finite activation time")
    return ActivationMarkers(
        tat_ms=float(np.nanmax(t) - np.nanmin(t)),
        lvat_ms=float(np.nanmax(t[lv_mask])),
        mlvat_ms=float(np.nanmean(t[lv_mask])),
        septal_lateral_delay_ms=float(
            np.nanmean(t[lateral_mask]) - np.nanmean(t[septal_mask])
        ),
    )
