"""Mesh checker (slivers, parts) and repair, on small meshes with known defects."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.errors import MeshError
from simulators.mesh.quality import connected_parts, tet_min_dihedral_deg
from simulators.mesh.repair import repair_mesh
from simulators.mesh.structured import unit_cube_mesh
from simulators.mesh.tetmesh import TetMesh
from simulators.mesh.validate import MeshQualityWarning, check_mesh, validate_mesh


def _positive(points: np.ndarray, cells: np.ndarray) -> TetMesh:
    """A mesh whose cells are reordered to positive volume."""
    mesh = TetMesh(points, cells)
    flip = mesh.signed_volumes() < 0
    cells = mesh.cells.copy()
    cells[flip] = cells[flip][:, [0, 2, 1, 3]]
    return TetMesh(points, cells)


def _with_sliver(h: float) -> TetMesh:
    """A good tet and, on its base, a sliver of height `h` mm.

    The sliver's corners are the four corners of a unit square (edges 1 to
    1.4 mm) with one diagonal lifted by h, so two dihedral angles tend to 0.
    """
    points = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, h], [0.3, 0.3, -1.0]], dtype=float
    )
    return _positive(points, np.array([[0, 1, 2, 4], [0, 1, 2, 3]]))


# --- checker: quality and connectivity --------------------------------------


def test_dihedral_angles_of_known_tets():
    regular = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    cube = unit_cube_mesh(1)

    # regular: arccos(1/3); Kuhn cube tets: 45 deg at their diagonal edges
    np.testing.assert_allclose(tet_min_dihedral_deg(regular[None]), 70.528779, 1e-6)
    np.testing.assert_allclose(tet_min_dihedral_deg(cube.points[cube.cells]), 45.0)


def test_sliver_is_reported_with_threshold_and_worst_angle():
    report = check_mesh(_with_sliver(h=0.01))

    assert report.ok
    assert report.sliver_cells.tolist() == [1]
    assert report.min_dihedral_deg < 1.0
    ((error, message),) = report.quality()
    assert error is MeshError
    assert "1 sliver tetrahedra" in message and "below 5 deg" in message
    assert check_mesh(_with_sliver(h=0.5)).clean


def test_sliver_threshold_is_a_parameter():
    mesh = _with_sliver(h=0.01)
    angle = check_mesh(mesh).min_dihedral_deg

    assert check_mesh(mesh, sliver_min_dihedral_deg=angle / 2).clean


def test_disconnected_parts_are_counted_by_size(two_tets):
    points = np.vstack([two_tets.points, np.vstack([np.zeros(3), np.eye(3)]) + 9.0])
    cells = np.vstack([[5, 6, 7, 8], two_tets.cells])
    mesh = TetMesh(points, cells)
    report = check_mesh(mesh)

    assert connected_parts(mesh).tolist() == [1, 0, 0]
    assert report.part_sizes.tolist() == [2, 1]
    assert report.minor_part_cells.tolist() == [0]
    assert report.ok and not report.clean
    assert "2 disconnected parts" in report.quality()[0][1]


def test_validate_warns_on_quality_and_raises_when_strict(two_tets):
    mesh = _with_sliver(h=0.01)

    with pytest.warns(MeshQualityWarning, match="sliver"):
        validate_mesh(mesh)
    with pytest.raises(MeshError, match=r"sliver tetrahedra.*cell ids \[1\]"):
        validate_mesh(mesh, strict=True)
    validate_mesh(two_tets, strict=True)


def test_findings_carry_kind_count_ids_and_location(two_tets):
    points = np.vstack([two_tets.points, [[3.0, 3.0, 3.0]]])
    cells = two_tets.cells[:, [0, 2, 1, 3]]
    findings = check_mesh(TetMesh(points, cells)).findings()

    summary = [(f.kind, f.severity, f.count, f.location) for f in findings]
    assert summary == [
        ("inverted_cells", "error", 2, "cell"),
        ("orphan_nodes", "error", 1, "node"),
    ]
    assert findings[1].ids.tolist() == [5]


# --- repair -----------------------------------------------------------------


def test_clean_mesh_is_left_as_it_is(two_tets):
    fixed, old_to_new, report = repair_mesh(two_tets)

    assert not report.changed and report.lines() == []
    np.testing.assert_array_equal(old_to_new, np.arange(5))
    np.testing.assert_array_equal(fixed.points, two_tets.points)
    np.testing.assert_array_equal(fixed.cells, two_tets.cells)
    np.testing.assert_array_equal(fixed.cell_data["fibre"], two_tets.cell_data["fibre"])


def test_inverted_tets_are_flipped_fields_untouched(two_tets):
    cells = two_tets.cells.copy()
    cells[1] = cells[1, [0, 2, 1, 3]]
    mesh = TetMesh(two_tets.points, cells, cell_data=two_tets.cell_data)
    fixed, old_to_new, report = repair_mesh(mesh)

    assert report.flipped_cells.tolist() == [1]
    assert (fixed.signed_volumes() > 0).all()
    np.testing.assert_allclose(fixed.signed_volumes(), two_tets.signed_volumes())
    np.testing.assert_array_equal(fixed.cell_data["fibre"], two_tets.cell_data["fibre"])
    np.testing.assert_array_equal(old_to_new, np.arange(5))


def test_merge_and_orphan_removal_keep_fields_aligned(two_tets):
    # node 0 is an orphan; 1..5 are the fixture's 0..4; node 6 duplicates
    # node 4 (the fixture's 3) within 1e-9 mm and replaces it in cell 1
    points = np.vstack([[[7.0, 7.0, 7.0]], two_tets.points, two_tets.points[3] + 1e-9])
    cells = np.array([[1, 2, 3, 4], [2, 3, 6, 5]])
    t_act_ms = np.array([100.0, 0, 1, 2, 3, 4, 33])
    apex = np.array([False, True, False, False, False, False, True])
    mesh = TetMesh(
        points,
        cells,
        point_data={"t_act_ms": t_act_ms, "surface_apex": apex},
        cell_data=two_tets.cell_data,
    )
    fixed, old_to_new, report = repair_mesh(mesh)

    assert old_to_new.shape == (7,)
    assert old_to_new.tolist() == [-1, 0, 1, 2, 3, 4, 3]
    assert report.merged_nodes.tolist() == [[6, 4]]
    assert report.removed_nodes.tolist() == [0]
    np.testing.assert_array_equal(fixed.points, two_tets.points)
    np.testing.assert_array_equal(fixed.cells, two_tets.cells)

    # point fields from the first (lowest) id of each merged group
    assert fixed.point_data["t_act_ms"].tolist() == [0, 1, 2, 3, 4]
    assert fixed.point_data["surface_apex"].tolist() == [1, 0, 0, 0, 0]
    for name, arr in mesh.cell_data.items():
        np.testing.assert_array_equal(fixed.cell_data[name], arr)

    # through the map, node 6 reads the value of node 4 it merged into
    kept = old_to_new >= 0
    new_values = fixed.point_data["t_act_ms"][old_to_new[kept]]
    assert new_values.tolist() == [0, 1, 2, 3, 4, 3]
    assert check_mesh(fixed).clean


def test_zero_volume_tets_are_dropped_with_their_cell_fields(two_tets):
    # cell 1 is flat (node 5 on the face 0-1-2); cell 2 collapses when
    # node 6 merges into node 3
    points = np.vstack([two_tets.points, [[0.5, 0.5, 0.0]], two_tets.points[3]])
    cells = np.vstack(
        [two_tets.cells[:1], [[0, 1, 2, 5]], [[0, 1, 3, 6]], [[1, 2, 3, 4]]]
    )
    region = np.array([1, 8, 9, 2], dtype=np.int32)
    mesh = TetMesh(points, cells, cell_data={"region": region})
    fixed, old_to_new, report = repair_mesh(mesh)

    assert report.dropped_cells.tolist() == [1, 2]
    assert report.kept_cells.tolist() == [0, 3]
    assert fixed.cell_data["region"].tolist() == [1, 2]
    assert old_to_new.tolist() == [0, 1, 2, 3, 4, -1, 3]
    assert "dropped 2 zero-volume tetrahedra: cell ids [1, 2]" in report.lines()
    assert fixed.meta["repair"] == {
        "merged_nodes": 1,
        "dropped_cells": 2,
        "flipped_cells": 0,
        "removed_nodes": 1,
    }


def test_merging_is_transitive_within_the_tolerance(two_tets):
    # 5 and 6 sit 0.6 tol from node 0 and from each other in a chain
    tol = 1e-6
    points = np.vstack([two_tets.points, [[0.6e-6, 0, 0], [1.2e-6, 0, 0]]])
    mesh = TetMesh(points, two_tets.cells)
    _, old_to_new, report = repair_mesh(mesh, merge_tol_mm=tol)

    assert report.merged_nodes.tolist() == [[5, 0], [6, 0]]
    assert old_to_new.tolist() == [0, 1, 2, 3, 4, 0, 0]


def test_what_cannot_be_repaired_is_refused(two_tets):
    points = two_tets.points.copy()
    points[4] = np.nan
    with pytest.raises(MeshError, match=r"non-finite.*node ids \[4\]"):
        repair_mesh(TetMesh(points, two_tets.cells))

    flat = np.vstack([np.zeros(3), np.eye(3) * [1, 1, 0]])
    with pytest.raises(MeshError, match="all 1 tetrahedra have zero volume"):
        repair_mesh(TetMesh(flat, [[0, 1, 2, 3]]))


def test_non_finite_orphans_are_simply_removed(two_tets):
    points = np.vstack([two_tets.points, [[np.nan, 0, 0]]])
    fixed, old_to_new, _ = repair_mesh(TetMesh(points, two_tets.cells))

    assert fixed.n_points == 5 and old_to_new[-1] == -1
