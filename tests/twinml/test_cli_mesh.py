"""``twinml mesh make|check|convert`` through typer's test runner."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from simulators.mesh.io import read_mesh, write_vtu
from simulators.mesh.structured import unit_cube_mesh
from simulators.mesh.tetmesh import TetMesh
from twinml.cli_mesh import mesh_app

# the sub-app mounted as `twinml.cli` mounts it
app = typer.Typer()


@app.callback()
def _main() -> None:
    """Stand-in for the ``twinml`` command."""


app.add_typer(mesh_app, name="mesh")
runner = CliRunner()


def _run(*args: str):
    """Invoke ``twinml mesh ARGS``."""
    return runner.invoke(app, ["mesh", *map(str, args)])


@pytest.fixture
def broken(two_tets, tmp_path):
    """VTU of the fixture with cell 1 inverted, an orphan node 5 and node 6
    duplicating node 3 in cell 1."""
    points = np.vstack([two_tets.points, [[9.0, 9.0, 9.0]], two_tets.points[3]])
    cells = np.array([[0, 1, 2, 3], [2, 1, 6, 4]])
    t_act_ms = np.arange(7.0)
    mesh = TetMesh(
        points, cells, point_data={"t_act_ms": t_act_ms}, cell_data=two_tets.cell_data
    )
    path = tmp_path / "broken.vtu"
    write_vtu(mesh, path)
    return path


# --- check ------------------------------------------------------------------


def test_check_clean_mesh_exits_0(two_tets, tmp_path):
    write_vtu(two_tets, tmp_path / "two.vtu")
    result = _run("check", tmp_path / "two.vtu")

    assert result.exit_code == 0, result.output
    assert "5 points, 2 tets" in result.stdout and "clean" in result.stdout


def test_check_reports_problems_with_counts_and_ids(broken):
    result = _run("check", broken, "--json")
    report = json.loads(result.stdout)

    assert result.exit_code == 2
    kinds = {f["kind"]: (f["count"], f["ids"]) for f in report["findings"]}
    assert kinds == {
        "inverted_cells": (1, [1]),
        "orphan_nodes": (1, [5]),
        "coincident_nodes": (1, [[3, 6]]),
    }
    assert report["clean"] is False and report["fixed"] is None


def test_check_human_report_lists_each_problem(broken):
    result = _run("check", broken)

    assert result.exit_code == 2
    assert "3 problems" in result.stdout
    assert "1 inverted tetrahedra (negative signed volume): cell ids [1]" in (
        result.stdout
    )


def test_check_fix_writes_mesh_and_node_map(broken, tmp_path):
    out = tmp_path / "fixed" / "heart.vtu"
    result = _run("check", broken, "--fix", "-o", out)

    assert result.exit_code == 0, result.output
    assert "flipped 1 inverted tetrahedra" in result.stdout
    assert "merged 1 coincident nodes" in result.stdout
    assert "removed 1 orphan nodes" in result.stdout
    old_to_new = np.load(tmp_path / "fixed" / "heart.node_map.npy")
    assert old_to_new.tolist() == [0, 1, 2, 3, 4, -1, 3]

    fixed = read_mesh(out)
    assert fixed.n_points == 5 and (fixed.signed_volumes() > 0).all()
    assert fixed.point_data["t_act_ms"].tolist() == [0, 1, 2, 3, 4]
    assert fixed.cell_data["region"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--fix"], "--fix needs -o OUT"),
        (["-o", "x.vtu"], "add --fix or drop -o"),
    ],
)
def test_check_option_mistakes_exit_2(broken, args, reason):
    result = _run("check", broken, *args)

    assert result.exit_code == 2
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_missing_or_unreadable_input_exits_2(tmp_path):
    missing = _run("check", tmp_path / "nope.vtu")
    (tmp_path / "junk.vtu").write_text("not xml")
    junk = _run("check", tmp_path / "junk.vtu")

    assert missing.exit_code == 2 and "nope.vtu" in missing.stderr
    assert junk.exit_code == 2 and "cannot read mesh" in junk.stderr


# --- convert ----------------------------------------------------------------


def test_convert_vtu_to_opencarp_and_back_keeps_mm(two_tets, tmp_path):
    write_vtu(two_tets, tmp_path / "two.vtu")
    to_carp = _run("convert", tmp_path / "two.vtu", tmp_path / "carp" / "heart.pts")
    back = _run("convert", tmp_path / "carp" / "heart", tmp_path / "back.vtu")

    assert to_carp.exit_code == 0, to_carp.output
    assert back.exit_code == 0, back.output
    # the file holds µm, the mesh mm
    assert (tmp_path / "carp" / "heart.pts").read_text().split()[4] == "1000.000000"
    mesh = read_mesh(tmp_path / "back.vtu")
    np.testing.assert_allclose(mesh.points, two_tets.points, atol=1e-9)
    np.testing.assert_array_equal(mesh.cell_data["region"], [1, 2])
    np.testing.assert_allclose(mesh.cell_data["fibre"], two_tets.cell_data["fibre"])


def test_convert_to_opencarp_in_a_folder(two_tets, tmp_path):
    write_vtu(two_tets, tmp_path / "two.vtu")
    (tmp_path / "out").mkdir()
    result = _run("convert", tmp_path / "two.vtu", tmp_path / "out", "--to", "opencarp")

    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["two.elem", "two.lon", "two.pts"]


def test_convert_vtu_to_legacy_vtk_json(two_tets, tmp_path):
    write_vtu(two_tets, tmp_path / "two.vtu")
    result = _run(
        "convert", tmp_path / "two.vtu", tmp_path / "two", "--to", "vtk", "--json"
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["output"] == [str(tmp_path / "two.vtk")]
    assert report["cell_fields"] == ["fibre", "region"]
    np.testing.assert_array_equal(read_mesh(tmp_path / "two.vtk").cells, two_tets.cells)


@pytest.mark.parametrize(
    ("dst", "to", "reason"),
    [
        ("two.msh", None, r"reads \.msh files but does not write"),
        ("two.vtu", "vtk", "--to vtk but"),
        (".", None, "is a folder"),
    ],
)
def test_convert_refusals_exit_2(two_tets, tmp_path, dst, to, reason):
    write_vtu(two_tets, tmp_path / "two.vtu")
    args = ["convert", tmp_path / "two.vtu", tmp_path / dst]
    result = _run(*args, *(["--to", to] if to else []))

    assert result.exit_code == 2
    assert reason.replace("\\", "") in result.stderr


# --- make -------------------------------------------------------------------


def test_make_cube_default_and_box(tmp_path):
    cube = _run("make", "cube", "-o", tmp_path / "cube.vtu")
    sizes = ["-p", "lengths_mm=2,1,1", "-p", "shape=4,2,2"]
    box = _run("make", "cube", "-o", tmp_path / "box.vtu", *sizes, "--json")

    assert cube.exit_code == 0, cube.output
    assert read_mesh(tmp_path / "cube.vtu").n_points == 9**3
    assert box.exit_code == 0, box.output
    report = json.loads(box.stdout)
    assert report["n_cells"] == 6 * 16 and report["min_dihedral_deg"] > 5
    mesh = read_mesh(tmp_path / "box.vtu")
    np.testing.assert_allclose(mesh.points.max(0), [2.0, 1.0, 1.0])
    assert mesh.meta["made_by"]["params"]["shape"] == [4, 2, 2]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (["-p", "size=3"], "unknown parameters ['size']"),
        (["-p", "n=2", "-p", "shape=2"], "either n or ['shape']"),
        (["-p", "n"], "NAME=VALUE"),
        (["-p", "n=0"], "n must be an integer >= 1"),
    ],
)
def test_make_cube_bad_parameters_exit_2(tmp_path, params, reason):
    result = _run("make", "cube", "-o", tmp_path / "c.vtu", *params)

    assert result.exit_code == 2
    assert reason in result.stderr
    assert not (tmp_path / "c.vtu").exists()


def _fake_parametric(monkeypatch, calls):
    """Install a stand-in `simulators.mesh.parametric` recording its calls."""
    fake = types.ModuleType("simulators.mesh.parametric")

    def lv_ellipsoid(n: int = 2, wall_mm: float = 10.0) -> TetMesh:
        calls.append({"n": n, "wall_mm": wall_mm})
        return unit_cube_mesh(n)

    fake.lv_ellipsoid = lv_ellipsoid
    monkeypatch.setitem(sys.modules, "simulators.mesh.parametric", fake)


def test_make_ellipsoid_passes_parameters(monkeypatch, tmp_path):
    calls = []
    _fake_parametric(monkeypatch, calls)
    params = ["-p", "n=3", "-p", "wall_mm=8.5"]
    result = _run("make", "lv-ellipsoid", "-o", tmp_path / "lv.vtu", *params)

    assert result.exit_code == 0, result.output
    assert calls == [{"n": 3, "wall_mm": 8.5}]
    assert read_mesh(tmp_path / "lv.vtu").n_points == 4**3


def test_make_ellipsoid_unknown_parameter_or_function(monkeypatch, tmp_path):
    _fake_parametric(monkeypatch, [])
    unknown = _run("make", "lv-ellipsoid", "-o", tmp_path / "lv.vtu", "-p", "r=1")
    absent = _run("make", "biv-ellipsoid", "-o", tmp_path / "biv.vtu")

    assert unknown.exit_code == 2
    assert "it takes ['n', 'wall_mm']" in unknown.stderr
    assert absent.exit_code == 1
    assert "has no function biv_ellipsoid()" in absent.stderr


def test_make_ellipsoid_without_parametric_module(monkeypatch, tmp_path):
    # None in sys.modules makes the import fail as if the file were missing
    monkeypatch.setitem(sys.modules, "simulators.mesh.parametric", None)
    result = _run("make", "lv-ellipsoid", "-o", tmp_path / "lv.vtu")

    assert result.exit_code == 1
    assert "parametric.py is missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
