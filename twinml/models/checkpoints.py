"""Checkpoints of every twinml model, without Lightning: save and reload.

A checkpoint is a ``torch.save`` of the model's constructor arguments
(``init``) and ``state_dict``, with its SHA-256 in a JSON file beside it.
Reloading checks the digest, reads with ``weights_only=True`` and refuses
non-finite weights, so a damaged or swapped file is named, never run.
Queries import this module and not the training code (no Lightning at
query time: the CLI starts about 3 s sooner).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

from simulators.errors import DataError
from twinml.provenance import atomic_write, atomic_write_json, sha256_file

__all__ = ["load_weights", "read_checkpoint", "save_checkpoint", "sparse_tensor"]


def load_weights(path: Path, cls: type[torch.nn.Module]) -> torch.nn.Module:
    """Rebuild a `cls` model from its checkpoint (`read_checkpoint`: digest
    checked, weights only); `DataError` when a weight is not finite."""
    try:
        ckpt = read_checkpoint(Path(path))
        model = cls(**ckpt["init"])
        model.load_state_dict(ckpt["state_dict"])
        model.init_args = dict(ckpt["init"])  # what it was built with
    except (
        RuntimeError,
        TypeError,
        KeyError,
        ValueError,
        OSError,
        EOFError,
        pickle.UnpicklingError,  # not a torch file, or not weights only
    ) as err:
        raise DataError(
            f"{path} is not a {cls.__name__} checkpoint ({str(err)[:120]}); "
            "reinstall or retrain the model"
        ) from None
    bad = [k for k, v in model.state_dict().items() if not torch.isfinite(v).all()]
    if bad:
        raise DataError(f"{path} holds non-finite weights in {bad[:3]}: retrain")
    return model.eval()


def save_checkpoint(path: Path, ckpt: dict) -> None:
    """Write a checkpoint and its SHA-256 digest beside it, atomically."""
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))
    atomic_write_json(_digest_path(path), {"sha256": sha256_file(path)})


def read_checkpoint(path: Path) -> dict:
    """A checkpoint whose SHA-256 matches its digest (``weights_only=True``).

    Raises `DataError` when the digest is missing or does not match.
    """
    path = Path(path)
    digest = _digest_path(path)
    try:
        recorded = json.loads(digest.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        raise DataError(f"{path} has no valid digest {digest.name}: retrain") from None
    if sha256_file(path) != recorded:
        raise DataError(f"{path} does not match its recorded SHA-256: it is corrupt")
    return torch.load(path, map_location="cpu", weights_only=True)


def _digest_path(checkpoint: Path) -> Path:
    """The JSON file beside a checkpoint that records its SHA-256."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".sha256.json")


def sparse_tensor(matrix) -> torch.Tensor:
    """A scipy sparse matrix as a torch COO tensor (float32)."""
    coo = matrix.tocoo()
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(
        index, values, coo.shape, check_invariants=True
    ).coalesce()
