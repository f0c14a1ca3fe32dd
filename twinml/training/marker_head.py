"""Training the marker head: an ensemble of small MLPs, Lightning and MLflow.

Each member (`twinml.models.marker_head.MarkerHead`) is fitted on the
marker inputs of the training sweeps (`twinml.data.markers`) to the
standardised response targets (squared error, a target missing from a
sample is left out), with its own seed for initialisation, dropout and
order. Members are logged to MLflow beside the GNN members and saved as
``marker_<k>.pt`` with their SHA-256, reloadable with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch

from simulators.errors import DataError
from twinml.models.checkpoints import save_checkpoint
from twinml.models.marker_head import MarkerHead, load_marker_head
from twinml.training.activation import _flatten
from twinml.training.runs import cpu_trainer, fit, mlflow_logger

logger = logging.getLogger(__name__)

__all__ = ["MarkerConfig", "fit_marker_heads", "load_marker_head"]


@dataclass(frozen=True)
class MarkerConfig:
    """Hyper-parameters of the marker head and its training."""

    hidden: int = 128
    dropout: float = 0.1
    epochs: int = 200
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-2
    seed: int = 0
    n_members: int = 3

    def as_dict(self) -> dict:
        """Plain dict for logging."""
        return asdict(self)


class MarkerModule(L.LightningModule):
    """LightningModule around `MarkerHead` (masked squared error)."""

    def __init__(self, model: MarkerHead, config: MarkerConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config

    def training_step(self, batch, batch_idx):
        x, y = batch
        z = (y - self.model.target_mean) / self.model.target_std
        known = torch.isfinite(z)
        err = self.model.standardised(x) - torch.nan_to_num(z)
        loss = (err[known] ** 2).mean()
        self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(x))
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(
            self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.config.epochs)
        return [opt], [sched]


def fit_marker_heads(
    x: np.ndarray,
    y: np.ndarray,
    config: MarkerConfig,
    out_dir: Path,
    tracking_db: Path,
    run_params: dict,
) -> list[Path]:
    """Fit `config.n_members` marker heads and save each checkpoint.

    Parameters
    ----------
    x : ndarray of shape (n, n_inputs)
        Marker inputs (`TwinMarkers.rows`), finite.
    y : ndarray of shape (n, n_targets)
        Response targets (NaN where a sample has none).
    config : MarkerConfig
    out_dir : Path
        Folder of the checkpoints ``marker_<k>.pt``.
    tracking_db : Path
        SQLite file of the MLflow backend.
    run_params : dict
        Dataset hash, sizes and environment, logged with each run.

    Returns
    -------
    list of Path
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise DataError(
            f"marker inputs of shape {x.shape} and targets of shape {y.shape}: "
            "expected (n, n_inputs) and (n, n_targets) with n >= 2"
        )
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise DataError(f"marker inputs of samples {bad[:10].tolist()} are not finite")

    # standardisation from the training set (a constant input keeps scale 1)
    x_std = x.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a target never given
        y_mean, y_std = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
    y_std = np.where(np.isfinite(y_std) & (y_std > 1e-6), y_std, 1.0)
    y_mean = np.where(np.isfinite(y_mean), y_mean, 0.0)
    buffers = {
        "x_mean": x.mean(axis=0),
        "x_std": np.where(x_std > 1e-6, x_std, 1.0),
        "target_mean": y_mean,
        "target_std": y_std,
    }
    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))

    paths = []
    for member in range(config.n_members):
        seed = config.seed + member
        L.seed_everything(seed, workers=True, verbose=False)
        init = {
            "n_inputs": x.shape[1],
            "n_targets": y.shape[1],
            "hidden": config.hidden,
            "dropout": config.dropout,
        }
        model = MarkerHead(**init)
        for name, value in buffers.items():
            getattr(model, name).copy_(torch.from_numpy(value.astype(np.float32)))
        mlf = mlflow_logger("twinml-population-markers", tracking_db)
        mlf.log_hyperparams(
            {**config.as_dict(), "member": member, **_flatten(run_params)}
        )
        loader = torch.utils.data.DataLoader(
            data,
            batch_size=config.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        )
        module = MarkerModule(model, config)
        metrics = fit(cpu_trainer(config.epochs, mlf), module, loader)
        logger.info("marker head %d: %s", member, metrics)
        path = Path(out_dir) / f"marker_{member}.pt"
        save_checkpoint(path, {"state_dict": model.state_dict(), "init": init})
        mlf.experiment.log_artifact(mlf.run_id, str(path))
        mlf.finalize("success")
        paths.append(path)
    return paths
