"""Marker head: the CRT response from a twin's scalars and its LBBB markers.

A small multilayer perceptron on the inputs of `twinml.data.markers`
(tissue, mechanics, scar, the twin's LBBB QRS, TAT and LVAT, and the
lead's place, QLV and VV delay). It
needs no mesh, so it carries over to a heart of another shape family as
well as those markers do; the population emulator blends it with the
GNN head (`twinml.query.population`).

Inputs and targets are standardised inside the network (buffers set from
the training set), so `forward` takes and returns values in their units.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from twinml.models.checkpoints import load_weights

__all__ = ["MarkerHead", "load_marker_head"]


class MarkerHead(nn.Module):
    """Response scalars from marker inputs.

    Parameters
    ----------
    n_inputs, n_targets : int
        Input size (`MARKER_INPUTS`) and number of response targets.
    hidden : int
        Width of the two hidden layers.
    dropout : float
        Dropout after the first hidden layer (training only).
    """

    def __init__(
        self, n_inputs: int, n_targets: int, hidden: int = 128, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, n_targets),
        )
        self.register_buffer("x_mean", torch.zeros(n_inputs))
        self.register_buffer("x_std", torch.ones(n_inputs))
        self.register_buffer("target_mean", torch.zeros(n_targets))
        self.register_buffer("target_std", torch.ones(n_targets))

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised targets of inputs x, shape (B, n_targets)."""
        return self.net((x - self.x_mean) / self.x_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Response scalars in their units, shape (B, n_targets).

        Parameters
        ----------
        x : Tensor of shape (B, n_inputs)
            Marker inputs in their units (`TwinMarkers.rows`).
        """
        return self.standardised(x) * self.target_std + self.target_mean


def load_marker_head(path: str | Path) -> MarkerHead:
    """Rebuild one marker head from its checkpoint (digest checked, weights
    only)."""
    return load_weights(path, MarkerHead)
