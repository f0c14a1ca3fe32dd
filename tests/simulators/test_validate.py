"""Mesh validation on small hand-made meshes with one defect each."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.errors import FieldError, MeshError, UnitsError
from simulators.mesh.tetmesh import TetMesh
from simulators.mesh.validate import (
    check_finite_field,
    check_mesh,
    check_unit_vectors,
    format_ids,
    validate_mesh,
)


def _with(mesh: TetMesh, points=None, cells=None) -> TetMesh:
    """Copy of `mesh` with new points or cells and no fields."""
    points = mesh.points if points is None else points
    cells = mesh.cells if cells is None else cells
    return TetMesh(points, cells)


def test_sound_mesh_passes(two_tets):
    report = check_mesh(two_tets)

    assert report.ok
    assert report.unit_guess is None
    assert 1.0 <= report.median_edge_mm <= np.sqrt(3)
    validate_mesh(two_tets)


def test_inverted_tet_names_the_cell(two_tets):
    cells = two_tets.cells.copy()
    cells[1] = cells[1, [0, 2, 1, 3]]
    mesh = _with(two_tets, cells=cells)

    assert check_mesh(mesh).inverted_cells.tolist() == [1]
    with pytest.raises(MeshError, match=r"1 inverted tetrahedra.*cell ids \[1\]"):
        validate_mesh(mesh)


def test_zero_volume_tet_is_degenerate_not_inverted(two_tets):
    # node 4 on the plane x + y + z = 1 of nodes 1, 2, 3
    points = two_tets.points.copy()
    points[4] = [0.5, 0.25, 0.25]
    report = check_mesh(_with(two_tets, points=points))

    assert report.zero_volume_cells.tolist() == [1]
    assert report.inverted_cells.size == 0
    with pytest.raises(MeshError, match=r"zero-volume.*cell ids \[1\]"):
        validate_mesh(_with(two_tets, points=points))


def test_orphan_node_is_named(two_tets):
    points = np.vstack([two_tets.points, [[2.0, 2.0, 2.0]]])
    mesh = _with(two_tets, points=points)

    with pytest.raises(MeshError, match=r"orphan nodes.*node ids \[5\]"):
        validate_mesh(mesh)


def test_coincident_nodes_are_named_as_a_pair(two_tets):
    # node 5 duplicates node 3 and replaces it in the second tet
    points = np.vstack([two_tets.points, two_tets.points[3] + 1e-9])
    cells = np.array([[0, 1, 2, 3], [1, 2, 5, 4]])
    mesh = _with(two_tets, points=points, cells=cells)

    assert check_mesh(mesh).coincident_pairs.tolist() == [[3, 5]]
    with pytest.raises(MeshError, match=r"coincident nodes: node ids \[\(3, 5\)\]"):
        validate_mesh(mesh)


def test_non_finite_coordinates_are_named(two_tets):
    points = two_tets.points.copy()
    points[4, 2] = np.nan

    with pytest.raises(MeshError, match=r"non-finite.*node ids \[4\]"):
        validate_mesh(_with(two_tets, points=points))


@pytest.mark.parametrize(
    ("scale", "unit", "fix"),
    [(1e-3, "metres", "multiply"), (1e3, "micrometres", "divide")],
)
def test_wrong_unit_is_named_never_rescaled(two_tets, scale, unit, fix):
    mesh = _with(two_tets, points=two_tets.points * scale)

    with pytest.raises(UnitsError, match=rf"look like {unit}.*{fix} the points"):
        validate_mesh(mesh)
    np.testing.assert_array_equal(mesh.points, two_tets.points * scale)


def test_unit_range_is_a_parameter(two_tets):
    mesh = _with(two_tets, points=two_tets.points * 1e-3)

    validate_mesh(mesh, edge_range_mm=(1e-4, 50.0))


def test_report_lists_every_class_validate_raises_the_first(two_tets):
    cells = two_tets.cells[:, [0, 2, 1, 3]]
    points = np.vstack([two_tets.points, [[3.0, 3.0, 3.0]]])
    report = check_mesh(_with(two_tets, points=points, cells=cells))

    assert report.inverted_cells.tolist() == [0, 1]
    assert report.orphan_nodes.tolist() == [5]
    assert [err for err, _ in report.problems()] == [MeshError, MeshError]
    with pytest.raises(MeshError, match="inverted"):
        validate_mesh(_with(two_tets, points=points, cells=cells))


def test_many_ids_are_summarised(two_tets):
    points = np.vstack(
        [two_tets.points, np.full((12, 3), 5.0) + np.arange(12)[:, None]]
    )

    with pytest.raises(MeshError, match=r"\[5, 6, .*, 14\] and 2 more \(12 in all\)"):
        validate_mesh(_with(two_tets, points=points))


def test_nan_in_a_field_names_field_and_ids(two_tets):
    t_act_ms = two_tets.point_data["t_act_ms"].copy()
    t_act_ms[2] = np.nan
    mesh = two_tets.with_fields(point_data={"t_act_ms": t_act_ms})

    with pytest.raises(FieldError, match=r"'t_act_ms'.*node ids \[2\]"):
        validate_mesh(mesh)
    with pytest.raises(FieldError, match=r"point field 't_act_ms'.*node ids \[2\]"):
        check_finite_field(mesh, "t_act_ms", "point")
    check_finite_field(mesh, "region", "cell")


def test_missing_field_lists_those_present(two_tets):
    with pytest.raises(FieldError, match=r"no cell field 'sheet'.*'fibre', 'region'"):
        check_finite_field(two_tets, "sheet", "cell")


def test_nan_fibre_names_the_cell(two_tets):
    fibre = two_tets.cell_data["fibre"].copy()
    fibre[1, 0] = np.nan

    with pytest.raises(FieldError, match=r"'fibre' is not finite.*cell ids \[1\]"):
        check_unit_vectors(fibre, "fibre")


@pytest.mark.parametrize(
    ("row", "message"),
    [([0.0, 0.0, 0.0], r"zero-length.*cell ids \[0\]"), ([2.0, 0, 0], "normalise")],
)
def test_bad_fibre_rows_name_the_cell(two_tets, row, message):
    fibre = two_tets.cell_data["fibre"].copy()
    fibre[0] = row

    with pytest.raises(FieldError, match=message):
        check_unit_vectors(fibre, "fibre")
    check_unit_vectors(two_tets.cell_data["fibre"], "fibre")


def test_fibre_shape_is_checked():
    with pytest.raises(FieldError, match=r"shape \(n_cells, 3\), got \(4,\)"):
        check_unit_vectors(np.ones(4), "fibre")


def test_format_ids_short_and_long():
    assert format_ids(np.array([3, 1])) == "[3, 1]"
    assert format_ids(list(range(11)), limit=2) == "[0, 1] and 9 more (11 in all)"


def test_heart_size_passes_the_shipped_shapes(rodero_mesh):
    from simulators.mesh.parametric import lv_ellipsoid
    from simulators.mesh.validate import HEART_SIZE_MM, check_heart_size

    small = dict(n_circ=12, n_long=6, n_trans=2)
    sizes = [
        check_heart_size(rodero_mesh),
        check_heart_size(lv_ellipsoid("human", **small)),
        check_heart_size(lv_ellipsoid("land2015", **small)),  # about 38 mm
    ]
    assert all(HEART_SIZE_MM[0] <= d <= HEART_SIZE_MM[1] for d in sizes)


def test_heart_in_centimetres_is_refused_with_the_factor(tmp_path):
    from simulators.hearts import load_mesh
    from simulators.mesh.io import write_vtu
    from simulators.mesh.parametric import lv_ellipsoid

    mm = lv_ellipsoid("human", n_circ=12, n_long=6, n_trans=2)
    write_vtu(TetMesh(mm.points / 10.0, mm.cells), tmp_path / "cm.vtu")
    with pytest.raises(UnitsError, match="multiply the points by 10 "):
        load_mesh(tmp_path / "cm.vtu")
