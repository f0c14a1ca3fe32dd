"""Coarse graph: clusters, symmetric edges, interpolation exact for linear fields."""

import numpy as np

from simulators.mesh.structured import box_mesh
from twinml.data.coarse import build_coarse_graph


def _slab():
    return box_mesh((20.0, 10.0, 6.0), (20, 10, 6))


def test_clusters_cover_the_mesh_and_edges_are_symmetric():
    mesh = _slab()
    cg = build_coarse_graph(mesh, spacing_mm=4.0)
    assert cg.cluster.shape == (mesh.n_points,)
    assert set(np.unique(cg.cluster)) == set(range(cg.n_coarse))
    assert (cg.cluster[cg.rep] == np.arange(cg.n_coarse)).all()
    pairs = set(map(tuple, cg.edge_index.T))
    assert all((b, a) in pairs for a, b in pairs)


def test_interpolation_reproduces_linear_fields():
    mesh = _slab()
    cg = build_coarse_graph(mesh, spacing_mm=4.0)
    field = mesh.points @ np.array([0.7, -1.3, 2.0]) + 5.0
    approx = cg.interp @ field[cg.rep]
    # moving least squares is exact for linear fields; the 1e-3 ridge term on
    # the slopes leaves an error well below 1 % of the field's range
    assert np.abs(approx - field).max() < 1e-2 * np.ptp(field)
    np.testing.assert_allclose(
        np.asarray(cg.interp.sum(axis=1)).ravel(), 1.0, atol=1e-6
    )


def test_heart_features_and_exact_pruning(rodero_heart):
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    from simulators.ep.protocols import TissueParams
    from twinml.data.features import coarse_travel_graph, heart_features, query_features

    heart = rodero_heart
    cg = build_coarse_graph(
        heart.mesh, 5.0, fast_nodes=np.flatnonzero(heart.rv_endo_mask)
    )
    feats = heart_features(heart, cg, TissueParams())
    assert np.isfinite(feats.x).all() and np.isfinite(feats.edge_attr).all()
    assert 0.3 < feats.travel_needed.mean() < 1.0

    # dropping dominated pairs changes no shortest path at unit scaling
    full = sp.csr_matrix(
        (feats.travel_cost, tuple(feats.travel_index)), shape=(cg.n_coarse,) * 2
    )
    pruned = coarse_travel_graph(feats, TissueParams(), cg.n_coarse)
    assert pruned.nnz < full.nnz
    src = np.arange(0, cg.n_coarse, 500)
    np.testing.assert_allclose(
        dijkstra(pruned, indices=src), dijkstra(full, indices=src), rtol=1e-12
    )

    # query features: finite, in [0, a few] after scaling, LV lead at 0
    leads = heart.lv_candidates[:3]
    q = query_features(feats, cg, TissueParams(cv_scale=0.8), leads, heart.rv_apex)
    assert q.shape == (3, cg.n_coarse, 5) and np.isfinite(q).all()
    assert (q[..., 2] >= 0).all() and q[..., 2].max() < 5.0
