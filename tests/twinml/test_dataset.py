"""Sweep datasets on disk: round trip, provenance, corruption, interruption."""

import numpy as np
import pytest

from simulators.errors import DataError
from twinml.data.dataset import DATA_FILE, PROVENANCE_FILE, ActivationDataset


def _samples(n):
    return [
        {"lv_lead": i, "rv_lead": 0, "cv_scale": 1.0 + 0.1 * i, "vv_delay_ms": 0.0}
        for i in range(n)
    ]


def test_round_trip_with_provenance(tmp_path):
    t = np.arange(12, dtype=np.float32).reshape(3, 4)
    ds = ActivationDataset.write(
        tmp_path, _samples(3), t, {"seed": 7, "solver_version": "x"}
    )
    assert len(ds) == 3
    np.testing.assert_array_equal(ds.times(), t)
    assert ds[1].lv_lead.item() == 1 and ds[1].y.shape == (4,)
    again = ActivationDataset(tmp_path)
    assert again.provenance["seed"] == 7
    assert again.provenance["data_sha256"] == ds.provenance["data_sha256"]


def test_corrupt_data_is_detected(tmp_path):
    ActivationDataset.write(tmp_path, _samples(2), np.ones((2, 3)), {})
    with open(tmp_path / "processed" / DATA_FILE, "ab") as fh:
        fh.write(b"garbage")
    with pytest.raises(DataError, match="corrupt"):
        ActivationDataset(tmp_path)


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    from torch_geometric.data import InMemoryDataset

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(InMemoryDataset, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        ActivationDataset.write(tmp_path, _samples(2), np.ones((2, 3)), {})
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []
    with pytest.raises(DataError, match=PROVENANCE_FILE):
        ActivationDataset(tmp_path)


def test_non_finite_times_are_refused(tmp_path):
    t = np.ones((2, 3))
    t[1, 2] = np.nan
    with pytest.raises(DataError, match=r"samples \[1\]"):
        ActivationDataset.write(tmp_path, _samples(2), t, {})
    assert not (tmp_path / PROVENANCE_FILE).exists()
