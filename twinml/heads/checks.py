"""Where features enter the heads: shape, missing values, degenerate columns.

`as_features` turns an array, a pandas frame or a dict of columns into a
float matrix with names, refusing non-finite values with the columns
named (or filling missing ones with training medians when asked).
`screen` finds the columns a head must not fit: constant ones, copies of
another column, and (for survival) a column that orders the events
perfectly, which would drive an unpenalised Cox coefficient to infinity.

Examples
--------
>>> import numpy as np
>>> x = np.c_[np.arange(5.0), np.ones(5), np.arange(5.0)]
>>> sorted(screen(x, ["a", "b", "c"]).items())
[('b', 'constant (every value 1)'), ('c', 'identical to a')]
"""

from __future__ import annotations

import logging

import numpy as np

from simulators.errors import TwinmlInputError

logger = logging.getLogger(__name__)

__all__ = ["FeatureError", "as_features", "screen"]


class FeatureError(TwinmlInputError):
    """Features are missing, non-finite or do not match the fitted head."""


def as_features(x, names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """A float matrix and its column names (NaN kept, inf refused).

    Parameters
    ----------
    x : array-like of shape (n_samples, n_features), DataFrame or dict
        Features; a frame's or dict's keys name the columns.
    names : list of str, optional
        Column names for a plain array (``x0``, ``x1``, ... otherwise).
    """
    if isinstance(x, dict):
        names = list(x)
        x = np.column_stack([np.asarray(x[k], dtype=float) for k in names])
    elif hasattr(x, "columns"):
        names = [str(c) for c in x.columns]
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise FeatureError(f"features must be numeric: {err}") from None
    if arr.ndim != 2:
        raise FeatureError(
            f"features must be 2-D (n_samples, n_features), got shape {arr.shape}"
        )
    names = list(names) if names is not None else [f"x{j}" for j in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise FeatureError(f"{len(names)} names for {arr.shape[1]} feature columns")
    bad = np.isinf(arr).any(axis=0)
    if bad.any():
        raise FeatureError(
            f"infinite values in {[n for n, b in zip(names, bad, strict=True) if b]}; "
            "replace them with finite measurements"
        )
    return arr, names


def refuse_missing(x: np.ndarray, names: list[str]) -> None:
    """Raise FeatureError naming every column with a missing value."""
    missing = np.isnan(x).sum(axis=0)
    if missing.any():
        cols = {n: int(m) for n, m in zip(names, missing, strict=True) if m}
        raise FeatureError(
            f"missing values (NaN) in {cols} (column: count); impute them, drop "
            "those rows, or build the head with missing='median'"
        )


def screen(
    x: np.ndarray,
    names: list[str],
    time: np.ndarray | None = None,
    event: np.ndarray | None = None,
) -> dict[str, str]:
    """Columns to drop, each with the reason.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features)
        Finite training features.
    names : list of str
        Their names.
    time, event : ndarray of shape (n_samples,), optional
        Follow-up times and event flags: with them, a column whose order
        matches the event order perfectly (C-index 0 or 1) is dropped.
    """
    drop: dict[str, str] = {}
    for j, name in enumerate(names):
        col = x[:, j]
        if np.ptp(col) == 0:
            drop[name] = f"constant (every value {col[0]:g})"
            continue
        for k in range(j):
            if names[k] not in drop and np.array_equal(col, x[:, k]):
                drop[name] = f"identical to {names[k]}"
                break
        if name in drop or time is None:
            continue
        c = _harrell(col, time, event)
        if c in (0.0, 1.0):
            drop[name] = (
                f"orders the events perfectly (C-index {c:.2f}): its hazard ratio "
                "would be infinite; a leak of the outcome?"
            )
    return drop


def _harrell(risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C of one column (NaN without comparable pairs)."""
    from twinml.heads.metrics import concordance_index

    return concordance_index(time, event, risk)
