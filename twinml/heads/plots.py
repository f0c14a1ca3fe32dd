"""PNG plots of the heads: shape functions, contributions, calibration.

matplotlib with the Agg backend (no display needed). Each function writes
one PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_calibration", "plot_contributions", "plot_shape_functions"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_shape_functions(head, path: Path, title: str, output: int = 0) -> Path:
    """Every kept feature's shape function (one panel each).

    Parameters
    ----------
    head : AdditiveClassifier or AdditiveCox
        A fitted head.
    output : int
        Column of the linear predictor (a class of a classifier).
    """
    plt = _pyplot()
    names = list(head.design_.features)
    cols = 4
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows),
                             squeeze=False)  # fmt: skip
    for ax, name in zip(axes.ravel(), names, strict=False):
        grid, value = head.shape_function(name)
        ax.plot(grid, value[:, output], color="C0")
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_contributions(explanation: dict, path: Path, title: str) -> Path:
    """One patient's feature contributions as a horizontal bar chart.

    Bars of features outside the training range are hatched and marked.
    """
    plt = _pyplot()
    items = sorted(explanation["features"].items(),
                   key=lambda kv: abs(kv[1]["contribution"]))  # fmt: skip
    names = [
        n
        + (" (out of range)" if e.get("out_of_training_range") else "")
        + (" (imputed)" if e.get("imputed") else "")
        for n, e in items
    ]
    values = [e["contribution"] for _, e in items]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(items) + 1.2))
    colours = ["C3" if v > 0 else "C0" for v in values]
    bars = ax.barh(names, values, color=colours)
    for bar, (_, e) in zip(bars, items, strict=True):
        if e.get("out_of_training_range"):
            bar.set_hatch("//")
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_xlabel(explanation.get("explained", "contribution"))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_calibration(bins: dict, path: Path, title: str) -> Path:
    """Reliability diagram from `twinml.heads.metrics.calibration_bins`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.0, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
    ax.plot(bins["predicted"], bins["observed"], "o-", color="C0")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"{title}\nECE {bins['ece']:.3f}, Brier {bins['brier']:.3f}",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
