"""Adaptation kernels (fast) and remodelling of the real heart (slow)."""

import numpy as np
import pytest

from simulators.circulation.adaptation import (
    SetPoints,
    adapt,
    adaptation_step,
    crt_response,
    set_points,
)
from simulators.circulation.beats import simulate
from simulators.circulation.geometry import heart_geometry, patch_onsets
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
    from simulators.ep.protocols import PacingPlan

    g = heart_geometry(rodero_heart.mesh, rodero_heart.aha)
    model = HeartModel.from_geometry(g, sigma_act_kpa=62.0)
    lbbb = rodero_heart.activate(PacingPlan("lbbb"))
    cand = rodero_heart.lv_candidates
    sites = {
        "good": cand[np.argmax(lbbb.t_ms[cand])],
        "poor": cand[np.argmin(lbbb.t_ms[cand])],
    }
    onsets = {
        k: patch_onsets(
            rodero_heart.activate(PacingPlan("crt", lv_lead=int(n))).t_ms,
            g.node_patch,
            g.n_patches,
        )
        for k, n in sites.items()
    }
    onsets["lbbb"] = patch_onsets(lbbb.t_ms, g.node_patch, g.n_patches)
    sync = np.zeros(g.n_patches)
    beat = simulate(model, sync)
    return model, onsets, beat


@pytest.mark.slow
def test_healthy_heart_stays_put_and_an_overgrown_patch_returns(healthy):
    model, _, beat = healthy
    target = set_points(beat)
    out = adapt(model, np.zeros(model.n_patches), target, beat, max_steps=2)
    assert out.max_change < 0.005  # the set-points are this beat's loads
    k = int(np.argmax(model.v_wall_ml * (model.wall == 0)))
    v = model.v_wall_ml.copy()
    v[k] *= 1.3
    grown = HeartModel(**{**model.__dict__, "v_wall_ml": v})
    out = adapt(grown, np.zeros(model.n_patches), target, max_steps=6)
    assert out.model.v_wall_ml[k] < v[k]


@pytest.mark.slow
def test_lbbb_dilates_and_crt_at_a_late_site_shrinks_more(healthy):
    model, on, _ = healthy
    good = crt_response(model, on["lbbb"], on["good"])
    poor = crt_response(model, on["lbbb"], on["poor"])
    assert good.lbbb.edv_ml > 130.0  # healthy EDV 121 mL: LBBB dilates
    assert good.chronic["d_lvesv_pct"] < poor.chronic["d_lvesv_pct"]
    assert good.acute["d_work_diff_pct"] < poor.acute["d_work_diff_pct"]
