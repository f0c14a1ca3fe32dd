"""Anisotropic graph shortest paths: exactness along edges, upper bound."""

import numpy as np
import pytest

from simulators.ep.conduction import metric_tensors
from simulators.ep.eikonal import solve_eikonal
from simulators.ep.graph_paths import graph_activation, metric_edge_graph
from simulators.errors import SiteError
from simulators.mesh.structured import unit_cube_mesh


def test_plane_wave_along_grid_lines_is_exact():
    mesh = unit_cube_mesh(6)
    metric = metric_tensors(np.tile([1.0, 0, 0], (mesh.n_cells, 1)), 1.0, 0.5)
    graph = metric_edge_graph(mesh.points, mesh.cells, metric)
    face = np.flatnonzero(mesh.points[:, 0] == 0)
    t = graph_activation(graph, face, np.zeros(face.size))
    # a straight path along x-edges exists from the face: t = x exactly
    np.testing.assert_allclose(t, mesh.points[:, 0], atol=1e-12)


def test_graph_bounds_the_eikonal_solution_from_above():
    mesh = unit_cube_mesh(8)
    fib = np.tile([1.0, 1.0, 0.0], (mesh.n_cells, 1)) / np.sqrt(2)
    metric = metric_tensors(fib, 1.0, 0.4)
    centre = int(np.argmin(np.linalg.norm(mesh.points - 0.5, axis=1)))
    t_graph = graph_activation(
        metric_edge_graph(mesh.points, mesh.cells, metric), [centre], [0.0]
    )
    t_eik = solve_eikonal(mesh.points, mesh.cells, metric, [centre], [0.0])
    # graph paths are admissible Eikonal paths, so never faster (1e-9: round-off)
    assert np.all(t_graph >= t_eik - 1e-9)


def test_offsets_take_the_earliest_source():
    mesh = unit_cube_mesh(4)
    metric = metric_tensors(np.tile([1.0, 0, 0], (mesh.n_cells, 1)), 1.0, 1.0)
    graph = metric_edge_graph(mesh.points, mesh.cells, metric)
    t_a = graph_activation(graph, [0], [0.0])
    t_b = graph_activation(graph, [mesh.n_points - 1], [-0.3])
    t_ab = graph_activation(graph, [0, mesh.n_points - 1], [0.0, -0.3])
    np.testing.assert_allclose(t_ab, np.minimum(t_a, t_b), atol=1e-9)


def test_unreachable_nodes_are_nan_with_a_warning():
    points = np.array(
        [
            [0, 0, 0],
            [1, 0, 0],
            [0, 1, 0],
            [0, 0, 1],
            [5, 0, 0],
            [6, 0, 0],
            [5, 1, 0],
            [5, 0, 1],
        ],
        dtype=float,
    )
    cells = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    metric = np.tile(np.eye(3), (2, 1, 1))
    graph = metric_edge_graph(points, cells, metric)
    with pytest.warns(RuntimeWarning, match="cannot be reached"):
        t = graph_activation(graph, [0], [0.0])
    assert np.isnan(t[4:]).all() and np.isfinite(t[:4]).all()


def test_bad_sources_are_refused():
    mesh = unit_cube_mesh(2)
    graph = metric_edge_graph(
        mesh.points, mesh.cells, np.tile(np.eye(3), (mesh.n_cells, 1, 1))
    )
    with pytest.raises(SiteError, match="outside"):
        graph_activation(graph, [mesh.n_points], [0.0])


def test_a_shared_edge_takes_its_fastest_cell():
    # two tetrahedra on the face (0, 1, 2); the second conducts 4x faster
    points = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, -1]], dtype=float
    )
    cells = np.array([[0, 1, 2, 3], [0, 2, 1, 4]])
    metric = np.stack([np.eye(3), np.eye(3) / 16.0])
    graph = metric_edge_graph(points, cells, metric).toarray()
    # shared edge 0-1 (length 1): 1 / 4 ms; 0-3 only in the slow cell: 1 ms
    assert graph[0, 1] == graph[1, 0] == pytest.approx(0.25)
    assert graph[0, 3] == pytest.approx(1.0) and graph[0, 4] == pytest.approx(0.25)
    assert graph[3, 4] == 0.0  # no cell holds both
