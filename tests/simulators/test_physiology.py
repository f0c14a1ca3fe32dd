"""Protocols, pseudo-ECG, scar and lead sites on the real heart.

Pass bands (shared/SCIENCE.md): sinus QRS 65-110 ms (normal QRS about
90-100 ms; an Eikonal QRS is close to the TAT, 55-80 ms with another solver
on this heart); LBBB QRS at least 130 ms (Strauss 2011: >= 130 ms women,
>= 140 ms men) and at least 1.4 times the sinus QRS; CRT at the best
candidate shorter than LBBB.
"""

import numpy as np
import pytest

from simulators.ep.ecg import LEADS, lead_field, pseudo_ecg, pseudo_ecg_binned
from simulators.ep.protocols import PacingPlan
from simulators.ep.scar import Scar, spherical_scar
from simulators.ep.sites import parse_site
from simulators.errors import ParameterError, SiteError


@pytest.fixture(scope="module")
def runs(rodero_heart):
    heart = rodero_heart
    out = {p: heart.activate(PacingPlan(p)) for p in ("sinus", "lbbb", "rbbb")}
    cand = heart.lv_candidates
    out["late"] = int(cand[np.argmax(out["lbbb"].t_ms[cand])])
    out["crt"] = heart.activate(PacingPlan("crt", lv_lead=out["late"]))
    return out


def test_sinus_qrs_in_the_normal_range(rodero_heart, runs):
    ecg = rodero_heart.ecg(runs["sinus"])
    assert set(ecg.leads) == set(LEADS)
    assert 65.0 <= ecg.qrs_ms <= 110.0
    # the Eikonal QRS is close to the TAT (15 ms: upstroke width and the 5 %
    # threshold trimming the last small regions)
    assert abs(ecg.qrs_ms - runs["sinus"].markers.tat_ms) < 15.0


def test_lbbb_qrs_is_wide(rodero_heart, runs):
    qrs_sinus = rodero_heart.ecg(runs["sinus"]).qrs_ms
    qrs_lbbb = rodero_heart.ecg(runs["lbbb"]).qrs_ms
    assert qrs_lbbb >= 130.0
    assert qrs_lbbb >= 1.4 * qrs_sinus


def test_crt_narrows_the_qrs(rodero_heart, runs):
    assert rodero_heart.ecg(runs["crt"]).qrs_ms < rodero_heart.ecg(runs["lbbb"]).qrs_ms


def test_rbbb_activates_the_lv_normally(runs):
    # the left bundle works: LV activation as fast as in sinus rhythm (1 ms:
    # the RV root fires 5 ms later in sinus, which may touch the septum)
    assert runs["rbbb"].markers.lvat_ms == pytest.approx(
        runs["sinus"].markers.lvat_ms, abs=1.0
    )
    assert runs["rbbb"].markers.tat_ms > runs["sinus"].markers.tat_ms


def test_pacing_on_the_right_bundle_exit_engages_it(rodero_heart, runs):
    # a lead at the right bundle's exit activates exactly as LBBB does
    act = rodero_heart.activate(PacingPlan("rv-pacing", rv_lead=rodero_heart.rv_septum))
    np.testing.assert_allclose(act.t_ms, runs["lbbb"].t_ms, atol=1e-9)


def test_long_paced_av_delay_lets_intrinsic_conduction_fuse(rodero_heart):
    site = int(rodero_heart.lv_candidates[0])
    short = rodero_heart.activate(
        PacingPlan("lv-pacing", lv_lead=site, av_delay_ms=100)
    )
    long = rodero_heart.activate(PacingPlan("lv-pacing", lv_lead=site, av_delay_ms=190))
    # the right bundle arrives 10 ms after the LV lead instead of 100 ms
    assert long.markers.tat_ms < short.markers.tat_ms


def test_scar_blocks_and_border_zone_slows(rodero_mesh, rodero_heart, runs):
    centre = rodero_mesh.points[runs["late"]]
    scar = spherical_scar(rodero_mesh, centre, radius_mm=15.0, transmurality=1.0)
    act = rodero_heart.activate(PacingPlan("lbbb"), scar=scar)
    locked = np.setdiff1d(
        np.unique(rodero_mesh.cells[scar.cells]),
        np.unique(rodero_mesh.cells[~scar.cells]),
    )
    assert locked.size > 0 and np.isnan(act.t_ms[locked]).all()
    # a border zone alone (no scar) delays activation around it
    ring = Scar(cells=np.zeros(rodero_mesh.n_cells, bool), border=scar.cells)
    slowed = rodero_heart.activate(PacingPlan("lbbb"), scar=ring)
    inside = np.unique(rodero_mesh.cells[scar.cells])
    assert np.nanmean(slowed.t_ms[inside]) > np.nanmean(runs["lbbb"].t_ms[inside])


def test_subendocardial_scar_spares_the_epicardium(rodero_mesh, runs):
    centre = rodero_mesh.points[runs["late"]]
    scar = spherical_scar(rodero_mesh, centre, radius_mm=15.0, transmurality=0.4)
    depth = rodero_mesh.point_data["transmural"][rodero_mesh.cells].mean(axis=1)
    assert depth[scar.cells].max() <= 0.4 + 1e-9
    with pytest.raises(ParameterError, match="transmurality"):
        spherical_scar(rodero_mesh, centre, 10.0, transmurality=1.5)


def test_site_forms(rodero_mesh, rodero_heart, runs):
    heart = rodero_heart
    late = runs["late"]
    assert parse_site(heart, f"node:{late}") == late
    assert parse_site(heart, "rv-apex", role="rv") == heart.rv_apex
    assert parse_site(heart, "rv-septum", role="rv") == heart.rv_septum
    node = parse_site(heart, "aha:5")
    assert heart.aha[node] == 5 and node in heart.lv_candidates
    x, y, z = rodero_mesh.points[late] + 0.01
    assert parse_site(heart, f"xyz:{x},{y},{z}") == late


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("aha:2", r"allowed segments: \[1, 4, 5, 6, 7, 10, 11, 12\]"),
        ("aha:16", "septal or apical"),
        ("xyz:0,0,0", "mm from the nearest epicardial node"),
        ("xyz:1,2", "three numbers"),
        ("node:abc", "not an integer"),
        ("node:1_0", "not an integer"),  # int() would read 10
        ("xyz:1_0,2,3", "three numbers in mm"),  # float() would read 10
        ("xyz:\uff11,2,3", "three numbers in mm"),
        ("node:\uff18\uff10", "not an integer"),  # full-width digits
        ("node:" + "9" * 5000, "at most 12 digits"),
        ("node:99999999", "not in this mesh"),
        ("apex", "cannot read lead site"),
        ("rv-apex", "is an RV site"),
    ],
)
def test_bad_sites_are_refused_with_the_reason(rodero_heart, text, match):
    with pytest.raises(SiteError, match=match):
        parse_site(rodero_heart, text)


@pytest.mark.parametrize("name", ["sinus", "lbbb", "crt"])
def test_binned_pseudo_ecg_matches_the_direct_sum(rodero_heart, runs, name):
    # same upstroke, summed by time bins and one convolution: the leads agree
    # to 1 % of their peak (the linear split moves an upstroke by a fraction
    # of the 0.5 ms step) and the QRS to one step
    rows = lead_field(rodero_heart.mesh, rodero_heart.electrodes())
    t = runs[name].t_ms
    direct, binned = pseudo_ecg(rows, t), pseudo_ecg_binned(rows, t)
    assert abs(direct.qrs_ms - binned.qrs_ms) <= 0.5
    for lead in LEADS:
        peak = np.abs(direct.leads[lead]).max()
        np.testing.assert_allclose(
            binned.leads[lead], direct.leads[lead], atol=0.01 * peak
        )
    # the node-major (Fortran) lead field the emulator keeps gives the same
    fortran = pseudo_ecg_binned(np.asfortranarray(rows), t)
    for lead in LEADS:
        np.testing.assert_allclose(fortran.leads[lead], binned.leads[lead], atol=1e-9)
    # scar (NaN) nodes never depolarise in either
    t_scar = t.copy()
    t_scar[: t.size // 10] = np.nan
    assert pseudo_ecg_binned(rows, t_scar).qrs_ms == pytest.approx(
        pseudo_ecg(rows, t_scar).qrs_ms, abs=0.5
    )


def test_lead_matrix_gives_einthoven_goldberger_and_wilson_leads():
    # the twelve leads as one product equal their textbook definitions
    from simulators.ep.ecg import ELECTRODES, _ecg

    rng = np.random.default_rng(0)
    phi = rng.normal(size=(len(ELECTRODES), 50))
    e = dict(zip(ELECTRODES, phi, strict=True))
    wct = (e["RA"] + e["LA"] + e["LL"]) / 3.0
    expected = {
        "I": e["LA"] - e["RA"],
        "II": e["LL"] - e["RA"],
        "III": e["LL"] - e["LA"],
        "aVR": e["RA"] - 0.5 * (e["LA"] + e["LL"]),
        "aVL": e["LA"] - 0.5 * (e["RA"] + e["LL"]),
        "aVF": e["LL"] - 0.5 * (e["RA"] + e["LA"]),
        **{f"V{i}": e[f"V{i}"] - wct for i in range(1, 7)},
    }
    leads = _ecg(phi, np.arange(50) * 0.5, 0.5).leads
    assert list(leads) == list(LEADS)
    for name, v in expected.items():
        np.testing.assert_allclose(leads[name], v, rtol=0, atol=1e-12)


def test_binned_pseudo_ecg_in_two_threads_equals_one():
    # half the nodes binned in another thread, the weights summed: the same
    # leads to round-off and the same QRS
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(1)
    rows = np.asfortranarray(rng.normal(size=(9, 501)))
    t = rng.uniform(0.0, 120.0, 501)
    t[::17] = np.nan  # scar
    one = pseudo_ecg_binned(rows, t)
    two = pseudo_ecg_binned(rows, t, pool=ThreadPoolExecutor(1))
    assert two.qrs_ms == one.qrs_ms
    for lead in LEADS:
        np.testing.assert_allclose(two.leads[lead], one.leads[lead], atol=1e-9)
