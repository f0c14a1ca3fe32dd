"""Activation-time emulator: a heart encoder and a light query decoder.

Encode-process-decode in the manner of MeshGraphNets (Pfaff et al. 2021,
ICLR), split so that a heart is encoded once and every pacing query reuses
the encoding:

    h = Encoder(x, edge_index, edge_attr)                 (n_coarse, width)
    t_c = k * tau_first + T * Decoder([h_c, h_lead, q_c])  (n_queries, n_coarse)

where q_c are the per-query physics inputs of `twinml.data.features` (graph
travel times from both leads, velocity scaling, VV delay), tau_first the
earliest graph travel time, k a learned global factor and T the time scale.
The network learns the correction to the graph estimate; a sparse linear map
takes coarse times to every mesh node.

Inputs and outputs (symbolic shapes): x (N, F_node), edge_index (2, E),
edge_attr (E, F_edge), lead (B,), q (B, N, F_query) -> t (B, N) in ms.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.nn import MessagePassing


def mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    """Two-layer perceptron with SiLU activations."""
    return nn.Sequential(
        nn.Linear(n_in, width),
        nn.SiLU(),
        nn.Linear(width, width),
        nn.SiLU(),
        nn.Linear(width, n_out),
    )


class MeshConv(MessagePassing):
    """Edge-MLP message passing with a residual update.

    m_ij = phi([h_i, h_j, e_ij]);  h_i <- h_i + psi([h_i, mean_j m_ij])

    Parameters
    ----------
    width : int
        Node feature size.
    edge_dim : int
        Edge feature size.
    """

    def __init__(self, width: int, edge_dim: int) -> None:
        super().__init__(aggr="mean")
        self.phi = mlp(2 * width + edge_dim, width, width)
        self.psi = mlp(2 * width, width, width)
        self.norm = nn.LayerNorm(width)

    def forward(
        self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
    ) -> torch.Tensor:
        """Update node features, (N, width) -> (N, width)."""
        agg = self.propagate(edge_index, h=h, e=edge_attr)
        return self.norm(h + self.psi(torch.cat([h, agg], dim=-1)))

    def message(
        self, h_i: torch.Tensor, h_j: torch.Tensor, e: torch.Tensor
    ) -> torch.Tensor:
        return self.phi(torch.cat([h_i, h_j, e], dim=-1))


class ActivationGNN(nn.Module):
    """Coarse-graph activation emulator.

    Parameters
    ----------
    node_dim, edge_dim, query_dim : int
        Input feature sizes.
    width : int
        Hidden size.
    n_layers : int
        Message-passing layers of the encoder.
    t_scale_ms : float
        Time scale of the inputs and the correction, ms.
    k_init : float
        Initial global factor on the graph travel time.
    decoder_width : int
        Hidden size of the one-hidden-layer decoder. Its first layer is
        additive in the heart, lead and query blocks, so a query costs one
        hidden layer per node: cheap enough to rank hundreds of sites.
    """

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        query_dim: int,
        width: int = 64,
        n_layers: int = 6,
        t_scale_ms: float = 100.0,
        k_init: float = 1.0,
        decoder_width: int = 64,
    ) -> None:
        super().__init__()
        self.t_scale_ms = t_scale_ms
        self.embed_node = mlp(node_dim, width, width)
        self.embed_edge = mlp(edge_dim, width // 2, width // 2)
        self.layers = nn.ModuleList(
            MeshConv(width, width // 2) for _ in range(n_layers)
        )
        self.decoder = nn.Sequential(
            nn.Linear(2 * width + query_dim, decoder_width),
            nn.SiLU(),
            nn.Linear(decoder_width, 1),
        )
        self.log_k = nn.Parameter(torch.tensor(math.log(k_init)))

    def encode(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
    ) -> torch.Tensor:
        """Heart encoding, (N, F_node) -> (N, width); computed once per heart."""
        h = self.embed_node(x)
        e = self.embed_edge(edge_attr)
        for layer in self.layers:
            h = layer(h, edge_index, e)
        return h

    def decode(
        self,
        h: torch.Tensor,
        lead: torch.Tensor,
        q: torch.Tensor,
        nodes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Coarse activation times of B queries, ms.

        The decoder's first layer acts on [h_c, h_lead, q_c]; it is applied
        to each block separately (the same sum) so that the heart's part is
        computed once per node, not once per query and node.

        Parameters
        ----------
        h : Tensor of shape (N, width)
            Heart encoding.
        lead : Tensor of shape (B,), long
            Coarse node of each query's LV lead.
        q : Tensor of shape (B, N, F_query)
            Query physics inputs; channel 2 is the earliest graph travel time.
        nodes : Tensor of shape (M,), long, optional
            Decode only these coarse nodes (all by default).

        Returns
        -------
        Tensor of shape (B, N), or (B, M) with `nodes`
        """
        first, rest = self.decoder[0], self.decoder[1:]
        width = h.shape[1]
        w_node, w_lead, w_q = first.weight.split([width, width, q.shape[2]], dim=1)
        h_node = h if nodes is None else h[nodes]
        q = q if nodes is None else q[:, nodes]
        z = (
            (h_node @ w_node.T).unsqueeze(0)
            + (h[lead] @ w_lead.T).unsqueeze(1)
            + q @ w_q.T
            + first.bias
        )
        delta = rest(z).squeeze(-1)
        return self.t_scale_ms * (torch.exp(self.log_k) * q[..., 2] + 0.1 * delta)

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor,
        lead: torch.Tensor,
        q: torch.Tensor,
    ) -> torch.Tensor:
        """Encode the heart and decode the queries, (B, N) in ms."""
        return self.decode(self.encode(x, edge_index, edge_attr), lead, q)
