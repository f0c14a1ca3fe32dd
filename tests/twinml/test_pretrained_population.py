"""The packaged population model loads with this twinml and answers sanely.

The shipped folder (`twinml/pretrained/population`) must match the code
that reads it: a change of the marker inputs, the targets or a network's
build without a refitted model fails here rather than in a user's query.
The answers are checked for what holds for any trained model on a default
heart (finite, inside physical and training limits), not for accuracy,
which `experiments/population/train.py` measures on the test sets.
"""

import numpy as np
import pytest
import torch

from simulators.ep.protocols import TissueParams
from twinml.data import population as pop
from twinml.data.markers import MARKER_INPUTS, TwinMarkers, lbbb_baseline
from twinml.query.model_folder import load_surrogate, model_spacing_mm


@pytest.fixture(scope="module")
def packaged():
    torch.set_num_threads(1)
    return load_surrogate()


def test_card_matches_this_twinml(packaged):
    card = packaged.card
    assert card["marker_inputs"] == list(MARKER_INPUTS)
    assert card["targets"] == list(pop.TARGETS)
    assert len(packaged.members) == len(packaged.marker_heads) == 3
    # the card's figures are those of the shipped model's own evaluation
    assert set(card["test_figures"]) == {"unseen_params", "unseen_shapes", "real_heart"}


def test_answers_on_a_default_heart(packaged, coarse_heart):
    heart = coarse_heart
    graph = pop.twin_graph(heart, TissueParams(), spacing_mm=model_spacing_mm(packaged))
    markers = TwinMarkers.from_reference(
        heart,
        graph.globals_,
        None,
        *lbbb_baseline(heart, TissueParams(), lead_rows=graph.lead_rows),
    )
    enc = packaged.encode(graph, markers, travel_rows=False)
    leads = heart.lv_candidates[:: max(1, heart.lv_candidates.size // 4)][:4]
    p = packaged.predict(enc, leads, 0.0)

    # a map per lead, every live node activated within a plausible beat
    live = graph.live
    assert np.isfinite(p.t_ms[:, live]).all()
    assert (p.t_ms[:, live] >= -1.0).all() and (p.t_ms[:, live] < 300.0).all()
    r, w = p.response, p.half_width
    assert np.isfinite(r["tat_ms"]).all() and np.isfinite(r["lvat_ms"]).all()
    for k in pop.TARGETS:
        assert np.isfinite(r[k]).all() and (w[k] >= 0).all(), k
    assert ((r["qrs_crt_ms"] > 60) & (r["qrs_crt_ms"] < 250)).all()
    assert ((r["ef_crt_acute_pct"] > 5) & (r["ef_crt_acute_pct"] < 80)).all()
    # ΔLVESV inside the training targets' span (about -40..+10 %)
    assert ((r["d_lvesv_pct"] > -60) & (r["d_lvesv_pct"] < 20)).all()
    assert ((p.responder_probability >= 0) & (p.responder_probability <= 1)).all()
