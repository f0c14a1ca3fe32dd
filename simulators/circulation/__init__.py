"""Multi-patch heart in a closed-loop circulation (numpy and scipy only).

The pipeline is a folder: `patch` (sarcomere patch kernels) -> `walls`
(three spherical caps, septal balance) -> `heart` (`HeartModel` from a
heart's sizes) -> `circuit` (atria, vessels, valves) -> `beats` (beat loop
to a periodic steady state) -> `metrics` (PV readouts, regional work).
`geometry` reads patch sizes and onsets from a mesh and an activation map.

Example (on a `Ventricles` heart and an activation ``act``)::

    g = heart_geometry(heart.mesh, heart.aha)
    model = HeartModel.from_geometry(g)
    onset = patch_onsets(act.t_ms, g.node_patch, g.n_patches)
    beat = simulate(model, onset)
    haemodynamics(beat, model).summary()
"""

from simulators.circulation.beats import Beat, simulate
from simulators.circulation.circuit import CircuitParams
from simulators.circulation.geometry import (
    HeartGeometry,
    heart_geometry,
    patch_onsets,
)
from simulators.circulation.heart import HeartModel
from simulators.circulation.metrics import Haemodynamics, haemodynamics, patch_work
from simulators.circulation.patch import SarcomereParams

__all__ = [
    "Beat",
    "CircuitParams",
    "Haemodynamics",
    "HeartGeometry",
    "HeartModel",
    "SarcomereParams",
    "haemodynamics",
    "heart_geometry",
    "patch_onsets",
    "patch_work",
    "simulate",
]
