"""Activation what-if queries on one heart through its trained emulator.

`ActivationSurrogate` encodes the heart once (the costly message passing)
and answers batches of pacing queries with the light decoder: a query costs a
coarse-graph Dijkstra, one decoder pass and a sparse interpolation.
"""

from __future__ import annotations

import numpy as np
import torch

from simulators.ep.ventricles import TissueParams, Ventricles
from twinml.data.coarse import CoarseGraph
from twinml.data.features import HeartFeatures, query_features
from twinml.models.activation_gnn import ActivationGNN
from twinml.models.checkpoints import sparse_tensor


class ActivationSurrogate:
    """Fast CRT activation answers for one heart.

    Parameters
    ----------
    heart : Ventricles
    coarse : CoarseGraph
    feats : HeartFeatures
    model : ActivationGNN
        Trained emulator.
    """

    def __init__(
        self,
        heart: Ventricles,
        coarse: CoarseGraph,
        feats: HeartFeatures,
        model: ActivationGNN,
    ) -> None:
        self.heart = heart
        self.coarse = coarse
        self.feats = feats
        self.model = model.eval()
        self._interp_all = sparse_tensor(coarse.interp)

        # MLVAT needs only the coarse nodes that feed LV nodes
        interp_lv = coarse.interp[heart.lv_mask].tocsc()
        self._lv_cols = np.flatnonzero(np.diff(interp_lv.indptr))
        self._interp_lv = sparse_tensor(interp_lv[:, self._lv_cols])
        self._h: torch.Tensor | None = None

    def encoding(self) -> torch.Tensor:
        """The heart's encoding, computed on first use and kept."""
        if self._h is None:
            with torch.no_grad():
                self._h = self.model.encode(
                    torch.from_numpy(self.feats.x),
                    torch.from_numpy(self.feats.edge_index),
                    torch.from_numpy(self.feats.edge_attr),
                )
        return self._h

    def coarse_times(
        self,
        lv_leads: np.ndarray,
        tissue: TissueParams,
        vv_delay_ms: float = 0.0,
        nodes: np.ndarray | None = None,
    ) -> torch.Tensor:
        """Predicted coarse activation times, shape (n_queries, n_coarse), ms.

        With `nodes`, only those coarse nodes: shape (n_queries, len(nodes)).
        """
        leads = np.asarray(lv_leads, dtype=np.int64)
        q = query_features(
            self.feats, self.coarse, tissue, leads, self.heart.rv_apex, vv_delay_ms
        )
        lead_c = torch.from_numpy(self.coarse.cluster[leads])
        sub = None if nodes is None else torch.from_numpy(nodes)
        with torch.no_grad():
            return self.model.decode(self.encoding(), lead_c, torch.from_numpy(q), sub)

    def predict(
        self, lv_leads: np.ndarray, tissue: TissueParams, vv_delay_ms: float = 0.0
    ) -> np.ndarray:
        """Activation times at every node, shape (n_queries, n_points), ms."""
        t_c = self.coarse_times(lv_leads, tissue, vv_delay_ms)
        return torch.sparse.mm(self._interp_all, t_c.T).T.numpy()

    def mlvat(
        self, lv_leads: np.ndarray, tissue: TissueParams, vv_delay_ms: float = 0.0
    ) -> np.ndarray:
        """Predicted mean LV activation time per query, shape (n_queries,), ms."""
        t_c = self.coarse_times(lv_leads, tissue, vv_delay_ms, self._lv_cols)
        return torch.sparse.mm(self._interp_lv, t_c.T).mean(dim=0).numpy()
