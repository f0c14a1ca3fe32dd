"""openCARP, Gmsh and XDMF meshes: round trips, units and refused input."""

from __future__ import annotations

import meshio
import numpy as np
import pytest

from simulators.errors import FieldError, MeshError
from simulators.mesh import io as mesh_io
from simulators.mesh.io import read_mesh, write_mesh
from simulators.mesh.opencarp import read_opencarp, write_opencarp
from simulators.mesh.tetmesh import TetMesh

# two tets on the points of the `two_tets` fixture, coordinates in µm
PTS_UM = "5\n0 0 0\n1000 0 0\n0 1000 0\n0 0 1000\n1000 1000 1000\n"
ELEM = "2\nTt 0 1 2 3 1\nTt 1 2 3 4 2\n"


def _write(tmp_path, pts=PTS_UM, elem=ELEM, lon=None):
    """Write the text files of mesh ``m`` and return its basename."""
    base = tmp_path / "m"
    (tmp_path / "m.pts").write_text(pts)
    (tmp_path / "m.elem").write_text(elem)
    if lon is not None:
        (tmp_path / "m.lon").write_text(lon)
    return base


# --- openCARP ---------------------------------------------------------------


def test_points_are_converted_from_micrometres_once(two_tets, tmp_path):
    mesh = read_opencarp(_write(tmp_path))

    np.testing.assert_array_equal(mesh.points, two_tets.points)
    np.testing.assert_array_equal(mesh.cells, two_tets.cells)
    assert mesh.cell_data["region"].tolist() == [1, 2]
    assert mesh.cell_data["region"].dtype == np.int32
    assert mesh.meta["units"] == "mm"


def test_round_trip_keeps_points_regions_fibres_and_sheets(two_tets, tmp_path):
    sheets = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    written = write_opencarp(two_tets, tmp_path / "two", sheets=sheets)
    back = read_opencarp(tmp_path / "two.pts")

    assert [p.name for p in written] == ["two.pts", "two.elem", "two.lon"]
    assert (tmp_path / "two.lon").read_text().splitlines()[0] == "2"
    assert (tmp_path / "two.pts").read_text().splitlines()[2].split()[0] == (
        "1000.000000"
    )
    # 6 decimals in µm: 1e-9 mm
    np.testing.assert_allclose(back.points, two_tets.points, atol=1e-9)
    np.testing.assert_array_equal(back.cells, two_tets.cells)
    np.testing.assert_array_equal(back.cell_data["region"], [1, 2])
    np.testing.assert_allclose(back.cell_data["fibre"], two_tets.cell_data["fibre"])
    np.testing.assert_allclose(back.cell_data["sheet"], sheets)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "two.elem",
        "two.lon",
        "two.pts",
    ]


def test_fibre_only_lon_and_headerless_lon(tmp_path):
    with_header = read_opencarp(_write(tmp_path, lon="1\n1 0 0\n0 1 0\n"))
    no_header = read_opencarp(_write(tmp_path, lon="1 0 0\n0 1 0\n"))

    for mesh in (with_header, no_header):
        assert sorted(mesh.cell_data) == ["fibre", "region"]
        assert mesh.cell_data["fibre"].tolist() == [[1, 0, 0], [0, 1, 0]]


def test_elements_without_region_have_no_region_field(tmp_path):
    mesh = read_opencarp(_write(tmp_path, elem="2\nTt 0 1 2 3\nTt 1 2 3 4\n"))

    assert mesh.cell_data == {}


@pytest.mark.parametrize(
    ("pts", "elem", "message"),
    [
        ("6" + PTS_UM[1:], ELEM, r"m\.pts'.*header says 6 points.*holds 5 lines"),
        (PTS_UM, "3\n" + ELEM[2:], r"m\.elem'.*header says 3 elements.*holds 2"),
        (PTS_UM, ELEM + "Tt 0 1 2 4 1\n", r"header says 2 elements.*holds 3 lines"),
        (PTS_UM.replace("1000 1000 1000", "1 1"), ELEM, r"line 6: expected 3"),
        (PTS_UM.replace("0 0 1000", "0 0 x"), ELEM, r"line 5: not a number"),
        (PTS_UM, "2\nTt 0 1 2 3 1\nTt 1 2 3 4\n", r"line 3: expected 4 or 5"),
        (PTS_UM, "2\nTt 0 1 2 3 1\nTt 1 2 3 5 2\n", r"line 3: node ids \[1, 2, 3, 5"),
        ("x\n0 0 0\n", ELEM, r"line 1: expected the number of points"),
    ],
)
def test_malformed_files_name_file_line_and_both_sides(tmp_path, pts, elem, message):
    with pytest.raises(MeshError, match=message):
        read_opencarp(_write(tmp_path, pts=pts, elem=elem))


def test_non_tet_elements_are_refused_naming_type_and_line(tmp_path):
    elem = "3\nTt 0 1 2 3 1\nTr 0 1 2 1\nHx 0 1 2 3 4 0 1 2 1\n"

    with pytest.raises(
        MeshError, match=r"line 3: element type 'Tr' \(3-node element\).*2 of 3"
    ):
        read_opencarp(_write(tmp_path, elem=elem))


@pytest.mark.parametrize(
    ("lon", "message"),
    [
        ("1\n1 0 0\n", r"holds 1 rows of directions.*has 2 elements"),
        ("2\n1 0 0\n0 1 0\n", r"m\.lon' line 2: expected 6 numbers"),
        ("3\n1 0 0\n0 1 0\n", r"line 1: expected 1 \(fibres\) or 2"),
    ],
)
def test_bad_lon_names_both_counts(tmp_path, lon, message):
    with pytest.raises((FieldError, MeshError), match=message):
        read_opencarp(_write(tmp_path, lon=lon))


def test_missing_files_are_named(tmp_path):
    (tmp_path / "m.pts").write_text(PTS_UM)

    with pytest.raises(FileNotFoundError, match=r"elements file.*m\.elem"):
        read_opencarp(tmp_path / "m")


def test_write_checks_fibres_and_regions(two_tets, tmp_path):
    with pytest.raises(FieldError, match=r"\(n_cells, 3\) = \(2, 3\).*got \(3, 3\)"):
        write_opencarp(two_tets, tmp_path / "a", fibres=np.eye(3))
    plain = TetMesh(two_tets.points, two_tets.cells)
    with pytest.raises(FieldError, match="sheets need fibres"):
        write_opencarp(plain, tmp_path / "a", sheets=np.eye(2, 3))
    halves = two_tets.with_fields(cell_data={"region": np.array([1.5, 2.0])})
    with pytest.raises(FieldError, match="one integer per cell"):
        write_opencarp(halves, tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


def test_write_without_fibres_warns_and_removes_a_stale_lon(two_tets, tmp_path):
    write_opencarp(two_tets, tmp_path / "m")
    plain = TetMesh(two_tets.points, two_tets.cells)

    with pytest.warns(UserWarning, match=r"m\.lon was not written.*fibres="):
        written = write_opencarp(plain, tmp_path / "m")

    assert [p.name for p in written] == ["m.pts", "m.elem"]
    assert not (tmp_path / "m.lon").exists()
    assert read_opencarp(tmp_path / "m").cell_data == {}


def test_interrupted_write_keeps_the_previous_files(two_tets, tmp_path, monkeypatch):
    write_opencarp(two_tets, tmp_path / "m")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def die(*args, **kwargs):
        raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(mesh_io.os, "replace", die)
    moved = two_tets.with_fields(cell_data={"region": np.array([7, 8])})
    with pytest.raises(KeyboardInterrupt):
        write_opencarp(moved, tmp_path / "m")

    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_read_and_write_mesh_dispatch_to_opencarp(two_tets, tmp_path):
    written = write_mesh(two_tets, tmp_path / "two.pts")
    by_suffix = read_mesh(tmp_path / "two.elem")
    by_basename = read_mesh(tmp_path / "two")

    assert len(written) == 3
    for mesh in (by_suffix, by_basename):
        np.testing.assert_allclose(mesh.points, two_tets.points, atol=1e-9)


# --- Gmsh, XDMF, legacy VTK and the writer's refusals ----------------------


@pytest.mark.parametrize("binary", [False, True])
def test_gmsh22_physical_groups_become_regions(two_tets, tmp_path, binary):
    raw = meshio.Mesh(
        two_tets.points,
        [("triangle", np.array([[0, 1, 2]])), ("tetra", two_tets.cells)],
        cell_data={
            "gmsh:physical": [np.array([9]), np.array([1, 2])],
            "gmsh:geometrical": [np.array([1]), np.array([1, 1])],
        },
        field_data={"lv": np.array([1, 3]), "rv": np.array([2, 3]), "b": [9, 2]},
    )
    path = tmp_path / "two.msh"
    meshio.write(path, raw, file_format="gmsh22", binary=binary)
    mesh = read_mesh(path)

    np.testing.assert_array_equal(mesh.points, two_tets.points)
    np.testing.assert_array_equal(mesh.cells, two_tets.cells)
    assert mesh.cell_data["region"].tolist() == [1, 2]
    assert "gmsh:physical" not in mesh.cell_data
    assert mesh.meta["region_names"] == {"lv": 1, "rv": 2}


# Gmsh 4.1 as gmsh writes it: physical groups sit on the volume entities
# (meshio's own 4.1 writer does not record them)
MSH41 = """$MeshFormat
4.1 0 8
$EndMeshFormat
$PhysicalNames
2
3 1 "lv"
3 2 "rv"
$EndPhysicalNames
$Entities
0 0 0 2
1 0 0 0 1 1 1 1 1 0
2 0 0 0 1 1 1 1 2 0
$EndEntities
$Nodes
2 5 1 5
3 1 0 3
1
2
3
0 0 0
1 0 0
0 1 0
3 2 0 2
4
5
0 0 1
1 1 1
$EndNodes
$Elements
2 2 1 2
3 1 4 1
1 1 2 3 4
3 2 4 1
2 2 3 4 5
$EndElements
"""


def test_gmsh41_ascii_with_entities_gives_regions(two_tets, tmp_path):
    path = tmp_path / "two.msh"
    path.write_text(MSH41)
    mesh = read_mesh(path)

    np.testing.assert_array_equal(mesh.points, two_tets.points)
    np.testing.assert_array_equal(mesh.cells, two_tets.cells)
    assert mesh.cell_data["region"].tolist() == [1, 2]
    assert mesh.meta["region_names"] == {"lv": 1, "rv": 2}
    assert "gmsh:dim_tags" not in mesh.point_data


def test_gmsh41_binary_reads_points_cells_and_fields(two_tets, tmp_path):
    raw = meshio.Mesh(
        two_tets.points,
        [("tetra", two_tets.cells)],
        point_data={"t_act_ms": two_tets.point_data["t_act_ms"]},
    )
    path = tmp_path / "two.msh"
    meshio.write(path, raw, file_format="gmsh", binary=True)
    mesh = read_mesh(path)

    np.testing.assert_array_equal(mesh.points, two_tets.points)
    np.testing.assert_array_equal(mesh.cells, two_tets.cells)
    np.testing.assert_array_equal(mesh.point_data["t_act_ms"], np.arange(5.0))


def test_xdmf_keeps_point_and_cell_fields_apart(two_tets, tmp_path):
    # meshio's XDMF reader and writer need h5py, which twinml does not require
    pytest.importorskip("h5py")
    raw = meshio.Mesh(
        two_tets.points,
        [("tetra", two_tets.cells)],
        point_data={"t_act_ms": two_tets.point_data["t_act_ms"]},
        cell_data={"region": [two_tets.cell_data["region"]]},
    )
    path = tmp_path / "two.xdmf"
    meshio.write(path, raw)
    mesh = read_mesh(path)

    np.testing.assert_array_equal(mesh.points, two_tets.points)
    np.testing.assert_array_equal(mesh.cells, two_tets.cells)
    assert list(mesh.point_data) == ["t_act_ms"]
    assert mesh.cell_data["region"].tolist() == [1, 2]


XDMF_XML = """<?xml version="1.0"?>
<Xdmf Version="3.0"><Domain><Grid Name="mesh" GridType="Uniform">
<Geometry GeometryType="XYZ">
<DataItem DataType="Float" Dimensions="5 3" Format="XML" Precision="8">
0 0 0 1 0 0 0 1 0 0 0 1 1 1 1</DataItem></Geometry>
<Topology TopologyType="Tetrahedron" NumberOfElements="2">
<DataItem DataType="Int" Dimensions="2 4" Format="XML" Precision="8">
0 1 2 3 1 2 3 4</DataItem></Topology>
<Attribute Name="region" AttributeType="Scalar" Center="Cell">
<DataItem DataType="Int" Dimensions="2" Format="XML" Precision="4">
1 2</DataItem></Attribute>
</Grid></Domain></Xdmf>
"""


def test_xdmf_with_inline_xml_data(two_tets, tmp_path):
    path = tmp_path / "two.xdmf"
    path.write_text(XDMF_XML)
    try:
        import h5py  # noqa: F401
    except ModuleNotFoundError:
        # meshio imports h5py even for inline data: the error says so
        with pytest.raises(MeshError, match=r"needs the package 'h5py'"):
            read_mesh(path)
        return
    mesh = read_mesh(path)

    np.testing.assert_array_equal(mesh.cells, two_tets.cells)
    assert mesh.cell_data["region"].tolist() == [1, 2]


def test_legacy_vtk_written_here_reads_back_natively(two_tets, tmp_path):
    write_mesh(two_tets, tmp_path / "two.vtk")
    mesh = read_mesh(tmp_path / "two.vtk")

    np.testing.assert_array_equal(mesh.points, two_tets.points)
    assert mesh.points.dtype.isnative and mesh.cells.dtype.isnative
    assert mesh.point_data["surface_apex"].dtype == bool
    assert mesh.cell_data["region"].dtype.isnative


@pytest.mark.parametrize(
    ("name", "message"),
    [("two.msh", r"reads \.msh files but does not write"), ("two.stl", "unknown")],
)
def test_write_mesh_refuses_formats_it_does_not_write(
    two_tets, tmp_path, name, message
):
    with pytest.raises(MeshError, match=message):
        write_mesh(two_tets, tmp_path / name)
