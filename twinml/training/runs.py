"""Lightning runs of every twinml model: MLflow logger, CPU trainer, fit.

The per-heart emulator, the population members and the marker heads train
the same way: a deterministic CPU `lightning.Trainer` without checkpoints
or progress bars (the caller saves weights with their SHA-256), logging to
MLflow on a SQLite file with artifacts beside it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L

__all__ = ["cpu_trainer", "fit", "mlflow_logger"]

#: Lightning warnings that say nothing about a small CPU run.
_QUIET = (
    ".*does not have many workers.*",
    ".*LeafSpec.*",
    ".*val_dataloader.*",
    ".*sparse.*",
)


def mlflow_logger(experiment: str, tracking_db: Path):
    """An MLflow logger on SQLite file `tracking_db`, artifacts beside it."""
    import mlflow
    from lightning.pytorch.loggers import MLFlowLogger

    tracking_db = Path(tracking_db).resolve()
    tracking_db.parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{tracking_db}"
    artifacts = (tracking_db.parent / "artifacts").as_uri()
    # created here, so that a first run does not warn that it was missing
    client = mlflow.MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(experiment) is None:
        client.create_experiment(experiment, artifact_location=artifacts)
    return MLFlowLogger(
        experiment_name=experiment, tracking_uri=uri, artifact_location=artifacts
    )


def cpu_trainer(max_epochs: int, logger, **options) -> L.Trainer:
    """A deterministic one-device CPU trainer that logs every step.

    `options` add to or override the `lightning.Trainer` arguments.
    """
    args = {
        "max_epochs": max_epochs,
        "accelerator": "cpu",
        "devices": 1,
        "deterministic": True,
        "logger": logger,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
        **options,
    }
    return L.Trainer(**args)


def fit(trainer: L.Trainer, module: L.LightningModule, *loaders) -> dict[str, float]:
    """Fit `module`; its last metrics. Raises KeyboardInterrupt when the run
    was interrupted, so that no checkpoint of a half-trained model is saved."""
    with warnings.catch_warnings():
        for pattern in _QUIET:
            warnings.filterwarnings("ignore", pattern)
        trainer.fit(module, *loaders)
    if trainer.interrupted:
        raise KeyboardInterrupt("training interrupted; no checkpoint written")
    return {k: float(v) for k, v in trainer.callback_metrics.items()}
