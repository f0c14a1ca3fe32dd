"""Compiled map statistics of the population query against plain numpy."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

from twinml.query.map_kernels import interp_rows, map_statistics, refined_statistics


def _case(seed=0, n=60, n_coarse=9, n_members=3, n_queries=2):
    rng = np.random.default_rng(seed)
    w = sp.random(n, n_coarse, density=0.4, random_state=seed, format="csr")
    d = rng.normal(size=(n_members * n_queries, n_coarse)).astype(np.float32)
    k = rng.uniform(0.8, 1.1, n_members)
    paths = rng.uniform(0.0, 120.0, (n_queries, n))
    paths[:, 3] = np.nan  # no path to node 3
    live = rng.random(n) > 0.2
    return w, d, k, paths, live


def test_map_statistics_match_numpy_and_skip_dead_nodes():
    w, d, k, paths, live = _case(seed=1)
    t = k[:, None, None] * paths + np.asarray(w @ d.T).T.reshape(3, 2, -1)
    t[..., ~live] = np.nan  # scar
    lv = np.arange(t.shape[-1]) % 3 == 0
    mean, sd, ext, member_tat = map_statistics(t, live, lv)
    np.testing.assert_allclose(mean, t.mean(0), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(sd, t.std(0), rtol=1e-12, equal_nan=True)
    m = np.where(live, t.mean(0), np.nan)
    first = np.nanmin(m, axis=1)
    np.testing.assert_allclose(ext[:, 0], first)
    np.testing.assert_allclose(ext[:, 1], np.nanmax(m, axis=1))
    np.testing.assert_allclose(ext[:, 2], np.nanmax(m[:, lv], axis=1))
    tat = np.nanmax(t, axis=-1) - np.nanmin(t, axis=-1)
    np.testing.assert_allclose(member_tat, tat, rtol=1e-12)


def test_a_map_without_live_times_has_nan_extremes():
    t = np.full((2, 1, 4), np.nan)
    t[:, :, 0] = 5.0  # the one timed node lies in scar
    live = np.array([False, True, True, True])
    _, _, ext, member_tat = map_statistics(t, live, np.ones(4, dtype=bool))
    assert np.isnan(ext).all() and np.isnan(member_tat).all()


@pytest.mark.parametrize("n_members", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("threaded", [False, True])
def test_refined_statistics_equal_those_of_the_formed_maps(n_members, threaded):
    # the fused kernel interpolates three members at a time and sums offsets
    # from the first member: the same mean, SD and extremes as the members'
    # maps formed and reduced by `map_statistics`, to round-off (1e-9 ms on
    # times of 100 ms), whether or not half the nodes go to another thread
    w, d, k, paths, live = _case(seed=n_members, n_members=n_members)
    corr = d.reshape(n_members, 2, -1)
    t = k[:, None, None] * paths + np.asarray(w @ d.T).T.reshape(n_members, 2, -1)
    t[..., ~live] = np.nan
    lv = np.arange(t.shape[-1]) % 3 == 0
    pool = ThreadPoolExecutor(1) if threaded else None
    got = refined_statistics(paths, k, corr, interp_rows(w), live, lv, pool)
    for a, b in zip(got, map_statistics(t, live, lv), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, equal_nan=True)


def test_refined_statistics_without_live_times_have_nan_extremes():
    w, d, k, paths, _ = _case(seed=3)
    live = np.zeros(paths.shape[1], dtype=bool)  # all scar
    mean, sd, ext, member_tat = refined_statistics(
        paths, k, d.reshape(3, 2, -1), interp_rows(w), live, live
    )
    assert np.isnan(mean).all() and np.isnan(sd).all()
    assert np.isnan(ext).all() and np.isnan(member_tat).all()
