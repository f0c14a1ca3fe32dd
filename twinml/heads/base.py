"""What the additive heads share: input handling, design, explanations.

`AdditiveHead` turns raw features into the additive design of the kept
columns (`twinml.heads.design`), drops degenerate columns with a warning
(`twinml.heads.checks.screen`), fills or refuses missing values, and
splits a linear predictor into one contribution per feature. Subclasses
fit the coefficients (`coef_`, shape (n_columns, n_outputs)) and the
intercept (`intercept_`, shape (n_outputs,)).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.base import BaseEstimator

from twinml.heads.checks import FeatureError, as_features, refuse_missing, screen
from twinml.heads.design import AdditiveDesign

logger = logging.getLogger(__name__)

__all__ = ["AdditiveHead"]

MISSING = ("refuse", "median")


class AdditiveHead(BaseEstimator):
    """Base of the additive heads (not an estimator by itself).

    Fitted attributes: ``feature_names_in_`` (all input columns),
    ``dropped_features_`` (name to reason), ``design_`` (AdditiveDesign of
    the kept columns), ``median_`` (training medians, shape
    (n_features_in,)).
    """

    def _check_params(self) -> None:
        if self.missing not in MISSING:
            raise FeatureError(
                f"missing must be one of {MISSING}, got {self.missing!r}"
            )

    def _fit_design(self, x, names, time=None, event=None) -> tuple:
        """Screen, fill and design the training features.

        Returns the design matrix Z, shape (n_samples, n_columns), and the
        kept features, shape (n_samples, n_kept).
        """
        self._check_params()
        x, names = as_features(x, names)
        if self.missing == "refuse":
            refuse_missing(x, names)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        self.median_ = np.nanmedian(x, axis=0)
        x = np.where(np.isnan(x), self.median_, x)

        # drop degenerate columns and say so
        self.dropped_features_ = screen(x, names, time, event)
        for name, why in self.dropped_features_.items():
            warnings.warn(
                f"{type(self).__name__}: feature {name!r} dropped: {why}",
                UserWarning,
                stacklevel=3,
            )
        keep = [j for j, n in enumerate(names) if n not in self.dropped_features_]
        if not keep:
            raise FeatureError(f"no usable feature left: {self.dropped_features_}")
        self._keep = np.array(keep)
        kept = [names[j] for j in keep]
        pairs = tuple((a, b) for a, b in self.interactions if a in kept and b in kept)
        self.design_ = AdditiveDesign.fit(x[:, keep], kept, self.n_knots, pairs)
        return self.design_.transform(x[:, keep]), x[:, keep]

    def _inputs(self, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kept features, their out-of-range and imputed masks, at predict.

        A dict or frame is matched by column name; a plain array must have
        the fitted columns in the fitted order.
        """
        fitted = list(self.feature_names_in_)
        if isinstance(x, dict) or hasattr(x, "columns"):
            given = [str(c) for c in (x if isinstance(x, dict) else x.columns)]
            absent = [n for n in fitted if n not in given]
            if absent:
                raise FeatureError(
                    f"features {absent} are missing; the head was fitted on {fitted}"
                )
            x = {n: np.atleast_1d(np.asarray(x[n], dtype=float)) for n in fitted}
        x, _ = as_features(x, fitted if not isinstance(x, dict) else None)
        if self.missing == "refuse":
            refuse_missing(x, fitted)
        imputed = np.isnan(x)
        x = np.where(imputed, self.median_, x)[:, self._keep]
        return x, self.design_.out_of_range(x), imputed[:, self._keep]

    def _terms(self, z: np.ndarray, beta: np.ndarray) -> dict[str, np.ndarray]:
        """Each block's contribution to the linear predictor(s).

        Returns
        -------
        dict of str to ndarray of shape (n_samples, n_outputs)
        """
        return {name: z[:, s] @ beta[s] for name, s in self.design_.blocks.items()}

    def _explanations(self, x, terms, out, imputed, row_extra) -> list[dict]:
        """Per-patient dicts: value, contribution and flags per feature."""
        kept = list(self.design_.features)
        result = []
        for i in range(x.shape[0]):
            features = {}
            for name, value in terms.items():
                entry = {"contribution": float(value[i])}
                if name in kept:
                    j = kept.index(name)
                    entry["value"] = float(x[i, j])
                    entry["out_of_training_range"] = bool(out[i, j])
                    entry["imputed"] = bool(imputed[i, j])
                features[name] = entry
            flags = [n for n in kept if out[i, kept.index(n)]]
            result.append({
                **row_extra(i),
                "features": features,
                "out_of_training_range": flags,
                "imputed": [n for n in kept if imputed[i, kept.index(n)]],
                "dropped_features": dict(self.dropped_features_),
            })  # fmt: skip
        return result

    def shape_function(self, name: str, n_points: int = 100) -> tuple:
        """A feature's shape function over its training range.

        Returns
        -------
        grid : ndarray of shape (n_points,)
            Feature values.
        value : ndarray of shape (n_points, n_outputs)
            Its contribution to the linear predictor(s).
        """
        kept = list(self.design_.features)
        if name not in kept:
            raise FeatureError(f"no shape function for {name!r}; features: {kept}")
        j = kept.index(name)
        block = self.design_.feature_blocks[j]
        grid = np.linspace(block.lo, block.hi, n_points)
        z = block.raw(grid) - block.mean
        return grid, z @ self.coef_[self.design_.blocks[name]]
