"""The demo end to end on the real heart (quick mode), as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "twinml.cli"]
KEYS = {
    "best_sites",
    "spearman",
    "regret_ms",
    "mae_ms",
    "mae_pct_tat",
    "baseline_mae_ms",
    "surrogate_s",
    "solver_s",
    "solver_s_extrapolated",
    "speedup",
    "images",
}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, twinml_cache):
    out = tmp_path_factory.mktemp("demo")
    run = subprocess.run(
        [*EXE, "demo", "--quick", "--json", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout), run, out


def test_quick_demo_reports_every_key(quick_report):
    report, run, out = quick_report
    assert KEYS <= set(report)
    assert len(report["best_sites"]) == 3
    for site in report["best_sites"]:
        assert site["site"].startswith("node:")
        assert site["simulated_mlvat_ms"] > 0
    assert report["solver_s_extrapolated"] is True
    assert report["speedup"] == pytest.approx(
        report["solver_s"] / report["surrogate_s"]
    )
    assert report["n_candidates"] >= 48
    for image in report["images"]:
        assert Path(image).is_absolute() and Path(image).stat().st_size > 10_000
    # progress on stderr, nothing but JSON on stdout
    assert run.stdout.count("\n") == 1 and "twinml:" in run.stderr


def test_quick_demo_physiology(quick_report):
    report, _, _ = quick_report
    # CRT at the best checked site is faster than the LBBB baseline
    assert report["best_crt"]["tat_ms"] < report["lbbb"]["tat_ms"]
    assert report["mae_ms"] > 0 and report["baseline_mae_ms"] > 0


def test_second_run_reuses_sweep_and_model(quick_report):
    report, _, out = quick_report
    run = subprocess.run(
        [*EXE, "demo", "--quick", "--json", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "reusing the sweep" in run.stderr and "reusing the trained" in run.stderr
    again = json.loads(run.stdout)
    # same seed, same cached model: the same ranking
    assert again["best_sites"][0]["site"] == report["best_sites"][0]["site"]


def test_bad_input_exits_with_code_2(tmp_path):
    run = subprocess.run(
        [*EXE, "demo", "--quick", "--threads", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "--threads" in run.stderr
