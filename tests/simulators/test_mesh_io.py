"""Mesh I/O: VTU round trips, other formats, and the atomic writer."""

from __future__ import annotations

import meshio
import numpy as np
import pytest

from simulators.errors import FieldError, MeshError
from simulators.mesh import io as mesh_io
from simulators.mesh.io import read_mesh, write_vtu
from simulators.mesh.tetmesh import TetMesh


def _assert_same(a: TetMesh, b: TetMesh) -> None:
    """Points, cells, fields (values and dtypes) and meta are equal."""
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.cells, b.cells)
    for mine, theirs in ((a.point_data, b.point_data), (a.cell_data, b.cell_data)):
        assert sorted(mine) == sorted(theirs)
        for name in mine:
            assert mine[name].dtype == theirs[name].dtype, name
            np.testing.assert_array_equal(mine[name], theirs[name])
    assert a.meta == b.meta


def test_vtu_round_trip_keeps_fields_node_sets_and_meta(two_tets, tmp_path):
    meta = {"name": "two", "axes": {"long": [[0.0, 1.0, 2.0], [0, 0, 1]]}, "n": 3}
    mesh = two_tets.with_fields(meta=meta)
    path = tmp_path / "two.vtu"

    write_vtu(mesh, path)
    back = read_mesh(path)

    _assert_same(mesh, back)
    assert back.point_data["surface_apex"].dtype == bool
    assert [p.name for p in tmp_path.iterdir()] == ["two.vtu"]


def test_vtu_without_meta_reads_empty_meta(two_tets, tmp_path):
    path = tmp_path / "plain.vtu"
    meshio.write(path, meshio.Mesh(two_tets.points, [("tetra", two_tets.cells)]))

    assert read_mesh(path).meta == {}


def test_legacy_vtk_comes_back_in_native_byte_order(two_tets, tmp_path):
    # legacy binary VTK is big-endian on disk
    path = tmp_path / "two.vtk"
    raw = meshio.Mesh(
        two_tets.points,
        [("tetra", two_tets.cells)],
        point_data={"t_act_ms": two_tets.point_data["t_act_ms"]},
        cell_data={"region": [two_tets.cell_data["region"]]},
    )
    meshio.write(path, raw, binary=True)
    mesh = read_mesh(path)

    for arr in (mesh.points, mesh.cells, *mesh.point_data.values()):
        assert arr.dtype.isnative
    assert mesh.cell_data["region"].dtype.isnative
    np.testing.assert_array_equal(mesh.points, two_tets.points)
    np.testing.assert_array_equal(mesh.point_data["t_act_ms"], np.arange(5.0))


def test_tetra_blocks_are_concatenated_and_others_dropped(two_tets, tmp_path):
    path = tmp_path / "blocks.vtu"
    tets = two_tets.cells
    raw = meshio.Mesh(
        two_tets.points,
        [("tetra", tets[:1]), ("triangle", np.array([[0, 1, 2]])), ("tetra", tets[1:])],
        cell_data={"region": [np.array([1]), np.array([9]), np.array([2])]},
    )
    meshio.write(path, raw)
    mesh = read_mesh(path)

    np.testing.assert_array_equal(mesh.cells, tets)
    assert mesh.cell_data["region"].tolist() == [1, 2]


def test_file_without_tets_is_a_mesh_error(tmp_path):
    path = tmp_path / "surface.vtu"
    meshio.write(path, meshio.Mesh(np.eye(3), [("triangle", np.array([[0, 1, 2]]))]))

    with pytest.raises(MeshError, match=r"no linear tetrahedra.*\['triangle'\]"):
        read_mesh(path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.vtu"):
        read_mesh(tmp_path / "nope.vtu")
    (tmp_path / "junk.vtu").write_text("not xml")
    with pytest.raises(MeshError, match="cannot read mesh"):
        read_mesh(tmp_path / "junk.vtu")


def test_node_set_with_values_other_than_0_1_is_refused(two_tets, tmp_path):
    path = tmp_path / "set.vtu"
    flags = np.array([0, 1, 2, 0, 0], dtype=np.uint8)
    raw = meshio.Mesh(
        two_tets.points, [("tetra", two_tets.cells)], point_data={"surface_x": flags}
    )
    meshio.write(path, raw)

    with pytest.raises(FieldError, match=r"'surface_x'.*nodes \[2\] hold \[2\]"):
        read_mesh(path)


def test_meta_that_is_not_json_is_refused_before_writing(two_tets, tmp_path):
    mesh = two_tets.with_fields(meta={"bad": np.float32(1.0)})

    with pytest.raises(MeshError, match="JSON-serialisable"):
        write_vtu(mesh, tmp_path / "bad.vtu")
    assert list(tmp_path.iterdir()) == []


def _interrupted_write(path, mesh, **kwargs):
    """Stand-in for meshio.write that dies halfway through the file."""
    with open(path, "wb") as f:
        f.write(b'<?xml version="1.0"?>\n<VTKFile type="Unstruc')
    raise KeyboardInterrupt("simulated interruption")


@pytest.mark.parametrize("existing", [True, False])
def test_interrupted_write_leaves_no_partial_file(
    two_tets, tmp_path, monkeypatch, existing
):
    path = tmp_path / "mesh.vtu"
    if existing:
        write_vtu(two_tets, path)
    before = path.read_bytes() if existing else None
    monkeypatch.setattr(mesh_io.meshio, "write", _interrupted_write)

    with pytest.raises(KeyboardInterrupt):
        write_vtu(two_tets.with_fields(meta={"new": True}), path)

    assert [p.name for p in tmp_path.iterdir()] == (["mesh.vtu"] if existing else [])
    if existing:
        assert path.read_bytes() == before
        monkeypatch.undo()
        _assert_same(read_mesh(path), two_tets)


def test_unique_pairs_is_the_sorted_distinct_rows():
    from simulators.mesh.tetmesh import unique_pairs

    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 40, size=(500, 2)).astype(np.int32)
    out = unique_pairs(pairs, 40)
    np.testing.assert_array_equal(out, np.unique(pairs, axis=0))
    assert out.dtype == np.int32
