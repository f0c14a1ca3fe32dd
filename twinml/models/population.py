"""Population emulator: one mesh encoder, an activation decoder, a response head.

The activation part is `ActivationGNN` (encode the twin once, decode each
lead query with one hidden layer per node) trained across hearts on inputs
that do not depend on the heart's pose (`twinml.data.population`). The
response head reads, per query, the predicted activation and the twin's
encoding pooled into regional bins (the 17 AHA segments and the RV free
wall) with the twin's globals and the VV delay, and returns the CRT
response scalars (QRS, EF, dP/dtmax, work difference, ΔLVESV, ...):

    h = Encoder(x, edges)                                  (N, width)
    t = ActivationDecoder(h, lead, q)                      (B, N) ms
    r = Head([P^T (h W), P^T t / T, P^T x_lbbb, g, vv])    (B, n_targets)

with P the (N, n_bins) bin-mean matrix. Targets are standardised inside the
network (``target_mean``, ``target_std`` buffers), so `forward` returns
them in their units.

Multi-scale: the network runs on the coarse graph (about 5 mm, a few
hundred to a few thousand nodes), a sparse linear map takes its times to
every mesh node, and the graph travel times of the query (Dijkstra over
two-hop pairs) carry information across the whole heart before the first
layer, so a few layers suffice.
"""

from __future__ import annotations

import torch
from torch import nn

from twinml.models.activation_gnn import ActivationGNN, mlp

__all__ = ["PopulationGNN"]

#: Channel of the node features holding the LBBB graph time (see
#: `twinml.data.population.twin_graph`).
LBBB_CHANNEL = 10


class PopulationGNN(nn.Module):
    """Activation and CRT-response emulator across hearts.

    Parameters
    ----------
    node_dim, edge_dim, query_dim : int
        Input feature sizes.
    n_globals : int
        Twin-level inputs (scaled tissue and mechanics).
    n_bins : int
        Regional bins of the pooling.
    n_targets : int
        Response scalars.
    width, n_layers, decoder_width : int
        Encoder and decoder sizes (`ActivationGNN`).
    pooled_dim, head_width : int
        Per-node projection before pooling; hidden size of the head.
    k_init : float
        Initial factor on the graph travel time (`ActivationGNN`).
    """

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        query_dim: int,
        n_globals: int,
        n_bins: int,
        n_targets: int,
        width: int = 48,
        n_layers: int = 4,
        decoder_width: int = 64,
        pooled_dim: int = 8,
        head_width: int = 128,
        k_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.activation = ActivationGNN(
            node_dim,
            edge_dim,
            query_dim,
            width,
            n_layers,
            k_init=k_init,
            decoder_width=decoder_width,
        )
        self.project = nn.Linear(width, pooled_dim)
        n_in = n_bins * (pooled_dim + 2) + n_globals + 1
        self.head = mlp(n_in, head_width, n_targets)
        self.register_buffer("target_mean", torch.zeros(n_targets))
        self.register_buffer("target_std", torch.ones(n_targets))

    def encode(self, x, edge_index, edge_attr) -> torch.Tensor:
        """Twin encoding, (N, width)."""
        return self.activation.encode(x, edge_index, edge_attr)

    def decode(
        self,
        h: torch.Tensor,
        x: torch.Tensor,
        pool: torch.Tensor,
        g: torch.Tensor,
        lead: torch.Tensor,
        q: torch.Tensor,
        vv: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Coarse activation times and response scalars of B queries.

        Parameters
        ----------
        h : Tensor of shape (N, width)
            Twin encoding.
        x : Tensor of shape (N, node_dim)
            Node inputs (the LBBB graph time is read from them).
        pool : Tensor of shape (N, n_bins)
            Bin-mean matrix (columns sum to 1 over their nodes, or 0).
        g : Tensor of shape (n_globals,)
            Twin-level inputs.
        lead : Tensor of shape (B,), long
            Coarse node of each LV lead.
        q : Tensor of shape (B, N, query_dim)
            Query inputs.
        vv : Tensor of shape (B,)
            VV delay / 100 ms.

        Returns
        -------
        t : Tensor of shape (B, N)
            Coarse activation times, ms.
        r : Tensor of shape (B, n_targets)
            Response scalars in their units.
        """
        t = self.activation.decode(h, lead, q)
        b = t.shape[0]
        z_twin = torch.cat(
            [
                (self.project(h).T @ pool).reshape(-1),
                x[:, LBBB_CHANNEL] @ pool,
                g,
            ]
        )
        z = torch.cat(
            [
                z_twin.unsqueeze(0).expand(b, -1),
                (t / self.activation.t_scale_ms) @ pool,
                vv.unsqueeze(1),
            ],
            dim=1,
        )
        r = self.head(z) * self.target_std + self.target_mean
        return t, r
