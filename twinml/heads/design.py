"""Additive design matrices: one B-spline or linear block per feature.

A feature with more distinct values than `n_knots` gets a cubic B-spline
basis with interior knots at its training quantiles (Eilers and Marx 1996,
P-splines); a feature with fewer (a binary flag) gets one standardised
linear column. Pairs named as interactions get one bilinear column, the
product of the two standardised features. Every column is centred on its
training mean, so each feature's contribution averages zero over the
training patients and the intercept is the mean prediction.

Outside its training range a feature is clipped to the range's edge
(constant extrapolation, no runaway splines); `AdditiveDesign.out_of_range`
names the features so clipped, for the explanation to flag.

Examples
--------
>>> import numpy as np
>>> x = np.linspace(0.0, 1.0, 50)[:, None]
>>> d = AdditiveDesign.fit(x, ["a"], n_knots=4)
>>> d.transform(x).shape, d.blocks["a"]
((50, 8), slice(0, 8, None))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import BSpline

__all__ = ["AdditiveDesign", "FeatureBlock"]

DEGREE = 3
#: Ridge of linear and bilinear columns, relative to the smoothing penalty.
LINEAR_RIDGE = 0.02


@dataclass(frozen=True)
class FeatureBlock:
    """The basis of one feature (or one interaction pair).

    Attributes
    ----------
    name : str
        Feature name, or ``"a x b"`` for an interaction.
    kind : str
        ``spline``, ``linear`` or ``interaction``.
    lo, hi : float
        Training range (for an interaction: unused).
    knots : ndarray of shape (n_knots + 2 * (DEGREE + 1),)
        Full knot vector of a spline block, empty otherwise.
    mean : ndarray of shape (n_columns,)
        Training mean of each column (subtracted).
    centre, scale : float
        Standardisation of a linear block.
    pair : tuple of int
        Feature indices of an interaction.
    """

    name: str
    kind: str
    lo: float = 0.0
    hi: float = 0.0
    knots: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(1))
    centre: float = 0.0
    scale: float = 1.0
    pair: tuple[int, int] = (-1, -1)

    @property
    def n_columns(self) -> int:
        return len(self.mean)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Uncentred columns of a spline or linear block, shape (n, n_columns)."""
        x = np.clip(x, self.lo, self.hi)
        if self.kind == "linear":
            return ((x - self.centre) / self.scale)[:, None]
        return BSpline.design_matrix(x, self.knots, DEGREE).toarray()

    def penalty(self) -> np.ndarray:
        """Second-difference penalty (P-spline) plus a small ridge.

        A linear or bilinear column gets only the light ridge `LINEAR_RIDGE`
        (a straight line is as smooth as a spline can be, and a strong
        ridge would shrink binary flags towards zero).
        """
        k = self.n_columns
        if self.kind != "spline":
            return LINEAR_RIDGE * np.eye(k)
        d = np.diff(np.eye(k), n=2, axis=0)
        return d.T @ d + 1e-3 * np.eye(k)


@dataclass(frozen=True)
class AdditiveDesign:
    """Blocks of all features, fitted on training data.

    Attributes
    ----------
    features : tuple of str
        Input feature names, in column order.
    feature_blocks : tuple of FeatureBlock
        One block per feature.
    interaction_blocks : tuple of FeatureBlock
        One bilinear block per interaction pair.
    blocks : dict of str to slice
        Columns of each block in the design matrix.
    """

    features: tuple[str, ...]
    feature_blocks: tuple[FeatureBlock, ...]
    interaction_blocks: tuple[FeatureBlock, ...]
    blocks: dict[str, slice]

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        features: list[str],
        n_knots: int = 6,
        interactions: tuple[tuple[str, str], ...] = (),
    ) -> AdditiveDesign:
        """Choose knots and centring from training data.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_features)
            Finite training features.
        features : list of str
            Their names.
        n_knots : int
            Interior knots of a spline block (at quantiles).
        interactions : tuple of (str, str)
            Feature pairs that get a bilinear column.
        """
        blocks = [_fit_block(x[:, j], name, n_knots) for j, name in enumerate(features)]
        pairs = []
        for a, b in interactions:
            ia, ib = features.index(a), features.index(b)
            z = _standard(x[:, ia], blocks[ia]) * _standard(x[:, ib], blocks[ib])
            pairs.append(
                FeatureBlock(f"{a} x {b}", "interaction", mean=z.mean(keepdims=True),
                             pair=(ia, ib))
            )  # fmt: skip
        slices, start = {}, 0
        for block in blocks + pairs:
            slices[block.name] = slice(start, start + block.n_columns)
            start += block.n_columns
        return cls(tuple(features), tuple(blocks), tuple(pairs), slices)

    @property
    def n_columns(self) -> int:
        return sum(b.n_columns for b in self.feature_blocks + self.interaction_blocks)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Design matrix, shape (n_samples, n_columns)."""
        cols = [b.raw(x[:, j]) - b.mean for j, b in enumerate(self.feature_blocks)]
        for b in self.interaction_blocks:
            ia, ib = b.pair
            fa, fb = self.feature_blocks[ia], self.feature_blocks[ib]
            z = _standard(x[:, ia], fa) * _standard(x[:, ib], fb)
            cols.append(z[:, None] - b.mean)
        return np.hstack(cols)

    def penalty(self) -> np.ndarray:
        """Block-diagonal penalty matrix, shape (n_columns, n_columns)."""
        p = np.zeros((self.n_columns, self.n_columns))
        for b in self.feature_blocks + self.interaction_blocks:
            s = self.blocks[b.name]
            p[s, s] = b.penalty()
        return p

    def out_of_range(self, x: np.ndarray) -> np.ndarray:
        """Whether each value lies outside its training range, shape like `x`."""
        lo = np.array([b.lo for b in self.feature_blocks])
        hi = np.array([b.hi for b in self.feature_blocks])
        return (x < lo) | (x > hi)


def _fit_block(x: np.ndarray, name: str, n_knots: int) -> FeatureBlock:
    """A spline block when `x` has enough distinct values, else a linear one."""
    lo, hi = float(x.min()), float(x.max())
    centre, scale = float(x.mean()), float(x.std()) or 1.0
    if np.unique(x).size <= n_knots + 1:
        z = (np.clip(x, lo, hi) - centre) / scale
        return FeatureBlock(name, "linear", lo, hi, mean=np.array([z.mean()]),
                            centre=centre, scale=scale)  # fmt: skip
    inner = np.unique(np.quantile(x, np.linspace(0, 1, n_knots + 2)[1:-1]))
    knots = np.r_[[lo] * (DEGREE + 1), inner, [hi] * (DEGREE + 1)]
    raw = BSpline.design_matrix(x, knots, DEGREE).toarray()
    return FeatureBlock(name, "spline", lo, hi, knots=knots, mean=raw.mean(axis=0),
                        centre=centre, scale=scale)  # fmt: skip


def _standard(x: np.ndarray, block: FeatureBlock) -> np.ndarray:
    """A feature clipped to its range and standardised."""
    return (np.clip(x, block.lo, block.hi) - block.centre) / block.scale
