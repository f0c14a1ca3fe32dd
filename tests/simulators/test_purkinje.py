"""Purkinje trees: the VTP reader, tree timing, coupling and physiology."""

import base64
import zlib

import numpy as np
import pytest

from simulators.ep.protocols import PacingPlan
from simulators.ep.purkinje import PurkinjeTree, load_rodero_purkinje, terminal_sources
from simulators.errors import MeshError
from simulators.mesh.vtp import read_vtp_lines

PTS = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [1, 1, 0]], dtype=float)


def _vtp(path, encode):
    conn = np.array([0, 1, 2, 1, 3], dtype=np.int64)
    offsets = np.array([3, 5], dtype=np.int64)
    head = (
        '<?xml version="1.0"?><VTKFile type="PolyData" byte_order="LittleEndian" '
        f'header_type="UInt32"{encode["compressor"]}><PolyData>'
        '<Piece NumberOfPoints="4" NumberOfLines="2">'
    )
    body = (
        f'<Points><DataArray type="Float64" NumberOfComponents="3" '
        f'format="{encode["fmt"]}">{encode["data"](PTS.ravel())}</DataArray></Points>'
        f'<Lines><DataArray type="Int64" Name="connectivity" format="{encode["fmt"]}">'
        f'{encode["data"](conn)}</DataArray><DataArray type="Int64" Name="offsets" '
        f'format="{encode["fmt"]}">{encode["data"](offsets)}</DataArray></Lines>'
    )
    path.write_text(head + body + "</Piece></PolyData></VTKFile>")
    return path


def _zlib(arr):
    raw = arr.tobytes()
    comp = zlib.compress(raw)
    header = np.array([1, len(raw), len(raw), len(comp)], dtype="<u4").tobytes()
    return base64.b64encode(header).decode() + base64.b64encode(comp).decode()


ENCODINGS = {
    "ascii": {
        "compressor": "",
        "fmt": "ascii",
        "data": lambda a: " ".join(map(str, a)),
    },
    "zlib": {
        "compressor": ' compressor="vtkZLibDataCompressor"',
        "fmt": "binary",
        "data": _zlib,
    },
}


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_vtp_reader_splits_polylines(tmp_path, kind):
    points, segments, _ = read_vtp_lines(_vtp(tmp_path / "t.vtp", ENCODINGS[kind]))
    np.testing.assert_array_equal(points, PTS)
    assert segments.tolist() == [[0, 1], [1, 2], [1, 3]]


def test_vtp_reader_refuses_other_files(tmp_path):
    bad = tmp_path / "bad.vtp"
    bad.write_text("<VTKFile type='UnstructuredGrid'/>")
    with pytest.raises(MeshError, match="expected PolyData"):
        read_vtp_lines(bad)


def test_terminal_times_are_path_length_over_speed_plus_delay():
    tree = PurkinjeTree(PTS, np.array([[0, 1], [1, 2], [1, 3]]), root=0)
    mesh_points = PTS + np.array([0, 0, 0.5])
    nodes, times = terminal_sources(
        tree, mesh_points, np.arange(4), v_purkinje=2.0, pmj_delay_ms=5.0, onset_ms=1.0
    )
    # terminals 2 and 3 lie 2 mm along the tree: 1 + 2 / 2 + 5 = 7 ms
    assert nodes.tolist() == [2, 3]
    np.testing.assert_allclose(times, [7.0, 7.0])


def test_a_disconnected_tree_is_refused():
    with pytest.raises(MeshError, match="2 parts"):
        PurkinjeTree(PTS, np.array([[0, 1], [2, 3]]))


def test_real_trees_drive_physiological_activation(rodero_mesh, rodero_heart):
    from simulators.ep.ventricles import Ventricles

    trees = {side: load_rodero_purkinje(side) for side in ("left", "right")}
    assert len(trees["left"].points) == 3193 and len(trees["right"].points) == 3654
    heart = Ventricles(rodero_mesh, rodero_heart.fibres, purkinje=trees)
    sinus = heart.activate(PacingPlan("sinus", system="purkinje"))
    lbbb = heart.activate(PacingPlan("lbbb", system="purkinje"))
    qrs_sinus, qrs_lbbb = heart.ecg(sinus).qrs_ms, heart.ecg(lbbb).qrs_ms
    # pass bands of tests/simulators/test_physiology.py
    assert 65.0 <= qrs_sinus <= 110.0
    assert qrs_lbbb >= 130.0 and qrs_lbbb >= 1.4 * qrs_sinus
