"""Conduction velocity tensors of transversely isotropic myocardium.

Along the fibre direction f the wave travels at v_f, across it at v_c. The
velocity tensor and its inverse, the metric of the Eikonal equation, are

    D = v_f² f fᵀ + v_c² (I − f fᵀ)                  [mm²/ms²]
    M = D⁻¹ = f fᵀ / v_f² + (I − f fᵀ) / v_c²          [ms²/mm²]

and the activation time t solves ∇tᵀ D ∇t = 1, so that the travel time along
a straight segment v is ‖v‖_M = sqrt(vᵀ M v).

References
----------
P. Colli Franzone, L. Guerri, S. Rovida, "Wavefront propagation in an
activation model of the anisotropic cardiac tissue", J. Math. Biol. 28 (1990).
"""

from __future__ import annotations

import logging

import numpy as np

from simulators.errors import FieldError

logger = logging.getLogger(__name__)

__all__ = ["conduction_tensors", "metric_tensors", "unit_fibres"]

#: Fibre vectors shorter than this are treated as missing (no direction).
MIN_FIBRE_NORM = 1e-6


def _first_ids(mask: np.ndarray, k: int = 5) -> str:
    """Count and the first `k` ids where `mask` is true, for error messages."""
    ids = np.flatnonzero(mask)
    more = " ..." if len(ids) > k else ""
    return f"{len(ids)} cells, first ids {ids[:k].tolist()}{more}"


def unit_fibres(fibres: np.ndarray) -> np.ndarray:
    """Check fibre vectors and scale them to unit length.

    Parameters
    ----------
    fibres : array_like of shape (n_cells, 3)
        Fibre directions per cell; length and sign are irrelevant.

    Returns
    -------
    ndarray of shape (n_cells, 3)
        Unit fibre vectors (float64, a new array).

    Raises
    ------
    FieldError
        If the shape is wrong, an entry is not finite or a vector is shorter
        than `MIN_FIBRE_NORM`; the message names the first offending cells.
    """
    f = np.array(fibres, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 3:
        raise FieldError(f"fibres must have shape (n_cells, 3), got {f.shape}")

    # non-finite entries first, so the norm below is meaningful
    bad = ~np.isfinite(f).all(axis=1)
    if bad.any():
        raise FieldError(f"fibres are not finite in {_first_ids(bad)}")
    norm = np.linalg.norm(f, axis=1)
    short = norm < MIN_FIBRE_NORM
    if short.any():
        raise FieldError(
            f"fibres must be non-zero (|f| >= {MIN_FIBRE_NORM}), got shorter ones "
            f"in {_first_ids(short)}"
        )
    return f / norm[:, None]


def _velocity(v: float | np.ndarray, name: str, n_cells: int) -> np.ndarray:
    """Broadcast a velocity to shape (n_cells,) and check it is positive."""
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim > 1 or (arr.ndim == 1 and len(arr) != n_cells):
        raise FieldError(
            f"{name} must be a scalar or of shape ({n_cells},) (one per cell), "
            f"got shape {arr.shape}"
        )
    arr = np.broadcast_to(arr, (n_cells,))
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        raise FieldError(
            f"{name} must be positive and finite (mm/ms), got "
            f"{arr[bad][:5].tolist()} in {_first_ids(bad)}"
        )
    return arr


def conduction_tensors(
    fibres: np.ndarray,
    v_fibre: float | np.ndarray,
    v_cross: float | np.ndarray,
) -> np.ndarray:
    """Velocity tensors D = v_f² f fᵀ + v_c² (I − f fᵀ) per cell.

    Parameters
    ----------
    fibres : array_like of shape (n_cells, 3)
        Fibre directions; normalised here, sign irrelevant.
    v_fibre, v_cross : float or array_like of shape (n_cells,)
        Conduction velocities along and across the fibres, in mm/ms.

    Returns
    -------
    ndarray of shape (n_cells, 3, 3)
        Symmetric positive definite tensors in mm²/ms².

    Raises
    ------
    FieldError
        On bad fibres (see `unit_fibres`) or non-positive velocities.

    Examples
    --------
    >>> conduction_tensors([[1.0, 0.0, 0.0]], 2.0, 0.5)[0].diagonal()
    array([4.  , 0.25, 0.25])
    """
    f = unit_fibres(fibres)
    vf = _velocity(v_fibre, "v_fibre", len(f))
    vc = _velocity(v_cross, "v_cross", len(f))
    f_outer = f[:, :, None] * f[:, None, :]
    vf2, vc2 = (vf**2)[:, None, None], (vc**2)[:, None, None]
    return (vf2 - vc2) * f_outer + vc2 * np.eye(3)


def metric_tensors(
    fibres: np.ndarray,
    v_fibre: float | np.ndarray,
    v_cross: float | np.ndarray,
) -> np.ndarray:
    """Eikonal metric M = D⁻¹ = f fᵀ / v_f² + (I − f fᵀ) / v_c² per cell.

    The travel time of a wave along a short straight segment v (mm) inside a
    cell is sqrt(vᵀ M v) (ms). The inverse is written in closed form, since D
    has the eigenvalue v_f² along f and v_c² on the plane across it.

    Parameters
    ----------
    fibres : array_like of shape (n_cells, 3)
        Fibre directions; normalised here, sign irrelevant.
    v_fibre, v_cross : float or array_like of shape (n_cells,)
        Conduction velocities along and across the fibres, in mm/ms.

    Returns
    -------
    ndarray of shape (n_cells, 3, 3)
        Symmetric positive definite metric tensors in ms²/mm².

    Raises
    ------
    FieldError
        If fibres are mis-shaped, non-finite or zero, or a velocity is not
        positive and finite; the message names the first offending cells.

    Examples
    --------
    >>> m = metric_tensors([[0.0, 0.0, 3.0]], 1.0, 0.5)
    >>> m[0].diagonal()
    array([4., 4., 1.])
    """
    f = unit_fibres(fibres)
    vf = _velocity(v_fibre, "v_fibre", len(f))
    vc = _velocity(v_cross, "v_cross", len(f))
    f_outer = f[:, :, None] * f[:, None, :]
    slow_f, slow_c = (1.0 / vf**2)[:, None, None], (1.0 / vc**2)[:, None, None]
    return (slow_f - slow_c) * f_outer + slow_c * np.eye(3)
