"""Parameter spaces, and the resumable response sweep on a 2-worker cluster."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.errors import ParameterError
from twinml.data.response_sweep import (
    PIPELINE_VERSION,
    ResponseSettings,
    read_sweep,
    run_response_sweep,
    sample_key,
    simulate_sample,
)
from twinml.data.sample_store import SampleStore
from twinml.data.space import (
    WALL_ASYMMETRY,
    asymmetric_space,
    population_space,
    response_space,
    shape_kwargs,
)

# coarse hearts: a 4 mm grid (about 4,000 nodes, 1-3 s a sample)
COARSE = ResponseSettings(h_mm=4.0, circulation=False)


def _coarse_samples(n, seed=3):
    space = response_space().narrowed(rv_wall_mm=(4.0, 4.0), lv_wall_mm=(8.0, 13.0))
    return space.fixed(scar=0).sample(n, seed=seed, method="lhs")


# --- space ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_sampling_is_seeded_and_in_range(method):
    space = response_space()
    a = space.sample(16, seed=5, method=method)
    b = space.sample(16, seed=5, method=method)
    c = space.sample(16, seed=6, method=method)

    assert a == b and a != c
    for p in space.parameters:
        values = np.array([row[p.name] for row in a])
        assert values.min() >= p.low and values.max() <= p.high, p.name
    assert {row["scar"] for row in a} == {0, 1}


def test_lhs_fills_every_stratum():
    rows = response_space().sample(10, seed=0, method="lhs")
    u = np.array([(r["vv_delay_ms"] + 20.0) / 80.0 for r in rows])

    # one point in each tenth of the range, by construction
    assert sorted(np.floor(u * 10).astype(int)) == list(range(10))


def test_sobol_warns_off_powers_of_two():
    with pytest.warns(UserWarning, match="not a power of two"):
        response_space().sample(5, seed=0)


def test_narrowing_outside_the_range_is_refused():
    with pytest.raises(ParameterError, match=r"must lie inside \[0.45, 0.8\]"):
        response_space().narrowed(v_fibre_mm_ms=(0.2, 0.5))
    with pytest.raises(ParameterError, match="unknown parameters"):
        response_space().fixed(speed=1.0)


def test_asymmetric_space_adds_the_wall_asymmetry_and_leaves_the_rest():
    base = population_space()
    space = asymmetric_space(base)
    names = space.names
    shape = [n for n in names if space[n].group == "shape"]
    assert shape[-1] == WALL_ASYMMETRY.name and len(names) == len(base.names) + 1
    rows = space.sample(8, seed=1, method="lhs")
    f = np.array([r["lv_wall_asymmetry"] for r in rows])
    assert f.min() >= 0.0 and f.max() <= 0.35 and f.std() > 0.05
    # shape_kwargs hands it to biv_ellipsoid; the symmetric space's draws
    # (and so every sweep drawn before it) do not change
    assert shape_kwargs(rows[0])["lv_wall_asymmetry"] == rows[0]["lv_wall_asymmetry"]
    assert "lv_wall_asymmetry" not in base.sample(8, seed=1, method="lhs")[0]
    with pytest.raises(ParameterError, match="in the space already"):
        asymmetric_space(space)


def test_one_heart_takes_no_shape_parameters(tmp_path):
    with pytest.raises(ParameterError, match="apply to mesh='biv' only"):
        run_response_sweep(
            _coarse_samples(1), ResponseSettings(mesh="rodero01"), tmp_path
        )


# --- store ------------------------------------------------------------------


def test_key_follows_sample_and_settings():
    s = _coarse_samples(2)
    assert sample_key(s[0], COARSE) == sample_key(dict(s[0]), COARSE)
    assert sample_key(s[0], COARSE) != sample_key(s[1], COARSE)
    other = ResponseSettings(h_mm=3.0, circulation=False)
    assert sample_key(s[0], COARSE) != sample_key(s[0], other)


def test_damaged_file_is_detected_and_removed(tmp_path):
    store = SampleStore(tmp_path, PIPELINE_VERSION)
    t = np.arange(5, dtype=np.float32)
    result = {
        "arrays": {"t_lbbb_ms": t, "t_crt_ms": t},
        "meta": {"sample": {}, "scalars": {}, "n_points": 5},
    }
    path = store.save("k1", result)
    assert store.load("k1")["meta"]["n_points"] == 5

    # a wrong key, then a truncated file
    path.rename(store.path("k2"))
    assert store.load("k2") is None and not store.path("k2").exists()
    store.save("k1", result)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    # a reader that recomputes nothing (the diagnostics) leaves it in place
    assert store.load("k1", remove=False) is None and path.exists()
    assert store.load("k1") is None and not path.exists()


# --- sweep ------------------------------------------------------------------


class Killed(Exception):
    """Stands for the sweep process dying."""


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    samples = _coarse_samples(4)
    store = SampleStore(tmp_path, PIPELINE_VERSION)
    saved = []

    def die_after_two(key):
        saved.append(key)
        if len(saved) == 2:
            raise Killed

    # killed after two samples: two valid files, nothing half written
    with pytest.raises(Killed):
        run_response_sweep(
            samples, COARSE, tmp_path, n_workers=2, on_saved=die_after_two
        )
    assert sorted(store.keys()) == sorted(saved)

    # one finished file damaged, a partial write left behind
    damaged = store.path(saved[0])
    damaged.write_bytes(damaged.read_bytes()[:100])
    (store.folder / f".{saved[1]}.npz.x.part").write_bytes(b"half")

    # resumed: the intact file is kept, the rest computed once
    report = run_response_sweep(samples, COARSE, tmp_path, n_workers=2)
    assert (report.n_cached, report.n_computed, report.failures) == (1, 3, {})
    assert len(store.keys()) == 4 and not list(store.folder.glob(".*"))

    # a third run finds everything and starts no cluster
    again = run_response_sweep(samples, COARSE, tmp_path)
    assert (again.n_cached, again.n_computed) == (4, 0)
    rows = read_sweep(tmp_path)
    assert len(rows) == 4
    assert all(100 < r["qrs_lbbb_ms"] < 250 for r in rows)
    entry = store.load(rows[0]["key"])
    n = entry["meta"]["n_points"]
    assert entry["arrays"]["points"].shape == (n, 3)
    assert entry["arrays"]["t_crt_ms"].shape == (n,)


@pytest.mark.filterwarnings("ignore:.*cannot be reached:RuntimeWarning")
def test_one_sample_with_scar_and_circulation():
    sample = {
        **_coarse_samples(1)[0],
        "scar": 1,
        "scar_radius_mm": 12.0,
        "scar_apicobasal": 0.5,
        "scar_rotational_deg": 180.0,
        "scar_transmurality": 1.0,
        "scar_border_mm": 3.0,
    }
    out = simulate_sample(sample, ResponseSettings(h_mm=4.0, crt_max_steps=4))
    s = out["meta"]["scalars"]

    assert s["unreachable_lbbb"] > 0  # the scar blocks conduction
    assert np.isnan(out["arrays"]["t_lbbb_ms"]).sum() == s["unreachable_lbbb"]
    for name in (
        "ef_lbbb_pct",
        "dpdt_max_lbbb_mmhg_s",
        "d_lvesv_pct",
        "d_work_diff_pct",
        "d_dpdt_max_pct",
    ):
        assert np.isfinite(s[name]), name
    assert 10 < s["ef_lbbb_pct"] < 80
    assert isinstance(s["responder"], bool)
