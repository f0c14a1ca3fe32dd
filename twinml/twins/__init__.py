"""Twins: one patient's heart as a folder that every ``--twin`` command reads.

`Twin.load` reads and checks a folder, `create_twin` writes one atomically;
`twinml.twins.schema` lists the parameters with their units and ranges,
`twinml.twins.observations` the clinical measurements, and
`twinml.twins.sites` places leads and scars by ventricular coordinates.
"""

from twinml.twins.create import create_twin
from twinml.twins.folder import Twin, TwinError
from twinml.twins.observations import load_observations

__all__ = ["Twin", "TwinError", "create_twin", "load_observations"]
