"""AHA 17 segments and the long-axis frame."""

import numpy as np

from simulators.mesh.aha import LV_LEAD_SEGMENTS, aha_segments, long_axis_coordinates


def test_every_segment_is_reached_once_per_ring():
    phi = np.arange(-175.0, 180.0, 10.0)
    rings = {
        z: set(aha_segments(np.full(phi.size, z), phi)) for z in (0.85, 0.55, 0.25)
    }
    assert rings[0.85] == set(range(1, 7))
    assert rings[0.55] == set(range(7, 13))
    assert rings[0.25] == set(range(13, 17))
    assert set(aha_segments(np.array([0.02]), np.array([0.0]))) == {17}


def test_septum_is_centred_and_lateral_opposite():
    seg = aha_segments(np.array([0.9, 0.9, 0.9, 0.9]), np.array([-30, 30, 170, -170]))
    assert seg.tolist() == [3, 2, 6, 5]
    assert not set(seg[:2]) & set(LV_LEAD_SEGMENTS)


def test_frame_is_independent_of_where_the_heart_sits():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    args = (
        np.zeros(3),
        np.array([0, 0, 2.0]),
        np.array([1.0, 0, 0]),
        np.array([0, 1.0, 1]),
    )
    z0, phi0 = long_axis_coordinates(pts, *args)

    # rotate and translate everything: heights and angles do not move
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    shift = np.array([10.0, -4.0, 3.0])
    moved = [a @ q.T + shift for a in args]
    z1, phi1 = long_axis_coordinates(pts @ q.T + shift, *moved)
    np.testing.assert_allclose(z0, z1, atol=1e-12)
    np.testing.assert_allclose(np.sin(np.deg2rad(phi0 - phi1)), 0.0, atol=1e-9)
