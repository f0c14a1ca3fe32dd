"""Twin folders: write, read back, refuse what is missing or malformed."""

from __future__ import annotations

import json
import shutil

import pytest

from simulators.errors import ParameterError, TwinmlInputError
from twinml.twins import Twin, TwinError, create_twin, load_observations
from twinml.twins import create as twin_create
from twinml.twins import folder as twin_folder
from twinml.twins.folder import split_params
from twinml.twins.observations import check_observations

PARAMS = {
    "v_fibre_mm_ms": "0.5",
    "contractility": 0.8,
    "heart_rate_bpm": 75,
    "lv_lead": "uvc:0.7,180",
    "vv_delay_ms": 20,
    "scar_radius_mm": 10,
    "scar_rotational_deg": 120,
}
OBSERVATIONS = {
    "schema_version": 1,
    "qrs_ms": 152.0,
    "edv_ml": 180.0,
    "esv_ml": 120.0,
    "ef_pct": 33.3,
}


@pytest.fixture(scope="module")
def twin_dir(coarse_mesh, tmp_path_factory):
    """A twin made once for the read-only checks."""
    folder = tmp_path_factory.mktemp("twins") / "patient"
    create_twin(folder, coarse_mesh, PARAMS, OBSERVATIONS, seed=7)
    return folder


@pytest.fixture
def twin_copy(twin_dir, tmp_path):
    """A copy of the twin that a test may damage."""
    return shutil.copytree(twin_dir, tmp_path / "copy")


def test_round_trip_keeps_parameters_and_provenance(twin_dir, coarse_mesh):
    twin = Twin.load(twin_dir)

    assert twin.parameters["v_fibre_mm_ms"] == 0.5
    assert twin.parameters["v_cross_mm_ms"] == 0.24  # default
    assert twin.protocol["vv_delay_ms"] == 20.0
    assert twin.scar["rotational_deg"] == 120.0 and twin.scar["border_mm"] == 3.0
    assert twin.values()["scar_radius_mm"] == 10.0
    assert twin.observations["qrs_ms"] == 152.0
    assert twin.provenance["seed"] == 7
    source = twin.provenance["source_mesh"]
    assert source["sha256"] == twin_folder.sha256_file(coarse_mesh)
    assert twin.provenance["versions"]["numpy"]


def test_bridge_to_the_reference_pipeline(twin_dir):
    twin = Twin.load(twin_dir)
    heart = twin.ventricles()
    circ = twin.circulation()

    assert heart.mesh.n_points == twin.mesh["n_points"]
    assert twin.lv_lead_node(heart) in set(heart.lv_candidates.tolist())
    assert twin.rv_lead_node(heart) == heart.rv_apex
    assert circ.contractility == 0.8 and circ.circuit.heart_rate_bpm == 75.0
    assert circ.tissue.v_fibre == 0.5
    assert circ.scar is not None and circ.scar.cells.any()


def test_lead_snapped_far_off_the_candidates_warns(twin_dir, caplog):
    from twinml.twins.sites import lv_lead_node

    heart = Twin.load(twin_dir).ventricles()
    with caplog.at_level("WARNING", logger="twinml.twins.sites"):
        lv_lead_node(heart, 0.7, 180.0)  # the lateral free wall: candidates
        assert "off the LV lead candidates" not in caplog.text
        node = lv_lead_node(heart, 0.7, 0.0)  # the septum: none there
    assert f"node:{node}" in caplog.text and "off the LV lead" in caplog.text


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"v_fibre": 0.5}, "unknown twin parameter 'v_fibre'; known: cv_scale"),
        ({"contractility": 3}, r"contractility must lie in \[0.6, 1.5\]"),
        ({"vv_delay_ms": 100}, r"vv_delay_ms must lie in \[-80, 80\] ms"),
        ({"heart_rate_bpm": "fast"}, "must be a number in bpm, got 'fast'"),
        ({"cv_scale": True}, "cv_scale must be a number, got the boolean True"),
        ({"contractility": 10**400 - 1}, r"1.5\] .* integer of 400 digits"),
        ({"stiffness": "nan"}, "finite"),
        ({"v_fibre_mm_ms": 0.3, "v_cross_mm_ms": 0.4}, "must not exceed"),
        ({"baseline": "afib"}, "baseline must be one of"),
    ],
)
def test_bad_parameters_are_refused_with_the_range(params, match):
    with pytest.raises(ParameterError, match=match):
        split_params(params)


def test_existing_folder_is_refused_unless_overwrite(twin_dir, coarse_mesh):
    with pytest.raises(TwinError, match="exists; pass another folder or --force"):
        create_twin(twin_dir, coarse_mesh)


def test_unknown_regions_name_the_given_mesh(coarse_mesh, tmp_path):
    # the user's file is named, not the twin's hidden copy, and nothing stays
    from simulators.errors import FieldError
    from simulators.mesh.io import read_mesh, write_vtu

    mesh = read_mesh(coarse_mesh)
    mesh.cell_data["region"] = mesh.cell_data["region"].copy()
    mesh.cell_data["region"][:10] = 99
    odd = tmp_path / "odd.vtu"
    write_vtu(mesh, odd)
    with pytest.raises(FieldError, match=f"{odd}: cell field 'region' holds \\[99\\]"):
        create_twin(tmp_path / "t", odd)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.vtu"]


def test_scar_over_the_lateral_wall_is_refused(coarse_mesh, tmp_path):
    params = {"scar_apicobasal": 0.6, "scar_rotational_deg": 180,
              "scar_radius_mm": 50, "scar_border_mm": 10}  # fmt: skip
    with pytest.raises(TwinError, match="covers the whole LV"):
        create_twin(tmp_path / "t", coarse_mesh, params)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_only_a_twin(coarse_mesh, tmp_path, monkeypatch):
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "notes.txt").write_text("important")
    with pytest.raises(TwinError, match="is not a twin folder"):
        create_twin(precious, coarse_mesh, overwrite=True)
    assert (precious / "notes.txt").read_text() == "important"
    # nor the folder the process works in
    monkeypatch.chdir(precious)
    with pytest.raises(TwinError, match="is the current folder"):
        create_twin(".", coarse_mesh, overwrite=True)


def test_bad_lead_leaves_no_folder(coarse_mesh, tmp_path):
    with pytest.raises(TwinmlInputError, match="cannot take AHA segment 2"):
        create_twin(tmp_path / "t", coarse_mesh, {"lv_lead": "aha:2"})

    assert list(tmp_path.iterdir()) == []


def test_lead_inside_its_scar_is_refused(coarse_mesh, tmp_path):
    # a transmural scar centred under the LV lead: no capture there
    params = {"lv_lead": "uvc:0.7,180", "scar_apicobasal": 0.7,
              "scar_rotational_deg": 180, "scar_radius_mm": 25,
              "scar_transmurality": 1.0}  # fmt: skip
    with pytest.raises(TwinError, match=r"the lv_lead \(node \d+\) lies inside"):
        create_twin(tmp_path / "t", coarse_mesh, params)
    assert list(tmp_path.iterdir()) == []


def test_crashed_write_leaves_no_half_twin(coarse_mesh, tmp_path, monkeypatch):
    real = twin_create.atomic_write_json

    def crash(path, obj):
        if path.name == "provenance.json":
            raise OSError("disk full")
        return real(path, obj)

    monkeypatch.setattr(twin_create, "atomic_write_json", crash)
    with pytest.raises(OSError, match="disk full"):
        create_twin(tmp_path / "t", coarse_mesh)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["twin.json", "provenance.json", "mesh.vtu"])
def test_missing_file_is_named(twin_copy, name):
    (twin_copy / name).unlink()

    with pytest.raises(TwinError, match=f"lacks \\['{name}'\\]"):
        Twin.load(twin_copy)


@pytest.mark.parametrize("name", ["twin.json", "provenance.json"])
def test_malformed_json_is_named(twin_copy, name):
    (twin_copy / name).write_text('{"format": ')

    with pytest.raises(TwinError, match=f"{name}: not valid JSON"):
        Twin.load(twin_copy)


def test_json_number_beyond_pythons_digit_limit_is_named(twin_copy):
    # Python refuses to read an integer of more than 4300 digits
    text = (twin_copy / "twin.json").read_text()
    (twin_copy / "twin.json").write_text(
        text.replace("{", '{"x": ' + "9" * 5000 + ",", 1)
    )
    with pytest.raises(TwinError, match="twin.json: unreadable JSON"):
        Twin.load(twin_copy)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(schema_version=99), "schema_version 99 is not the 1"),
        (lambda d: d.update(format="other"), "format must be 'twinml-twin'"),
        (lambda d: d["parameters"].update(speed=1), r"unknown keys \['speed'\]"),
        (lambda d: d["protocol"].update(vv_delay_ms=-99), "vv_delay_ms must lie"),
        (lambda d: d.update(scar=[1]), "'scar' must be a JSON object"),
        (lambda d: d["mesh"].update(file="../x.vtu"), "is not in the folder"),
        (lambda d: d["mesh"].update(sha256=12345), "mesh.sha256 must be a string"),
        (lambda d: d["mesh"].update(n_points="9"), "mesh.n_points must be an integ"),
        (lambda d: d["mesh"].update(file=None), "mesh.file must be a string"),
        (lambda d: d["mesh"].update(file="mesh.vtu\0x"), "mesh.file must be a"),
        (lambda d: d["parameters"].update(cv_scale=10**400), "cv_scale must lie in"),
    ],
)
def test_malformed_twin_json_is_refused(twin_copy, edit, match):
    doc = json.loads((twin_copy / "twin.json").read_text())
    edit(doc)
    (twin_copy / "twin.json").write_text(json.dumps(doc))

    with pytest.raises(TwinmlInputError, match=match):
        Twin.load(twin_copy)


def test_keys_edited_out_take_defaults_with_a_warning(twin_copy, caplog):
    # a folder written by twinml holds every key: one missing is named
    doc = json.loads((twin_copy / "twin.json").read_text())
    del doc["parameters"]["contractility"]
    del doc["scar"]
    (twin_copy / "twin.json").write_text(json.dumps(doc))
    with caplog.at_level("WARNING", logger="twinml.twins.folder"):
        twin = Twin.load(twin_copy)
    assert twin.parameters["contractility"] == 1.0 and twin.scar is None
    assert "'parameters' lacks {'contractility': 1.0}" in caplog.text
    assert "no 'scar' group: no scar" in caplog.text


def test_bad_mesh_in_a_twin_names_its_file(twin_copy):
    import meshio
    import numpy as np

    from simulators.errors import MeshError

    path = twin_copy / "mesh.vtu"
    m = meshio.read(path)
    m.points[5, 0] = np.nan
    m.write(path)
    doc = json.loads((twin_copy / "twin.json").read_text())
    doc["mesh"]["sha256"] = twin_folder.sha256_file(path)
    (twin_copy / "twin.json").write_text(json.dumps(doc))
    with pytest.raises(MeshError, match=r"mesh\.vtu: .*node ids \[5\]"):
        Twin.load(twin_copy).ventricles()


def test_mesh_counts_must_match_the_mesh(twin_copy):
    doc = json.loads((twin_copy / "twin.json").read_text())
    doc["mesh"]["n_points"] = 5
    (twin_copy / "twin.json").write_text(json.dumps(doc))
    with pytest.raises(TwinError, match=r"mesh.n_points = 5 but mesh.vtu has \d+"):
        Twin.load(twin_copy).ventricles()


def test_changed_mesh_is_refused(twin_copy):
    data = (twin_copy / "mesh.vtu").read_bytes()
    (twin_copy / "mesh.vtu").write_bytes(data[: len(data) // 2])

    with pytest.raises(TwinError, match="mesh.vtu: sha256 .* differs"):
        Twin.load(twin_copy)


def test_malformed_observations_are_named(twin_copy):
    (twin_copy / "observations.json").write_text("[1,")

    with pytest.raises(TwinError, match="observations.json: not valid JSON"):
        Twin.load(twin_copy)


def test_observations_are_optional(twin_copy):
    (twin_copy / "observations.json").unlink()

    assert load_observations(twin_copy) is None
    assert Twin.load(twin_copy).observations is None


@pytest.mark.parametrize(
    ("obs", "match"),
    [
        ({"qrs_ms": 152.0}, "schema_version must be 1"),
        ({"schema_version": 1}, "no measurement given"),
        ({"schema_version": 1, "qrs_ms": 15}, r"qrs_ms must lie in \[40, 300\] ms"),
        ({"schema_version": 1, "qrs": 150}, r"unknown fields \['qrs'\]"),
        ({"schema_version": 1, "edv_ml": 100, "esv_ml": 120}, "must be below edv"),
        ({"schema_version": 1, "ef_pct": "30"}, "must be a number"),
    ],
)
def test_bad_observations_are_refused(obs, match):
    with pytest.raises(ParameterError, match=match):
        check_observations(obs)


def test_inconsistent_ejection_fraction_warns():
    obs = {**OBSERVATIONS, "ef_pct": 60.0}
    with pytest.warns(UserWarning, match="check the EDV, ESV and EF"):
        check_observations(obs)
