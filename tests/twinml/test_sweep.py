"""Sweeps: seeded sampling and the same results through any Dask cluster."""

import numpy as np
import pytest

from simulators.ep.protocols import TissueParams
from simulators.errors import ParameterError
from twinml.data.sweep import SweepConfig, run_sweep, sample_sweep, solve_sample


def test_sampling_is_seeded_and_inside_the_candidate_region(rodero_heart):
    a = sample_sweep(rodero_heart, SweepConfig(n_samples=8, seed=5))
    b = sample_sweep(rodero_heart, SweepConfig(n_samples=8, seed=5))
    c = sample_sweep(rodero_heart, SweepConfig(n_samples=8, seed=6))
    assert a == b and a != c
    leads = [s["lv_lead"] for s in a]
    assert len(set(leads)) == 8 and np.isin(leads, rodero_heart.lv_candidates).all()
    cv = np.array([s["cv_scale"] for s in a])
    assert cv.min() >= 0.7 and cv.max() <= 1.3


def test_existing_cluster_by_address_gives_the_direct_results(rodero_heart):
    from dask.distributed import LocalCluster

    samples = sample_sweep(rodero_heart, SweepConfig(n_samples=2, seed=1))
    tissue = TissueParams()
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        t = run_sweep(
            rodero_heart, samples, tissue, scheduler=cluster.scheduler_address
        )
    direct = np.stack([solve_sample(rodero_heart, s, tissue) for s in samples])
    np.testing.assert_array_equal(t, direct)


def test_bad_sweep_config_is_refused(rodero_heart):
    with pytest.raises(ParameterError, match="n_samples"):
        SweepConfig(n_samples=0)
    with pytest.raises(ParameterError, match="cv_scale"):
        SweepConfig(cv_scale_min=1.5, cv_scale_max=1.0)
    with pytest.raises(ParameterError, match="candidate"):
        sample_sweep(rodero_heart, SweepConfig(n_samples=10**6))
