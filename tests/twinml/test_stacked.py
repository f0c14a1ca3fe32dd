"""Stacked query networks against the members and marker heads themselves."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from simulators.errors import DataError
from twinml.models.marker_head import MarkerHead
from twinml.models.population import PopulationGNN
from twinml.models.stacked import CHUNK, StackedDecoders, StackedMarkerHeads
from twinml.query.population import PopulationSurrogate

N, NODE_DIM, EDGE_DIM, QUERY_DIM, N_GLOBALS, N_BINS, N_TARGETS = 40, 12, 3, 5, 4, 6, 3
SIZES = dict(width=8, n_layers=1, decoder_width=6, pooled_dim=2, head_width=7)


def _members(n: int, seed: int = 0, **sizes) -> list[PopulationGNN]:
    # every weight random, the refiners' zero-initialised last layers too
    torch.manual_seed(seed)
    members = []
    for _ in range(n):
        m = PopulationGNN(NODE_DIM, EDGE_DIM, QUERY_DIM, N_GLOBALS, N_BINS, N_TARGETS,
                          **{**SIZES, **sizes})  # fmt: skip
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(0.3 * torch.randn_like(p))
            m.target_std.uniform_(0.5, 2.0)
            m.target_mean.normal_()
        members.append(m.eval())
    return members


def _twin(members, n_queries, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, NODE_DIM, generator=g)
    ei = torch.randint(0, N, (2, 120), generator=g)
    ea = torch.randn(120, EDGE_DIM, generator=g)
    pool = torch.rand(N, N_BINS, generator=g)
    glob = torch.randn(N_GLOBALS, generator=g)
    with torch.no_grad():
        h = [m.encode(x, ei, ea) for m in members]
    lead = torch.randint(0, N, (n_queries,), generator=g)
    q = torch.rand(n_queries, N, QUERY_DIM, generator=g)
    vv = torch.rand(n_queries, generator=g)
    base = torch.rand(n_queries, N, generator=g)
    return h, x, pool, glob, lead, q, vv, base


@pytest.mark.parametrize("n_queries", [1, CHUNK + 5])
def test_stacked_decoders_answer_as_the_members(n_queries):
    # float32 products in another order: equal to 1e-5 of the answers' scale
    members = _members(3)
    h, x, pool, glob, lead, q, vv, base = _twin(members, n_queries)
    stacked = StackedDecoders(members, h, x, pool, glob)
    t, r = stacked.coarse(lead, q, vv)
    corr = stacked.refine(lead, q, base)
    threaded = stacked.refine_with(
        stacked.refine_hidden(lead, q), base, ThreadPoolExecutor(1)
    )
    with torch.no_grad():
        for k, (m, hm) in enumerate(zip(members, h, strict=True)):
            t_m, r_m = m.decode(hm, x, pool, glob, lead, q, vv)
            d_m = 0.1 * m.refiner.t_scale_ms * m.refiner(hm, lead, q, base)
            torch.testing.assert_close(t[k], t_m, rtol=1e-5, atol=1e-4)
            torch.testing.assert_close(r[k], r_m, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(corr[k], d_m, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(threaded[k], d_m, rtol=1e-5, atol=1e-5)
        k_ref = np.array([m.refiner.k.item() for m in members])
    np.testing.assert_allclose(stacked.ref_k, k_ref)


def test_stacked_marker_heads_answer_as_the_heads():
    # input standardisation folded into the first layer: same answers
    torch.manual_seed(2)
    heads = []
    for _ in range(3):
        head = MarkerHead(9, N_TARGETS, hidden=5)
        with torch.no_grad():
            for p in head.parameters():
                p.copy_(torch.randn_like(p))
            head.x_mean.normal_()
            head.x_std.uniform_(0.5, 3.0)
            head.target_std.uniform_(0.5, 2.0)
        heads.append(head.eval())
    rows = torch.randn(4, 9)
    got = StackedMarkerHeads(heads)(rows)
    with torch.no_grad():
        for k, head in enumerate(heads):
            torch.testing.assert_close(got[k], head(rows), rtol=1e-5, atol=1e-5)


def test_members_of_different_sizes_are_refused(toy_calibration):
    # one member of another width cannot be stacked with the others: the
    # files are named, not a raw torch error
    members = _members(2) + _members(1, width=10)
    with pytest.raises(
        DataError, match=r"member_2\.pt differs in size.*one training run"
    ):
        PopulationSurrogate(members, toy_calibration(), {})


def test_answers_far_from_the_training_targets_are_named(toy_calibration):
    # an answer 10 training SDs from the training mean is extrapolation the
    # input ranges did not reveal: reported, not hidden
    from twinml.data.population import TARGETS
    from twinml.query.population import ANSWER_SDS, Prediction

    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        m = PopulationGNN(NODE_DIM, EDGE_DIM, QUERY_DIM, N_GLOBALS, N_BINS,
                          len(TARGETS), **SIZES)  # fmt: skip
        m.target_mean.normal_()
        m.target_std.uniform_(0.5, 2.0)
        members.append(m.eval())
    sur = PopulationSurrogate(members, toy_calibration(), {})
    mean = np.mean([m.target_mean.numpy() for m in members], axis=0)
    std = np.mean([m.target_std.numpy() for m in members], axis=0)
    response = {name: np.array([mean[k], mean[k]]) for k, name in enumerate(TARGETS)}
    response["d_lvesv_pct"] = np.array([mean[4], mean[4] + 1.01 * ANSWER_SDS * std[4]])
    p = Prediction(np.zeros((2, 1)), np.zeros((2, 1)), response, {}, np.zeros(2))
    first, second = sur.answer_issues(p)
    assert first == []
    assert len(second) == 1 and second[0].startswith("answer d_lvesv_pct")
