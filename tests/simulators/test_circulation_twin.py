"""A patient's heart and circulation on the real heart: LBBB remodelling, CRT.

Issue 4's checks: LBBB remodels the heart adversely (dilation, lateral
thickening, septal thinning); CRT at a late lateral site reverses it more
than at a site next to the RV lead, and acutely resynchronises more.
One twin per module: the LBBB baseline (about 3 s) and two sites (1 s each).
"""

import numpy as np
import pytest

from simulators.circulation import kernels
from simulators.circulation.beats import _start_state
from simulators.circulation.circuit import atrial_activation, volume_rates
from simulators.circulation.metrics import haemodynamics
from simulators.circulation.patch import contractile_rate
from simulators.circulation.twin import CirculationTwin
from simulators.ep.protocols import PacingPlan
from simulators.errors import ParameterError


@pytest.fixture(scope="module")
def twin(rodero_heart):
    return CirculationTwin(rodero_heart)


@pytest.fixture(scope="module")
def sites(rodero_heart, twin):
    """The latest LV candidate under LBBB, and the one nearest the RV apex."""
    heart = rodero_heart
    cand = heart.lv_candidates
    lbbb = twin.activation(PacingPlan("lbbb"))
    p = heart.mesh.points
    near = cand[np.argmin(np.linalg.norm(p[cand] - p[heart.rv_apex], axis=1))]
    return {"late": int(cand[np.nanargmax(lbbb.t_ms[cand])]), "near_rv": int(near)}


@pytest.fixture(scope="module")
def responses(twin, sites):
    return {k: twin.crt(n) for k, n in sites.items()}


def test_compiled_rhs_matches_the_reference_equations(twin):
    model = twin.model
    onset = twin.onsets(PacingPlan("lbbb"))
    y = _start_state(model, None)
    y[8:] += np.linspace(-0.05, 0.05, model.n_patches)
    for t in (5.0, 120.0, 400.0):
        f_act = model.activation(t, onset)
        ref = model.ventricles(y[0], y[1], f_act, y[8:])
        dv = volume_rates(
            y[:8], ref.p_lv, ref.p_rv, atrial_activation(t, model.circuit),
            model.circuit,
        )  # fmt: skip
        dl = contractile_rate(np.exp(ref.e), y[8:], model.sarcomere)
        pat, wall, s = kernels.pack(model, onset)
        guess = np.concatenate([ref.e, [ref.v_s_mm3, ref.y_mm]]) * (1 + 1e-3)
        out = kernels.rhs(t, y, pat, wall, s, guess)
        # both Newton solves stop at 1e-10 in strain: round-off level
        np.testing.assert_allclose(out, np.concatenate([dv, dl]), rtol=1e-7, atol=1e-12)


def test_lbbb_remodels_the_heart_adversely(twin):
    base = twin.baseline("lbbb")
    healthy = twin.healthy
    h0 = haemodynamics(twin.beat(PacingPlan("sinus"), healthy), healthy)
    h1 = haemodynamics(base.beat, base.model)
    assert h1.edv_ml > 1.1 * h0.edv_ml and h1.ef_pct < h0.ef_pct - 5.0
    ratio = base.model.v_wall_ml / healthy.v_wall_ml
    lateral = (healthy.wall == 0) & np.isin(healthy.segment, (5, 6, 11, 12))
    assert ratio[lateral].mean() > 1.05  # the late lateral wall thickens
    # the early septum does little work but is stretched late in systole at
    # high stress: under the stress rule it thickens less than the lateral wall
    assert ratio[lateral].mean() > ratio[healthy.wall == 1].mean()


def test_crt_late_lateral_site_beats_a_site_next_to_the_rv_lead(responses):
    late, near = responses["late"], responses["near_rv"]
    # acute: resynchronised work and a faster pressure rise
    assert late.acute["d_work_diff_pct"] < near.acute["d_work_diff_pct"] < 0
    assert late.acute["d_dpdt_max_pct"] > 5.0 > near.acute["d_dpdt_max_pct"]
    # chronic: reverse remodelling, a clear response only at the late site
    # (measured -16.6 % and -2.0 %: the bounds leave room for solver changes)
    assert late.chronic["d_lvesv_pct"] < -12.0
    assert near.chronic["d_lvesv_pct"] > -6.0
    assert late.chronic["d_lvedv_pct"] < 0.0
    assert late.chronic["responder"] == (late.chronic["d_lvesv_pct"] <= -15.0)


def test_crt_response_carries_the_beats_for_pv_loops(responses):
    r = responses["late"]
    assert set(r.beats) == {"lbbb", "acute", "adapted"}
    v = r.beats["adapted"].volumes_ml[:, 0]
    assert v.min() == pytest.approx(r.crt_adapted.esv_ml)


def test_patient_factors_out_of_range_are_refused(rodero_heart, twin):
    with pytest.raises(ParameterError, match=r"contractility must lie in \[0.6"):
        CirculationTwin(rodero_heart, contractility=0.1, geometry=twin.geometry)
    with pytest.raises(ParameterError, match="stiffness"):
        CirculationTwin(rodero_heart, stiffness=-2.0, geometry=twin.geometry)
