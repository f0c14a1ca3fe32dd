"""Adaptation kernels (fast) and remodelling of the real heart (slow)."""

from dataclasses import replace

import numpy as np
import pytest

from simulators.circulation.adaptation import (
    SetPoints,
    adapt,
    adaptation_step,
    set_points,
)
from simulators.circulation.beats import simulate
from simulators.circulation.geometry import heart_geometry
from simulators.circulation.heart import HeartModel
from simulators.errors import ParameterError

TARGET = SetPoints(np.array([50.0, 50.0]), np.array([0.1, 0.1]))


def test_step_is_zero_at_the_set_point_and_clipped():
    f_wall, f_area, f_stiff = adaptation_step(
        np.array([50.0, 500.0]), TARGET.e_max, TARGET
    )
    np.testing.assert_allclose([f_wall[0], f_area[0], f_stiff[0]], 1.0)
    # a tenfold overload is clipped at +10 % per step
    assert f_wall[1] == pytest.approx(1.1) and f_stiff[1] == pytest.approx(1.05)


def test_set_points_must_be_positive():
    with pytest.raises(ParameterError, match="stress"):
        SetPoints(np.array([1.0, -1.0]), np.zeros(2))


@pytest.fixture(scope="module")
def healthy(rodero_heart):
    """The calibrated healthy heart and its synchronous steady beat."""
    g = heart_geometry(rodero_heart.mesh, rodero_heart.aha)
    model = HeartModel.from_geometry(g, sigma_act_kpa=62.0)
    return model, simulate(model, np.zeros(g.n_patches))


def test_healthy_heart_stays_put(healthy):
    model, beat = healthy
    out = adapt(model, np.zeros(model.n_patches), set_points(beat), beat, max_steps=3)
    # the set-points are this beat's loads: only the steady-state
    # tolerance of the re-beaten heart (1 mL) moves the sensed loads
    assert out.converged and out.max_change < 0.005
    np.testing.assert_allclose(out.model.v_wall_ml, model.v_wall_ml, rtol=0.01)


def test_an_overgrown_patch_returns_toward_its_set_point(healthy):
    model, beat = healthy
    k = int(np.argmax(model.v_wall_ml * (model.wall == 0)))
    v = model.v_wall_ml.copy()
    v[k] *= 1.3
    grown = replace(model, v_wall_ml=v)
    out = adapt(grown, np.zeros(model.n_patches), set_points(beat), max_steps=30)
    # the thick patch carries less stress, so it thins; it closes at
    # least half of its 30 % excess in 30 steps (gain 0.15 per step)
    excess = out.model.v_wall_ml[k] / model.v_wall_ml[k] - 1.0
    assert 0.0 <= excess < 0.15
