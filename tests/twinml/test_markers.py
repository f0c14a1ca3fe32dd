"""Marker heads: the twin's LBBB markers, their inputs, training and the blend.

A coarse (4 mm) biventricular heart keeps these fast. The key property:
the inputs a query builds (`lbbb_baseline` on the twin) equal those that
training reads from the sweep's stored reference results.
"""

import warnings

import numpy as np
import pytest
import torch

from simulators.ep.protocols import PacingPlan, TissueParams
from simulators.ep.scar import Scar
from simulators.errors import DataError
from twinml.data import population as pop
from twinml.data.markers import MARKER_INPUTS, TwinMarkers, lbbb_baseline
from twinml.query.population import (
    PopulationSurrogate,
    blend_weights,
    response_moments,
)
from twinml.training.marker_head import (
    MarkerConfig,
    fit_marker_heads,
    load_marker_head,
)
from twinml.training.population import (
    PopulationConfig,
    load_member,
    train_ensemble,
)


@pytest.fixture(scope="module")
def graph(heart):
    return pop.twin_graph(heart, TissueParams(), spacing_mm=8.0)


def test_query_inputs_equal_the_sweeps_stored_ones(heart, graph, coarse_reference):
    r, _ = coarse_reference({"lv_lead_rotational_deg": 200.0, "vv_delay_ms": 20.0})
    sc = r["meta"]["scalars"]

    # training: the stored LBBB map and QRS; query: the twin's own solve
    stored = TwinMarkers.from_reference(
        heart, graph.globals_, None, sc["qrs_lbbb_ms"], r["arrays"]["t_lbbb_ms"]
    )
    # (the query passes the graph's lead field rather than the heart's own)
    live = TwinMarkers.from_reference(
        heart,
        graph.globals_,
        None,
        *lbbb_baseline(heart, TissueParams(), lead_rows=graph.lead_rows),
    )
    lead = sc["lv_lead_node"]
    a, b = stored.rows([lead], 20.0), live.rows([lead], 20.0)
    # float32 rows of the same solver's output
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    row = dict(zip(MARKER_INPUTS, a[0], strict=True))
    assert row["qlv_ms"] == pytest.approx(sc["qlv_ms"], abs=1e-3)
    assert row["qrs_lbbb_ms"] == pytest.approx(sc["qrs_lbbb_ms"])
    assert row["tat_lbbb_ms"] == pytest.approx(sc["tat_lbbb_ms"], abs=1e-3)
    assert row["lvat_lbbb_ms"] == pytest.approx(sc["lvat_lbbb_ms"], abs=1e-3)
    assert row["lead_apicobasal"] == pytest.approx(heart.z_long[lead], abs=1e-6)
    assert row["vv_delay_ms"] == 20.0 and row["scar"] == 0.0
    assert live.named()["qrs_lbbb_ms"] == pytest.approx(sc["qrs_lbbb_ms"])


def test_a_lead_in_scar_reads_no_qlv_and_its_flag(heart, graph):
    # scar: every cell touching the first LV candidate
    lead = int(heart.lv_candidates[0])
    cells = np.isin(heart.mesh.cells, [lead]).any(axis=1)
    scar = Scar(cells=cells, border=np.zeros_like(cells))
    with warnings.catch_warnings():
        # scar-locked nodes are expected, not a warning for the user
        warnings.simplefilter("error", RuntimeWarning)
        qrs, t = lbbb_baseline(heart, TissueParams(), scar)
    assert np.isnan(t[lead])
    m = TwinMarkers.from_reference(
        heart,
        graph.globals_,
        {"radius_mm": 5.0, "transmurality": 1.0, "border_mm": 0.0,
         "apicobasal": 0.5, "rotational_deg": 90.0},
        qrs,
        t,
    )  # fmt: skip
    row = dict(zip(MARKER_INPUTS, m.rows([lead], 0.0)[0], strict=True))
    assert row["qlv_ms"] == 0.0 and row["lead_in_scar"] == 1.0
    assert row["scar"] == 1.0 and row["scar_cos"] == pytest.approx(0.0, abs=1e-7)
    assert np.isfinite(m.rows(heart.lv_candidates, 0.0)).all()


def test_bad_lbbb_maps_are_refused(heart, graph):
    with pytest.raises(DataError, match=r"expected \(\d+,\)"):
        TwinMarkers.from_reference(heart, graph.globals_, None, 120.0, np.zeros(5))
    nan = np.full(heart.mesh.n_points, np.nan)
    with pytest.raises(DataError, match="0 finite times"):
        TwinMarkers.from_reference(heart, graph.globals_, None, 120.0, nan)
    t = heart.activate(PacingPlan("lbbb")).t_ms
    with pytest.raises(DataError, match="QRS is nan"):
        TwinMarkers.from_reference(heart, graph.globals_, None, np.nan, t)


def test_marker_heads_learn_and_reload(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(MARKER_INPUTS))) * 10 + 50
    y = np.column_stack([x[:, 0] - 2 * x[:, 3], np.sin(x[:, 1] / 10)])
    y[::7, 1] = np.nan  # a target missing from some samples is skipped
    cfg = MarkerConfig(hidden=32, epochs=60, n_members=2)
    paths = fit_marker_heads(x, y, cfg, tmp_path, tmp_path / "mlflow.db", {"t": 1})
    assert [p.name for p in paths] == ["marker_0.pt", "marker_1.pt"]
    head = load_marker_head(paths[0])
    with torch.no_grad():
        pred = head(torch.from_numpy(x.astype(np.float32))).numpy()
    # the linear target is learnt (R^2 well above a constant's 0)
    resid = pred[:, 0] - y[:, 0]
    assert 1 - resid.var() / y[:, 0].var() > 0.9
    paths[1].write_bytes(paths[1].read_bytes()[:-10])
    with pytest.raises(DataError, match="SHA-256"):
        load_marker_head(paths[1])
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match=r"samples \[3\]"):
        fit_marker_heads(bad, y, cfg, tmp_path, tmp_path / "m.db", {})


def test_blend_weights_recover_the_mix():
    rng = np.random.default_rng(1)
    g, m = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    y = 0.3 * g + 0.7 * m
    y[:, 1] = 2.0 * g[:, 1] - m[:, 1]  # outside 0..1: clipped
    y[5, 0] = np.nan
    np.testing.assert_allclose(blend_weights(y, g, m), [0.3, 1.0], atol=1e-9)


def test_surrogate_blends_gnn_and_marker_heads(
    heart, graph, coarse_reference, toy_calibration, tmp_path
):
    examples = [
        coarse_reference({"lv_lead_rotational_deg": phi})[1] for phi in (150.0, 220.0)
    ]
    cfg = PopulationConfig(width=8, n_layers=1, decoder_width=8, head_width=8,
                           pooled_dim=4, epochs=2, n_members=2)  # fmt: skip
    members = [
        load_member(p)
        for p in train_ensemble(examples, [], cfg, tmp_path, tmp_path / "m.db", {})
    ]
    markers = TwinMarkers.from_reference(
        heart, graph.globals_, None, *lbbb_baseline(heart, TissueParams())
    )
    leads = graph.lv_candidates[:5]
    x = markers.rows(leads, 0.0)
    y = np.random.default_rng(0).normal(size=(len(x), len(pop.TARGETS)))
    heads = [
        load_marker_head(p)
        for p in fit_marker_heads(
            x, y, MarkerConfig(hidden=8, epochs=2, n_members=2), tmp_path,
            tmp_path / "m.db", {},
        )
    ]  # fmt: skip
    cal = toy_calibration()
    gnn_only = PopulationSurrogate(members, cal, {"ranges": {}})
    enc = gnn_only.encode(examples[0].graph, markers)
    _, g, _ = gnn_only.member_outputs(enc, leads, 0.0, fine=False)

    w = np.linspace(0.0, 1.0, len(pop.TARGETS))
    blended = PopulationSurrogate(
        members, {**cal, "blend": dict(zip(pop.TARGETS, w, strict=True))}, {}, heads
    )
    with pytest.raises(DataError, match="LBBB markers"):
        blended.encode(examples[0].graph)
    _, r, _ = blended.member_outputs(enc, leads, 0.0, fine=False)
    m = blended.marker_outputs(enc, leads, 0.0)
    np.testing.assert_allclose(r, np.concatenate([g, m]), rtol=1e-5, atol=1e-6)
    # the mixture: mean w g + (1 - w) m; at w = 0 the marker heads' SD, at
    # w = 1 the GNN heads'; in between it holds the gap between the families
    mean, sd = blended.response_moments(r)
    np.testing.assert_allclose(mean, w * g.mean(0) + (1 - w) * m.mean(0), atol=1e-6)
    np.testing.assert_allclose(sd[:, 0], m[:, :, 0].std(0), atol=1e-6)
    np.testing.assert_allclose(sd[:, -1], g[:, :, -1].std(0), atol=1e-6)
    gap = np.abs(g.mean(0) - m.mean(0))[:, 2]
    assert (sd[:, 2] >= np.sqrt(w[2] * (1 - w[2])) * gap - 1e-9).all()
    p = blended.predict(enc, leads, 0.0, fine=False)
    np.testing.assert_allclose(p.response["d_lvesv_pct"], mean[:, 4], atol=1e-6)
    with pytest.raises(DataError, match="1 marker heads for 2 members"):
        PopulationSurrogate(members, cal, {}, heads[:1])


def test_mixture_moments_are_those_of_the_weighted_pool():
    # every GNN head weighs w / M, every marker head (1 - w) / M: the
    # mixture's mean and variance are the pool's first two moments
    rng = np.random.default_rng(0)
    g, m = rng.normal(size=(3, 4, 2)), rng.normal(1.0, 2.0, size=(3, 4, 2))
    w = np.array([0.3, 0.8])
    mean, sd = response_moments(np.concatenate([g, m]), 3, w)
    first = w * g.mean(0) + (1 - w) * m.mean(0)
    second = w * (g**2).mean(0) + (1 - w) * (m**2).mean(0)
    np.testing.assert_allclose(mean, first, rtol=1e-12)
    np.testing.assert_allclose(sd**2, second - first**2, rtol=1e-12)
    # GNN heads alone: their mean and SD, no weight needed
    mean, sd = response_moments(g, 3)
    np.testing.assert_allclose(sd, g.std(0), rtol=1e-12)
