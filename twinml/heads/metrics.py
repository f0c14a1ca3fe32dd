"""Scores of the heads: concordance, Brier scores, calibration.

Harrell's C-index: over comparable pairs (the earlier time is an event),
the fraction where the earlier patient has the higher risk; risk ties
count one half (Harrell et al. 1996, Stat Med 15:361).

Integrated Brier score with inverse probability of censoring weights
(Graf et al. 1999, Stat Med 18:2529)::

    BS(t) = mean_i [ S(t|x_i)^2 1(T_i <= t, d_i = 1) / G(T_i)
                     + (1 - S(t|x_i))^2 1(T_i > t) / G(t) ]

with G the Kaplan-Meier estimate of the censoring distribution, averaged
over a time grid by the trapezoid rule. A non-informative model (S = 0.5)
scores 0.25; lower is better.

Examples
--------
>>> import numpy as np
>>> concordance_index(np.array([1.0, 2, 3]), np.array([1, 1, 0]),
...                   np.array([3.0, 2, 1]))
1.0
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "calibration_bins",
    "concordance_index",
    "integrated_brier_score",
    "kaplan_meier",
]


def concordance_index(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C-index of a risk score (higher risk, earlier event).

    Parameters
    ----------
    time : ndarray of shape (n_samples,)
        Event or censoring times.
    event : ndarray of shape (n_samples,)
        1 (or True) for an event, 0 for censoring.
    risk : ndarray of shape (n_samples,)
        Predicted risk.
    """
    time, risk = np.asarray(time, float), np.asarray(risk, float)
    event = np.asarray(event).astype(bool)
    earlier = (time[:, None] < time[None, :]) & event[:, None]
    n = earlier.sum()
    if n == 0:
        return float("nan")
    diff = risk[:, None] - risk[None, :]
    won = ((diff > 0) & earlier).sum() + 0.5 * ((diff == 0) & earlier).sum()
    return float(won / n)


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival at each distinct event time.

    Returns
    -------
    times, survival : ndarray of shape (n_times,)
        Distinct times with an event and the survival just after them.
    """
    time, event = np.asarray(time, float), np.asarray(event).astype(bool)
    times = np.unique(time[event])
    at_risk = (time[None, :] >= times[:, None]).sum(axis=1)
    deaths = (event[None, :] & (time[None, :] == times[:, None])).sum(axis=1)
    return times, np.cumprod(1.0 - deaths / at_risk)


def _step(times: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A right-continuous step function (1 before the first time) at `t`."""
    idx = np.searchsorted(times, t, side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)], 1.0)


def integrated_brier_score(
    time_train: np.ndarray,
    event_train: np.ndarray,
    time_test: np.ndarray,
    event_test: np.ndarray,
    survival: np.ndarray,
    grid: np.ndarray,
) -> float:
    """IPCW integrated Brier score over a time grid.

    Parameters
    ----------
    time_train, event_train : ndarray of shape (n_train,)
        Training outcomes (the censoring distribution G comes from them).
    time_test, event_test : ndarray of shape (n_test,)
        Test outcomes.
    survival : ndarray of shape (n_test, n_grid)
        Predicted survival of each test patient at each grid time.
    grid : ndarray of shape (n_grid,)
        Increasing times inside the test follow-up.
    """
    ct, cs = kaplan_meier(time_train, ~np.asarray(event_train).astype(bool))
    g_at_t = np.maximum(_step(ct, cs, grid), 1e-8)
    # G just before each test time (the patient was still uncensored then)
    g_at_ti = np.maximum(_step(ct, cs, np.asarray(time_test) - 1e-9), 1e-8)
    died = (time_test[:, None] <= grid[None, :]) & np.asarray(event_test, bool)[:, None]
    alive = time_test[:, None] > grid[None, :]
    bs = (
        survival**2 * died / g_at_ti[:, None]
        + (1.0 - survival) ** 2 * alive / g_at_t[None, :]
    ).mean(axis=0)
    return float(np.trapezoid(bs, grid) / (grid[-1] - grid[0]))


def calibration_bins(
    y_true: np.ndarray, prob: np.ndarray, n_bins: int = 10
) -> dict[str, np.ndarray | float]:
    """Reliability of predicted probabilities in equal-count bins.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        1 where the predicted event happened (the class is true).
    prob : ndarray of shape (n_samples,)
        Predicted probability of that event.

    Returns
    -------
    dict
        ``predicted`` and ``observed`` (mean per bin, shape (n_bins,)),
        ``ece`` (expected calibration error) and ``brier``.
    """
    y_true, prob = np.asarray(y_true, float), np.asarray(prob, float)
    order = np.argsort(prob)
    bins = np.array_split(order, n_bins)
    pred = np.array([prob[b].mean() for b in bins if b.size])
    obs = np.array([y_true[b].mean() for b in bins if b.size])
    size = np.array([b.size for b in bins if b.size])
    return {
        "predicted": pred,
        "observed": obs,
        "ece": float(np.sum(size * np.abs(pred - obs)) / size.sum()),
        "brier": float(np.mean((prob - y_true) ** 2)),
    }
