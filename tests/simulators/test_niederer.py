"""Niederer 2011 slab: a report beside the published spread, not a pass band."""

import pytest

from simulators.ep.niederer import PUBLISHED_FAR_CORNER_MS, niederer_far_corner_ms


@pytest.mark.parametrize("dx_mm", [0.5, 0.25])
def test_far_corner_activation_beside_the_published_spread(dx_mm, record_property):
    t = niederer_far_corner_ms(dx_mm)
    record_property("far_corner_ms", t)
    print(
        f"Niederer slab, dx {dx_mm} mm: far corner {t:.1f} ms "
        f"(published {PUBLISHED_FAR_CORNER_MS[0]}-{PUBLISHED_FAR_CORNER_MS[1]} ms)"
    )
    # sanity only: the straight-line Eikonal time from the stimulus corner,
    # 39 ms with these velocities, within a factor that no bug would keep
    assert 30.0 < t < 50.0
