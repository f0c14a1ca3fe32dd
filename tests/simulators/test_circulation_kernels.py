"""Pure kernels of the circulation: patches, wall caps, wall equilibrium, circuit."""

import numpy as np
import pytest

from simulators.circulation.circuit import CircuitParams, flows, volume_rates
from simulators.circulation.patch import (
    SarcomereParams,
    fibre_stress,
    one_fibre_pressure,
    patch_tension,
    twitch,
)
from simulators.circulation.walls import cap_geometry, solve_walls
from simulators.errors import ParameterError

SARC = SarcomereParams()


def test_twitch_is_zero_before_onset_and_relaxes_within_a_cycle():
    f = twitch(np.array([-10.0, 0.0, 150.0, 840.0]), SARC)
    assert f[0] == 0.0 and f[1] == 0.0
    assert 0.8 < f[2] <= 1.0
    # decays to below 1e-6 by the end of a 70 bpm cycle (857 ms)
    assert f[3] < 1e-6


@pytest.mark.parametrize("f_act", [0.0, 0.7])
def test_fibre_stress_derivative_matches_finite_differences(f_act):
    lam = np.array([0.7, 0.95, 1.05, 1.2])
    args = (np.full(4, f_act), SARC, 50.0, 2.0, 12.0)
    _, d = fibre_stress(lam, *args)
    h = 1e-6
    fd = (fibre_stress(lam + h, *args)[0] - fibre_stress(lam - h, *args)[0]) / (2 * h)
    # central differences: error O(h^2) times the curvature, far below 1e-5
    np.testing.assert_allclose(d, fd, rtol=1e-5, atol=1e-6)


def test_patch_tension_derivative_and_area():
    e = np.array([-0.1, 0.05, 0.12])
    vw, aref = np.array([5e3, 1e4, 2e4]), np.array([500.0, 900.0, 1500.0])

    def tension(e):
        s, d = fibre_stress(np.exp(e), np.full(3, 0.5), SARC, 50.0, 2.0, 12.0)
        return patch_tension(e, s, d, vw, aref)

    t, k, a = tension(e)
    np.testing.assert_allclose(a, aref * np.exp(2 * e))
    h = 1e-6
    fd = (tension(e + h)[0] - tension(e - h)[0]) / (2 * h)
    np.testing.assert_allclose(k, fd, rtol=1e-6)  # central differences, O(h^2)


def test_cap_geometry_inverts_the_cap_volume_and_da_dv_is_twice_curvature():
    v = np.array([-3e4, 0.0, 1e3, 8e4, 3e5])
    x, a, c = cap_geometry(v, 30.0)
    np.testing.assert_allclose(np.pi / 6 * x * (x**2 + 3 * 30.0**2), v, atol=1e-6)
    h = 1.0
    da = (cap_geometry(v + h, 30.0)[1] - cap_geometry(v - h, 30.0)[1]) / (2 * h)
    # dA/dV = 2C is exact; central differences with h = 1 mm^3 err < 1e-8
    np.testing.assert_allclose(da, 2 * c, rtol=1e-7)


def test_one_fibre_pressure_tends_to_its_thin_wall_limit():
    sigma, v_cav = np.array([30.0]), np.array([1000.0])
    p = one_fibre_pressure(sigma, v_cav, np.array([1.0]))
    thin = 7.500617 * 30.0 / 3 * 1.0 / 1000.0
    # ln(1 + x) = x (1 - x/2 + ...): relative gap x/2 = 5e-4
    np.testing.assert_allclose(p, thin, rtol=6e-4)


def test_wall_equilibrium_balances_septum_and_fills_the_caps():
    wall = np.array([0, 0, 1, 2])
    vw, aref = np.array([4e4, 4e4, 3e4, 3e4]), np.array([3e3, 3e3, 2e3, 4e3])
    f = np.array([0.2, 0.6, 0.4, 0.1])

    def tension(e):
        s, d = fibre_stress(np.exp(e), f, SARC, 50.0, 2.0, 12.0)
        return patch_tension(e, s, d, vw, aref)

    vm = np.array([1.8e5, 1.6e5])
    e, v_s, y, t_w, c = solve_walls(vm, wall, tension, (np.zeros(4), 0.0, 30.0))
    t_p, _, a_p = tension(e)
    # Newton stops at strain steps below 1e-10: residuals at round-off level
    np.testing.assert_allclose(t_p, t_w[wall], rtol=1e-8)
    x, a_cap, _ = cap_geometry(np.array([vm[0] - v_s, v_s, vm[1] + v_s]), y)
    np.testing.assert_allclose(np.bincount(wall, a_p, 3), a_cap, rtol=1e-9)
    # axial and radial force balance of the junction (TriSeg)
    assert abs(t_w[0] * c[0] - t_w[1] * c[1] - t_w[2] * c[2]) < 1e-9 * t_w.max()
    radial = np.dot(t_w, (y**2 - x**2) / (x**2 + y**2))
    assert abs(radial) < 1e-8 * t_w.max()


def test_circuit_conserves_volume_and_valves_block_backflow():
    c = CircuitParams()
    v = np.array([120.0, 130.0, 60, 60, 800, 3000, 200, 400])
    assert abs(volume_rates(v, 150.0, 40.0, 0.5, c).sum()) < 1e-12
    # every pressure gradient reversed across the four valves
    p = np.array([5.0, 3.0, 10.0, 8.0, 90.0, 5.0, 15.0, 8.0])
    q = flows(p, c)
    assert q[1] == 0.0 and q[5] == 0.0  # aortic and pulmonary valves closed
    p = np.array([20.0, 20.0, 5.0, 5.0, 90.0, 5.0, 15.0, 8.0])
    q = flows(p, c)
    assert q[0] == 0.0 and q[4] == 0.0  # mitral and tricuspid valves closed


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"heart_rate_bpm": 250.0}, "heart_rate_bpm"),
        ({"c_sa": -1.0}, "c_sa"),
        ({"r_sys_s": 0.0}, "r_sys_s"),
    ],
)
def test_circuit_rejects_non_physical_parameters(kw, name):
    with pytest.raises(ParameterError, match=name):
        CircuitParams(**kw)
