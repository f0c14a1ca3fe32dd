"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from simulators.mesh.tetmesh import TetMesh

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def twinml_cache() -> Iterator[Path]:
    """``TWINML_CACHE`` for the whole session, subprocesses included.

    It points at ``<repo>/.twinml-cache`` (git-ignored) unless already set,
    so the real heart is downloaded once, not once per run.
    """
    previous = os.environ.get("TWINML_CACHE")
    if not previous:
        os.environ["TWINML_CACHE"] = str(REPO / ".twinml-cache")
    yield Path(os.environ["TWINML_CACHE"])
    if not previous:
        os.environ.pop("TWINML_CACHE", None)


@pytest.fixture(scope="session")
def rodero_mesh(twinml_cache: Path) -> TetMesh:
    """The real heart's ventricles (Rodero case 01, 2.0 mm)."""
    from simulators.mesh.rodero import load_rodero_ventricles

    return load_rodero_ventricles()


@pytest.fixture(scope="session")
def rodero_heart(rodero_mesh: TetMesh):
    """The real heart with default helix fibres, ready for activation."""
    from simulators.ep.ventricles import Ventricles
    from simulators.fibres.rule_based import helix_fibres

    return Ventricles(rodero_mesh, helix_fibres(rodero_mesh))


@pytest.fixture
def two_tets() -> TetMesh:
    """Two positive tets sharing the face (1, 2, 3), edges 1 to 1.7 mm.

    Fields: ``point_data["t_act_ms"]`` (5,), ``surface_apex`` (5,) bool,
    ``cell_data["region"]`` (2,) int32 and ``cell_data["fibre"]`` (2, 3).
    """
    points = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=float
    )
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    return TetMesh(
        points,
        cells,
        point_data={
            "t_act_ms": np.arange(5.0),
            "surface_apex": np.array([True, False, False, False, False]),
        },
        cell_data={
            "region": np.array([1, 2], dtype=np.int32),
            "fibre": np.array([[1.0, 0, 0], [0, 1.0, 0]]),
        },
        meta={"name": "two_tets"},
    )
