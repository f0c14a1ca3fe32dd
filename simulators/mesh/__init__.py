"""Tetrahedral meshes: the `TetMesh` value, I/O, validation and real hearts."""

from simulators.mesh.tetmesh import TetMesh

__all__ = ["TetMesh"]
