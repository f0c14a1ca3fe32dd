"""Conduction tensors: closed forms, inverse pair, and input errors."""

import numpy as np
import pytest

from simulators.ep.conduction import conduction_tensors, metric_tensors
from simulators.errors import FieldError


def test_fibre_along_x_gives_diagonal_metric():
    m = metric_tensors([[2.0, 0.0, 0.0]], 0.6, 0.2)

    # exact: 1/0.36 and 1/0.04 are each one rounding away from the result
    np.testing.assert_allclose(m[0], np.diag([1 / 0.36, 25.0, 25.0]), rtol=1e-14)


def test_metric_is_inverse_of_conduction_tensor():
    rng = np.random.default_rng(0)
    fibres = rng.normal(size=(50, 3))
    v_f = rng.uniform(0.3, 1.0, 50)
    v_c = rng.uniform(0.1, 0.3, 50)
    product = metric_tensors(fibres, v_f, v_c) @ conduction_tensors(fibres, v_f, v_c)

    # condition number (v_f / v_c)² <= 100 amplifies 1e-16 round-off to ~1e-14
    np.testing.assert_allclose(product, np.broadcast_to(np.eye(3), (50, 3, 3)),
                               atol=1e-12)  # fmt: skip


def test_eigenvalues_along_and_across_fibre():
    f = np.array([[1.0, 1.0, 0.0]]) / np.sqrt(2)
    m = metric_tensors(f, 1.0, 0.4)[0]
    across = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)

    # travel time per mm is 1/v along each principal direction; round-off only
    np.testing.assert_allclose(f[0] @ m @ f[0], 1.0, rtol=1e-14)
    np.testing.assert_allclose(across @ m @ across, 1 / 0.16, rtol=1e-14)
    np.testing.assert_allclose(m[2, 2], 1 / 0.16, rtol=1e-14)


def test_fibre_sign_and_length_are_irrelevant():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(10, 3))

    # normalisation divides by the norm: a few ulps of difference at most
    np.testing.assert_allclose(
        metric_tensors(f, 0.7, 0.3), metric_tensors(-3.5 * f, 0.7, 0.3), rtol=1e-13
    )


def test_zero_fibre_names_the_cell():
    f = np.tile([1.0, 0.0, 0.0], (5, 1))
    f[2] = 0.0
    with pytest.raises(FieldError, match=r"first ids \[2\]"):
        metric_tensors(f, 0.6, 0.2)


def test_non_finite_fibre_names_the_cell():
    f = np.tile([0.0, 1.0, 0.0], (5, 1))
    f[[1, 4], 0] = np.nan
    with pytest.raises(FieldError, match=r"not finite in 2 cells, first ids \[1, 4\]"):
        metric_tensors(f, 0.6, 0.2)


@pytest.mark.parametrize("bad", [0.0, -0.5, np.nan, np.inf])
def test_bad_velocity_is_rejected(bad):
    f = np.tile([0.0, 0.0, 1.0], (4, 1))
    v_f = np.array([0.6, 0.6, bad, 0.6])
    with pytest.raises(FieldError, match=r"v_fibre must be positive.*first ids \[2\]"):
        metric_tensors(f, v_f, 0.2)
    with pytest.raises(ValueError, match="v_cross"):
        metric_tensors(f, 0.6, bad)


def test_wrong_shapes_are_rejected():
    with pytest.raises(FieldError, match=r"shape \(n_cells, 3\)"):
        metric_tensors(np.ones((4, 2)), 0.6, 0.2)
    with pytest.raises(FieldError, match=r"shape \(4,\)"):
        metric_tensors(np.ones((4, 3)), np.ones(3), 0.2)
