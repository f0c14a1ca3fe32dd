"""``twinml whatif`` on a twin folder, with a tiny ensemble trained here.

As in ``test_population.py``: a coarse (4 mm) biventricular heart, two
reference CRT activations without the circulation (the response targets
other than QRS are missing, so the head answers near its standardised
mean), two members of a few epochs. The answers are untrained; the tests
check what the command promises: keys, intervals around the value, the
domain check, the ranking order and the exit codes.
"""

import hashlib
import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from simulators.errors import MeshError
from simulators.hearts import with_coordinates
from simulators.mesh.biv import biv_ellipsoid
from simulators.mesh.io import write_vtu
from twinml.cli import app
from twinml.data import population as pop
from twinml.data.coarse import build_coarse_graph
from twinml.data.markers import MARKER_INPUTS, TwinMarkers
from twinml.data.response_sweep import SAMPLE_DEFAULTS, ResponseSettings
from twinml.models.checkpoints import save_checkpoint
from twinml.models.population import PopulationGNN
from twinml.provenance import atomic_write_json
from twinml.query import whatif as wi
from twinml.query.population import PopulationSurrogate, Prediction
from twinml.query.whatif import extreme_intervals
from twinml.training.marker_head import MarkerConfig, fit_marker_heads
from twinml.training.population import PopulationConfig, train_ensemble
from twinml.twins import Twin, create_twin
from twinml.twins.folder import TwinError

SPACING_MM = 8.0
REPORTED = ("tat_ms", "qrs_crt_ms", "lvat_ms", "ef_crt_acute_pct", "d_lvesv_pct")


@pytest.fixture(scope="module")
def twin_dir(tmp_path_factory):
    """A twin folder on a 4 mm biventricular ellipsoid, default parameters."""
    root = tmp_path_factory.mktemp("whatif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mesh = with_coordinates(biv_ellipsoid(h_mm=4.0))
    write_vtu(mesh, root / "biv4.vtu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # coarse-grid quality
        create_twin(root / "twin", root / "biv4.vtu")
    return root / "twin"


@pytest.fixture(scope="module")
def model_dir(twin_dir, toy_calibration, tmp_path_factory):
    """Two tiny members trained on two CRT activations of the twin's heart."""
    import twinml.data.response_sweep as rs

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        heart = Twin.load(twin_dir).ventricles()
    settings = ResponseSettings(mesh="biv", h_mm=4.0, circulation=False)
    mp = pytest.MonkeyPatch()
    mp.setattr(rs, "_heart", lambda sample, settings: heart)
    examples, rows = [], []
    for v, phi in ((0.5, 150.0), (0.7, 220.0)):
        sample = {"v_fibre_mm_ms": v, "lv_lead_rotational_deg": phi}
        r = rs.simulate_sample(sample, settings)
        s = {**SAMPLE_DEFAULTS, **sample}
        sc = r["meta"]["scalars"]
        ex = pop.example(heart, s, sc, r["arrays"]["t_crt_ms"], None, 8.0)
        examples.append(ex)
        markers = TwinMarkers.from_reference(
            heart, ex.graph.globals_, None, sc["qrs_lbbb_ms"], r["arrays"]["t_lbbb_ms"]
        )
        rows.append(markers.rows([ex.lead_node], ex.vv_delay_ms)[0])
    mp.undo()

    # members, calibration and card in the layout `PopulationSurrogate.load` reads
    out = tmp_path_factory.mktemp("model")
    cfg = PopulationConfig(width=8, n_layers=1, decoder_width=8, head_width=8,
                           pooled_dim=4, epochs=2, n_members=2)  # fmt: skip
    train_ensemble(examples, [], cfg, out, out / "mlflow.db", {"test": 1})
    # marker heads, one per member, so that `prepare` computes the twin's
    # LBBB markers as the packaged model needs
    y = np.stack([ex.targets for ex in examples])
    fit_marker_heads(
        np.stack(rows), y, MarkerConfig(hidden=8, epochs=2, n_members=2), out,
        out / "mlflow.db", {"test": 1},
    )  # fmt: skip
    shutil.rmtree(out / "artifacts", ignore_errors=True)
    atomic_write_json(
        out / "calibration.json",
        toy_calibration(blend=dict.fromkeys(pop.TARGETS, 0.5)),
    )
    # every input the domain check reads has a range (wide but for v_fibre)
    ranges = {name: [-1e6, 1e6] for name in CHECKED}
    card = {
        "ranges": {**ranges, "v_fibre_mm_ms": [0.5, 0.7]},
        "spacing_mm": SPACING_MM,
        "config": {"n_members": 2},
        "marker_inputs": list(MARKER_INPUTS),
    }
    atomic_write_json(out / "model_card.json", card)
    return out


#: The inputs the domain check reads for a twin without scar.
CHECKED = (
    "v_fibre_mm_ms", "v_cross_mm_ms", "v_endo_mm_ms", "contractility",
    "stiffness", "scar", "vv_delay_ms", "lv_cavity_ml", "rv_cavity_ml",
    "lv_free_wall_ml", "septum_ml", "rv_wall_ml", "lv_lead_apicobasal",
    "lv_lead_rotational_deg", "qrs_lbbb_ms", "tat_lbbb_ms", "lvat_lbbb_ms",
)  # fmt: skip


def _whatif(*args):
    result = CliRunner().invoke(app, ["whatif", *map(str, args)])
    return result


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_one_lead_prints_answers_with_intervals(twin_dir, model_dir):
    heart = Twin.load(twin_dir).ventricles()
    lead = int(heart.lv_candidates[len(heart.lv_candidates) // 2])
    r = _json(
        _whatif(
            *("--twin", twin_dir, "--lv-lead", f"node:{lead}", "--vv-delay", 10),
            *("--model", model_dir, "--json"),
        )
    )
    assert r["site"] == f"node:{lead}" and r["vv_delay_ms"] == 10.0
    for name in (*REPORTED, "responder_probability"):
        lo, hi = r[name]["interval_90"]
        assert np.isfinite([lo, hi, r[name]["value"]]).all()
        assert lo <= r[name]["value"] <= hi, name
    assert 0.0 <= r["responder_probability"]["value"] <= 1.0
    assert r["lvat_ms"]["value"] <= r["tat_ms"]["value"] + 1e-9
    assert r["in_domain"] is True and r["domain_issues"] == []


def test_out_of_domain_warns_and_strict_refuses(twin_dir, model_dir, tmp_path):
    narrow = tmp_path / "narrow"
    shutil.copytree(model_dir, narrow)
    card = json.loads((narrow / "model_card.json").read_text())
    card["ranges"]["v_fibre_mm_ms"] = [0.7, 0.8]
    atomic_write_json(narrow / "model_card.json", card)
    args = ("--twin", twin_dir, "--lv-lead", "aha:5", "--model", narrow, "--json")

    r = _whatif(*args)
    doc = _json(r)
    assert doc["in_domain"] is False
    assert doc["domain_issues"][0].startswith("v_fibre_mm_ms = 0.6 outside")
    assert "v_fibre_mm_ms" in r.stderr and "[0.7, 0.8]" in r.stderr
    strict = _whatif(*args, "--strict")
    assert strict.exit_code == 2 and "--strict" in strict.stderr
    assert strict.stdout == "" and "v_fibre_mm_ms" in strict.stderr
    # ... before the twin's graph is built (parameters and shape need none)
    mp = pytest.MonkeyPatch()
    mp.setattr(wi, "prepare", lambda *a, **k: pytest.fail("graph built"))
    assert _whatif(*args, "--strict").exit_code == 2
    mp.undo()
    # the twin's LBBB markers, which the marker heads read, are checked too
    card["ranges"] = {"qrs_lbbb_ms": [300.0, 400.0]}
    card["derived"] = ["qrs_lbbb_ms"]
    atomic_write_json(narrow / "model_card.json", card)
    doc = _json(_whatif(*args))
    assert doc["domain_issues"][0].startswith("qrs_lbbb_ms = ")
    # and an input the card has no range for is named, not passed over
    assert (
        "stiffness: the model card has no training range for it"
        in (doc["domain_issues"])
    )


def test_optimise_returns_ten_sorted_sites(twin_dir, model_dir):
    r = _json(
        _whatif("--twin", twin_dir, "--optimise-lead", "--model", model_dir, "--json")
    )
    best = r["best"]
    assert [s["rank"] for s in best] == list(range(1, 11))
    assert all(s["site"].startswith("node:") for s in best)
    assert len({s["site"] for s in best}) == 10 and r["n_ranked"] >= 10
    # ΔLVESV ascending up to the 0.1 % that counts as a tie
    d = np.array([s["d_lvesv_pct"]["value"] for s in best])
    assert (np.diff(d) >= -0.1 - 1e-6).all()
    for s in best:
        lo, hi = s["d_lvesv_pct"]["interval_90"]
        assert lo <= s["d_lvesv_pct"]["value"] <= hi
    # the shortlist's TAT, LVAT and QRS are the one-lead answers (refined map)
    one = _json(
        _whatif("--twin", twin_dir, "--lv-lead", best[0]["site"], "--model",
                model_dir, "--json")
    )  # fmt: skip
    for k in ("tat_ms", "lvat_ms", "qrs_crt_ms", "d_lvesv_pct"):
        assert best[0][k]["value"] == pytest.approx(one[k]["value"], rel=1e-6)
    assert r["refine_s"] > 0


def test_bad_input_exit_codes(twin_dir, model_dir, tmp_path):
    heart = Twin.load(twin_dir).ventricles()
    base = ("--twin", twin_dir, "--model", model_dir)
    # a lead outside the LV candidates: bad input
    r = _whatif(*base, "--lv-lead", f"node:{heart.rv_apex}")
    assert r.exit_code == 2 and "twinml: error:" in r.stderr
    r = _whatif(*base, "--lv-lead", "node:99999999")
    assert r.exit_code == 2 and "mesh has nodes 0.." in r.stderr
    r = _whatif(*base, "--lv-lead", "uvc:0.5,1_80")  # float() would read 180
    assert r.exit_code == 2 and "expected uvc:Z,PHI_DEG" in r.stderr, r.stderr
    r = _whatif(*base, "--lv-lead", "foo:1")  # every form twinml reads named
    assert r.exit_code == 2 and "aha:N" in r.stderr and "uvc:Z,PHI_DEG" in r.stderr
    r = _whatif(*base, "--lv-lead", "aha:5", "--optimise-lead")
    assert r.exit_code == 2 and "not both" in r.stderr
    r = _whatif(*base, "--lv-lead", "aha:5", "--vv-delay", 500)
    assert r.exit_code == 2 and "--vv-delay 500: " in r.stderr
    # a twin folder without a file names it
    broken = tmp_path / "broken"
    shutil.copytree(twin_dir, broken)
    (broken / "provenance.json").unlink()
    r = _whatif("--twin", broken, "--lv-lead", "aha:5", "--model", model_dir)
    assert r.exit_code == 2 and "provenance.json" in r.stderr
    # a model folder that is not there (bad input), one that is damaged (1)
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", tmp_path / "no")
    assert r.exit_code == 2 and "--model" in r.stderr
    damaged = tmp_path / "damaged"
    shutil.copytree(model_dir, damaged)
    (damaged / "calibration.json").write_text("{not json")
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
    assert r.exit_code == 1 and "calibration.json" in r.stderr
    # a calibration with a negative or infinite factor is refused, named
    cal = json.loads((model_dir / "calibration.json").read_text())
    for key, value in (("activation", -21.0), ("qrs_ecg", float("inf"))):
        (damaged / "calibration.json").write_text(json.dumps({**cal, key: value}))
        r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
        assert r.exit_code == 1 and f"{key} = " in r.stderr
    # marker heads need a blend weight 0..1 per target
    for blend, needle in (
        (None, "no 'blend' entry"),
        ({**cal["blend"], "d_lvesv_pct": 1.5}, "blend.d_lvesv_pct = 1.5"),
    ):
        (damaged / "calibration.json").write_text(json.dumps({**cal, "blend": blend}))
        r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
        assert r.exit_code == 1 and needle in r.stderr, r.stderr
        assert "0..1 per target" in r.stderr
    # a blended model without its marker heads, or with a member's weights in
    # a marker head's file, is refused, naming the file
    (damaged / "calibration.json").write_text(json.dumps(cal))
    (damaged / "marker_1.pt").unlink()
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
    assert r.exit_code == 1 and "lacks ['marker_1.pt']" in r.stderr, r.stderr
    for name in ("marker_1.pt", "marker_1.pt.sha256.json"):
        shutil.copy(damaged / name.replace("marker", "member"), damaged / name)
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
    assert r.exit_code == 1 and "marker_1.pt is not a MarkerHead" in r.stderr
    for name in ("marker_1.pt", "marker_1.pt.sha256.json"):
        shutil.copy(model_dir / name, damaged / name)
    # a card whose ranges are reversed or not numbers, or whose derived list
    # is not a list of its range names, is refused, naming the key
    (damaged / "calibration.json").write_text(json.dumps(cal))
    card = json.loads((model_dir / "model_card.json").read_text())
    for change, needle in (
        ({"ranges": {"v_fibre_mm_ms": [0.7, 0.5]}}, "ranges.v_fibre_mm_ms"),
        ({"ranges": {"v_fibre_mm_ms": ["x"]}}, "ranges.v_fibre_mm_ms"),
        ({"derived": "lv_cavity_ml"}, "derived = "),
        ({"derived": ["no_such_range"]}, "derived names ['no_such_range']"),
        ({"ranges": {}}, "lacks 'ranges'"),
        ({"spacing_mm": "seven"}, "spacing_mm = 'seven'"),
        ({"spacing_mm": 0}, "spacing_mm = 0"),
        ({"config": [1]}, "config = [1] is not an object"),
        ({"spacing_mm": 1e300}, "not a coarse spacing of 1-50 mm"),
        ({"ranges": {"v_fibre_mm_ms": [0.5, 10**400]}}, "ranges.v_fibre_mm_ms"),
        ({"config": {"n_members": 10**9}}, "is not a member count"),
        ({"config": {"n_members": 2, "spacing_mm": 3.0}}, "trained at one spacing"),
        ({"config": {"n_members": 2, "width": 64}}, "member_0.pt was built with"),
        ({"marker_heads": {"hidden": 64}}, "marker_0.pt was built with"),
        # the heads' inputs as the card lists them: this twinml's, in its order
        (
            {"marker_inputs": list(MARKER_INPUTS[:-1])},
            "position 20 (from 0) the card has nothing, twinml 'vv_delay_ms'",
        ),
        (
            {"marker_inputs": ["v_cross", "v_fibre", *MARKER_INPUTS[2:]]},
            "position 0 (from 0) the card has 'v_cross', twinml 'v_fibre'",
        ),
        ({"marker_inputs": "v_fibre"}, "marker_inputs = 'v_fibre' is not the list"),
        ({"marker_inputs": None, "marker_heads": {}}, "is not the list"),
        (
            {"marker_inputs": [*MARKER_INPUTS, "extra"]},
            "lists 22 inputs, this twinml's marker heads read 21; at position 21 "
            "(from 0) the card has 'extra', twinml nothing",
        ),
    ):
        (damaged / "model_card.json").write_text(json.dumps({**card, **change}))
        r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
        assert r.exit_code == 1 and "model_card.json" in r.stderr, r.stderr
        assert needle in r.stderr, r.stderr
    (damaged / "model_card.json").write_text("[]")
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
    assert r.exit_code == 1 and "model_card.json holds a JSON list" in r.stderr
    (damaged / "model_card.json").write_text(json.dumps(card))
    # implausible factors and another interval level are refused too
    for change, needle in (
        ({"activation": 1e300}, "activation = 1e+300"),
        ({"activation": 1e-300}, "activation = 1e-300"),
        ({"qrs_ecg": 10**400}, "qrs_ecg = 1000000000"),
        ({"level": 0.5}, "level = 0.5"),
        ({"target_std": [1e300] * len(pop.TARGETS)}, "target_std[0] = 1e+300"),
        ({"activation_floor_ms": 1000.0}, "activation_floor_ms = 1000"),
    ):
        (damaged / "calibration.json").write_text(json.dumps({**cal, **change}))
        r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", damaged)
        assert r.exit_code == 1 and needle in r.stderr, r.stderr
    (damaged / "calibration.json").write_text(json.dumps(cal))
    # a member missing: the calibration is the whole ensemble's, so refused
    for name in ("member_0.pt", "member_1.pt"):
        partial = tmp_path / f"without-{name}"
        shutil.copytree(model_dir, partial)
        (partial / name).unlink()
        r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", partial)
        assert r.exit_code == 1 and f"missing ['{name}']" in r.stderr, r.stderr
    # a member more than the card's count, and a checkpoint of random bytes
    # with a matching digest, are named too
    extra = tmp_path / "extra"
    shutil.copytree(model_dir, extra)
    for kind in ("member", "marker"):
        for suffix in (".pt", ".pt.sha256.json"):
            shutil.copy(extra / f"{kind}_0{suffix}", extra / f"{kind}_2{suffix}")
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", extra)
    assert r.exit_code == 1 and "unknown ['member_2.pt']" in r.stderr, r.stderr
    noisy = tmp_path / "noisy"
    shutil.copytree(model_dir, noisy)
    noise = noisy / "member_1.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(4000))
    digest = {"sha256": hashlib.sha256(noise.read_bytes()).hexdigest()}
    atomic_write_json(noisy / "member_1.pt.sha256.json", digest)
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", noisy)
    assert r.exit_code == 1 and "member_1.pt is not a PopulationGNN" in r.stderr
    # a target scale no training gives (a mean of 1e30), with its digest,
    # and a card that describes marker heads the folder lacks
    huge = tmp_path / "huge"
    shutil.copytree(model_dir, huge)
    ckpt = torch.load(huge / "member_1.pt", weights_only=True)
    ckpt["state_dict"]["target_mean"][4] = 1e30
    save_checkpoint(huge / "member_1.pt", ckpt)
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", huge)
    assert r.exit_code == 1 and "member_1.pt holds target_mean[4]" in r.stderr
    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare)
    for path in bare.glob("marker_*"):
        path.unlink()
    card = json.loads((bare / "model_card.json").read_text())
    atomic_write_json(bare / "model_card.json", {**card, "marker_heads": {}})
    no_blend = {k: v for k, v in cal.items() if k != "blend"}
    atomic_write_json(bare / "calibration.json", no_blend)
    r = _whatif("--twin", twin_dir, "--lv-lead", "aha:5", "--model", bare)
    assert r.exit_code == 1 and "describes marker heads" in r.stderr, r.stderr


def test_scar_over_every_source_names_the_twin(twin_dir, model_dir, tmp_path):
    big, params = tmp_path / "big", {"scar_radius_mm": 60.0, "scar_border_mm": 15.0}
    # `twin new` refuses it and leaves no folder behind ...
    with warnings.catch_warnings(), pytest.raises(TwinError, match="covers all"):
        warnings.simplefilter("ignore", UserWarning)
        create_twin(big, twin_dir.parent / "biv4.vtu", params)
    assert not big.exists() and not list(tmp_path.glob(".big.*"))
    # ... and a twin.json edited by hand afterwards is named by whatif
    shutil.copytree(twin_dir, big)
    doc = json.loads((big / "twin.json").read_text())
    doc["scar"] = {"radius_mm": 60.0, "border_mm": 15.0, "apicobasal": 0.5,
                   "rotational_deg": 180.0, "transmurality": 1.0}  # fmt: skip
    (big / "twin.json").write_text(json.dumps(doc))
    r = _whatif("--twin", big, "--lv-lead", "aha:5", "--model", model_dir)
    assert r.exit_code == 2, r.output
    assert str(big) in r.stderr and "make it smaller or move it" in r.stderr


# --------------------------------------------------------------- bad meshes
def test_coincident_nodes_are_refused_before_the_graph(twin_dir):
    mesh = Twin.load(twin_dir).ventricles().mesh
    # give one cell its own copy of a node: a crack with two coincident nodes
    node = int(mesh.cells[0, 0])
    points = np.vstack([mesh.points, mesh.points[node]])
    cells = mesh.cells.copy()
    cells[0, 0] = mesh.n_points
    cracked = type(mesh)(points=points, cells=cells)
    with pytest.raises(MeshError, match=rf"coincident nodes.*\[{node}, "):
        build_coarse_graph(cracked, SPACING_MM)


def test_isolated_node_gives_finite_outputs():
    torch.manual_seed(0)
    n, b = 4, 3
    model = PopulationGNN(node_dim=11, edge_dim=4, query_dim=5, n_globals=2,
                          n_bins=2, n_targets=3, width=8, n_layers=2,
                          decoder_width=8, pooled_dim=2, head_width=8)  # fmt: skip
    # node 3 has no edge
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    x = torch.rand(n, 11)
    h = model.encode(x, edge_index, torch.rand(4, 4))
    pool = torch.tensor([[0.5, 0.0], [0.5, 0.0], [0.0, 0.5], [0.0, 0.5]])
    t, r = model.decode(h, x, pool, torch.rand(2), torch.tensor([0, 1, 2]),
                        torch.rand(b, n, 5), torch.zeros(b))  # fmt: skip
    assert torch.isfinite(h).all() and torch.isfinite(t).all()
    assert torch.isfinite(r).all() and r.shape == (b, 3)


def test_extreme_intervals_hold_the_mean():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 100, (5, 40))
    h = rng.uniform(0, 3, (5, 40))
    live = rng.random(40) > 0.1
    lv = live & (rng.random(40) > 0.5)
    (tat_lo, lvat_lo), (tat_hi, lvat_hi) = extreme_intervals(t, h, live, lv)
    tm = np.where(live, t, np.nan)
    tat = np.nanmax(tm, 1) - np.nanmin(tm, 1)
    lvat = np.nanmax(np.where(lv, t, np.nan), 1) - np.nanmin(tm, 1)
    assert (tat_lo <= tat).all() and (tat <= tat_hi).all()
    assert (lvat_lo <= lvat).all() and (lvat <= lvat_hi).all()


def test_domain_ranges_wrap_angles_and_keep_a_margin():
    card = {"ranges": {"scar_rotational_deg": [-179.6, 178.6],
                       "scar_transmurality": [0.30, 0.9985]}}  # fmt: skip
    sur = PopulationSurrogate([object()], {}, card)
    # 180 deg is -180 deg, next to the range; 1.0 within 2 % of its width
    assert sur.domain_issues({"scar_rotational_deg": 180.0}) == []
    assert sur.domain_issues({"scar_transmurality": 1.0}) == []
    issue = sur.domain_issues({"scar_transmurality": 0.2})
    assert issue and issue[0].startswith("scar_transmurality = 0.2")


def test_domain_margin_only_for_derived_descriptors():
    # a card with a ``derived`` list: swept parameters hold their sampling
    # box exactly, descriptors of the training hearts get the margin
    card = {
        "ranges": {"v_endo_mm_ms": [1.5, 4.0], "lv_cavity_ml": [70.0, 160.0]},
        "derived": ["lv_cavity_ml"],
    }
    sur = PopulationSurrogate([object()], {}, card)
    assert sur.domain_issues({"v_endo_mm_ms": 4.0, "lv_cavity_ml": 161.0}) == []
    issue = sur.domain_issues({"v_endo_mm_ms": 4.02, "lv_cavity_ml": 165.0})
    assert [i.split(" =")[0] for i in issue] == ["v_endo_mm_ms", "lv_cavity_ml"]


def test_intervals_stop_at_physical_limits():
    n = 4
    p = Prediction(
        t_ms=np.tile(np.arange(n, dtype=float), (1, 1)),
        t_half_width_ms=np.ones((1, n)),
        response={k: np.array([v]) for k, v in {
            "qrs_crt_ms": 5.0, "ef_crt_acute_pct": 95.0, "d_dpdt_max_pct": 0.0,
            "d_work_diff_pct": 0.0, "d_lvesv_pct": -10.0, "d_lvedv_pct": 0.0,
            "tat_ms": 3.0, "lvat_ms": 3.0}.items()},
        half_width={k: np.array([20.0]) for k in pop.TARGETS},
        responder_probability=np.array([0.3]),
    )  # fmt: skip
    row = wi._rows(p, np.ones(n, bool), np.ones(n, bool))[0]
    assert row["ef_crt_acute_pct"]["interval_90"] == [75.0, 100.0]
    assert row["qrs_crt_ms"]["interval_90"][0] == 0.0


def test_vv_delay_help_gives_the_schema_range():
    from twinml.cli_whatif import VV_HELP
    from twinml.twins.schema import SPECS

    spec = SPECS["vv_delay_ms"]
    assert f"ms, {spec.low:g} to {spec.high:g} " in VV_HELP


def test_lead_off_the_lv_wall_is_refused_before_the_graph(
    twin_dir, model_dir, monkeypatch
):
    # the twin's graph costs seconds on a real heart: a site that can never
    # be a candidate must not wait for it
    def no_graph(*args, **kwargs):
        raise AssertionError("the graph was built for a lead the heart refuses")

    monkeypatch.setattr(wi, "prepare", no_graph)
    heart = Twin.load(twin_dir).ventricles()
    septal = np.flatnonzero(heart.septal_mask)[0]  # LV, but not free-wall epicardium
    refused = ((heart.rv_apex, "in the RV wall"), (septal, "not on the LV epicardium"))
    for node, said in refused:
        r = _whatif(
            *("--twin", twin_dir, "--model", model_dir), "--lv-lead", f"node:{node}"
        )
        assert r.exit_code == 2, r.output
        assert said in r.stderr and "AssertionError" not in r.stderr, r.stderr
