"""Fixtures shared by the twinml tests."""

import warnings

import pytest

from simulators.ep.ventricles import Ventricles
from simulators.hearts import mesh_fibres, with_coordinates
from simulators.mesh.biv import biv_ellipsoid
from simulators.mesh.io import write_vtu


@pytest.fixture(scope="session")
def coarse_mesh(tmp_path_factory):
    """A coarse BiV ellipsoid (4 mm grid, about 4,000 nodes) as a VTU file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mesh = biv_ellipsoid(h_mm=4.0, rv_wall_mm=4.0)
    path = tmp_path_factory.mktemp("mesh") / "biv4.vtu"
    write_vtu(mesh, path)
    return path


@pytest.fixture(scope="session")
def coarse_heart():
    """A coarse (4 mm) biventricular heart with coordinates and fibres
    (+-60 degrees), shared by the population and marker tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mesh = with_coordinates(biv_ellipsoid(h_mm=4.0))
    return Ventricles(mesh, mesh_fibres(mesh, 60.0, -60.0))


@pytest.fixture(scope="session")
def heart(coarse_heart):
    """The coarse heart, under the name the population and marker tests use."""
    return coarse_heart


@pytest.fixture(scope="session")
def coarse_reference(coarse_heart):
    """The sweep's reference record of a sample on the coarse heart, without
    the circulation, and its population example (8 mm coarse graph).

    Returns a function of the sample (overrides of ``SAMPLE_DEFAULTS``).
    """
    import twinml.data.response_sweep as rs
    from twinml.data import population as pop

    settings = rs.ResponseSettings(mesh="biv", h_mm=4.0, circulation=False)

    def run(sample: dict) -> tuple[dict, object]:
        mp = pytest.MonkeyPatch()
        mp.setattr(rs, "_heart", lambda sample, settings: coarse_heart)
        try:
            r = rs.simulate_sample(sample, settings)
        finally:
            mp.undo()
        s = {**rs.SAMPLE_DEFAULTS, **sample}
        t_crt = r["arrays"]["t_crt_ms"]
        return r, pop.example(coarse_heart, s, r["meta"]["scalars"], t_crt, None, 8.0)

    return run


@pytest.fixture(scope="session")
def toy_calibration():
    """Interval factors of untrained test models (every factor 1.5-2, unit
    spreads); a fresh dict each time, so that tests may extend it."""
    from twinml.data.population import TARGETS

    def make(**extra) -> dict:
        return {
            "activation": 1.5,
            "activation_floor_ms": 0.5,
            "targets": dict.fromkeys(TARGETS, 2.0),
            "target_std": [1.0] * len(TARGETS),
            "qrs_ecg": 2.0,
            **extra,
        }

    return make
