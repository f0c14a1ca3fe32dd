"""Lightning training with MLflow: a real fit, bit-identical on repeat."""

import numpy as np
import torch

from twinml.models.checkpoints import sparse_tensor
from twinml.training.activation import (
    GraphTensors,
    TrainConfig,
    load_activation_model,
    train_activation_model,
)


def _problem(seed=0, n=12, n_fine=30, n_samples=6):
    rng = np.random.default_rng(seed)
    import scipy.sparse as sp

    src = np.arange(n - 1)
    ei = np.concatenate([np.stack([src, src + 1]), np.stack([src + 1, src])], axis=1)
    interp = sp.random(n_fine, n, density=0.2, random_state=seed, format="csr")
    interp = sp.diags(1.0 / np.maximum(interp.sum(1).A.ravel(), 1e-9)) @ interp
    graph = GraphTensors(
        x=torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32)),
        edge_index=torch.from_numpy(ei.astype(np.int64)),
        edge_attr=torch.from_numpy(
            rng.normal(size=(ei.shape[1], 3)).astype(np.float32)
        ),
        interp=sparse_tensor(interp),
    )
    q = rng.uniform(size=(n_samples, n, 5)).astype(np.float32)
    lead = rng.integers(0, n, n_samples).astype(np.int64)
    y = (100 * (interp @ q[..., 2].T).T + rng.normal(size=(n_samples, n_fine))).astype(
        np.float32
    )
    return graph, lead, q, y


def _fit(tmp_path, tag):
    graph, lead, q, y = _problem()
    cfg = TrainConfig(width=8, n_layers=2, epochs=3, batch_size=2, seed=3)
    return train_activation_model(
        graph,
        lead,
        q,
        y,
        cfg,
        1.0,
        tmp_path / "mlflow.db",
        {"dataset_sha256": "abc"},
        tmp_path / tag / "model.pt",
    )


def test_training_is_bit_identical_and_reloads_weights_only(tmp_path):
    model_a, metrics = _fit(tmp_path, "a")
    model_b, _ = _fit(tmp_path, "b")
    for (name, a), (_, b) in zip(
        model_a.state_dict().items(), model_b.state_dict().items(), strict=False
    ):
        assert torch.equal(a, b), name
    assert np.isfinite(metrics["train_loss"])

    # the checkpoint reloads with weights_only=True into the same weights
    again = load_activation_model(tmp_path / "a" / "model.pt")
    for (name, a), (_, b) in zip(
        model_a.state_dict().items(), again.state_dict().items(), strict=False
    ):
        assert torch.equal(a, b), name

    # the run is in MLflow's SQLite store with its parameters and checkpoint
    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("twinml-activation")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2
    assert runs[0].data.params["dataset_sha256"] == "abc"
    assert "train_loss" in runs[0].data.metrics
    assert [a.path for a in client.list_artifacts(runs[0].info.run_id)] == ["model.pt"]


def test_a_corrupt_checkpoint_is_refused(tmp_path):
    import pytest

    from simulators.errors import DataError

    _fit(tmp_path, "a")
    path = tmp_path / "a" / "model.pt"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 8] = b"\x00" * 8
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="corrupt"):
        load_activation_model(path)
