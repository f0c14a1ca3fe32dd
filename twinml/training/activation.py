"""Training the per-heart activation emulator with Lightning and MLflow.

The training set is one heart's sweep: every sample shares the coarse graph,
so each step encodes the heart once and decodes a batch of queries, maps the
coarse times to every mesh node and takes a Huber loss against the reference
activation times there. Runs are logged to MLflow on a SQLite backend at an
explicit path (config, seed, dataset hash, environment, metrics and the
checkpoint). Training is deterministic on the CPU for a given seed and thread
count.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from twinml.models.activation_gnn import ActivationGNN
from twinml.models.checkpoints import load_weights, save_checkpoint
from twinml.training.runs import cpu_trainer, fit, mlflow_logger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the emulator and its training."""

    width: int = 48
    n_layers: int = 4
    epochs: int = 100
    batch_size: int = 16
    lr: float = 3e-3
    val_fraction: float = 0.15
    seed: int = 0
    huber_ms: float = 1.0
    decoder_width: int = 64

    def as_dict(self) -> dict:
        """Plain dict for logging."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class GraphTensors:
    """One heart's static tensors on the coarse graph."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    interp: torch.Tensor  # sparse (n_points, n_coarse)


class ActivationModule(L.LightningModule):
    """LightningModule around `ActivationGNN` for one heart's sweep."""

    def __init__(self, model: ActivationGNN, graph: GraphTensors, config: TrainConfig):
        super().__init__()
        self.model = model
        self.graph = graph
        self.config = config

    def _predict_fine(self, lead: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        g = self.graph
        t_coarse = self.model(g.x, g.edge_index, g.edge_attr, lead, q)
        return torch.sparse.mm(g.interp, t_coarse.T).T

    def training_step(self, batch, batch_idx):
        lead, q, y = batch
        pred = self._predict_fine(lead, q)
        loss = torch.nn.functional.huber_loss(pred, y, delta=self.config.huber_ms)
        self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        lead, q, y = batch
        mae = (self._predict_fine(lead, q) - y).abs().mean()
        self.log("val_mae_ms", mae, on_epoch=True, batch_size=len(y))

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.config.lr, weight_decay=1e-5)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=self.config.epochs
        )
        return [opt], [sched]


class _Progress(L.Callback):
    """Log training progress ten times per fit, at info level."""

    def on_train_epoch_end(self, trainer, module) -> None:
        every = max(1, trainer.max_epochs // 10)
        epoch = trainer.current_epoch + 1
        if epoch % every == 0 or epoch == trainer.max_epochs:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            logger.info(
                "epoch %d/%d: train loss %.3f, validation MAE %s ms",
                epoch,
                trainer.max_epochs,
                metrics.get("train_loss", float("nan")),
                f"{metrics['val_mae_ms']:.2f}" if "val_mae_ms" in metrics else "n/a",
            )


def train_activation_model(
    graph: GraphTensors,
    lead: np.ndarray,
    q: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    k_init: float,
    tracking_db: Path,
    run_params: dict,
    checkpoint_path: Path,
) -> tuple[ActivationGNN, dict]:
    """Fit the emulator on one heart's sweep and log the run to MLflow.

    Parameters
    ----------
    graph : GraphTensors
        Static coarse-graph tensors of the heart.
    lead : ndarray of shape (n_samples,), int
        Coarse node of each sample's LV lead.
    q : ndarray of shape (n_samples, n_coarse, n_query_features)
        Query physics inputs.
    y : ndarray of shape (n_samples, n_points)
        Reference activation times, ms.
    config : TrainConfig
    k_init : float
        Initial factor on the graph travel time (fitted on the sweep).
    tracking_db : Path
        SQLite file of the MLflow backend (absolute path).
    run_params : dict
        Extra parameters to log (dataset hash, sweep config, environment).
    checkpoint_path : Path
        Where the trained state dict is saved (reloadable with
        ``weights_only=True``).

    Returns
    -------
    model : ActivationGNN
    metrics : dict
        Final training and validation figures.
    """
    # seeded split and model
    L.seed_everything(config.seed, workers=True, verbose=False)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(y))
    n_val = max(1, int(round(config.val_fraction * len(y)))) if len(y) > 2 else 0
    val_idx, train_idx = order[:n_val], order[n_val:]
    tensors = (torch.from_numpy(lead), torch.from_numpy(q), torch.from_numpy(y))
    train_ds = TensorDataset(*(t[train_idx] for t in tensors))
    val_ds = TensorDataset(*(t[val_idx] for t in tensors))
    gen = torch.Generator().manual_seed(config.seed)
    train_dl = DataLoader(
        train_ds, batch_size=config.batch_size, shuffle=True, generator=gen
    )
    val_dl = DataLoader(val_ds, batch_size=config.batch_size) if n_val else None
    model = ActivationGNN(
        node_dim=graph.x.shape[1],
        edge_dim=graph.edge_attr.shape[1],
        query_dim=q.shape[2],
        width=config.width,
        n_layers=config.n_layers,
        k_init=k_init,
        decoder_width=config.decoder_width,
    )
    module = ActivationModule(model, graph, config)

    # MLflow on SQLite, artifacts next to the database
    mlf = mlflow_logger("twinml-activation", tracking_db)
    mlf.log_hyperparams({**config.as_dict(), **_flatten(run_params)})
    torch.use_deterministic_algorithms(True, warn_only=True)
    trainer = cpu_trainer(
        config.epochs,
        mlf,
        num_sanity_val_steps=0,
        callbacks=[_Progress()],
        check_val_every_n_epoch=max(1, config.epochs // 10),
    )
    metrics = fit(trainer, module, train_dl, val_dl)

    # checkpoint: plain state dict plus the constructor arguments
    ckpt = {"state_dict": model.state_dict(), "init": model_init_args(model, config, q)}
    save_checkpoint(checkpoint_path, ckpt)
    mlf.experiment.log_artifact(mlf.run_id, str(checkpoint_path))
    mlf.finalize("success")
    logger.info("trained activation emulator: %s", metrics)
    return model, metrics


def model_init_args(model: ActivationGNN, config: TrainConfig, q: np.ndarray) -> dict:
    """Constructor arguments stored with a checkpoint."""
    return {
        "node_dim": model.embed_node[0].in_features,
        "edge_dim": model.embed_edge[0].in_features,
        "query_dim": int(q.shape[2]),
        "width": config.width,
        "n_layers": config.n_layers,
        "decoder_width": config.decoder_width,
    }


def load_activation_model(path: Path) -> ActivationGNN:
    """Rebuild a trained emulator from its checkpoint (``weights_only=True``).

    The checkpoint's SHA-256 must match the digest written beside it at
    training time, and every weight must be finite; otherwise `DataError`.
    """
    return load_weights(path, ActivationGNN)


def _flatten(params: dict, prefix: str = "") -> dict:
    """Flatten nested dicts to dotted keys, values as short strings."""
    out = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:500]
    return out
