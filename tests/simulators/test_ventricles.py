"""Activation of the real heart under LBBB and CRT: physiology and errors.

Reference values (shared/SCIENCE.md): an Eikonal LBBB without an LV
conduction system on this heart gives a TAT of 140-168 ms (fim-python, helix
fibres, fast endocardium 2-3 mm/ms), and CRT with the RV fast layer engaged
and the LV lead at the latest LBBB site 110-124 ms; clinically LBBB QRS is
about 150-170 ms (Strauss 2011).
"""

import warnings

import numpy as np
import pytest

from simulators.ep.ventricles import PacingPlan, TissueParams, Ventricles
from simulators.errors import FieldError, SiteError
from simulators.hearts import mesh_fibres, with_coordinates
from simulators.mesh.aha import LV_LEAD_SEGMENTS
from simulators.mesh.biv import biv_ellipsoid


@pytest.fixture(scope="module")
def lbbb(rodero_heart):
    return rodero_heart.activate(PacingPlan("lbbb"))


def test_lbbb_total_activation_time_is_in_the_published_range(lbbb):
    # 130-175 ms: the 140-168 ms measured with another solver on this heart,
    # widened by 10 ms for solver and fast-layer differences
    assert 130.0 <= lbbb.markers.tat_ms <= 175.0
    assert np.isfinite(lbbb.t_ms).all() and lbbb.t_ms.min() == 0.0
    # the LV is reached across the septum: lateral wall later than septum
    assert lbbb.markers.septal_lateral_delay_ms > 30.0


def test_crt_at_a_late_site_beats_lbbb_and_a_poor_site_may_not(rodero_heart, lbbb):
    cand = rodero_heart.lv_candidates
    late = int(cand[np.argmax(lbbb.t_ms[cand])])
    early = int(cand[np.argmin(lbbb.t_ms[cand])])
    crt_late = rodero_heart.activate(PacingPlan("crt", lv_lead=late))
    crt_early = rodero_heart.activate(PacingPlan("crt", lv_lead=early))
    assert crt_late.markers.tat_ms < lbbb.markers.tat_ms
    assert crt_late.markers.mlvat_ms < crt_early.markers.mlvat_ms
    # QLV of the late site is its LBBB time, the latest of the candidates
    assert rodero_heart.qlv_ms(lbbb, late) == pytest.approx(lbbb.t_ms[cand].max())


def test_vv_delay_fires_the_lv_lead_first(rodero_heart):
    site = int(rodero_heart.lv_candidates[0])
    act = rodero_heart.activate(PacingPlan("crt", lv_lead=site, vv_delay_ms=30.0))
    # times start at the first activation: the LV lead at 0, the RV apex at +30
    assert act.t_ms[site] == pytest.approx(0.0, abs=1e-9)
    assert act.t_ms[rodero_heart.rv_apex] == pytest.approx(30.0, abs=1e-6)


def test_slower_conduction_prolongs_activation(rodero_heart):
    site = int(rodero_heart.lv_candidates[10])
    fast = rodero_heart.activate(PacingPlan("crt", lv_lead=site), TissueParams())
    slow = rodero_heart.activate(
        PacingPlan("crt", lv_lead=site), TissueParams(cv_scale=0.7)
    )
    assert slow.markers.tat_ms > fast.markers.tat_ms


def test_candidate_region(rodero_heart):
    cand = rodero_heart.lv_candidates
    assert cand.size >= 200
    assert set(np.unique(rodero_heart.aha[cand])) <= set(LV_LEAD_SEGMENTS)
    assert rodero_heart.mesh.point_data["surface_lv_epi"][cand].all()


def test_lead_outside_the_candidate_region_is_refused(rodero_heart):
    septal = int(np.flatnonzero(rodero_heart.aha == 3)[0])
    with pytest.raises(SiteError, match=r"segment 3.*|AHA segments \[1, 4, 5"):
        rodero_heart.activate(PacingPlan("crt", lv_lead=septal))
    with pytest.raises(SiteError, match="not a node"):
        rodero_heart.check_lv_lead(10**7)


def test_a_lead_on_the_rv_wall_is_named_so():
    # the biventricular ellipsoid's epicardial node set covers the RV too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mesh = with_coordinates(biv_ellipsoid(h_mm=4.0))
    heart = Ventricles(mesh, mesh_fibres(mesh, 60.0, -60.0))
    epi = mesh.point_data["surface_lv_epi"].astype(bool)
    # on the epicardial node set or inside the RV wall alike
    for rv_side in (epi & (heart.aha == 0), ~epi & (heart.aha == 0)):
        node = int(np.flatnonzero(rv_side)[0])
        with pytest.raises(SiteError, match=r"outside the LV \(in the RV wall\)"):
            heart.check_lv_lead(node)


def test_fibres_per_point_name_both_lengths(rodero_mesh):
    with pytest.raises(
        FieldError, match=rf"{rodero_mesh.n_cells}.*{rodero_mesh.n_points}"
    ):
        Ventricles(rodero_mesh, np.ones((rodero_mesh.n_points, 3)))


def test_nan_fibre_names_the_cell(rodero_mesh, rodero_heart):
    fibres = rodero_heart.fibres.copy()
    fibres[123] = np.nan
    heart = Ventricles(rodero_mesh, fibres)
    with pytest.raises(FieldError, match="123"):
        heart.activate(PacingPlan("lbbb"))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="v_fibre"):
        TissueParams(v_fibre=-1.0)
    with pytest.raises(ValueError, match="vv_delay_ms"):
        PacingPlan("crt", lv_lead=1, vv_delay_ms=500.0)
    with pytest.raises(ValueError, match="protocol"):
        PacingPlan("sinus-ish")
