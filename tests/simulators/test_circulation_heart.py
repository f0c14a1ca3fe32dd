"""The multi-patch heart on the real heart's geometry: healthy beat, LBBB, CRT.

Reference values (shared/SCIENCE.md): a healthy beat at 70 bpm has EDV about
120 mL, EF about 60 %, MAP about 91 mmHg; the ranges tested are those of
issue 4. Each simulation runs to its steady state once per module.
"""

import numpy as np
import pytest

from simulators.circulation.beats import simulate
from simulators.circulation.geometry import heart_geometry, patch_onsets
from simulators.circulation.heart import HeartModel
from simulators.circulation.metrics import haemodynamics
from simulators.ep.protocols import PacingPlan
from simulators.errors import ConvergenceError, ParameterError


@pytest.fixture(scope="session")
def rodero_geometry(rodero_heart):
    return heart_geometry(rodero_heart.mesh, rodero_heart.aha)


@pytest.fixture(scope="module")
def model(rodero_geometry):
    return HeartModel.from_geometry(rodero_geometry, sigma_act_kpa=62.0)


@pytest.fixture(scope="module")
def onsets(rodero_heart, rodero_geometry):
    """Patch onsets (ms) under sinus rhythm, LBBB and CRT at the latest site."""
    heart = rodero_heart
    g = rodero_geometry
    lbbb = heart.activate(PacingPlan("lbbb"))
    cand = heart.lv_candidates
    late = int(cand[np.argmax(lbbb.t_ms[cand])])
    plans = {"sinus": PacingPlan("sinus"), "crt": PacingPlan("crt", lv_lead=late)}
    out = {
        k: patch_onsets(heart.activate(p).t_ms, g.node_patch, g.n_patches)
        for k, p in plans.items()
    }
    out["lbbb"] = patch_onsets(lbbb.t_ms, g.node_patch, g.n_patches)
    out["sync"] = np.zeros(g.n_patches)
    return out


@pytest.fixture(scope="module")
def beats(model, onsets):
    return {k: simulate(model, on) for k, on in onsets.items()}


@pytest.fixture(scope="module")
def haemo(model, beats):
    return {k: haemodynamics(b, model) for k, b in beats.items()}


def test_geometry_comes_from_the_mesh(rodero_geometry):
    g = rodero_geometry
    # LV wall plus septum about 164 mL, RV wall 62 mL (mesh regions 1, 7, 2)
    lv = g.v_wall_ml[g.wall < 2].sum()
    assert 160.0 < lv < 168.0 and 60.0 < g.v_wall_ml[g.wall == 2].sum() < 64.0
    # the septum is the mesh's region 7 (38.3 mL), split by AHA segment
    assert 37.0 < g.v_wall_ml[g.wall == 1].sum() < 39.5
    assert 118.0 < g.v_lv_ml < 121.0  # the LV cavity measures 119.4 mL
    # the RV sinus is capped at 1.15 x LV; the outflow tract keeps the rest
    np.testing.assert_allclose(g.v_rv_ml, 1.15 * g.v_lv_ml)
    assert 175.0 < g.v_rv_ml + g.v_rvot_ml < 190.0
    assert (g.a_mid_mm2 > 0).all() and set(g.wall.tolist()) == {0, 1, 2}


def test_patch_onsets_take_the_median_of_the_nodes():
    t = np.array([0.0, 10.0, 50.0, 30.0, np.nan])
    on = patch_onsets(t, np.array([0, 0, 0, 1, 1]), 3)
    np.testing.assert_allclose(on[:2], [10.0, 30.0])
    assert np.isnan(on[2])  # a patch without an activated node has no onset


def test_healthy_beat_is_in_the_physiological_range(haemo):
    h = haemo["sinus"]
    assert 105.0 <= h.edv_ml <= 135.0
    assert 55.0 <= h.ef_pct <= 65.0
    assert 85.0 <= h.map_mmhg <= 100.0
    assert 4.5 <= h.co_l_min <= 6.0
    assert 2 <= h.n_beats < 60


def test_blood_volume_is_conserved_over_a_beat(beats):
    total = beats["sinus"].blood_volume_ml()
    # the volumes' rates sum to zero exactly: only round-off remains
    assert np.ptp(total) / total[0] < 1e-6


def test_patch_work_adds_up_to_the_pressure_volume_work(model, beats, haemo):
    b = beats["sinus"]
    p, v = b.pressures_mmhg, b.volumes_ml
    pv = sum(-np.sum(0.5 * (p[1:, k] + p[:-1, k]) * np.diff(v[:, k])) for k in (0, 1))
    fibre = np.dot(haemo["sinus"].work_kj_m3, model.v_wall_ml)  # mJ
    # the junction in force balance does no work: equal up to the
    # trapezoid rule at 1 ms
    np.testing.assert_allclose(fibre, pv * 0.1333224, rtol=1e-3)


def test_synchronous_beat_balances_septal_and_lateral_work(haemo):
    h = haemo["sync"]
    # issue 4: within about +-30 % of each other, and no septal flash
    assert abs(h.work_lateral_kj_m3 / h.work_septal_kj_m3 - 1.0) < 0.3
    assert not h.septal_flash


def test_lbbb_shifts_work_to_the_lateral_wall_and_lowers_ef(haemo):
    sinus, lbbb = haemo["sinus"], haemo["lbbb"]
    assert lbbb.work_lateral_kj_m3 > lbbb.work_septal_kj_m3
    assert lbbb.work_diff_pct > sinus.work_diff_pct
    assert lbbb.ef_pct < sinus.ef_pct
    assert lbbb.dpdt_max_mmhg_s < sinus.dpdt_max_mmhg_s
    assert lbbb.septal_flash_pct < sinus.septal_flash_pct


def test_crt_at_a_lateral_site_resynchronises(haemo):
    lbbb, crt = haemo["lbbb"], haemo["crt"]
    assert crt.work_diff_pct < lbbb.work_diff_pct
    assert crt.dpdt_max_mmhg_s > lbbb.dpdt_max_mmhg_s


def test_non_physical_parameters_are_rejected(rodero_geometry, model):
    with pytest.raises(ParameterError, match="sigma_pas_kpa"):
        HeartModel.from_geometry(rodero_geometry, sigma_pas_kpa=-1.0)
    with pytest.raises(ParameterError, match=r"onset_ms must lie in \[0, 857\)"):
        simulate(model, np.full(model.n_patches, 900.0))
    with pytest.raises(ParameterError, match="stretch_mesh"):
        HeartModel.from_geometry(rodero_geometry, stretch_mesh=2.0)


def test_no_steady_state_raises_with_beat_count_and_residual(model):
    with pytest.raises(ConvergenceError, match=r"after 2 beats.* change by \d"):
        simulate(model, np.zeros(model.n_patches), max_beats=2)


def test_nan_rates_are_named_not_the_solvers_success_message():
    from simulators.circulation.beats import _one_beat

    def rhs(t, y):  # a wall equilibrium that fails after 50 ms
        return np.full_like(y, np.nan if t > 50.0 else 0.0)

    with pytest.raises(ConvergenceError, match="non-finite") as err:
        _one_beat(rhs, np.full(10, 100.0), 800.0, None)
    assert "wall equilibrium" in str(err.value)
    assert "successfully" not in str(err.value)
