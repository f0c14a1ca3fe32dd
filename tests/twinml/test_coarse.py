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
