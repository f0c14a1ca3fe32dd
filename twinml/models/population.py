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
    d = Refiner(h, lead, q, b / T)                          (B, N)
    t_map = k b_fine + 0.1 T I d                           (B, n_points) ms

The two decoders share the encoder. The coarse one reads only the coarse
graph's travel times, so hundreds of lead sites are ranked in one call;
the refiner corrects the shortest-path activation over the mesh's edges
(``b``, one Dijkstra per lead, `twinml.data.lead_paths`) at the coarse
nodes, and its correction is interpolated (``I``) to every mesh node, so
the map keeps the fine detail of the paths round scar and near the lead.

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

import math
from pathlib import Path

import torch
from torch import nn

from twinml.models.activation_gnn import ActivationGNN, mlp
from twinml.models.checkpoints import load_weights

__all__ = ["PopulationGNN", "Refiner", "load_member"]

#: Channel of the node features holding the LBBB shortest-path time (see
#: `twinml.data.population.twin_graph`).
LBBB_CHANNEL = 10


class Refiner(nn.Module):
    """Correction of the shortest-path activation at the coarse nodes.

    Same split first layer as `ActivationGNN.decode` (the heart's part once
    per node); the last layer starts at zero, so an untrained refiner
    returns ``k b``, the calibrated baseline.

    Parameters
    ----------
    width, query_dim, hidden : int
        Encoding size, query features (the shortest-path time is appended
        as one more), hidden size.
    t_scale_ms : float
    k_init : float
        Initial factor on the shortest-path time.
    """

    def __init__(
        self,
        width: int,
        query_dim: int,
        hidden: int,
        t_scale_ms: float = 100.0,
        k_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.t_scale_ms = t_scale_ms
        self.net = mlp(2 * width + query_dim + 1, hidden, 1)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.log_k = nn.Parameter(torch.tensor(math.log(k_init)))

    @property
    def k(self) -> torch.Tensor:
        """Factor on the shortest-path time."""
        return torch.exp(self.log_k)

    def forward(
        self, h: torch.Tensor, lead: torch.Tensor, q: torch.Tensor, b: torch.Tensor
    ) -> torch.Tensor:
        """Correction d of B queries, shape (B, N), in units of 0.1 t_scale.

        Parameters
        ----------
        h : Tensor of shape (N, width)
        lead : Tensor of shape (B,), long
        q : Tensor of shape (B, N, query_dim)
        b : Tensor of shape (B, N)
            Shortest-path times at the coarse nodes / t_scale.
        """
        first, rest = self.net[0], self.net[1:]
        width = h.shape[1]
        qb = torch.cat([q, b.unsqueeze(-1)], dim=-1)
        w_node, w_lead, w_q = first.weight.split([width, width, qb.shape[2]], dim=1)
        z = (
            (h @ w_node.T).unsqueeze(0)
            + (h[lead] @ w_lead.T).unsqueeze(1)
            + qb @ w_q.T
            + first.bias
        )
        return rest(z).squeeze(-1)

    def times(self, b: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Corrected times, ms, from b / t_scale and the correction."""
        return self.t_scale_ms * (self.k * b + 0.1 * d)


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
        self.refiner = Refiner(width, query_dim, decoder_width, k_init=k_init)
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
            Node inputs (the LBBB shortest-path time is read from them).
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
        z = self.head_input(h, x, pool, g, t, vv)
        return t, self.head(z) * self.target_std + self.target_mean

    def head_input(
        self,
        h: torch.Tensor,
        x: torch.Tensor,
        pool: torch.Tensor,
        g: torch.Tensor,
        t: torch.Tensor,
        vv: torch.Tensor,
    ) -> torch.Tensor:
        """Inputs of the response head, shape (B, n_in) (see `decode`)."""
        z_twin = torch.cat(
            [
                (self.project(h).T @ pool).reshape(-1),
                x[:, LBBB_CHANNEL] @ pool,
                g,
            ]
        )
        return torch.cat(
            [
                z_twin.unsqueeze(0).expand(t.shape[0], -1),
                (t / self.activation.t_scale_ms) @ pool,
                vv.unsqueeze(1),
            ],
            dim=1,
        )


def load_member(path: str | Path) -> PopulationGNN:
    """Rebuild one member from its checkpoint (digest checked, weights only)."""
    return load_weights(path, PopulationGNN)
