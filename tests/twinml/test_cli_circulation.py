"""`twinml crt` and `twinml simulate --haemodynamics` on the real heart.

One CRT run (about 10 s) is shared by the module; the bad-input cases fail
before it or right after the heart is loaded. Physiological bands are the
issue's healthy reference (EDV 105-135 mL, EF 55-65 %, MAP 85-100 mmHg,
CO 4.5-6 L/min at 70 bpm) for sinus rhythm, and wide adult ranges for the
LBBB and CRT states, whose exact values the model calibration may move.
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from simulators.circulation.twin import CirculationTwin
from twinml.cli import app

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = (
    "edv_ml", "esv_ml", "ef_pct", "map_mmhg", "co_l_min", "dpdt_max_mmhg_s",
    "work_diff_pct", "rv_edv_ml", "rv_esv_ml", "rv_ef_pct", "septal_flash",
)  # fmt: skip


@pytest.fixture(scope="module")
def crt_run(tmp_path_factory):
    """One CRT run at AHA 5 (basal anterolateral), and the twin's results.

    The results of `CirculationTwin.baseline` and `.crt` are recorded so
    that a later test can replay them without recomputing.
    """
    out = tmp_path_factory.mktemp("crt")
    recorded = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("baseline", "crt"):
            real = getattr(CirculationTwin, name)

            def record(self, *args, _real=real, _name=name, **kwargs):
                recorded[_name] = _real(self, *args, **kwargs)
                return recorded[_name]

            mp.setattr(CirculationTwin, name, record)
        res = runner.invoke(
            app,
            ["crt", "--mesh", "rodero01", "--lv-lead", "aha:5", "--out", str(out),
             "--json"],
        )  # fmt: skip
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), out, recorded


@pytest.fixture(scope="module")
def sinus_run(tmp_path_factory):
    """`simulate --protocol sinus --haemodynamics` on the real heart."""
    vtu = tmp_path_factory.mktemp("sinus") / "sinus.vtu"
    res = runner.invoke(
        app,
        ["simulate", "--mesh", "rodero01", "--protocol", "sinus",
         "--haemodynamics", "--out", str(vtu), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), vtu


def _in(value, lo, hi):
    return np.isfinite(value) and lo <= value <= hi


def test_simulate_haemodynamics_gives_a_healthy_sinus_beat(sinus_run):
    report, vtu = sinus_run
    for key in (*SUMMARY_KEYS, "qrs_ms", "pv_png", "n_beats"):
        assert key in report, key
    assert _in(report["edv_ml"], 105, 135)
    assert _in(report["ef_pct"], 55, 65)
    assert _in(report["map_mmhg"], 85, 100)
    assert _in(report["co_l_min"], 4.5, 6.0)
    assert _in(report["dpdt_max_mmhg_s"], 800, 4000)
    assert report["esv_ml"] < report["edv_ml"] and _in(report["rv_ef_pct"], 30, 80)
    assert report["heart_rate_bpm"] == 70.0 and vtu.exists()

    png = vtu.with_name("sinus-pv.png")
    assert report["pv_png"] == str(png) and png.read_bytes()[:8] == PNG_MAGIC


def test_crt_reports_acute_and_chronic_response(crt_run):
    report, _, _ = crt_run
    acute, chronic = report["acute"], report["chronic"]
    assert set(acute) == {"d_dpdt_max_pct", "d_work_diff_pct", "d_ef_points"}
    assert set(chronic) == {"d_lvesv_pct", "d_lvedv_pct", "responder"}
    assert all(np.isfinite(v) for v in acute.values())
    assert chronic["responder"] == (chronic["d_lvesv_pct"] <= -15.0)

    # a lateral lead narrows the work difference and raises dP/dtmax
    assert acute["d_work_diff_pct"] < 0 and acute["d_dpdt_max_pct"] > 0
    assert _in(chronic["d_lvesv_pct"], -50, 10)


def test_crt_summaries_are_physiological(crt_run):
    report, _, _ = crt_run
    for state in ("lbbb", "crt_acute", "crt_adapted"):
        h = report[state]
        assert all(k in h for k in SUMMARY_KEYS), state
        assert _in(h["edv_ml"], 80, 300) and _in(h["ef_pct"], 20, 75), state
        assert _in(h["map_mmhg"], 60, 120) and _in(h["co_l_min"], 2, 8), state
    # LBBB: the lateral wall works more than the septum
    assert report["lbbb"]["work_diff_pct"] > 0


def test_crt_records_provenance_and_writes_its_files(crt_run):
    report, out, _ = crt_run
    prov = report["provenance"]
    assert prov["seed"] is None and prov["command"] == "crt"
    assert prov["versions"]["numpy"] and prov["arguments"]["lv_lead"] == "aha:5"
    assert report["lv_lead"].startswith("node:")
    assert report["rv_lead"].startswith("node:")

    assert sorted(p.name for p in out.iterdir()) == ["crt.json", "pv-loops.png"]
    assert (out / "pv-loops.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((out / "crt.json").read_text())["acute"] == report["acute"]


def test_crt_leaves_nothing_behind_when_a_write_fails(crt_run, tmp_path, monkeypatch):
    _, _, recorded = crt_run
    for name in ("baseline", "crt"):
        monkeypatch.setattr(
            CirculationTwin, name, lambda self, *a, _n=name, **k: recorded[_n]
        )

    # the PNG is complete when the JSON write fails
    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", full_disk)
    out = tmp_path / "crt"
    res = runner.invoke(app, ["crt", "--lv-lead", "aha:5", "--out", str(out)])
    assert res.exit_code == 1 and "No space left" in res.stderr
    assert not out.exists()  # made for the files, removed with them


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--heart-rate", "500"], "heart_rate_bpm must lie in [30, 200]"),
        (["--contractility", "-1"], "--contractility must lie in"),
        (["--stiffness", "0"], "--stiffness must lie in"),
        (["--cv-scale", "0"], "--cv-scale"),
        (["--vv-delay", "500"], "vv_delay_ms"),
    ],
)
def test_crt_bad_numbers_exit_2_before_any_work(tmp_path, args, needle):
    out = tmp_path / "crt"
    res = runner.invoke(app, ["crt", "--lv-lead", "aha:5", "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("lead", "needle"),
    [("aha:2", "allowed segments"), ("rv-apex", "is an RV site")],
)
def test_crt_lead_outside_the_lv_exits_2(tmp_path, lead, needle):
    out = tmp_path / "crt"
    res = runner.invoke(app, ["crt", "--lv-lead", lead, "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and not out.exists()


def test_crt_interrupted_leaves_no_out_folder(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("simulators.hearts.load_heart", interrupt)
    out = tmp_path / "new" / "crt"
    res = runner.invoke(app, ["crt", "--lv-lead", "aha:5", "--out", str(out)])
    assert res.exit_code == 130 and "interrupted" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_terminated_exits_143(tmp_path, monkeypatch):
    # SIGTERM unwinds like Ctrl-C (the callback's handler) with 128 + 15
    from twinml.cli import Terminated

    def terminate(*args, **kwargs):
        raise Terminated(15)

    monkeypatch.setattr("simulators.hearts.load_heart", terminate)
    res = runner.invoke(
        app, ["crt", "--lv-lead", "aha:5", "--out", str(tmp_path / "c")]
    )
    assert res.exit_code == 143 and "interrupted" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_crt_unwritable_out_exits_2(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = runner.invoke(
        app, ["crt", "--lv-lead", "aha:5", "--out", str(blocker / "crt")]
    )
    assert res.exit_code == 2, res.output
    assert "--out must be a folder" in res.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--haemodynamics", "--heart-rate", "500"], "--heart-rate"),
        (["--haemodynamics", "--contractility", "-1"], "--contractility must lie"),
        (["--contractility", "1.2"], "need --haemodynamics"),
    ],
)
def test_simulate_bad_circulation_flags_exit_2(tmp_path, args, needle):
    vtu = tmp_path / "x.vtu"
    res = runner.invoke(
        app, ["simulate", "--mesh", "rodero01", "--out", str(vtu), *args]
    )
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and not vtu.exists()


def test_haemodynamics_on_a_heart_without_rv_exits_2(tmp_path):
    vtu = tmp_path / "lv.vtu"
    res = runner.invoke(
        app,
        ["simulate", "--mesh", "lv-ellipsoid", "--protocol", "sinus",
         "--haemodynamics", "--out", str(vtu)],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "needs a biventricular heart" in res.stderr and not vtu.exists()
