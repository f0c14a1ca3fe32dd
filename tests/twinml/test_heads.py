"""The additive heads on synthetic data with a known truth, and bad input.

Every dataset is drawn from a seeded generator whose true shape functions
are known; tolerances are loose enough for the sampling noise of a few
hundred patients and tight enough to fail on a wrong shape or sign.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from twinml.heads import AdditiveClassifier, AdditiveCox, FeatureError
from twinml.heads.design import AdditiveDesign
from twinml.heads.metrics import (
    calibration_bins,
    concordance_index,
    integrated_brier_score,
    kaplan_meier,
)


def _survival_data(n: int = 400, seed: int = 0):
    """Exponential times, log h = x0^2 - 1 + 0.8 x1 (x2 is noise), censored."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(n, 3))
    eta = x[:, 0] ** 2 - 1.0 + 0.8 * x[:, 1]
    t_event = rng.exponential(1.0 / np.exp(eta))
    t_cens = rng.exponential(2.0, size=n)
    return x, np.minimum(t_event, t_cens), t_event <= t_cens, eta


def _classes(n: int = 600, seed: int = 0):
    """Two classes, logit = 2 sin(1.5 x0) + x1 (x2 is noise)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(n, 3))
    logit = 2.0 * np.sin(1.5 * x[:, 0]) + x[:, 1]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return x, y, logit


def test_design_is_centred_and_clips_outside_the_range():
    x = np.random.default_rng(1).normal(size=(80, 2))
    d = AdditiveDesign.fit(x, ["a", "b"], n_knots=4, interactions=(("a", "b"),))
    z = d.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    far = np.array([[100.0, 0.0], [x[:, 0].max(), 0.0]])
    np.testing.assert_allclose(d.transform(far)[0], d.transform(far)[1])
    assert d.out_of_range(far)[:, 0].tolist() == [True, False]


def test_cox_recovers_a_known_nonlinear_hazard():
    x, t, e, eta = _survival_data()
    head = AdditiveCox(lam="auto").fit(x, t, e)
    grid, f = head.shape_function("x0")
    # the true term x0^2 up to a constant: shape correlation near 1
    assert np.corrcoef(f[:, 0], grid**2)[0, 1] > 0.97
    grid1, f1 = head.shape_function("x1")
    slope = np.polyfit(grid1, f1[:, 0], 1)[0]
    assert 0.5 < slope < 1.1  # true slope 0.8
    # the risk ranks patients almost as well as the true log-hazard
    assert head.score(x, t, e) > concordance_index(t, e, eta) - 0.02


def test_cox_explanation_adds_up_and_gives_a_survival_curve():
    x, t, e, _ = _survival_data(seed=1)
    head = AdditiveCox(lam=10.0).fit(x, t, e)
    (ex,) = head.explain(x[:1], times=np.array([0.1, 0.5, 1.0]))
    total = sum(f["contribution"] for f in ex["features"].values())
    assert total == pytest.approx(ex["risk"]) == pytest.approx(head.predict(x[:1])[0])
    surv = ex["survival"]["probability"]
    assert 1.0 >= surv[0] >= surv[1] >= surv[2] > 0.0


def test_classifier_recovers_shape_and_is_calibrated():
    x, y, logit = _classes(n=1200)
    head = AdditiveClassifier(lam="auto").fit(x[:800], y[:800])
    grid, f = head.shape_function("x0")
    log_odds = f[:, 1] - f[:, 0]
    assert np.corrcoef(log_odds, np.sin(1.5 * grid))[0, 1] > 0.97
    # held-out probabilities are calibrated (ECE within sampling noise)
    prob = head.predict_proba(x[800:])[:, 1]
    bins = calibration_bins(y[800:], prob, n_bins=5)
    assert bins["ece"] < 0.06
    true_p = 1.0 / (1.0 + np.exp(-logit[800:]))
    assert np.corrcoef(prob, true_p)[0, 1] > 0.95


def test_classifier_explanation_adds_up_to_the_log_odds():
    x, y, _ = _classes(n=300, seed=2)
    head = AdditiveClassifier(lam=3.0, calibrate=False).fit(x, y)
    (ex,) = head.explain(x[:1])
    total = ex["baseline"] + sum(f["contribution"] for f in ex["features"].values())
    p1 = head.predict_proba(x[:1])[0, 1]
    assert total == pytest.approx(np.log(p1 / (1 - p1)))


def test_multiclass_phenotype_from_additive_terms():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 2))
    y = np.where(x[:, 0] > 0.8, "b", np.where(x[:, 1] > 0.5, "c", "a"))
    with pytest.warns(UserWarning, match="separates class 'b'"):
        head = AdditiveClassifier(lam=1.0).fit(x, y)  # b is x0 > 0.8
    assert head.score(x, y) > 0.93
    (ex,) = head.explain(x[:1])
    assert set(ex["probabilities"]) == {"a", "b", "c"}


def test_degenerate_columns_are_dropped_and_named():
    x, t, e, _ = _survival_data(n=200, seed=4)
    leak = -t  # orders the events perfectly: an infinite hazard ratio
    cols = np.c_[x, np.ones(200), x[:, 1], leak]
    names = ["a", "b", "c", "const", "copy_of_b", "leak"]
    with pytest.warns(UserWarning) as record:
        head = AdditiveCox(lam=10.0).fit(cols, t, e, names)
    said = " ".join(str(w.message) for w in record)
    assert {"const", "copy_of_b", "leak"} <= set(head.dropped_features_)
    assert "constant" in said and "identical to b" in said and "perfectly" in said
    assert np.isfinite(np.exp(head.predict(cols))).all()


def test_perfectly_separating_feature_keeps_finite_classifier():
    x, y, _ = _classes(n=200, seed=5)
    sep = np.c_[x, y + 0.1 * np.random.default_rng(0).random(200)]
    with pytest.warns(UserWarning, match="separates class"):
        head = AdditiveClassifier(lam=1.0).fit(sep, y)
    assert np.isfinite(head.coef_).all() and np.abs(head.coef_).max() < 50


def test_missing_values_are_refused_with_the_column_named():
    x, t, e, _ = _survival_data(n=100, seed=6)
    x[3, 2] = np.nan
    with pytest.raises(FeatureError, match=r"'ef'"):
        AdditiveCox(lam=10.0).fit(x, t, e, ["qrs", "age", "ef"])
    with pytest.raises(FeatureError, match="infinite values in \\['age'\\]"):
        AdditiveCox(lam=10.0).fit(np.c_[x[:, :1], np.full(100, np.inf)], t, e,
                                  ["qrs", "age"])  # fmt: skip


def test_median_imputation_and_out_of_range_are_flagged():
    x, t, e, _ = _survival_data(n=150, seed=7)
    names = ["qrs", "age", "ef"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing degenerate here
        head = AdditiveCox(lam=10.0, missing="median").fit(x, t, e, names)
    (ex,) = head.explain({"qrs": [np.nan], "age": [9.0], "ef": [0.0]})
    assert ex["imputed"] == ["qrs"] and ex["out_of_training_range"] == ["age"]
    assert ex["features"]["age"]["out_of_training_range"]
    with pytest.raises(FeatureError, match=r"\['ef'\] are missing"):
        head.explain({"qrs": [0.0], "age": [0.0]})


def test_metrics_on_hand_made_cases():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    e = np.array([1, 0, 1, 1])
    assert concordance_index(t, e, -t) == 1.0
    assert concordance_index(t, e, t) == 0.0
    assert concordance_index(t, e, np.zeros(4)) == 0.5
    times, s = kaplan_meier(t, e)
    np.testing.assert_allclose(s, [0.75, 0.375, 0.0])  # 1 of 4, 1 of 2, 1 of 1
    # uninformative S = 0.5 scores 0.25 whatever happens
    grid = np.array([1.5, 2.5])
    half = np.full((4, 2), 0.5)
    assert integrated_brier_score(t, e, t, e, half, grid) == pytest.approx(0.25)
