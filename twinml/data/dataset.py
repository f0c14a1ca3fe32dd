"""Sweep results as a PyTorch Geometric dataset on disk, with provenance.

Layout of a dataset folder::

    <root>/processed/activation.pt   PyG InMemoryDataset (one Data per solve)
    <root>/provenance.json           solver version, parameters, seed, hashes

Each `Data` holds `y` (n_points,) activation times in ms and the sample's
parameters (`lv_lead`, `rv_lead`, `cv_scale`, `vv_delay_ms`). The mesh is
not repeated per sample: provenance names it by path and SHA-256. Both files
are written atomically, the provenance last, so a folder without a valid
provenance (or whose data hash disagrees with it) is not a dataset.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from simulators.errors import DataError
from twinml.provenance import atomic_write, atomic_write_json, sha256_file

logger = logging.getLogger(__name__)

DATA_FILE = "activation.pt"
PROVENANCE_FILE = "provenance.json"


class ActivationDataset(InMemoryDataset):
    """Activation maps of one sweep.

    Parameters
    ----------
    root : str or Path
        Dataset folder, as written by `ActivationDataset.write`.

    Attributes
    ----------
    provenance : dict
        What produced the data (see `write`).
    """

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        prov_path = root / PROVENANCE_FILE
        if not prov_path.is_file():
            raise DataError(
                f"{root} holds no complete dataset: {PROVENANCE_FILE} is missing"
            )
        self.provenance = json.loads(prov_path.read_text())
        data_path = root / "processed" / DATA_FILE
        if not data_path.is_file():
            raise DataError(f"{data_path} is missing; rerun the sweep")
        digest = sha256_file(data_path)
        if digest != self.provenance.get("data_sha256"):
            raise DataError(
                f"{data_path} has SHA-256 {digest[:12]}, provenance records "
                f"{str(self.provenance.get('data_sha256'))[:12]}: the file is corrupt"
            )
        super().__init__(str(root))
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_file_names(self) -> list[str]:
        return [DATA_FILE]

    def process(self) -> None:
        raise DataError("an ActivationDataset is written by its sweep; rerun it")

    def times(self) -> np.ndarray:
        """All activation maps, shape (n_samples, n_points), ms."""
        n = len(self)
        return self._data.y.view(n, -1).numpy()

    @staticmethod
    def write(
        root: str | Path, samples: list[dict], t_ms: np.ndarray, provenance: dict
    ) -> ActivationDataset:
        """Store a sweep atomically and return it loaded.

        Parameters
        ----------
        root : str or Path
            Destination folder.
        samples : list of dict
            Sample parameters, one per row of `t_ms`.
        t_ms : ndarray of shape (n_samples, n_points)
            Activation times, ms.
        provenance : dict
            Solver version, seed, configuration, mesh hash; the data hash is
            added here.
        """
        if len(samples) != len(t_ms):
            raise ValueError(f"{len(samples)} samples but {len(t_ms)} activation maps")
        if not np.isfinite(t_ms).all():
            bad = np.flatnonzero(~np.isfinite(t_ms).all(axis=1))
            raise DataError(f"samples {bad.tolist()} hold non-finite activation times")
        root = Path(root)
        data_list = [
            Data(
                y=torch.from_numpy(np.ascontiguousarray(t, dtype=np.float32)),
                lv_lead=torch.tensor([s["lv_lead"]]),
                rv_lead=torch.tensor([s["rv_lead"]]),
                cv_scale=torch.tensor([s["cv_scale"]], dtype=torch.float32),
                vv_delay_ms=torch.tensor([s["vv_delay_ms"]], dtype=torch.float32),
                num_nodes=t_ms.shape[1],
            )
            for s, t in zip(samples, t_ms, strict=False)
        ]

        # data first, provenance (with the data hash) last
        data_path = root / "processed" / DATA_FILE
        atomic_write(data_path, lambda tmp: InMemoryDataset.save(data_list, str(tmp)))
        full = {**provenance, "samples": samples, "data_sha256": sha256_file(data_path)}
        atomic_write_json(root / PROVENANCE_FILE, full)
        logger.info("dataset of %d samples written to %s", len(samples), root)
        return ActivationDataset(root)
