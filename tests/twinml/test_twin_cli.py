"""``twinml twin new|show|params`` through typer's test runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from twinml.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["twin", *map(str, args)])


def test_new_then_show_round_trip(coarse_mesh, tmp_path):
    obs = tmp_path / "obs.json"
    obs.write_text(json.dumps({"schema_version": 1, "qrs_ms": 160}))
    made = _run(
        "new",
        "--mesh",
        coarse_mesh,
        "--param",
        "cv_scale=0.8",
        "--param",
        "lv_lead=aha:5",
        "--param",
        "scar_radius_mm=12",
        "--observations",
        obs,
        "-o",
        tmp_path / "t",
        "--json",
        "-q",
    )
    shown = _run("show", tmp_path / "t", "--json")

    assert made.exit_code == 0, made.output
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report == json.loads(made.stdout)
    assert report["parameters"]["cv_scale"] == 0.8
    assert report["protocol"]["lv_lead"] == "aha:5"
    assert report["scar"]["radius_mm"] == 12.0
    assert report["observations"]["qrs_ms"] == 160.0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "mesh.vtu",
        "observations.json",
        "provenance.json",
        "twin.json",
    ]
    assert "scar: radius_mm=12.0" in _run("show", tmp_path / "t").stdout


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--param", "cv=1"], "unknown twin parameter 'cv'"),
        (["--param", "stiffness=9"], r"stiffness must lie in \[0.5, 6\]"),
        (["--param", "stiffness"], "--param takes NAME=VALUE"),
        (["--observations", "missing.json"], "--observations: no file"),
    ],
)
def test_new_refuses_bad_input_with_exit_2(coarse_mesh, tmp_path, args, match):
    result = _run("new", "--mesh", coarse_mesh, *args, "-o", tmp_path / "t")

    assert result.exit_code == 2
    assert result.output.startswith("twinml: error:")
    assert pytest.importorskip("re").search(match, result.output)
    assert not (tmp_path / "t").exists()


def test_new_refuses_an_unknown_mesh(tmp_path):
    result = _run("new", "--mesh", "no-such-heart", "-o", tmp_path / "t")

    assert result.exit_code == 2 and "no mesh 'no-such-heart'" in result.output
    # a folder given as the mesh is bad input too
    result = _run("new", "--mesh", tmp_path, "-o", tmp_path / "t")
    assert result.exit_code == 2 and "no mesh file at" in result.output


def test_a_cache_that_is_a_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINML_CACHE", str(tmp_path / "afile"))
    (tmp_path / "afile").write_text("")
    result = _run("new", "--mesh", "rodero01", "-o", tmp_path / "t")
    assert result.exit_code == 2 and "TWINML_CACHE=" in result.output
    assert "is a file, not a folder" in result.output
    # ... and so is a cache folder still to be made under a file
    monkeypatch.setenv("TWINML_CACHE", str(tmp_path / "afile" / "sub"))
    result = _run("new", "--mesh", "rodero01", "-o", tmp_path / "t")
    assert result.exit_code == 2 and "TWINML_CACHE=" in result.output
    assert "lies under" in result.output and "afile" in result.output


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--param", "lv_lead=aha:20"], "lv_lead: AHA segments are 1..17, got 20"),
        (["--param", "rv_lead=aha:5"], "AHA segments are LV"),
        (["-o", "m.json/tw"], "--out must be a folder path twinml can write"),
    ],
)
def test_new_refuses_leads_and_out_before_the_mesh(tmp_path, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.json").write_text("{}")
    result = _run("new", "--mesh", "no-such-heart", "-o", "t", *args)

    assert result.exit_code == 2 and match in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_show_names_the_missing_folder(tmp_path):
    result = _run("show", tmp_path / "none")

    assert result.exit_code == 2 and "no twin folder" in result.output


def test_params_lists_units_and_ranges():
    result = _run("params", "--json")

    rows = {r["name"]: r for r in json.loads(result.stdout)["parameters"]}
    assert rows["vv_delay_ms"]["range"] == [-80.0, 80.0]
    assert rows["v_fibre_mm_ms"]["unit"] == "mm/ms"


def test_python_m_twinml_runs_the_command_line():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "twinml", "twin", "params"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "contractility" in out.stdout
