"""Activation maps rendered to PNG off-screen with matplotlib (Agg).

The epicardial nodes are drawn from an anterior and a posterior view along
the heart's septum-to-lateral axis, coloured by activation time. pyvista
surface rendering needs an off-screen OpenGL stack that CI machines lack, so
this point rendering is the one used everywhere.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twinml.provenance import atomic_write  # noqa: E402


def render_activation_maps(
    points: np.ndarray,
    surface_nodes: np.ndarray,
    maps: dict[str, np.ndarray],
    path: str | Path,
    vmax_ms: float | None = None,
) -> Path:
    """Render one or more activation maps side by side to a PNG.

    Parameters
    ----------
    points : ndarray of shape (n_points, 3)
        Node coordinates, mm.
    surface_nodes : ndarray of int
        Nodes to draw (the epicardium).
    maps : dict of str to ndarray of shape (n_points,)
        Title to activation times, ms.
    path : str or Path
        Output PNG.
    vmax_ms : float, optional
        Upper end of the colour scale; the largest time by default.

    Returns
    -------
    Path
        The absolute path written.
    """
    xyz = points[surface_nodes]
    centred = xyz - xyz.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    uv = centred @ axes[:2].T
    depth = centred @ axes[2]
    vmax = vmax_ms or max(float(np.nanmax(t)) for t in maps.values())

    fig, grid = plt.subplots(
        len(maps), 2, figsize=(8, 3.6 * len(maps)), squeeze=False, dpi=110
    )
    for row, (title, t) in enumerate(maps.items()):
        for col, side in enumerate((1, -1)):
            ax = grid[row, col]
            order = np.argsort(side * depth)
            sc = ax.scatter(
                uv[order, 0] * side,
                uv[order, 1],
                c=t[surface_nodes][order],
                s=3,
                cmap="turbo",
                vmin=0,
                vmax=vmax,
            )
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(f"{title} ({'front' if side > 0 else 'back'})", fontsize=9)
        fig.colorbar(
            sc, ax=grid[row].tolist(), label="activation time (ms)", shrink=0.8
        )

    path = Path(path).resolve()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path
