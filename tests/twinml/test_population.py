"""Population emulator: pose-free inputs, training, checkpoints, intervals.

A coarse (4 mm) biventricular heart keeps these fast: the reference
activation comes from `simulate_sample` without the circulation, so the
response targets other than QRS are missing and the loss skips them.
"""

import dataclasses

import numpy as np
import pytest
import torch

from simulators.ep.graph_paths import graph_activation
from simulators.ep.protocols import PacingPlan, TissueParams
from simulators.ep.ventricles import Ventricles
from simulators.errors import DataError
from twinml.data import population as pop
from twinml.data.lead_paths import captured_arrival, lead_paths
from twinml.query.population import PopulationSurrogate, calibration_factor
from twinml.training.population import (
    PopulationConfig,
    _new_model,
    load_member,
    run,
    tensors,
    train_ensemble,
)


@pytest.fixture(scope="module")
def examples(coarse_reference):
    """Four reference CRT activations on the heart (two velocities, two leads)."""
    out = []
    for v, phi in ((0.5, 150.0), (0.7, 200.0), (0.6, 100.0), (0.55, 250.0)):
        sample = {
            "v_fibre_mm_ms": v,
            "v_cross_mm_ms": 0.24,
            "v_endo_mm_ms": 2.0,
            "lv_lead_apicobasal": 0.6,
            "lv_lead_rotational_deg": phi,
            "vv_delay_ms": 10.0,
        }
        out.append(coarse_reference(sample)[1])
    return out


def test_inputs_do_not_depend_on_pose(heart):
    tissue = TissueParams()
    g1 = pop.twin_graph(heart, tissue, spacing_mm=8.0)
    # rotate and translate the heart (fibres with it), same coarse nodes
    a = np.deg2rad(37.0)
    rot = np.array(
        [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]]
    ) @ np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    m = heart.mesh
    moved = dataclasses.replace(m, points=m.points @ rot.T + [40.0, -7.0, 3.0])
    heart2 = Ventricles(moved, heart.fibres @ rot.T)
    parts = (g1.coarse, pop._fibre_alignment(heart2), g1.lead_rows)
    pop._PARTS[heart2] = {8.0: parts}
    g2 = pop.twin_graph(heart2, tissue, spacing_mm=8.0)
    # every input is a length, a time or a coordinate of the heart's own
    # frame: equal up to round-off of the rotated coordinates
    np.testing.assert_allclose(g1.features.x, g2.features.x, atol=1e-4)
    np.testing.assert_allclose(g1.features.edge_attr, g2.features.edge_attr, atol=1e-4)
    np.testing.assert_allclose(g1.paths.t_fixed_ms, g2.paths.t_fixed_ms, rtol=1e-6)


def test_training_fits_and_checkpoints_reload(examples, tmp_path):
    cfg = PopulationConfig(width=16, n_layers=2, decoder_width=16, head_width=16,
                           epochs=30, n_members=2, lr=5e-3)  # fmt: skip
    t = [tensors(e) for e in examples]
    paths = train_ensemble(
        examples, [], cfg, tmp_path / "m", tmp_path / "mlflow.db", {"test": 1}
    )
    assert [p.name for p in paths] == ["member_0.pt", "member_1.pt"]
    members = [load_member(p) for p in paths]
    with torch.no_grad():
        times, resp, refined = run(members[0], t[0])
    assert torch.isfinite(times).all() and torch.isfinite(resp).all()
    # the fit beats a constant-time guess by far on its training examples
    err = np.mean(
        [
            np.nanmean(np.abs(run(members[0], x)[0].detach().numpy() - x.y.numpy()))
            for x in t
        ]
    )
    spread = np.mean([np.nanstd(x.y.numpy()) for x in t])
    assert err < 0.5 * spread
    # a damaged checkpoint is refused
    paths[1].write_bytes(paths[1].read_bytes()[:-10])
    with pytest.raises(DataError, match="SHA-256"):
        load_member(paths[1])


def test_surrogate_ranks_many_sites_with_intervals(examples, toy_calibration, tmp_path):
    cfg = PopulationConfig(width=16, n_layers=2, decoder_width=16, head_width=16,
                           epochs=5, n_members=2)  # fmt: skip
    paths = train_ensemble(
        examples, [], cfg, tmp_path / "m", tmp_path / "mlflow.db", {"test": 1}
    )
    cal = toy_calibration()
    card = {"ranges": {"v_fibre_mm_ms": [0.5, 0.7]}}
    sur = PopulationSurrogate([load_member(p) for p in paths], cal, card)
    g = examples[0].graph
    enc = sur.encode(g)
    # the encoding holds the coarse travel rows of every lead site
    assert set(g.travel._rows) == set(g.lead_clusters.tolist())
    sites = g.lv_candidates[:50]
    p = sur.predict(enc, sites, vv_delay_ms=0.0)
    assert p.t_ms.shape == (50, g.live.size)
    # a fine query's statistics are those of the members' maps
    t_all, _, qrs = sur.member_outputs(enc, sites[:3], 10.0)
    one = sur.predict(enc, sites[:3], 10.0)
    np.testing.assert_allclose(one.t_ms, t_all.mean(0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(one.response["qrs_crt_ms"], qrs)
    assert np.isfinite(p.t_ms).all() and (p.t_half_width_ms > 0).all()
    assert ((p.responder_probability >= 0) & (p.responder_probability <= 1)).all()
    assert (p.response["lvat_ms"] <= p.response["tat_ms"] + 1e-9).all()
    assert sur.domain_issues({"v_fibre_mm_ms": 0.9})[0].startswith("v_fibre_mm_ms")
    assert sur.domain_issues({"v_fibre_mm_ms": 0.6}) == []


def test_calibration_factor_is_the_conformal_quantile():
    rng = np.random.default_rng(0)
    err = rng.normal(size=2000) * 3.0
    # spread 1 everywhere: the 90 % factor is the 90 % quantile of |err|,
    # 1.645 x 3 for a normal law (sampling error about 2 % at n = 2000)
    f = calibration_factor(err, np.ones_like(err))
    assert f == pytest.approx(1.645 * 3.0, rel=0.05)
    with pytest.raises(DataError, match="empty"):
        calibration_factor(np.array([np.nan]), np.ones(1))


def test_lead_paths_are_the_multi_source_shortest_path(heart):
    # the minimum over the fixed sources and the lead equals one Dijkstra
    # from all the CRT plan's sources (exact on a fixed graph)
    tissue = TissueParams()
    paths = lead_paths(heart, tissue)
    leads = heart.lv_candidates[[0, len(heart.lv_candidates) // 2]]
    for vv in (0.0, 30.0, -20.0):
        t = paths.times(leads, vv)
        for lead, row in zip(leads, t, strict=True):
            plan = PacingPlan("crt", lv_lead=int(lead), vv_delay_ms=vv)
            nodes, onsets = heart.sources(plan)
            ref = graph_activation(paths.graph, nodes, onsets)
            np.testing.assert_allclose(row, ref - ref.min(), atol=1e-9)
            assert row.min() == pytest.approx(0.0, abs=1e-9)  # first pace at 0 ms
        # the renumbered search gives, bit for bit, the times of one
        # Dijkstra on the graph as numbered
        g = paths.graph
        for lead, row in zip(leads, t, strict=True):
            own = captured_arrival(
                g.indptr, g.indices, g.data, int(lead), -vv, paths.t_fixed_ms
            )
            plain = np.minimum(own, paths.t_fixed_ms) - min(0.0, -vv)
            np.testing.assert_array_equal(
                row, np.where(np.isfinite(plain), plain, np.nan)
            )


def test_untrained_refiner_returns_the_calibrated_paths(examples):
    cfg = PopulationConfig(width=8, n_layers=1, decoder_width=8, head_width=8)
    t = tensors(examples[0])
    model = _new_model(t, cfg, 0.9)
    with torch.no_grad():
        model.refiner.log_k.fill_(np.log(0.9))
        _, _, refined = run(model, t)
    np.testing.assert_allclose(refined.numpy(), 0.9 * examples[0].b_ms[None], rtol=1e-5)


def test_query_leads_are_checked_before_any_work(examples):
    # a node off the mesh, a negative one (numpy would read the last node),
    # a fraction, an RV node and a NaN VV delay are refused by name
    from simulators.errors import ParameterError, SiteError
    from twinml.query.population import _checked_leads

    g = examples[0].graph
    n = g.live.size
    ok = g.lv_candidates[:2]
    assert _checked_leads(g, ok.astype(float), 0.0).tolist() == ok.tolist()
    rv = int(np.flatnonzero(~g.lv_mask)[0])
    for leads, match in (([n], "not nodes"), ([-1], "not nodes"),
                         ([ok[0] + 0.5], "integer"), ([rv], "outside the LV"),
                         ([], "shape")):  # fmt: skip
        with pytest.raises(SiteError, match=match):
            _checked_leads(g, leads, 0.0)
    for vv in (float("nan"), "5", None):
        with pytest.raises(ParameterError, match="vv_delay_ms"):
            _checked_leads(g, ok, vv)
    # ids that would wrap round when cast to int64
    for big in (np.array([2**63 + 5], dtype=np.uint64), [1e20]):
        with pytest.raises(SiteError, match="not nodes"):
            _checked_leads(g, big, 0.0)


def test_members_reading_other_features_are_refused_at_encoding(
    examples, toy_calibration
):
    # a member built for another node-feature count fails by name, not with
    # a torch shape error once the twin is prepared
    from twinml.models.population import PopulationGNN

    g = examples[0].graph
    f = g.features
    member = PopulationGNN(f.x.shape[1] + 1, f.edge_attr.shape[1], 5,
                           g.globals_.size, 18, len(pop.TARGETS)).eval()  # fmt: skip
    sur = PopulationSurrogate([member], toy_calibration(), {})
    with pytest.raises(DataError, match=r"reads \d+ node and \d+ edge features"):
        sur.encode(g)
