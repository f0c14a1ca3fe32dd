"""`twinml simulate`: protocols on built-in hearts and files, errors, output."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from simulators.mesh.io import read_mesh
from twinml.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["simulate", *args])


def test_crt_on_the_real_heart_prints_the_markers_and_writes_a_vtu(tmp_path):
    out = tmp_path / "crt.vtu"
    res = _run("--mesh", "rodero01", "--protocol", "crt", "--lv-lead", "aha:5",
               "--out", str(out), "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    for key in ("qrs_ms", "tat_ms", "lv_tat_ms", "septal_lateral_delay_ms"):
        assert np.isfinite(report[key])
    assert 90 < report["qrs_ms"] < 170 and report["rv_lead"].startswith("node:")
    mesh = read_mesh(out)
    t = mesh.point_data["t_act_ms"]
    assert t.shape == (52_210,) and np.nanmax(t) == pytest.approx(report["tat_ms"])
    assert mesh.cell_data["fibre"].shape == (250_620, 3)


def test_sinus_on_the_parametric_biventricle(tmp_path):
    res = _run("--mesh", "biv-ellipsoid", "--protocol", "sinus",
               "--out", str(tmp_path / "s.vtu"), "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert 40 < report["qrs_ms"] < 120 and report["unreachable_nodes"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--protocol", "crt", "--lv-lead", "aha:2"], "allowed segments"),
        (["--protocol", "crt"], "needs an LV lead"),
        (["--protocol", "sinus-ish"], "protocol must be one of"),
        (
            ["--protocol", "crt", "--lv-lead", "aha:5", "--vv-delay", "500"],
            "vv_delay_ms",
        ),
        (["--protocol", "crt", "--lv-lead", "aha:5", "--av-delay", "5"], "av_delay_ms"),
    ],
)
def test_bad_input_exits_2_with_the_reason(tmp_path, args, needle):
    res = _run("--mesh", "rodero01", "--out", str(tmp_path / "x.vtu"), *args)
    assert res.exit_code == 2
    assert needle in res.stderr
    assert not (tmp_path / "x.vtu").exists()


def test_missing_mesh_file_is_named(tmp_path):
    res = _run("--mesh", str(tmp_path / "nope.vtu"), "--protocol", "sinus")
    assert res.exit_code == 2 and "nope.vtu" in res.stderr


def test_bad_out_and_lead_exit_2_before_the_mesh_is_read(tmp_path):
    blocker = tmp_path / "m.json"
    blocker.write_text("{}")
    res = _run("--mesh", "no-such-heart", "--out", str(blocker / "x.vtu"))
    assert res.exit_code == 2, res.output
    assert "--out must be a file path twinml can write" in res.stderr
    assert "is a file, not a folder" in res.stderr
    res = _run("--mesh", "no-such-heart", "--protocol", "crt", "--lv-lead", "aha:20",
               "--out", str(tmp_path / "x.vtu"))  # fmt: skip
    assert res.exit_code == 2 and "AHA segments are 1..17" in res.stderr
    assert list(tmp_path.iterdir()) == [blocker]
