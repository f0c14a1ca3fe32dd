"""Prognosis head: a penalised additive Cox model (spline shape functions).

The log-hazard is a sum of smooth shape functions, one per feature, plus
named bilinear interactions (Cox 1972; additive Cox models with penalised
splines, Gray 1992, JASA 87:942)::

    h(t | x) = h0(t) exp(eta(x)),   eta(x) = sum_j f_j(x_j) + sum g_ab x_a x_b

fitted by maximising the Breslow partial log-likelihood minus the
P-spline penalty ``lam / 2 beta' P beta`` (L-BFGS). The penalty keeps
every coefficient finite, so no hazard ratio is infinite; ``lam="auto"``
picks it by the cross-validated partial likelihood of Verweij and van
Houwelingen (1993, Stat Med 12:2305). The baseline cumulative hazard is
Breslow's, so each patient has a survival curve
``S(t | x) = exp(-H0(t) exp(eta(x)))``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.uniform(-2, 2, size=(300, 2))
>>> t = rng.exponential(1 / np.exp(x[:, 0] ** 2 - 1))
>>> head = AdditiveCox(lam=1.0).fit(x, t, np.ones(300))
>>> grid, f = head.shape_function("x0")
>>> bool(f[0, 0] > f[50, 0] < f[-1, 0])
True
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from twinml.heads.base import AdditiveHead
from twinml.heads.checks import FeatureError
from twinml.heads.metrics import concordance_index

logger = logging.getLogger(__name__)

__all__ = ["AdditiveCox"]

LAM_GRID = (1.0, 10.0, 100.0, 1000.0)


class AdditiveCox(AdditiveHead):
    """Interpretable time-to-event model: additive spline log-hazard.

    Parameters
    ----------
    n_knots : int
        Interior knots of each feature's spline (at training quantiles).
    lam : float or "auto"
        Smoothing penalty; ``"auto"`` picks from `lam_grid` by the
        cross-validated partial likelihood.
    lam_grid : tuple of float
        Candidates for ``lam="auto"``.
    interactions : tuple of (str, str)
        Feature pairs given a bilinear term.
    missing : str
        ``"refuse"`` or ``"median"`` (as in `AdditiveClassifier`).
    cv : int
        Folds for ``lam="auto"``.
    random_state : int
        Seed of the folds.

    Attributes
    ----------
    coef_ : ndarray of shape (n_columns, 1)
    intercept_ : ndarray of shape (1,)
        Zero (the baseline hazard absorbs it).
    lam_ : float
    baseline_times_ : ndarray of shape (n_event_times,)
    baseline_cumhazard_ : ndarray of shape (n_event_times,)
        Breslow's H0 at each distinct event time.
    """

    def __init__(
        self,
        n_knots: int = 6,
        lam: float | str = "auto",
        lam_grid: tuple[float, ...] = LAM_GRID,
        interactions: tuple[tuple[str, str], ...] = (),
        missing: str = "refuse",
        cv: int = 5,
        random_state: int = 0,
    ) -> None:
        self.n_knots = n_knots
        self.lam = lam
        self.lam_grid = lam_grid
        self.interactions = interactions
        self.missing = missing
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, time, event, feature_names: list[str] | None = None):
        """Fit on features X (n_samples, n_features), times and event flags."""
        time = np.asarray(time, dtype=float)
        event = np.asarray(event).astype(bool)
        if time.shape != (len(time),) or event.shape != time.shape:
            raise FeatureError(
                f"time and event must be 1-D and alike, got {time.shape}, {event.shape}"
            )
        if not np.isfinite(time).all() or (time < 0).any():
            raise FeatureError("time must be finite and >= 0 for every patient")
        if not event.any():
            raise FeatureError("no events: a hazard cannot be fitted")
        z, _ = self._fit_design(X, feature_names, time, event)
        if len(time) != len(z):
            raise FeatureError(f"{len(z)} patients but {len(time)} times")
        pen = self.design_.penalty()

        # smoothing by cross-validated partial likelihood
        lams = self.lam_grid if self.lam == "auto" else (float(self.lam),)
        if len(lams) > 1:
            folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
            cvl = {lam: _cv_loglik(z, time, event, pen, lam, folds) for lam in lams}
            self.lam_ = max(cvl, key=cvl.get)
        else:
            self.lam_ = lams[0]
        beta = _fit(z, time, event, pen, self.lam_)
        self.coef_, self.intercept_ = beta[:, None], np.zeros(1)
        self.baseline_times_, self.baseline_cumhazard_ = _breslow(z @ beta, time, event)
        logger.info("additive Cox: %d columns, lam %g", z.shape[1], self.lam_)
        return self

    def predict(self, X) -> np.ndarray:
        """Risk score eta(x) (log relative hazard), shape (n_samples,)."""
        x, _, _ = self._inputs(X)
        return self.design_.transform(x) @ self.coef_[:, 0]

    def score(self, X, time, event) -> float:
        """Harrell's C-index of the risk score."""
        return concordance_index(time, event, self.predict(X))

    def predict_survival(self, X, times: np.ndarray) -> np.ndarray:
        """Survival probability at `times`, shape (n_samples, n_times)."""
        idx = np.searchsorted(self.baseline_times_, times, side="right") - 1
        h0 = np.where(idx >= 0, self.baseline_cumhazard_[np.maximum(idx, 0)], 0.0)
        return np.exp(-np.exp(self.predict(X))[:, None] * h0[None, :])

    def explain(self, X, times: np.ndarray | None = None) -> list[dict]:
        """Per-patient risk, its contributions and survival curve.

        Contributions are to the log relative hazard against the training
        average patient (``risk = sum of contributions``);
        ``hazard_ratio`` is exp(risk).
        """
        x, out, imputed = self._inputs(X)
        z = self.design_.transform(x)
        terms = {n: v[:, 0] for n, v in self._terms(z, self.coef_).items()}
        eta = z @ self.coef_[:, 0]
        if times is None:
            times = np.quantile(self.baseline_times_, [0.25, 0.5, 0.75, 1.0])
        surv = self.predict_survival(X, times)

        def extra(i: int) -> dict:
            return {
                "risk": float(eta[i]),
                "hazard_ratio": float(np.exp(eta[i])),
                "explained": "log relative hazard vs the average training patient",
                "survival": {
                    "times": [float(t) for t in times],
                    "probability": [float(s) for s in surv[i]],
                },
            }

        return self._explanations(x, terms, out, imputed, extra)


def _order(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending order and, per sorted patient, the first index of its risk set."""
    order = np.argsort(time, kind="stable")
    t = time[order]
    return order, np.searchsorted(t, t, side="left")


def _loglik_grad(beta, z, time, event):
    """Breslow partial log-likelihood and its gradient."""
    order, first = _order(time)
    zs, d = z[order], event[order]
    eta = zs @ beta
    w = np.exp(eta - eta.max())
    s0 = np.cumsum(w[::-1])[::-1][first]
    s1 = np.cumsum((w[:, None] * zs)[::-1], axis=0)[::-1][first]
    ll = np.sum(d * (eta - eta.max() - np.log(s0)))
    grad = (d[:, None] * (zs - s1 / s0[:, None])).sum(axis=0)
    return ll, grad


def _fit(z, time, event, pen, lam, beta0=None) -> np.ndarray:
    """Penalised partial-likelihood fit, coefficients shape (n_columns,)."""

    def loss(beta):
        ll, grad = _loglik_grad(beta, z, time, event)
        pb = pen @ beta
        return -ll + 0.5 * lam * beta @ pb, -grad + lam * pb

    beta0 = np.zeros(z.shape[1]) if beta0 is None else beta0
    with threadpool_limits(1):  # small matrices: BLAS threads only contend
        res = minimize(loss, beta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 3000})  # fmt: skip
    return res.x


def _cv_loglik(z, time, event, pen, lam, folds) -> float:
    """Cross-validated partial log-likelihood (Verweij and van Houwelingen)."""
    total = 0.0
    for train, _ in folds.split(z):
        beta = _fit(z[train], time[train], event[train], pen, lam)
        full, _ = _loglik_grad(beta, z, time, event)
        part, _ = _loglik_grad(beta, z[train], time[train], event[train])
        total += full - part
    return total


def _breslow(eta, time, event) -> tuple[np.ndarray, np.ndarray]:
    """Breslow baseline cumulative hazard at the distinct event times."""
    times = np.unique(time[event])
    risk = np.exp(eta)
    at_risk = np.array([risk[time >= t].sum() for t in times])
    deaths = np.array([np.sum(event & (time == t)) for t in times])
    return times, np.cumsum(deaths / at_risk)
