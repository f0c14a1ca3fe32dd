"""The virtual HF cohort on the real heart, the shipped table, the CLI.

A handful of patients run through the reference simulators (about 1 s
each); the CLI is driven with heads fitted on part of the shipped table
with fixed smoothing, so no test refits the cached heads.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from twinml.data import hf_cohort
from twinml.data.hf_cohort import (
    COHORT_CARD,
    COHORT_CSV,
    PHENOTYPES,
    CohortConfig,
    PatientContext,
    event_times,
    load_cohort,
    sample_patients,
    simulate_patient,
    true_log_hazard_terms,
)
from twinml.heads import cohort
from twinml.provenance import sha256_file


@pytest.fixture(scope="module")
def patients(rodero_heart):
    """A normal heart, LBBB and HFrEF patient of the same age and seed."""
    from simulators.circulation import HeartModel, heart_geometry

    g = heart_geometry(rodero_heart.mesh, rodero_heart.aha)
    ctx = PatientContext(rodero_heart, g, HeartModel.from_geometry(g, 62.0))
    base = sample_patients(CohortConfig(n_patients=1, seed=0))[0]
    base.update(
        phenotype="normal",
        second="",
        lbbb=False,
        scar_territory="",
        contractility=1.0,
        stiffness=1.0,
        cv_scale=1.0,
        age_years=65.0,
    )
    lbbb = {**base, "phenotype": "lbbb", "lbbb": True}
    hfref = {**base, "phenotype": "hfref", "contractility": 0.45}
    rows = [simulate_patient(ctx, p) for p in (base, lbbb, hfref)]
    event_times(rows, seed=0)
    return rows


def test_phenotypes_show_in_the_measurements(patients):
    normal, lbbb, hfref = patients
    # LBBB: the wave crosses the septum, QRS 140-170 ms against 90-100 ms
    assert lbbb["true_qrs_ms"] > normal["true_qrs_ms"] + 40.0
    assert 50.0 < normal["true_ef_pct"] < 70.0  # the healthy beat: EF ~60 %
    assert hfref["true_ef_pct"] < normal["true_ef_pct"] - 10.0
    assert normal["hf"] == 0 and lbbb["hf"] == hfref["hf"] == 1
    # measurements are the truth plus noise, never equal to it
    assert normal["qrs_ms"] != normal["true_qrs_ms"]


def test_event_times_follow_the_written_hazard(patients):
    for r in patients:
        terms = true_log_hazard_terms(r["true_ef_pct"], r["true_qrs_ms"],
                                      r["true_lvedp_mmhg"], r["age_years"])  # fmt: skip
        assert r["true_log_hazard"] == pytest.approx(sum(terms.values()))
        assert 0.0 < r["time_months"] <= hf_cohort.FOLLOW_UP_MONTHS
    # the HFrEF patient carries the EF term, the LBBB patient the QRS term
    assert patients[2]["true_g_ef"] > patients[0]["true_g_ef"] + 0.5
    assert patients[1]["true_g_qrs"] > 0.8 > patients[0]["true_g_qrs"] + 0.7


def test_shipped_cohort_matches_its_card():
    table = load_cohort()
    card = json.loads(COHORT_CARD.read_text())
    assert len(table["hf"]) == card["config"]["n_patients"] >= 500
    assert set(table["phenotype"]) == set(PHENOTYPES)
    assert card["sha256"] == sha256_file(COHORT_CSV)
    assert card["n_failed"] == 0 and 0.2 < card["events"] / 500 < 0.8
    # heads see measurements only, never the parameters behind the labels
    assert not any(f.startswith("true_") for f in cohort.FEATURES)


@pytest.fixture(scope="module")
def small_heads():
    table = {k: v[:200] for k, v in load_cohort().items()}
    return cohort.fit_cohort_heads(table=table, lam=10.0)


def test_cohort_heads_beat_chance_on_held_out_patients(small_heads):
    table = load_cohort()
    x = cohort.features(table)[300:]
    acc = small_heads.phenotype.score(x, table["phenotype"][300:])
    assert acc > 0.6  # five classes: chance is about 0.3
    c = small_heads.prognosis.score(x, table["time_months"][300:],
                                    table["event"][300:])  # fmt: skip
    assert c > 0.65


def _run(monkeypatch, small_heads, *args):
    from twinml.cli import app

    monkeypatch.setattr(cohort, "cached_cohort_heads", lambda: small_heads)
    return CliRunner().invoke(app, ["diagnose", *map(str, args)])


def test_cli_diagnoses_and_flags(monkeypatch, small_heads, tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"qrs_ms": 170, "ef_pct": 35, "age_years": 120}))
    res = _run(monkeypatch, small_heads, "--measurements", m, "--json",
               "--plots", tmp_path / "png")  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    (p,) = out["patients"]
    assert "virtual cohort" in out["risk_note"]
    assert p["prognosis"]["out_of_training_range"] == ["age_years"]
    assert "edv_ml" in p["hf"]["imputed"] and p["hf"]["prediction"] == 1
    assert p["prognosis"]["survival"]["probability"][0] < 1.0
    assert all(f.endswith(".png") for f in out["plots"])
    assert (tmp_path / "png" / "shape_risk.png").stat().st_size > 1000


def _bare_twin(folder):
    """A twin folder `Twin.load` accepts, its mesh a stand-in file."""
    from twinml.twins import schema

    folder.mkdir()
    (folder / "mesh.vtu").write_text("stand-in")
    mesh = {"file": "mesh.vtu", "sha256": sha256_file(folder / "mesh.vtu"),
            "n_points": 4, "n_cells": 1}  # fmt: skip
    doc = {"format": schema.FORMAT, "schema_version": schema.SCHEMA_VERSION,
           "mesh": mesh}  # fmt: skip
    (folder / "twin.json").write_text(json.dumps(doc))
    (folder / "provenance.json").write_text("{}")
    return folder


def test_cli_refuses_bad_input(monkeypatch, small_heads, tmp_path):
    twin = _bare_twin(tmp_path / "twin")
    res = _run(monkeypatch, small_heads, "--twin", twin)
    assert res.exit_code == 2 and "holds no observations" in res.output
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"qrs": 170}))
    res = _run(monkeypatch, small_heads, "--measurements", m)
    assert res.exit_code == 2 and "unknown measurements ['qrs']" in res.output
    obs = {"schema_version": 1, "ef_pct": 60, "heart_rate_bpm": 70}
    (twin / "observations.json").write_text(json.dumps(obs))
    res = _run(monkeypatch, small_heads, "--twin", twin, "--json")
    assert res.exit_code == 0, res.output
    assert np.isfinite(json.loads(res.stdout)["patients"][0]["prognosis"]["risk"])


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"qrs_ms": 0.158}', "qrs_ms = 0.158 ms is outside"),
        ('{"ef_pct": 0.3}', "range 1 .. 90 %"),
        ('{"edv_ml": -5}', "edv_ml = -5 mL"),
        ('{"gls_pct": -60}', "range -40 .. 5 %"),
        ('{"age_years": 130}', "age_years = 130 years"),
        ('{"female": 0.5}', "female must be 0 or 1"),
        ('{"female": true}', "female must be a number"),
        ('{"qrs_ms": NaN}', "qrs_ms must be a finite number"),
        ('{"patients": [{"qrs_ms": 150}], "site": 1}', "top-level keys ['site']"),
    ],
)
def test_cli_refuses_values_out_of_range(monkeypatch, tmp_path, text, needle):
    m = tmp_path / "m.json"
    m.write_text(text)
    res = _run(monkeypatch, None, "--measurements", m)  # refused before the heads
    assert res.exit_code == 2 and needle in res.stderr, res.output


def test_cli_refuses_broken_twin_folders(monkeypatch, tmp_path):
    only_obs = tmp_path / "obs-only"
    only_obs.mkdir()
    (only_obs / "observations.json").write_text('{"schema_version": 1, "ef_pct": 60}')
    res = _run(monkeypatch, None, "--twin", only_obs)
    assert res.exit_code == 2 and "lacks ['mesh.vtu', 'twin.json'" in res.stderr
    cut = _bare_twin(tmp_path / "cut")
    (cut / "twin.json").write_text((cut / "twin.json").read_text()[:40])
    res = _run(monkeypatch, None, "--twin", cut)
    assert res.exit_code == 2 and "twin.json: not valid JSON" in res.stderr


def test_cli_refuses_an_unwritable_plots_folder(monkeypatch, tmp_path):
    m = tmp_path / "m.json"
    m.write_text('{"qrs_ms": 150}')
    res = _run(monkeypatch, None, "--measurements", m, "--plots", m)
    assert res.exit_code == 2, res.output
    assert "--plots must be a folder path twinml can write" in res.stderr
