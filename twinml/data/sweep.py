"""Seeded parameter sweeps of the reference Eikonal solver through Dask.

A sweep samples LV lead sites (without replacement from the candidate
region) and a myocardial velocity scaling (Latin hypercube), and solves each
sample on a Dask cluster: a local one by default (one single-threaded worker
process per core, bound to 127.0.0.1), or an existing scheduler given by
address. The heart is scattered to the workers once; each task returns the
activation times of one sample.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import qmc

from simulators.ep.ventricles import PacingPlan, TissueParams, Ventricles
from simulators.errors import ParameterError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep samples.

    Parameters
    ----------
    n_samples : int
        Number of solves (at least 1).
    seed : int
        Seed of every random draw of the sweep.
    cv_scale_min, cv_scale_max : float
        Range of the myocardial velocity scaling.
    vv_delay_ms : float
        VV delay of every sample, ms.
    """

    n_samples: int = 96
    seed: int = 0
    cv_scale_min: float = 0.7
    cv_scale_max: float = 1.3
    vv_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ParameterError(f"n_samples must be at least 1, got {self.n_samples}")
        if not 0 < self.cv_scale_min <= self.cv_scale_max:
            raise ParameterError(
                "need 0 < cv_scale_min <= cv_scale_max, got "
                f"{self.cv_scale_min}, {self.cv_scale_max}"
            )

    def as_dict(self) -> dict:
        """Plain dict for provenance."""
        return asdict(self)


def sample_sweep(heart: Ventricles, config: SweepConfig) -> list[dict]:
    """Draw the sweep's samples: LV lead node and velocity scaling.

    Returns
    -------
    list of dict
        One dict per sample with `lv_lead` (node id), `cv_scale`,
        `vv_delay_ms` and `rv_lead` (node id).
    """
    rng = np.random.default_rng(config.seed)
    candidates = heart.lv_candidates
    if config.n_samples > candidates.size:
        raise ParameterError(
            f"n_samples {config.n_samples} exceeds the {candidates.size} candidate "
            "LV lead sites"
        )
    leads = rng.choice(candidates, size=config.n_samples, replace=False)
    lhs = qmc.LatinHypercube(d=1, seed=rng).random(config.n_samples)[:, 0]
    cv = config.cv_scale_min + (config.cv_scale_max - config.cv_scale_min) * lhs
    return [
        {
            "lv_lead": int(lead),
            "rv_lead": int(heart.rv_apex),
            "cv_scale": float(scale),
            "vv_delay_ms": float(config.vv_delay_ms),
        }
        for lead, scale in zip(leads, cv, strict=False)
    ]


def solve_sample(heart: Ventricles, sample: dict, tissue: TissueParams) -> np.ndarray:
    """Activation times (ms, float32) of one sweep sample under CRT."""
    plan = PacingPlan(
        "crt",
        lv_lead=sample["lv_lead"],
        rv_lead=sample["rv_lead"],
        vv_delay_ms=sample["vv_delay_ms"],
    )
    scaled = TissueParams(
        v_fibre=tissue.v_fibre,
        v_cross=tissue.v_cross,
        v_endo=tissue.v_endo,
        cv_scale=sample["cv_scale"],
    )
    return heart.activate(plan, scaled).t_ms.astype(np.float32)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None) -> Iterator:
    """A Dask client: on `scheduler` if given, else on a new local cluster."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        logger.info("connecting to the Dask scheduler at %s", scheduler)
        with Client(scheduler, timeout="20s") as client:
            yield client
        return
    n_workers = n_workers or max(1, min(os.cpu_count() or 1, 4))
    logger.info("starting a local Dask cluster with %d workers", n_workers)
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # this distributed release serves a dashboard even when asked not
            # to; a free port on 127.0.0.1 keeps it private and conflict-free
            dashboard_address=":0",
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_sweep(
    heart: Ventricles,
    samples: list[dict],
    tissue: TissueParams,
    scheduler: str | None = None,
    n_workers: int | None = None,
) -> np.ndarray:
    """Solve every sample on a Dask cluster.

    Returns
    -------
    ndarray of shape (n_samples, n_points), float32
        Activation times, ms.
    """
    start = time.perf_counter()
    with dask_client(scheduler, n_workers) as client:
        heart_future = client.scatter(heart, broadcast=True)
        futures = client.map(
            solve_sample,
            [heart_future] * len(samples),
            samples,
            [tissue] * len(samples),
            pure=False,
        )
        results = client.gather(futures)
    logger.info("sweep: %d solves in %.1f s", len(samples), time.perf_counter() - start)
    return np.stack(results)
