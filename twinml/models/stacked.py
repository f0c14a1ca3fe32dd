"""An ensemble's query networks stacked, so each layer is one call for all members.

Each `PopulationGNN` member answers a query with three small networks on
its twin encoding: the coarse activation decoder, the response head and
the refiner, and each `MarkerHead` with one more. Called member by member
they cost some 40 torch calls per query, mostly call overhead on a few
thousand coarse nodes. `StackedDecoders` (one encoded twin) and
`StackedMarkerHeads` compute the same answers in a few calls:

* the first layers' heart and lead blocks (``h W_node + b`` and ``h
  W_lead``, `ActivationGNN.decode` and `Refiner`) and the head's twin
  block (pooled encoding, LBBB times and globals) are computed once per
  twin, since they do not depend on the query;
* the members' weights are stacked, so each remaining layer is one
  matrix product (or one batched product, ``torch.baddbmm``) for all
  members.

The answers equal the members' own (`PopulationGNN.decode`, `Refiner`,
`MarkerHead`) to float32 rounding (tested); training uses the members
themselves.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from twinml.models.population import LBBB_CHANNEL, PopulationGNN

__all__ = ["StackedDecoders", "StackedMarkerHeads"]

#: Queries decoded together by `StackedDecoders.coarse`: its hidden layer
#: holds M x chunk x N x H floats (about 40 MB on a 2,000-node heart).
CHUNK = 32


def _stack(tensors) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors])


def _mlp_tail(net: nn.Sequential) -> list[nn.Linear]:
    """The linear layers after the first of a SiLU perceptron (`mlp`)."""
    return [m for m in list(net)[1:] if isinstance(m, nn.Linear)]


def _tail(layers: list[list[nn.Linear]]) -> list[tuple]:
    """Each later layer's weights (M, n_in, n_out) and bias (M, 1, n_out)."""
    return [
        (
            _stack(per[i].weight.T for per in layers),
            _stack(per[i].bias for per in layers).unsqueeze(1),
        )
        for i in range(len(layers[0]))
    ]


def _run_tail(z: torch.Tensor, tail: list[tuple]) -> torch.Tensor:
    """SiLU, then each later layer (SiLU between them), on (M, R, n_in)."""
    for w, b in tail:
        z = torch.baddbmm(b, nn.functional.silu(z), w)
    return z


class StackedDecoders:
    """Query decoders of M members on one encoded twin, in stacked form.

    Parameters
    ----------
    members : list of PopulationGNN
        Members of one configuration (same sizes).
    h : list of Tensor of shape (N, width)
        Each member's encoding of the twin.
    x : Tensor of shape (N, node_dim)
        The twin's node inputs.
    pool : Tensor of shape (N, n_bins)
        Bin-mean matrix.
    g : Tensor of shape (n_globals,)
        The twin's globals.
    """

    @torch.no_grad()
    def __init__(
        self,
        members: list[PopulationGNN],
        h: list[torch.Tensor],
        x: torch.Tensor,
        pool: torch.Tensor,
        g: torch.Tensor,
    ) -> None:
        self.n_members = len(members)
        self.pool = pool
        acts = [m.activation for m in members]
        refs = [m.refiner for m in members]

        # coarse decoder: heart and lead blocks per twin, query block stacked
        self.dec_node, self.dec_lead, self.dec_q = self._first_layer(
            [a.decoder[0] for a in acts], h
        )
        self.dec_out = _stack(a.decoder[2].weight[0] for a in acts)  # (M, H)
        self.dec_bias = _stack(a.decoder[2].bias for a in acts)  # (M, 1)
        self.dec_k = _stack(torch.exp(a.log_k) for a in acts)
        self.t_scale = torch.tensor([a.t_scale_ms for a in acts])

        # refiner: same split, then two stacked layers
        self.ref_node, self.ref_lead, self.ref_q = self._first_layer(
            [r.net[0] for r in refs], h
        )
        self.ref_tail = _tail([_mlp_tail(r.net) for r in refs])
        self.ref_scale = torch.tensor([r.t_scale_ms for r in refs])
        #: The refiners' factors on the shortest-path times, (M,).
        self.ref_k = np.array([float(r.k) for r in refs])

        # response head: the twin's block of its first layer, per member
        head_first = [m.head[0] for m in members]
        n_bins = pool.shape[1]
        twin = [
            torch.cat(
                [(m.project(hm).T @ pool).reshape(-1), x[:, LBBB_CHANNEL] @ pool, g]
            )
            for m, hm in zip(members, h, strict=True)
        ]
        n_twin = twin[0].numel()
        self.head_twin = _stack(
            f.weight[:, :n_twin] @ z + f.bias
            for f, z in zip(head_first, twin, strict=True)
        ).unsqueeze(1)  # (M, 1, hidden)
        self.head_t = _stack(
            f.weight[:, n_twin : n_twin + n_bins].T for f in head_first
        )  # (M, n_bins, hidden)
        self.head_vv = _stack(f.weight[:, -1] for f in head_first).unsqueeze(1)
        self.head_tail = _tail([_mlp_tail(m.head) for m in members])
        self.target_std = _stack(m.target_std for m in members).unsqueeze(1)
        self.target_mean = _stack(m.target_mean for m in members).unsqueeze(1)

    @staticmethod
    def _first_layer(layers: list[nn.Linear], h: list[torch.Tensor]) -> tuple:
        """A first layer acting on ``[h_node, h_lead, query]``, split: the
        heart block with the bias (M, N, H), the lead block (M, N, H) and
        the query block's weights (M, 1, F_query, H)."""
        width = h[0].shape[1]
        node, lead, query = [], [], []
        for layer, hm in zip(layers, h, strict=True):
            w = layer.weight.detach()
            node.append(hm @ w[:, :width].T + layer.bias.detach())
            lead.append(hm @ w[:, width : 2 * width].T)
            query.append(w[:, 2 * width :].T)
        return torch.stack(node), torch.stack(lead), torch.stack(query).unsqueeze(1)

    def _hidden(self, node, lead, w_q, lead_c, q) -> torch.Tensor:
        """First layer of B queries, (M, B N, H): heart + lead + query."""
        z = q @ w_q  # (M, B, N, H)
        z += node.unsqueeze(1)
        z += lead[:, lead_c].unsqueeze(2)
        return z.view(z.shape[0], -1, z.shape[3])

    # -------------------------------------------------------------- queries
    @torch.no_grad()
    def coarse(
        self, lead_c: torch.Tensor, q: torch.Tensor, vv: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Coarse times (M, B, N), ms, and responses (M, B, n_targets).

        Same inputs as `PopulationGNN.decode` (``lead``, ``q``, ``vv``).
        """
        if q.shape[0] > CHUNK:
            parts = [
                self.coarse(lead_c[i : i + CHUNK], q[i : i + CHUNK], vv[i : i + CHUNK])
                for i in range(0, q.shape[0], CHUNK)
            ]
            return tuple(torch.cat(p, dim=1) for p in zip(*parts, strict=True))
        b, n = q.shape[:2]
        z = self._hidden(self.dec_node, self.dec_lead, self.dec_q, lead_c, q)
        delta = torch.baddbmm(
            self.dec_bias.unsqueeze(1),
            nn.functional.silu(z),
            self.dec_out.unsqueeze(2),
        ).view(self.n_members, b, n)
        scale = self.t_scale.view(-1, 1, 1)
        t = scale * (self.dec_k.view(-1, 1, 1) * q[..., 2] + 0.1 * delta)

        # response head: twin block + pooled times + VV delay
        pooled = (t / scale) @ self.pool  # (M, B, n_bins)
        z = torch.baddbmm(self.head_twin + vv.view(1, -1, 1) * self.head_vv,
                          pooled, self.head_t)  # fmt: skip
        r = _run_tail(z, self.head_tail)
        return t, r * self.target_std + self.target_mean

    @torch.no_grad()
    def refine(
        self, lead_c: torch.Tensor, q: torch.Tensor, base: torch.Tensor
    ) -> torch.Tensor:
        """Refiner corrections (M, B, N), ms: ``0.1 t_scale d`` (`Refiner`).

        Parameters
        ----------
        lead_c, q : as `coarse`
        base : Tensor of shape (B, N)
            Shortest-path times at the coarse nodes / t_scale.
        """
        return self.refine_with(self.refine_hidden(lead_c, q), base)

    @torch.no_grad()
    def refine_hidden(self, lead_c: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The refiner's first layer without its shortest-path column,
        (M, B N, H): what a query needs before its Dijkstra ends."""
        w_q = self.ref_q[:, :, :-1]
        return self._hidden(self.ref_node, self.ref_lead, w_q, lead_c, q)

    @torch.no_grad()
    def refine_with(
        self, hidden: torch.Tensor, base: torch.Tensor, pool=None
    ) -> torch.Tensor:
        """`refine` from `refine_hidden`'s layer and the path times (B, N).

        pool : concurrent.futures.Executor, optional
            Where half of the nodes are refined, beside this thread (torch
            releases the GIL inside its kernels); the answer is the same.
        """
        m = self.n_members
        w_base = self.ref_q[:, :, -1]  # (M, 1, H)
        flat = base.reshape(1, -1, 1)

        def rows(lo: int, hi: int) -> torch.Tensor:
            z = torch.addcmul(hidden[:, lo:hi], flat[:, lo:hi], w_base)
            return _run_tail(z, self.ref_tail)

        n = flat.shape[1]
        if pool is None:
            d = rows(0, n)
        else:
            other = pool.submit(rows, n // 2, n)
            d = torch.cat([rows(0, n // 2), other.result()], dim=1)
        return (0.1 * self.ref_scale).view(-1, 1, 1) * d.view(m, *base.shape)


class StackedMarkerHeads:
    """`MarkerHead` ensemble in stacked form: one batched product per layer,
    with each head's input standardisation folded into its first layer.

    Parameters
    ----------
    heads : list of MarkerHead
        Heads of one configuration (same sizes).
    """

    @torch.no_grad()
    def __init__(self, heads: list) -> None:
        first = [h.net[0] for h in heads]
        # W ((x - mean) / std) + b = (W / std) x + (b - W (mean / std))
        self.w1 = _stack(
            f.weight / h.x_std for f, h in zip(first, heads, strict=True)
        ).transpose(1, 2)  # (M, n_inputs, hidden)
        self.b1 = _stack(
            f.bias - f.weight @ (h.x_mean / h.x_std)
            for f, h in zip(first, heads, strict=True)
        ).unsqueeze(1)
        self.tail = _tail([_mlp_tail(h.net) for h in heads])
        self.std = _stack(h.target_std for h in heads).unsqueeze(1)
        self.mean = _stack(h.target_mean for h in heads).unsqueeze(1)

    @torch.no_grad()
    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        """Responses (M, B, n_targets) of inputs (B, n_inputs), in their units."""
        z = torch.baddbmm(self.b1, rows.expand(self.w1.shape[0], -1, -1), self.w1)
        return _run_tail(z, self.tail) * self.std + self.mean
