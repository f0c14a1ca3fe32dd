"""Pressure-volume loops rendered to PNG off-screen with matplotlib (Agg).

Two panels, LV and RV, each with one closed loop per beat (volume on the
horizontal axis, mL; pressure on the vertical, mmHg), so that a LBBB beat,
the acute CRT beat and the adapted CRT beat can be read against each other.
The figure is built on a bare `matplotlib.figure.Figure` (no pyplot state),
so rendering in a worker or a test leaves no open figure behind.

Examples
--------
>>> import numpy as np
>>> t = np.linspace(0.0, 2.0 * np.pi, 50)
>>> v = np.stack([90 + 30 * np.cos(t), 100 + 30 * np.cos(t)], axis=1)
>>> p = np.stack([60 - 55 * np.sin(t), 15 - 12 * np.sin(t)], axis=1)
>>> png = pv_loops_png({"beat": (v, p)})
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from simulators.errors import ParameterError
from twinml.provenance import atomic_write

if TYPE_CHECKING:
    from simulators.circulation.beats import Beat

__all__ = ["beat_loops", "pv_loops_png", "render_pv_loops"]

#: Line colours of successive loops (LBBB, acute CRT, adapted CRT, ...).
COLOURS = ("#444444", "#d95f02", "#1b9e77", "#7570b3", "#e7298a")
SIDES = ("LV", "RV")


def beat_loops(beats: Mapping[str, Beat]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """LV and RV volumes and pressures of steady-state beats.

    Parameters
    ----------
    beats : mapping of str to Beat
        Label to beat (`simulators.circulation.beats.Beat`).

    Returns
    -------
    dict of str to (ndarray of shape (n_t, 2), ndarray of shape (n_t, 2))
        Label to (volumes mL, pressures mmHg), columns LV then RV.
    """
    return {
        label: (b.volumes_ml[:, :2], b.pressures_mmhg[:, :2])
        for label, b in beats.items()
    }


def pv_loops_png(
    loops: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str | None = None
) -> bytes:
    """Render LV and RV pressure-volume loops to PNG bytes.

    Parameters
    ----------
    loops : mapping of str to (ndarray of shape (n_t, 2), ndarray of shape (n_t, 2))
        Label to (volumes mL, pressures mmHg), columns LV then RV; at most
        ``len(COLOURS)`` loops.
    title : str, optional
        Figure title.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    if not 1 <= len(loops) <= len(COLOURS):
        raise ParameterError(
            f"pv_loops_png draws 1 to {len(COLOURS)} loops, got {len(loops)}"
        )

    # one panel per ventricle, the loops overlaid
    fig = Figure(figsize=(9, 4), dpi=110, layout="constrained")
    axes = fig.subplots(1, 2)
    for (label, (v_ml, p_mmhg)), colour in zip(loops.items(), COLOURS, strict=False):
        v_ml, p_mmhg = np.asarray(v_ml), np.asarray(p_mmhg)
        for side, ax in enumerate(axes):
            ax.plot(v_ml[:, side], p_mmhg[:, side], color=colour, lw=1.6, label=label)

    # axes, legend and title
    for side, ax in zip(SIDES, axes, strict=True):
        ax.set_xlabel(f"{side} volume (mL)")
        ax.set_ylabel(f"{side} pressure (mmHg)")
        ax.set_title(f"{side} pressure-volume loop", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render_pv_loops(
    beats: Mapping[str, Beat], path: str | Path, title: str | None = None
) -> Path:
    """Render the LV and RV loops of beats to a PNG file, atomically.

    Parameters
    ----------
    beats : mapping of str to Beat
        Label to steady-state beat.
    path : str or Path
        Output PNG; written to a temporary name, then renamed.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The absolute path written.
    """
    png = pv_loops_png(beat_loops(beats), title)
    path = Path(path).resolve()
    return atomic_write(path, lambda tmp: tmp.write_bytes(png))
